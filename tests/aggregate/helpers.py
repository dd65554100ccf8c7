"""Aggregation views over a PitCase's rows (see store.testing), and their reference values.

Float sums and means must be equal bit for bit online and offline, so the cases' float values
(:func:`agg_cases`) are ones whose sum depends on the order of the additions: 1e16 + 1.0 is
1e16, 0.1 + 0.2 is not 0.3, and so on. Any other grouping of the additions shows.
"""

from __future__ import annotations

import dataclasses
import math
import random
import struct
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from store.aggregation import Aggregation, AggregationView
from store.definitions import Entity, ParquetSource
from store.testing import (
    Key,
    PitCase,
    SourceRow,
    grid_times,
    pit_cases,
    reference_aggregate,
)

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
    ("f_float", "sum", 6 * M, "float64", 1),
    ("f_float", "mean", 4 * M, None, 1),
    ("f_float", "sum", 4 * M, "float32", 1),
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
            case.rows,
            key,
            t,
            case.rule,
            function=fn,
            window=w,
            hop=HOP,
            index=index,
            dtype=dtype or "float64",
        )
        for (_, fn, w, dtype, index) in SPECS
    )


# Values whose sums round differently in most orders: 1e16 + 1.0 is 1e16, 1e16 + 2.0 is not;
# 0.1 + 0.2 is not 0.3. No value is -0.0 (min and max may return either zero: not the point).
_ROUNDING = [1.0, 1e16, -1e16, 1.0, 3.0, 1e16, 0.5, -1e16, 0.1, 1.0, 1 / 3, 1e-3, -7.25]


def rounding_floats(n: int) -> st.SearchStrategy[list[float | None]]:
    """``n`` floats (and nulls) whose sums depend on the order of the additions, now and
    then infinite (so some sums are infinite or NaN).

    Drawn independently from a seed: hypothesis's own choices favour repeating one value,
    which often leaves nothing for the rounding to tell apart."""

    def values(seed: int) -> list[float | None]:
        rng = random.Random(seed)
        out: list[float | None] = []
        for _ in range(n):
            roll = rng.random()
            if roll < 0.1:
                out.append(None)
            elif roll < 0.12:
                out.append(rng.choice([math.inf, -math.inf]))
            elif roll < 0.3:
                out.append(round(rng.uniform(-1e4, 1e4), rng.randrange(6)) + 0.0)
            else:
                out.append(rng.choice(_ROUNDING))
        return out

    return st.integers(0, 2**32).map(values)


@st.composite
def _burst_row(draw: st.DrawFn, key: Key, case: PitCase) -> SourceRow:
    """A row of ``key``, often late (created up to 6 minutes, three hops, after its event)."""
    event = draw(grid_times())
    created = event
    if case.has_created:
        created += draw(st.sampled_from([0, 1, 2, 3, 4, 6])) * M
        created += draw(st.sampled_from([0, 0, 1])) * timedelta(microseconds=1)
    file = f"part-{draw(st.integers(0, case.files - 1)):03d}.parquet"
    return SourceRow(key, event, created, (draw(st.integers(-9, 9)), None, "x"), file)


@st.composite
def agg_cases(draw: st.DrawFn) -> PitCase:
    """A :func:`store.testing.pit_cases` case with a burst of up to 30 more rows, many of them
    late, on the key of its first entity row (read a few more times), so that windows hold
    several rows of several (event hop, visibility hop) pairs; every ``f_float`` is a
    :func:`rounding_floats`."""
    case: PitCase = draw(pit_cases())
    key = case.entities[0][0]
    burst = draw(st.lists(_burst_row(key, case), min_size=4, max_size=30))
    every = [*case.rows, *burst]
    numbers = draw(rounding_floats(len(every)))
    counters: dict[str, int] = {}
    rows = []
    for r, number in zip(every, numbers, strict=True):
        n = counters.get(r.file, 0)
        counters[r.file] = n + 1
        rows.append(dataclasses.replace(r, values=(r.values[0], number, r.values[2]), row=n))
    reads = draw(st.lists(st.tuples(st.just(key), grid_times(16)), min_size=1, max_size=5))
    return dataclasses.replace(case, rows=rows, entities=[*case.entities, *reads])


def exact(values: Sequence[Any]) -> tuple[Any, ...]:
    """Values to compare bit for bit: a float by its IEEE bytes (every NaN alike: a NaN's sign
    and payload are not specified by IEEE 754 additions, and JSON keeps neither)."""
    return tuple(
        ("NaN" if math.isnan(v) else struct.pack("<d", v)) if isinstance(v, float) else v
        for v in values
    )
