"""Push: which rows a push writes online, and when (issues found in review of store/push.py).

One rule for plain and aggregation views: the online values are the offline rule at the push's
``online_as_of`` (just after it landed), over the pushed keys, whatever created time the rows
carry (Feast's writers send one) and whatever the view's availability_delay.
"""

from __future__ import annotations

import os
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from store import FeatureStore, Status
from store.definitions import FeatureView
from store.offline.engine import OfflineEngine
from store.push import IDS_DIR, PushResult, push_dir, push_rows

from .facade_helpers import store_for

MODULE = textwrap.dedent(
    """
    from datetime import timedelta
    from store import Aggregation, AggregationView, Entity, FeatureView, Field, ParquetSource

    user = Entity("user", join_keys={"user_id": "int64"})
    totals = AggregationView(
        name="totals",
        entities=[user],
        source=ParquetSource("data/txn", created_timestamp="created"),
        aggregations=[
            Aggregation("amount", "sum", window=timedelta(hours=1), name="amount_1h"),
            Aggregation("amount", "count", window=timedelta(hours=1), name="n_1h"),
        ],
        hop=timedelta(minutes=5),
    )
    delayed = FeatureView(
        name="delayed",
        entities=[user],
        source=ParquetSource("data/txn", created_timestamp="created"),
        fields=[Field("amount", "float64")],
        availability_delay=timedelta(minutes=10),
    )
    """
)
NOW = datetime.now(UTC).replace(microsecond=0)
TS = pa.timestamp("us", tz="UTC")


@pytest.fixture
def fs(tmp_path: Path, redis_url: str) -> FeatureStore:
    redis.Redis.from_url(redis_url).flushall()
    (tmp_path / "data" / "txn").mkdir(parents=True)
    event = NOW - timedelta(minutes=50)
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array([1, 2], pa.int64()),
                "event_timestamp": pa.array([event] * 2, TS),
                "created": pa.array([event] * 2, TS),
                "amount": pa.array([1.0, 2.0], pa.float64()),
            }
        ),
        tmp_path / "data/txn/a.parquet",
    )
    store = store_for(tmp_path, MODULE, redis_url)
    store.apply()
    store.materialize(NOW - timedelta(minutes=30))
    return store


def _push(fs: FeatureStore, name: str, rows: list[dict[str, object]], now: datetime) -> PushResult:
    view = fs.definitions.view(name)
    return push_rows(fs.offline, fs.online, view, view.version, rows, now=now)


def _frame(fs: FeatureStore, features: list[str], t: datetime) -> list[object]:
    ent = pd.DataFrame({"user_id": [1], "event_timestamp": [pd.Timestamp(t)]})
    got = fs.get_historical_features(ent, features).to_arrow()
    return [got[f.split(":")[1]][0].as_py() for f in features]


def test_aggregation_push_with_an_earlier_created_time_updates_the_tiles(
    fs: FeatureStore,
) -> None:
    landed = NOW - timedelta(minutes=1)
    row = {
        "user_id": 1,
        "event_timestamp": NOW - timedelta(minutes=3),
        "created": NOW - timedelta(minutes=2),  # Feast's writers send a created timestamp
        "amount": 5.0,
    }
    result = _push(fs, "totals", [row], landed)
    assert result.written == 1
    features = ["totals:amount_1h", "totals:n_1h"]
    for t in (landed + timedelta(microseconds=1), NOW, NOW + timedelta(minutes=2)):
        resp = fs.get_online_features(features, [{"user_id": 1}], now=t)
        online = [c.values[0] for c in resp.columns]
        assert online == _frame(fs, features, t) == [6.0, 2], t
        assert all(c.statuses[0] is Status.PRESENT for c in resp.columns)


def test_plain_push_serves_nothing_the_offline_rule_does_not_give(fs: FeatureStore) -> None:
    # availability_delay 10 minutes: the pushed row is not visible offline until then, so the
    # push must not serve it before (the aggregation path never did: one rule for both).
    landed = NOW - timedelta(minutes=1)
    row = {"user_id": 1, "event_timestamp": NOW - timedelta(minutes=2), "amount": 7.0}
    result = _push(fs, "delayed", [row], landed)
    assert result.written == 0
    t = landed + timedelta(minutes=1)
    resp = fs.get_online_features(["delayed:amount"], [{"user_id": 1}], now=t)
    assert resp.columns[0].values[0] == _frame(fs, ["delayed:amount"], t)[0] == 1.0


def test_a_push_reads_the_source_schema_once_per_view(
    fs: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each read opens DuckDB over every source and push file, which grow with every push.
    calls: list[str] = []
    real = OfflineEngine.source_schema

    def counted(self: OfflineEngine, view: FeatureView) -> pa.Schema:
        calls.append(view.name)
        return real(self, view)

    monkeypatch.setattr(OfflineEngine, "source_schema", counted)
    row = {"user_id": 1, "event_timestamp": NOW - timedelta(minutes=2), "amount": 7.0}
    _push(fs, "delayed", [row], NOW - timedelta(minutes=1))
    assert calls == ["delayed"]


def test_an_idempotent_push_fsyncs_the_id_record_and_data_file_names(
    fs: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Power loss: a file's fsync covers its content; its name needs its directory's fsync.
    synced: list[Path] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    row = {"user_id": 1, "event_timestamp": NOW - timedelta(minutes=2), "amount": 7.0}
    view = fs.definitions.view("delayed")
    push_rows(fs.offline, fs.online, view, view.version, [row], now=NOW, push_id="order-42")
    folder = push_dir(fs.offline.data_dir, "delayed")
    assert folder.resolve() in synced
    assert (folder / IDS_DIR).resolve() in synced


LATE_MODULE = textwrap.dedent(
    """
    from datetime import timedelta
    from store import Entity, FeatureView, Field, ParquetSource

    user = Entity("user", join_keys={"user_id": "int64"})
    stats = FeatureView(
        name="stats",
        entities=[user],
        source=ParquetSource("data/txn", created_timestamp="created"),
        fields=[Field("amount", "float64")],
        allowed_lateness=timedelta(hours=6),
    )
    """
)


def test_late_rows_are_counted_by_the_offline_rule(tmp_path: Path, redis_url: str) -> None:
    # Rule 3 is created - event <= allowed_lateness: with a given created time, an event 7 h
    # old that landed 5 h ago is on time (kept offline), so the push must not call it late.
    redis.Redis.from_url(redis_url).flushall()
    (tmp_path / "data" / "txn").mkdir(parents=True)
    seed = {
        "user_id": pa.array([3], pa.int64()),
        "event_timestamp": pa.array([NOW - timedelta(days=1)], TS),
        "created": pa.array([NOW - timedelta(days=1)], TS),
        "amount": pa.array([3.0], pa.float64()),
    }
    pq.write_table(pa.table(seed), tmp_path / "data/txn/a.parquet")
    store = store_for(tmp_path, LATE_MODULE, redis_url)
    store.apply()
    event = NOW - timedelta(hours=7)
    given = {"user_id": 1, "event_timestamp": event, "created": NOW - timedelta(hours=5)}
    result = _push(store, "stats", [given | {"amount": 1.0}], NOW)
    assert result.dropped_late == 0
    assert _frame(store, ["stats:amount"], NOW + timedelta(seconds=1)) == [1.0]
    landed_now = {"user_id": 2, "event_timestamp": event, "amount": 2.0}
    assert _push(store, "stats", [landed_now], NOW).dropped_late == 1
