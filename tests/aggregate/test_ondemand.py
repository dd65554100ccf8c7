"""On-demand features: the same function on training frames and online responses; versions."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from store import DefinitionError, EntityFrameError, Field, OnDemandFeatureView, Status
from store.errors import RequestDataError

from ..facade_helpers import store_for

MODULE = textwrap.dedent(
    """
    from datetime import timedelta
    import pandas as pd
    from store import (
        Aggregation, AggregationView, Entity, FeatureView, Field, OnDemandFeatureView,
        ParquetSource,
    )

    u = Entity("u", join_keys={"uid": "int64"})
    src = ParquetSource("data/tx.parquet", created_timestamp="created")
    last = FeatureView("last", [u], src, [Field("amount", "float64")])
    agg = AggregationView(
        name="agg", entities=[u], source=src, hop=timedelta(minutes=10),
        aggregations=[
            Aggregation("amount", "mean", window=timedelta(hours=1), name="mean_1h"),
            Aggregation("*", "count", window=timedelta(hours=1), name="n_1h"),
        ],
    )

    def ratio(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({
            "vs_mean": df["req_amount"] / df["mean_1h"],
            "vs_last": df["req_amount"] - df["amount"],
            "per_txn": df["req_amount"] / (df["n_1h"] + 1),
        })

    od = OnDemandFeatureView(
        name="od", sources=["agg:mean_1h", "agg:n_1h", "last:amount"],
        request_fields=[Field("req_amount", "float64")],
        fields=[Field("vs_mean", "float64"), Field("vs_last", "float64"),
                Field("per_txn", "float64")],
        udf=ratio,
    )
    """
)


def _repo(root: Path, redis_url: str, now: datetime) -> object:
    times = [now - timedelta(minutes=m) for m in (50, 35, 20, 5)]
    pq.write_table(
        pa.table(
            {
                "uid": pa.array([1, 1, 2, 1], pa.int64()),
                "amount": [10.0, 20.0, 5.0, 40.0],
                "event_timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
                "created": pa.array(times, pa.timestamp("us", tz="UTC")),
            }
        ),
        (root / "data").mkdir(parents=True) or root / "data" / "tx.parquet",
    )
    fs = store_for(root, MODULE, redis_url, project="od_test")
    fs.apply()
    return fs


def test_same_values_offline_and_online(tmp_path: Path, redis_url: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    fs = _repo(tmp_path, redis_url, now)
    fs.materialize(now)  # type: ignore[attr-defined]
    rows = [
        {"uid": 1, "req_amount": 70.0},
        {"uid": 2, "req_amount": 1.0},
        {"uid": 3, "req_amount": 2.0},
    ]
    feats = ["od", "last:amount"]
    ent = pd.DataFrame(rows).assign(event_timestamp=pd.Timestamp(now))
    offline = fs.get_historical_features(ent, feats).to_arrow()  # type: ignore[attr-defined]
    assert offline.column_names == [
        "uid",
        "req_amount",
        "event_timestamp",
        "amount",
        "vs_mean",
        "vs_last",
        "per_txn",
    ]
    resp = fs.get_online_features(feats, rows, now=now)  # type: ignore[attr-defined]
    assert resp.feature_names == ["vs_mean", "vs_last", "per_txn", "amount"]
    for col in resp.columns:
        assert col.values == offline.column(col.name).to_pylist(), col.name
    assert offline.column("vs_mean").to_pylist() == [70.0 / (70.0 / 3), 0.2, None]
    # uid 3 has no tiles (MISSING online): its count is the empty window's 0 on both paths
    assert offline.column("per_txn").to_pylist() == [70.0 / 4, 0.5, 2.0]
    assert resp.columns[0].statuses == [Status.PRESENT] * 3
    # the hidden input agg:mean_1h is not returned; streamed frames get the same columns
    out = tmp_path / "frame.parquet"
    streamed = fs.get_historical_features(ent, feats, out_path=out).to_arrow()  # type: ignore[attr-defined]
    assert streamed.column_names == offline.column_names
    assert pq.read_metadata(out).metadata and b"parity.manifest" in pq.read_metadata(out).metadata
    with pytest.raises(EntityFrameError, match="needs request data 'req_amount'"):
        fs.get_online_features(["od"], [{"uid": 1}], now=now)  # type: ignore[attr-defined]


def test_request_data_offline_go_through_the_same_conversion(
    tmp_path: Path, redis_url: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    fs = _repo(tmp_path, redis_url, now)
    ent = pd.DataFrame({"uid": [1, 2], "event_timestamp": pd.Timestamp(now)})
    floats = fs.get_historical_features(ent.assign(req_amount=[70.0, 1.0]), ["od"])  # type: ignore[attr-defined]
    ints = fs.get_historical_features(ent.assign(req_amount=[70, 1]), ["od"])  # type: ignore[attr-defined]
    assert ints.to_arrow().column("vs_last") == floats.to_arrow().column("vs_last")
    assert floats.to_arrow().column("vs_last").to_pylist() == [30.0, -4.0]
    # a column that does not convert is reported value by value, like an online request
    with pytest.raises(RequestDataError, match=r"entity row 0: request data 'req_amount'.*float64"):
        fs.get_historical_features(ent.assign(req_amount=["70", "1"]), ["od"])  # type: ignore[attr-defined]


def test_server_serves_on_demand_features(tmp_path: Path, redis_url: str) -> None:
    from fastapi.testclient import TestClient

    from store.server.app import create_app

    now = datetime.now(UTC).replace(microsecond=0)
    fs = _repo(tmp_path, redis_url, now)
    fs.materialize(now)  # type: ignore[attr-defined]
    want = fs.get_online_features(["od"], [{"uid": 1, "req_amount": 7}])  # type: ignore[attr-defined]
    with TestClient(create_app(fs)) as client:  # type: ignore[arg-type]
        body = {"features": ["od"], "entities": {"uid": [1], "req_amount": [7]}}
        got = client.post("/get-online-features", json=body).json()
    names = got["metadata"]["feature_names"]
    assert names[-3:] == ["vs_mean", "vs_last", "per_txn"]
    assert [r["values"][0] for r in got["results"][-3:]] == [c.values[0] for c in want.columns]


def _f(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"y": df["x"] * 2})


def _g(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"y": df["x"] * 3})


def test_version_hashes_the_function_and_bad_definitions() -> None:
    a = OnDemandFeatureView("o", ["v:x"], [Field("y", "float64")], _f)
    b = OnDemandFeatureView("o", ["v:x"], [Field("y", "float64")], _g)
    assert a.version != b.version
    assert a.version == OnDemandFeatureView("o", ["v:x"], [Field("y", "float64")], _f).version
    with pytest.raises(DefinitionError, match="udf must be a function"):
        OnDemandFeatureView("o", ["v:x"], [Field("y", "float64")], "nope")  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="sources must be a list"):
        OnDemandFeatureView("o", "v:x", [Field("y", "float64")], _f)
