"""Idempotent ingestion (issue 12, item 4): a push carries an id; a retry is a no-op.

A push that failed online (Redis down: 503 / exit 2) has already been appended offline; a
client that retried used to duplicate the rows. With a push id, the retry appends nothing and
completes the online write.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from store import FeatureStore, OnlineStoreError, PushError, Status

from .conftest import _start_server, _stop, free_port
from .facade_helpers import store_for
from .test_push_and_failures import MODULE, NOW, _rows

ROW = {"user_id": 1, "event_timestamp": NOW - timedelta(minutes=5), "amount": 10.0}


def _repo(root: Path, url: str) -> FeatureStore:
    (root / "data" / "stats").mkdir(parents=True)
    pq.write_table(_rows(range(1, 4), NOW - timedelta(hours=3), 1.0), root / "data/stats/a.parquet")
    store = store_for(root, MODULE, url)
    store.apply()
    return store


def _offline_count(fs: FeatureStore, user: int) -> int:
    files = sorted((fs.data_dir / "push" / "stats").glob("*.parquet"))
    return sum(pq.read_table(f).column("user_id").to_pylist().count(user) for f in files)


@pytest.fixture
def fs(tmp_path: Path, redis_url: str) -> FeatureStore:
    redis.Redis.from_url(redis_url).flushall()
    store = _repo(tmp_path, redis_url)
    store.materialize(NOW - timedelta(hours=1))
    return store


def test_a_retry_with_the_same_id_appends_nothing(fs: FeatureStore) -> None:
    first = fs.push("stats", [ROW], push_id="order-42")
    assert (first.status, first.push_id, first.written) == ("appended", "order-42", 1)
    again = fs.push("stats", [ROW], push_id="order-42")
    assert again.status == "duplicate" and again.path == first.path
    assert _offline_count(fs, 1) == 1
    col = fs.get_online_features(["stats:amount"], [{"user_id": 1}]).columns[0]
    assert (col.values[0], col.statuses[0]) == (10.0, Status.PRESENT)
    # Without an id every push is new (and is given one).
    other = fs.push("stats", [ROW])
    assert other.status == "appended" and other.push_id and other.push_id != "order-42"
    assert _offline_count(fs, 1) == 2


def test_the_same_id_with_other_rows_is_refused(fs: FeatureStore) -> None:
    fs.push("stats", [ROW], push_id="p1")
    with pytest.raises(PushError, match="push_id 'p1' was already used for other rows"):
        fs.push("stats", [{**ROW, "amount": 11.0}], push_id="p1")
    assert _offline_count(fs, 1) == 1


def test_concurrent_pushes_of_one_id_land_once(fs: FeatureStore, tmp_path: Path) -> None:
    statuses: list[str] = []

    def push() -> None:
        with FeatureStore(tmp_path) as store:
            statuses.append(store.push("stats", [ROW], push_id="same").status)

    threads = [threading.Thread(target=push) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == ["appended"] + ["duplicate"] * 3
    assert _offline_count(fs, 1) == 1


def test_an_online_only_push_is_idempotent_too(fs: FeatureStore) -> None:
    assert fs.push("stats", [ROW], to="online", push_id="o1").status == "appended"
    assert fs.push("stats", [ROW], to="online", push_id="o1").status == "duplicate"
    assert not (fs.data_dir / "push" / "stats").exists() or _offline_count(fs, 1) == 0


def test_redis_down_then_retry_with_the_id_loses_nothing_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    port = free_port()
    proc = _start_server(port, tmp_path / "redis")
    try:
        fs = _repo(tmp_path / "repo", f"redis://127.0.0.1:{port}/0")
        fs.materialize(NOW - timedelta(hours=1))
        _stop(proc)
        # The rows land offline, then the online write fails: the client sees an error.
        with pytest.raises(OnlineStoreError):
            fs.push("stats", [ROW], push_id="retry-me")
        assert _offline_count(fs, 1) == 1
        proc = _start_server(port, tmp_path / "redis")  # empty: it kept nothing
        fs.materialize(NOW - timedelta(hours=1))
        retry = fs.push("stats", [ROW], push_id="retry-me")
        assert retry.status == "duplicate" and retry.written == 1  # the online write completed
        assert _offline_count(fs, 1) == 1
        col = fs.get_online_features(["stats:doubled"], [{"user_id": 1}]).columns[0]
        assert (col.values[0], col.statuses[0]) == (20.0, Status.PRESENT)
        later = datetime.now(UTC) + timedelta(seconds=1)
        frame = fs.get_historical_features(
            pa.table({"user_id": [1], "event_timestamp": pa.array([later])}), ["stats:doubled"]
        ).to_arrow()
        assert frame.column("doubled").to_pylist() == [20.0]
        assert fs.audit_parity(["stats"]).status == "ok"
        fs.close()
    finally:
        _stop(proc)


def test_a_crash_between_the_id_record_and_the_data_file_is_completed_by_the_retry(
    fs: FeatureStore,
) -> None:
    first = fs.push("stats", [ROW], push_id="crash")
    assert first.path is not None
    first.path.unlink()  # as if killed after the record was saved, before the file landed
    retry = fs.push("stats", [ROW], push_id="crash")
    assert retry.status == "appended" and retry.path == first.path and first.path.exists()
    assert _offline_count(fs, 1) == 1
