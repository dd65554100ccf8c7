"""Push, crash-safety and a Redis that is down: nothing stored is lost, errors say what to do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from store import FeatureStore, OnlineStoreError, PushError, Status

from .facade_helpers import store_for

MODULE = textwrap.dedent(
    """
    from datetime import timedelta
    from store import Entity, FeatureView, Field, ParquetSource

    user = Entity("user", join_keys={"user_id": "int64"})
    stats = FeatureView(
        name="stats",
        entities=[user],
        source=ParquetSource("data/stats", created_timestamp="created"),
        fields=[Field("amount", "float64"), Field("doubled", "float64", expr="amount * 2")],
        ttl=timedelta(days=2),
        allowed_lateness=timedelta(hours=6),
    )
    """
)
NOW = datetime.now(UTC).replace(microsecond=0)


def _rows(users: range, event: datetime, amount: float) -> pa.Table:
    n = len(users)
    return pa.table(
        {
            "user_id": pa.array(list(users), pa.int64()),
            "event_timestamp": pa.array([event] * n, pa.timestamp("us", tz="UTC")),
            "created": pa.array([event + timedelta(minutes=1)] * n, pa.timestamp("us", tz="UTC")),
            "amount": pa.array([amount] * n, pa.float64()),
        }
    )


@pytest.fixture
def fs(tmp_path: Path, redis_url: str) -> FeatureStore:
    redis.Redis.from_url(redis_url).flushall()
    (tmp_path / "data" / "stats").mkdir(parents=True)
    pq.write_table(
        _rows(range(1, 4), NOW - timedelta(hours=3), 1.0), tmp_path / "data/stats/a.parquet"
    )
    store = store_for(tmp_path, MODULE, redis_url)
    store.apply()
    store.materialize(NOW)
    return store


def _read(fs: FeatureStore, user: int, at: datetime | None = None) -> tuple[object, Status]:
    col = fs.get_online_features(["stats:doubled"], [{"user_id": user}], now=at).columns[0]
    return col.values[0], col.statuses[0]


def test_push_reaches_online_and_training(fs: FeatureStore) -> None:
    pushed = [{"user_id": 1, "event_timestamp": NOW - timedelta(minutes=5), "amount": 10.0}]
    result = fs.push("stats", pushed)
    assert (result.rows, result.written) == (1, 1)
    assert _read(fs, 1, NOW + timedelta(seconds=5)) == (20.0, Status.PRESENT)
    # Training frames built afterwards see the pushed row by the same rule.
    later = datetime.now(UTC) + timedelta(seconds=1)
    frame = fs.get_historical_features(
        pa.table({"user_id": [1, 2], "event_timestamp": pa.array([later, later])}),
        ["stats:doubled"],
    ).to_arrow()
    assert frame.column("doubled").to_pylist() == [20.0, 2.0]


def test_out_of_order_push_never_overwrites_newer(fs: FeatureStore) -> None:
    fs.push("stats", [{"user_id": 2, "event_timestamp": NOW - timedelta(minutes=1), "amount": 5.0}])
    result = fs.push(
        "stats", [{"user_id": 2, "event_timestamp": NOW - timedelta(minutes=30), "amount": 7.0}]
    )
    assert (result.written, result.skipped_older) == (0, 1)
    assert _read(fs, 2, NOW) == (10.0, Status.PRESENT)
    late = fs.push(
        "stats", [{"user_id": 3, "event_timestamp": NOW - timedelta(hours=7), "amount": 9.0}]
    )
    assert (late.dropped_late, late.written) == (1, 0)  # beyond allowed_lateness: as offline


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"user_id": 1, "amount": 1.0}], "missing column 'event_timestamp'"),
        ([{"user_id": 1, "event_timestamp": NOW, "amount": 1.0, "oops": 1}], "unknown column"),
        ([{"user_id": "x", "event_timestamp": NOW, "amount": 1.0}], "column 'user_id'"),
        ([{"user_id": None, "event_timestamp": NOW, "amount": 1.0}], "null"),
        ([], "no rows"),
    ],
)
def test_bad_push_is_refused_and_loses_nothing(fs: FeatureStore, rows: list, message: str) -> None:
    before = (
        sorted(p.name for p in (fs.data_dir / "push").rglob("*"))
        if (fs.data_dir / "push").exists()
        else []
    )
    with pytest.raises(PushError, match=message):
        fs.push("stats", rows)
    after = (
        sorted(p.name for p in (fs.data_dir / "push").rglob("*"))
        if (fs.data_dir / "push").exists()
        else []
    )
    assert after == before
    assert _read(fs, 1, NOW) == (2.0, Status.PRESENT)


def test_redis_down_is_a_clear_error_within_bounded_time(tmp_path: Path, unused_port: int) -> None:
    (tmp_path / "data" / "stats").mkdir(parents=True)
    pq.write_table(
        _rows(range(1, 3), NOW - timedelta(hours=1), 1.0), tmp_path / "data/stats/a.parquet"
    )
    store = store_for(tmp_path, MODULE, f"redis://:secret@127.0.0.1:{unused_port}/0")
    store.apply()
    began = time.monotonic()
    with pytest.raises(OnlineStoreError, match=f"127.0.0.1:{unused_port}") as info:
        store.get_online_features(["stats:amount"], [{"user_id": 1}])
    assert time.monotonic() - began < 10
    assert "secret" not in str(info.value)
    with pytest.raises(OnlineStoreError):
        store.materialize(NOW)
    with pytest.raises(OnlineStoreError):
        store.push("stats", [{"user_id": 1, "event_timestamp": NOW, "amount": 1.0}])


CRASHER = """
import sys
from datetime import datetime
from store import FeatureStore
fs = FeatureStore(sys.argv[1])
def tick(view, rows):
    print(rows, flush=True)
fs.materialize(datetime.fromisoformat(sys.argv[2]), progress=tick)
print("done", flush=True)
"""


def test_killed_materialization_serves_consistent_state_and_next_run_completes(
    tmp_path: Path, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    (tmp_path / "data" / "stats").mkdir(parents=True)
    old = NOW - timedelta(hours=5)
    pq.write_table(_rows(range(1, 60_001), old, 1.0), tmp_path / "data/stats/a.parquet")
    fs = store_for(tmp_path, MODULE, redis_url)
    fs.apply()
    fs.materialize(NOW - timedelta(hours=4))
    first_mark = fs.online.get_watermark("stats")
    # New values land; a materialization starts and is killed part way through.
    pq.write_table(
        _rows(range(1, 60_001), NOW - timedelta(hours=1), 3.0), tmp_path / "data/stats/b.parquet"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHER, str(tmp_path), NOW.isoformat()],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the first batch is written
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert line.strip().isdigit() and "done" not in line
    # The committed watermark did not move, and every key holds one whole row: old or new.
    assert fs.online.get_watermark("stats") == first_mark
    for key in client.scan_iter(match="*stats", count=5000):
        row = client.hgetall(key)
        assert set(row) == {b"_e", b"_c", b"_v", b"amount", b"doubled"}
    users = [{"user_id": u} for u in range(1, 60_001, 997)]
    resp = fs.get_online_features(["stats:amount", "stats:doubled"], users, now=NOW)
    pairs = set(zip(resp.columns[0].values, resp.columns[1].values, strict=True))
    assert pairs <= {(1.0, 2.0), (3.0, 6.0)}
    # The next run completes the work.
    fs.materialize_incremental(NOW)
    resp = fs.get_online_features(["stats:amount"], users, now=NOW)
    assert set(resp.columns[0].values) == {3.0}
    assert fs.online.get_watermark("stats")[0] == NOW


def test_push_into_a_hive_partitioned_source(fs: FeatureStore) -> None:
    folder = fs.data_dir / "stats" / "day=2026-01-01"
    folder.mkdir()
    (fs.data_dir / "stats" / "a.parquet").rename(folder / "a.parquet")
    pq.write_table(_rows(range(7, 8), NOW - timedelta(hours=2), 4.0), folder / "part-0.parquet")
    result = fs.push(
        "stats", [{"user_id": 7, "event_timestamp": NOW - timedelta(minutes=2), "amount": 6.0}]
    )
    assert result.written == 1
    later = datetime.now(UTC) + timedelta(seconds=1)
    frame = fs.get_historical_features(
        pa.table({"user_id": [7], "event_timestamp": pa.array([later])}), ["stats:doubled"]
    ).to_arrow()
    assert frame.column("doubled").to_pylist() == [12.0]
