"""The committed materialization watermark is monotonic, like the values (issue 12, item 3).

Two materializations of one view (T2, then T1 started while T2 runs, or one with an older END)
used to move the watermark back to T1; the parity audit then compared online values against
the offline rule at T1 and blamed newer values on pushes that never happened.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from store import FeatureStore

from .facade_helpers import store_for
from .test_push_and_failures import MODULE

NOW = datetime.now(UTC).replace(microsecond=0)
T1, T2 = NOW - timedelta(hours=2), NOW - timedelta(minutes=5)


def _source(root: Path) -> None:
    """Rows landing every 10 minutes over 3 hours, so values at T1 and T2 differ."""
    folder = root / "data" / "stats"
    folder.mkdir(parents=True)
    events = [NOW - timedelta(hours=3) + timedelta(minutes=10 * i) for i in range(18)]
    users = list(range(1, 31))
    rows = [(u, e, float(i * 100 + u)) for i, e in enumerate(events) for u in users]
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array([r[0] for r in rows], pa.int64()),
                "event_timestamp": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
                "created": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
                "amount": pa.array([r[2] for r in rows], pa.float64()),
            }
        ),
        folder / "a.parquet",
    )


@pytest.fixture
def fs(tmp_path: Path, redis_url: str) -> FeatureStore:
    redis.Redis.from_url(redis_url).flushall()
    _source(tmp_path)
    store = store_for(tmp_path, MODULE, redis_url)
    store.apply()
    return store


def _watermark(fs: FeatureStore) -> datetime:
    [(view, _)] = fs.applied_views(["stats"])
    mark = fs.online.get_watermark(view)
    assert mark is not None
    return mark[0]


def test_an_older_end_says_so_and_leaves_the_watermark(fs: FeatureStore) -> None:
    [newer] = fs.materialize(T2)
    assert not newer.superseded
    [older] = fs.materialize(T1)
    assert older.superseded and older.written == 0
    assert _watermark(fs) == T2
    report = fs.audit_parity(["stats"])
    assert report.status == "ok", report.to_dict()


def test_a_run_that_commits_after_a_newer_one_cannot_move_the_watermark_back(
    fs: FeatureStore, tmp_path: Path
) -> None:
    # T1's run is past its start check and writing when T2's whole run starts and commits.
    other = FeatureStore(tmp_path)
    started: list[bool] = []

    def in_the_middle(view: str, rows: int) -> None:
        if not started:
            started.append(True)
            [t2] = other.materialize(T2)
            assert not t2.superseded

    [t1] = fs.materialize(T1, progress=in_the_middle)
    assert started and t1.superseded
    assert _watermark(fs) == T2
    report = fs.audit_parity(["stats"])
    assert report.status == "ok", report.to_dict()
    other.close()


def test_concurrent_materializations_end_at_the_newest(fs: FeatureStore, tmp_path: Path) -> None:
    ends = [T1, T2, T1 + timedelta(minutes=30), T2 - timedelta(minutes=1)] * 2
    errors: list[BaseException] = []

    def run(end: datetime) -> None:
        try:
            with FeatureStore(tmp_path) as store:
                store.materialize(end)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(end,)) for end in ends]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _watermark(fs) == T2
    assert fs.audit_parity(["stats"]).status == "ok"


def test_a_new_version_replaces_the_old_versions_watermark(fs: FeatureStore) -> None:
    [(view, version)] = fs.applied_views(["stats"])
    assert fs.online.set_watermark(view, version, T2)
    assert not fs.online.set_watermark(view, version, T1)
    assert fs.online.get_watermark(view) == (T2, version)
    assert fs.online.set_watermark(view, "other-version", T1)
    assert fs.online.get_watermark(view) == (T1, "other-version")


def test_a_rerun_with_the_same_end_is_idempotent_not_superseded(fs: FeatureStore) -> None:
    [first] = fs.materialize(T2)
    [again] = fs.materialize(T2)
    assert not first.superseded and not again.superseded
    assert _watermark(fs) == T2
    [(view, version)] = fs.applied_views(["stats"])
    assert fs.online.set_watermark(view, version, T2)
    assert fs.online.get_watermark(view) == (T2, version)
