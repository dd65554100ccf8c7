"""Materialization: what Redis serves equals the training frame at the same time, bit for bit."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import redis
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from store import FeatureStore, RegistryError, Status
from store.sample import default_end, generate
from store.testing import PitCase, grid_times, pit_cases

from .facade_helpers import bits, case_module, recent, store_for, to_recent
from .offline.conftest import write_case

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def _keys(case: PitCase) -> list[dict[str, Any]]:
    keys = sorted({r.key for r in case.rows if all(k is not None for k in r.key)}, key=repr)
    names = ["k1", "k2"] if case.compound else ["k1"]
    return [dict(zip(names, k, strict=True)) for k in keys]


def _training_values(fs: FeatureStore, rows: list[dict[str, Any]], t: datetime) -> list[Any]:
    ent = pd.DataFrame(rows).assign(event_timestamp=pd.Timestamp(t))
    frame = fs.get_historical_features(ent, ["v"]).to_arrow()
    cols = [frame.column(c).to_pylist() for c in ("f_int", "f_float", "f_str")]
    return [tuple(bits(v) for v in vals) for vals in zip(*cols, strict=True)]


def _online_values(fs: FeatureStore, rows: list[dict[str, Any]], t: datetime) -> list[Any]:
    resp = fs.get_online_features(["v"], rows, now=t)
    cols = resp.columns
    out = []
    for i in range(len(rows)):
        present = [c.statuses[i] is Status.PRESENT for c in cols]
        assert len(set(present)) == 1, "a view's features share one status"
        out.append(tuple(bits(c.values[i]) for c in cols) if present[0] else (None, None, None))
    return out


@SETTINGS
@given(case=pit_cases(), t1=grid_times(16), step=st.integers(0, 8))
def test_online_equals_training_frame_after_full_then_incremental(
    redis_url: str, case: PitCase, t1: datetime, step: int
) -> None:
    """materialize(T1), then materialize_incremental(T2): online at T2 == offline at T2."""
    if not case.rows:
        return
    t1, delta = to_recent(t1)
    case = recent(case, delta)
    note(f"{case!r} t1={t1} step={step}")
    redis.Redis.from_url(redis_url).flushall()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_case(root, case)
        fs = store_for(root, case_module(case), redis_url)
        fs.apply()
        rows = _keys(case)
        fs.materialize(t1)
        assert _online_values(fs, rows, t1) == _training_values(fs, rows, t1)
        t2 = t1 + timedelta(minutes=step)
        fs.materialize_incremental(t2)
        assert _online_values(fs, rows, t2) == _training_values(fs, rows, t2)
        fs.close()


@pytest.fixture(scope="module")
def fraud_repo(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> FeatureStore:
    """The example repo with a small sample, online at the test redis-server."""
    root = tmp_path_factory.mktemp("fraud")
    src = Path(__file__).resolve().parents[1] / "definitions"
    fs = store_for(root, (src / "features.py").read_text(), redis_url, project="fraud_test")
    generate(fs.data_dir, end=default_end(), days=10, users=300, merchants=40)
    fs.apply()
    return fs


def test_example_repo_online_equals_training_frame(fraud_repo: FeatureStore) -> None:
    fs = fraud_repo
    t = datetime.now(UTC)
    results = fs.materialize(t)
    plain = {"user_txn_stats", "user_profile", "merchant_risk"}
    assert {r.view for r in results} == plain | {"user_txn_agg"}  # tests/aggregate: the last
    for view in ("user_txn_stats", "user_profile", "merchant_risk"):
        key = "merchant_id" if view == "merchant_risk" else "user_id"
        n = 40 if view == "merchant_risk" else 300
        rows = [{key: i} for i in range(1, n + 1)]
        ent = pd.DataFrame(rows).assign(event_timestamp=pd.Timestamp(t))
        offline = fs.get_historical_features(ent, [view]).to_arrow()
        online = fs.get_online_features([view], rows, now=t)
        present = 0
        for col in online.columns:
            want = offline.column(col.name).to_pylist()
            got = [
                v if s is Status.PRESENT else None
                for v, s in zip(col.values, col.statuses, strict=True)
            ]
            assert [bits(v) for v in got] == [bits(v) for v in want], (view, col.name)
            present += sum(s is Status.PRESENT for s in col.statuses)
        assert present > 0, f"{view}: nothing materialized"


def test_materialize_is_idempotent(fraud_repo: FeatureStore, redis_url: str) -> None:
    fs = fraud_repo
    t = default_end() - timedelta(hours=5)
    client = redis.Redis.from_url(redis_url)

    def dump() -> dict[bytes, Any]:
        keys = sorted(client.scan_iter(match="*fraud_test*", count=1000))
        return {k: client.hgetall(k) for k in keys if client.type(k) == b"hash"}

    client.flushall()
    fs.materialize(t)
    first = dump()
    assert len(first) > 500
    fs.materialize(t)
    assert dump() == first
    fs.materialize_incremental(t)
    assert dump() == first


def test_changed_definition_is_never_served_as_current(tmp_path: Path, redis_url: str) -> None:
    redis.Redis.from_url(redis_url).flushall()
    table_module = """
from datetime import timedelta
from store import Entity, FeatureView, Field, ParquetSource
u = Entity("u", join_keys={"uid": "int64"})
v = FeatureView("v", [u], ParquetSource("data/s.parquet"), [Field("x", "float64", expr="%s")])
"""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "data").mkdir()
    pq.write_table(
        pa.table(
            {
                "uid": pa.array([1], pa.int64()),
                "event_timestamp": pa.array([datetime(2026, 1, 1, tzinfo=UTC)]),
                "x": [2.0],
            }
        ),
        tmp_path / "data" / "s.parquet",
    )
    fs = store_for(tmp_path, table_module % "x", redis_url)
    fs.apply()
    t = datetime(2026, 2, 1, tzinfo=UTC)
    fs.materialize(t)
    assert fs.get_online_features(["v:x"], [{"uid": 1}], now=t).columns[0].values == [2.0]

    fs = store_for(tmp_path, table_module % "x * 10", redis_url)
    with pytest.raises(RegistryError, match="changed since the last apply"):
        fs.materialize(t)
    fs.apply()
    col = fs.get_online_features(["v:x"], [{"uid": 1}], now=t).columns[0]
    assert (col.values, col.statuses) == ([None], [Status.VERSION_MISMATCH])
    fs.materialize_incremental(t)  # the new version recomputes everything
    assert fs.get_online_features(["v:x"], [{"uid": 1}], now=t).columns[0].values == [20.0]
