"""Window borders by hand: hop starts, window edges, late rows landing, empty windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa

from store.offline.retrieval import get_historical_features
from store.registry import resolve_features

from ..offline.conftest import make_repo

US = timedelta(microseconds=1)


def at(h: int, m: int = 0) -> datetime:
    return datetime(2024, 3, 1, h, m, tzinfo=UTC)


MODULE = """
from datetime import timedelta
from store import Aggregation, AggregationView, Entity, ParquetSource
u = Entity("u", join_keys={"uid": "int64"})
agg = AggregationView(
    name="agg", entities=[u], source=ParquetSource("data/t.parquet", created_timestamp="c"),
    aggregations=[
        Aggregation("x", "count", window=timedelta(hours=2), name="n"),
        Aggregation("x", "sum", window=timedelta(hours=2), name="s", dtype="int64"),
        Aggregation("x", "max", window=timedelta(hours=2), name="mx", dtype="int64"),
    ],
)
"""


def test_borders_and_empty_windows(tmp_path: Path) -> None:
    events = [at(10), at(12) - US, at(10, 30)]
    created = [at(10), at(12) - US, at(12, 30)]  # the third lands two hours late
    ts = pa.timestamp("us", tz="UTC")
    table = pa.table(
        {
            "uid": pa.array([1, 1, 1], pa.int64()),
            "x": pa.array([1, 2, 4], pa.int64()),
            "event_timestamp": pa.array(events, ts),
            "c": pa.array(created, ts),
        }
    )
    repo = make_repo(tmp_path, MODULE, {"data/t.parquet": table})
    cases = [  # t -> (count, sum, max) for uid 1
        (at(12) - US, (1, 1, 1)),  # hop 11:00, window [09:00, t): the 11:59:59.999999 row not yet
        (at(12), (2, 3, 2)),  # hop 12:00, window [10:00, 12:00): 10:00 is inside
        (at(12, 30), (2, 3, 2)),  # the late row landed at 12:30: not visible at 12:30
        (at(12, 30) + US, (3, 7, 4)),
        (at(13) - US, (3, 7, 4)),
        (at(13), (1, 2, 2)),  # hop 13:00, window [11:00, 13:00): 10:00 and 10:30 left
        (at(14), (0, 0, None)),  # empty window: 0, 0, null
    ]
    ent = pd.DataFrame(
        {"uid": [1] * len(cases) + [2], "event_timestamp": [t for t, _ in cases] + [at(12)]}
    )
    refs = resolve_features(repo.defs, ["agg"])
    got = get_historical_features(repo.engine, repo.defs, refs, ent).to_arrow()
    rows = list(zip(got["n"].to_pylist(), got["s"].to_pylist(), got["mx"].to_pylist(), strict=True))
    assert rows == [want for _, want in cases] + [(0, 0, None)]
