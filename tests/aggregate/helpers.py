"""Aggregation views over a PitCase's rows (see store.testing), and their reference values."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from store.aggregation import Aggregation, AggregationView
from store.definitions import Entity, ParquetSource
from store.testing import Key, PitCase, reference_aggregate

HOP = timedelta(minutes=2)
M = timedelta(minutes=1)
# (column, function, window, dtype, index into SourceRow.values)
SPECS: list[tuple[str, str, timedelta, str | None, int]] = [
    ("f_int", "count", 4 * M, None, 0),
    ("f_int", "sum", 2 * M, "int64", 0),
    ("f_int", "mean", 6 * M, None, 0),
    ("f_float", "min", 4 * M, "float64", 1),
    ("f_float", "max", 6 * M, "float64", 1),
    ("f_str", "max", 2 * M, "string", 2),
    ("f_str", "last", 4 * M, "string", 2),
    ("f_str", "count_distinct", 6 * M, None, 2),
    ("f_int", "last", 6 * M, "int64", 0),
]
NAMES = [f"a{i}" for i in range(len(SPECS))]


def aggregations() -> list[Aggregation]:
    return [
        Aggregation(col, fn, window=w, name=name, dtype=dtype)
        for name, (col, fn, w, dtype, _) in zip(NAMES, SPECS, strict=True)
    ]


def agg_view(case: PitCase, path: str = "data/src") -> AggregationView:
    keys: dict[str, str] = {"k1": "int64"}
    if case.compound:
        keys["k2"] = "string"
    return AggregationView(
        name="agg",
        entities=[Entity("e", join_keys=keys)],
        source=ParquetSource(path, created_timestamp="created" if case.has_created else None),
        aggregations=aggregations(),
        hop=HOP,
        allowed_lateness=case.rule.allowed_lateness,
        availability_delay=case.rule.availability_delay,
    )


def agg_module(case: PitCase, path: str = "data/src") -> str:
    """The definitions module of :func:`agg_view` (for facade-level tests)."""
    keys = '{"k1": "int64", "k2": "string"}' if case.compound else '{"k1": "int64"}'
    created = '"created"' if case.has_created else "None"
    aggs = ",\n    ".join(
        f"Aggregation({col!r}, {fn!r}, window=timedelta(seconds={w.total_seconds()}), "
        f"name={name!r}, dtype={dtype!r})"
        for name, (col, fn, w, dtype, _) in zip(NAMES, SPECS, strict=True)
    )
    rule = case.rule
    return (
        "from datetime import timedelta\n"
        "from store import Aggregation, AggregationView, Entity, ParquetSource\n\n"
        f"e = Entity('e', join_keys={keys})\n"
        f"agg = AggregationView(name='agg', entities=[e],\n"
        f"    source=ParquetSource({path!r}, created_timestamp={created}),\n"
        f"    aggregations=[\n    {aggs}],\n"
        f"    hop=timedelta(seconds={HOP.total_seconds()}),\n"
        f"    allowed_lateness={rule.allowed_lateness!r},\n"
        f"    availability_delay={rule.availability_delay!r})\n"
    ).replace("datetime.timedelta", "timedelta")


def expected(case: PitCase, key: Key, t: datetime) -> tuple[Any, ...]:
    return tuple(
        reference_aggregate(
            case.rows, key, t, case.rule, function=fn, window=w, hop=HOP, index=index
        )
        for (_, fn, w, _, index) in SPECS
    )
