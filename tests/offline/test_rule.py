"""Each condition of the point-in-time rule, exactly on and either side of its border."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from store.definitions import Entity, FeatureView, Field, ParquetSource
from store.offline.retrieval import get_historical_features
from store.registry import Definitions, resolve_features

from .conftest import at, engine_for, ts_array

US = timedelta(microseconds=1)
MIN = timedelta(minutes=1)


def join(
    tmp_path: Path,
    rows: list[tuple[int, datetime, datetime, float]],
    queries: list[tuple[int, datetime]],
    **rule: Any,
) -> list[float | None]:
    """Rows (key, event, created, value) and entity rows (key, t) -> values."""
    table = pa.table(
        {
            "k": pa.array([r[0] for r in rows], pa.int64()),
            "event_timestamp": ts_array([r[1] for r in rows]),
            "created": ts_array([r[2] for r in rows]),
            "x": pa.array([r[3] for r in rows], pa.float64()),
        }
    )
    (tmp_path / "data").mkdir(exist_ok=True)
    pq.write_table(table, tmp_path / "data" / "s.parquet")
    view = FeatureView(
        name="v",
        entities=[Entity("e", join_keys={"k": "int64"})],
        source=ParquetSource("data/s.parquet", created_timestamp="created"),
        fields=[Field("x", "float64")],
        **rule,
    )
    defs = Definitions(views={"v": view})
    ent = pd.DataFrame({"k": [q[0] for q in queries], "event_timestamp": [q[1] for q in queries]})
    out = get_historical_features(engine_for(tmp_path), defs, resolve_features(defs, ["v"]), ent)
    values: list[float | None] = out.to_arrow()["x"].to_pylist()
    return values


def test_event_time_is_strictly_before_t(tmp_path: Path) -> None:
    rows = [(1, at(10), at(10), 1.0)]
    assert join(tmp_path, rows, [(1, at(10)), (1, at(10) + US), (1, at(10) - US)]) == [
        None,
        1.0,
        None,
    ]


def test_leakage_guard_hides_rows_not_landed(tmp_path: Path) -> None:
    # The newer row (event 10) landed at 30: at t=20 the older row (landed at 1) is the value.
    # A plain ASOF on event time would return 2.0 at t=20: the trap from issue 2.
    rows = [(1, at(0), at(1), 1.0), (1, at(10), at(30), 2.0)]
    got = join(tmp_path, rows, [(1, at(20)), (1, at(30)), (1, at(30) + US)])
    assert got == [1.0, 1.0, 2.0]


def test_availability_delay_border(tmp_path: Path) -> None:
    rows = [(1, at(0), at(1), 1.0)]
    queries = [(1, at(6)), (1, at(6) + US)]
    assert join(tmp_path, rows, queries, availability_delay=5 * MIN) == [None, 1.0]


def test_allowed_lateness_border(tmp_path: Path) -> None:
    rows = [(1, at(0), at(5), 1.0), (1, at(1), at(6) + US, 2.0)]
    got = join(tmp_path, rows, [(1, at(60))], allowed_lateness=5 * MIN)
    assert got == [1.0]  # the second row is 1 us later than allowed: dropped


def test_ttl_border(tmp_path: Path) -> None:
    rows = [(1, at(0), at(0), 1.0)]
    got = join(tmp_path, rows, [(1, at(10)), (1, at(10) + US)], ttl=10 * MIN)
    assert got == [1.0, None]


def test_ttl_does_not_fall_back_to_older_rows(tmp_path: Path) -> None:
    rows = [(1, at(0), at(0), 1.0), (1, at(5), at(5), 2.0)]
    assert join(tmp_path, rows, [(1, at(16))], ttl=10 * MIN) == [None]


def test_correction_with_same_event_time_wins_once_landed(tmp_path: Path) -> None:
    rows = [(1, at(0), at(1), 1.0), (1, at(0), at(20), 9.0)]
    assert join(tmp_path, rows, [(1, at(10)), (1, at(21))]) == [1.0, 9.0]


def test_exact_tie_takes_the_row_written_last(tmp_path: Path) -> None:
    rows = [(1, at(0), at(0), 1.0), (1, at(0), at(0), 2.0), (1, at(0), at(0), 3.0)]
    assert join(tmp_path, rows, [(1, at(1))]) == [3.0]


def test_created_before_event_is_visible_from_event_time(tmp_path: Path) -> None:
    rows = [(1, at(5), at(0), 1.0)]
    assert join(tmp_path, rows, [(1, at(5)), (1, at(5) + US)]) == [None, 1.0]


def test_same_visibility_time_peers(tmp_path: Path) -> None:
    # Both rows become visible at 10: the one with the greater event time wins, whatever order.
    rows = [(1, at(9), at(10), 2.0), (1, at(3), at(10), 1.0), (1, at(10), at(2), 0.5)]
    assert join(tmp_path, rows, [(1, at(10) + US)]) == [0.5]


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_aware_entity_times_are_converted(tmp_path: Path, zone: str) -> None:
    rows = [(1, at(10), at(10), 1.0)]
    t = pd.Timestamp(at(10) + US).tz_convert(zone)
    assert join(tmp_path, rows, [(1, t), (1, t - pd.Timedelta(microseconds=1))]) == [1.0, None]
