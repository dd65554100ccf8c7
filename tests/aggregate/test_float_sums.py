"""Float sums and means: online equals the training frame bit for bit, IEEE specials included,
on one Redis and on a Redis Cluster; tiles of the old layout read as VERSION_MISMATCH.

The rows are chosen so that any other grouping of the additions changes the result: 1e16
swallows a lone 1.0 but not two of them added first, and late rows put a hop's rows into
several pieces (event hop, visibility hop).
"""

from __future__ import annotations

import json
import math
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from store import FeatureStore, Status
from store.aggregation import AggregationView
from store.online.tiles import plan_tiles
from store.push import push_rows
from store.testing import Rule, SourceRow, reference_aggregate

from ..facade_helpers import store_for
from .helpers import exact

if TYPE_CHECKING:
    from conftest import Cluster

HOP = timedelta(minutes=10)
MIN = timedelta(minutes=1)
US = timedelta(microseconds=1)
MODULE = textwrap.dedent(
    """
    from datetime import timedelta
    from store import Aggregation, AggregationView, Entity, ParquetSource

    u = Entity("u", join_keys={"uid": "int64"})
    H = timedelta(hours=1)
    agg = AggregationView(
        name="agg", entities=[u], source=ParquetSource("data/tx", created_timestamp="c"),
        hop=timedelta(minutes=10),
        aggregations=[
            Aggregation("x", "sum", window=H, name="xs"),
            Aggregation("x", "mean", window=H, name="xm"),
            Aggregation("y", "sum", window=H, name="ys32", dtype="float32"),
            Aggregation("x", "sum", window=timedelta(minutes=20), name="xs20"),
            Aggregation("x", "count", window=H, name="n"),
            Aggregation("x", "min", window=H, name="xmin"),
            Aggregation("x", "max", window=H, name="xmax"),
        ],
    )
    """
)
# (feature, function, window, dtype, column index)
FEATURES = [
    ("xs", "sum", timedelta(hours=1), "float64", 0),
    ("xm", "mean", timedelta(hours=1), "float64", 0),
    ("ys32", "sum", timedelta(hours=1), "float32", 1),
    ("xs20", "sum", timedelta(minutes=20), "float64", 0),
    ("n", "count", timedelta(hours=1), "float64", 0),
    ("xmin", "min", timedelta(hours=1), "float64", 0),
    ("xmax", "max", timedelta(hours=1), "float64", 0),
]
INF, NAN = math.inf, math.nan
# uid, x, y, event minute, created minute (late rows: created hops after the event)
ROWS = [
    (1, 1e16, 1.0, 1, 1),
    (1, 1.0, 0.1, 2, 25),
    (1, 1.0, 0.2, 3, 33),
    (1, 1.0, 1e8, 12, 12),
    (1, -1e16, 1.0, 13, 14),
    (1, 0.1, -1e8, 15, 41),
    (1, 3.0, 0.3, 22, 22),
    (1, 1.0, 1.0, 31, 31),
    (1, 0.7, 1e-3, 38, 38),
    (2, INF, 1.0, 5, 5),
    (2, 1.0, 1.0, 14, 30),
    (2, -INF, 1.0, 16, 16),
    (3, 1e308, 3e38, 5, 5),
    (3, 1e308, 3e38, 7, 7),
    (4, NAN, -3e38, 5, 5),
    (4, 1.0, -3e38, 6, 40),
]


def _base() -> datetime:
    # Recent (online keys expire in wall-clock time) and on a whole hour.
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


def _write(root: Path, rows: list[SourceRow]) -> None:
    folder = root / "data" / "tx"
    folder.mkdir(parents=True, exist_ok=True)
    ts = pa.timestamp("us", tz="UTC")
    table = pa.table(
        {
            "uid": pa.array([r.key[0] for r in rows], pa.int64()),
            "x": pa.array([r.values[0] for r in rows], pa.float64()),
            "y": pa.array([r.values[1] for r in rows], pa.float64()),
            "event_timestamp": pa.array([r.event_ts for r in rows], ts),
            "c": pa.array([r.created_ts for r in rows], ts),
        }
    )
    pq.write_table(table, folder / "part-000.parquet")


def _source_rows(base: datetime) -> list[SourceRow]:
    return [
        SourceRow((uid,), base + e * MIN, base + c * MIN, (x, y), "part-000.parquet", i)
        for i, (uid, x, y, e, c) in enumerate(ROWS)
    ]


def _store(root: Path, url: str, *, cluster: bool, rows: list[SourceRow]) -> FeatureStore:
    _write(root, rows)
    fs = store_for(root, MODULE, url, project=f"floats{int(cluster)}")
    if cluster:
        yaml = (root / "parity.yaml").read_text()
        (root / "parity.yaml").write_text(yaml + "  cluster: true\n")
        fs = FeatureStore(root)
    fs.apply()
    return fs


def _online(fs: FeatureStore, uids: list[int], t: datetime) -> list[tuple[Any, ...]]:
    resp = fs.get_online_features(["agg"], [{"uid": u} for u in uids], now=t)
    for col in resp.columns:
        assert set(col.statuses) <= {Status.PRESENT, Status.MISSING}, col.statuses
    return list(zip(*(c.values for c in resp.columns), strict=True))


def _frame(fs: FeatureStore, uids: list[int], t: datetime) -> list[tuple[Any, ...]]:
    ent = pd.DataFrame({"uid": uids, "event_timestamp": pd.Timestamp(t)})
    got = fs.get_historical_features(ent, ["agg"]).to_arrow()
    return list(zip(*(got[f].to_pylist() for f, *_ in FEATURES), strict=True))


def _reference(rows: list[SourceRow], uid: int, t: datetime) -> tuple[Any, ...]:
    return tuple(
        reference_aggregate(
            rows, (uid,), t, Rule(), function=fn, window=w, hop=HOP, index=i, dtype=dtype
        )
        for _, fn, w, dtype, i in FEATURES
    )


def _check(fs: FeatureStore, rows: list[SourceRow], uids: list[int], t: datetime) -> None:
    online, frame = _online(fs, uids, t), _frame(fs, uids, t)
    for uid, got, off in zip(uids, online, frame, strict=True):
        assert exact(got) == exact(off), (uid, t, got, off)
        assert exact(got) == exact(_reference(rows, uid, t)), (uid, t)


def _materialize_push_and_read(fs: FeatureStore, base: datetime, rows: list[SourceRow]) -> None:
    uids = [1, 2, 3, 4, 5]
    end = base + 45 * MIN  # every row has landed
    fs.materialize(end)
    for t in (end, end + US, base + 50 * MIN, base + 60 * MIN - US, base + 60 * MIN):
        _check(fs, rows, uids, t)
    values = dict(zip(uids, _online(fs, uids, end), strict=True))
    assert math.isnan(values[2][0]) and math.isnan(values[2][1])  # inf + -inf
    assert values[3][0] == INF and values[3][2] == INF  # 2e308 and 6e38 (float32) overflow
    assert values[4][2] == -INF and math.isnan(values[4][0])
    # NaN is the greatest value, as in DuckDB: min skips it, max is NaN (pieces of two hops)
    assert values[4][5] == 1.0 and math.isnan(values[4][6])
    # A late row of uid 1 pushed at 47 min for an event in hop 0: a new piece (0, 4).
    view = fs.definitions.view("agg")
    assert isinstance(view, AggregationView)
    landed = base + 47 * MIN
    row = {"uid": 1, "x": 1.0, "y": 0.1, "event_timestamp": base + 4 * MIN}
    push_rows(fs.offline, fs.online, view, view.version, [row], now=landed)
    rows = [*rows, SourceRow((1,), base + 4 * MIN, landed, (1.0, 0.1), "push", 0)]
    for t in (landed + US, base + 50 * MIN, base + 70 * MIN):
        _check(fs, rows, [1], t)


def test_float_sums_bit_for_bit_online_and_offline(tmp_path: Path, redis_url: str) -> None:
    base = _base()
    rows = _source_rows(base)
    with _store(tmp_path, redis_url, cluster=False, rows=rows) as fs:
        _materialize_push_and_read(fs, base, rows)


@pytest.mark.cluster
def test_float_sums_bit_for_bit_on_a_cluster(tmp_path: Path, redis_cluster: Cluster) -> None:
    redis_cluster.flush()
    base = _base()
    rows = _source_rows(base)
    with _store(tmp_path, redis_cluster.url, cluster=True, rows=rows) as fs:
        _materialize_push_and_read(fs, base, rows)
        # The entities' hashes are spread over the masters.
        assert sum(redis.Redis(port=p).dbsize() > 0 for p in redis_cluster.ports) >= 2


def test_tiles_of_the_old_layout_read_as_version_mismatch(tmp_path: Path, redis_url: str) -> None:
    base = _base()
    rows = _source_rows(base)
    with _store(tmp_path, redis_url, cluster=False, rows=rows) as fs:
        view = fs.definitions.view("agg")
        assert isinstance(view, AggregationView)
        [(_, key)] = plan_tiles(fs.online.project, view, [{"uid": 1}])
        hop = int((base - datetime(1970, 1, 1, tzinfo=UTC)) / HOP)
        stamp = int((base - datetime(1970, 1, 1, tzinfo=UTC)) / US)
        old = {"_a": stamp, "_v": view.version, f"t{hop}": json.dumps([1.0, 1.0, 1, 1.0, 1.0, 1])}
        client = redis.Redis.from_url(redis_url)
        client.hset(key, mapping=old)
        client.close()
        resp = fs.get_online_features(["agg"], [{"uid": 1}], now=base + HOP)
        assert {s for c in resp.columns for s in c.statuses} == {Status.VERSION_MISMATCH}
        assert all(c.values == [None] for c in resp.columns)
        # A materialization replaces it (same version, later as-of time) with pieces.
        fs.materialize(base + 45 * MIN)
        client = redis.Redis.from_url(redis_url)
        fields = client.hkeys(key)
        client.close()
        assert fields and all(f.startswith(b"_") or b"." in f for f in fields)
