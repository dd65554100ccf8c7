"""A plain reference implementation of the point-in-time rule, and hypothesis strategies.

The reference is deliberately slow and obvious: for each entity row it filters the source rows
by the four conditions of SPEC.md and takes the greatest ``(event_ts, created_ts, file, row)``.
Use it to check any faster implementation (ours is checked against it in ``tests/offline``)::

    from hypothesis import given
    from store.testing import pit_cases, reference_join

    @given(pit_cases())
    def test_my_join(case):
        assert my_join(case) == reference_join(case.rows, case.entities, case.rule)

The strategies favour the hard cases: times on a coarse grid (so ties, rows exactly on the
ttl / lateness / delay borders, and entity and feature rows at the same instant are common),
late and corrected rows, rows created before their event, null features and keys, duplicated
entity rows, compound keys, several files, and empty sources.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

Key = tuple[Any, ...]

BASE_TIME = datetime(2024, 3, 1, tzinfo=UTC)
STEP = timedelta(minutes=1)


@dataclass(frozen=True)
class Rule:
    """The parameters of the rule for one view."""

    ttl: timedelta | None = None
    allowed_lateness: timedelta | None = None
    availability_delay: timedelta = timedelta(0)


@dataclass(frozen=True)
class SourceRow:
    """One source row: key, times, feature values and where it was written (tie-break)."""

    key: Key
    event_ts: datetime | None
    created_ts: datetime | None
    values: tuple[Any, ...]
    file: str = ""
    row: int = 0


def utc(value: datetime) -> datetime:
    """Naive = UTC; aware is converted (never reinterpreted); truncated to microseconds."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def visible(row: SourceRow, t: datetime, rule: Rule) -> bool:
    """Whether ``row`` may be used at time ``t`` (SPEC.md, "The point-in-time rule")."""
    if row.event_ts is None or row.created_ts is None or any(k is None for k in row.key):
        return False
    event, created, t = utc(row.event_ts), utc(row.created_ts), utc(t)
    if not event < t:
        return False
    if not created + rule.availability_delay < t:
        return False
    if rule.allowed_lateness is not None and created - event > rule.allowed_lateness:
        return False
    return rule.ttl is None or t - event <= rule.ttl


def _rank(row: SourceRow) -> tuple[datetime, datetime, str, int]:
    assert row.event_ts is not None and row.created_ts is not None
    return (utc(row.event_ts), utc(row.created_ts), row.file, row.row)


def reference_value(
    rows: Sequence[SourceRow], key: Key, t: datetime, rule: Rule
) -> SourceRow | None:
    """The row whose values the rule gives for ``key`` at ``t`` (None: nothing visible)."""
    if any(k is None for k in key):
        return None
    usable = [r for r in rows if r.key == key and visible(r, t, rule)]
    return max(usable, key=_rank) if usable else None


def reference_join(
    rows: Sequence[SourceRow], entities: Sequence[tuple[Key, datetime]], rule: Rule
) -> list[SourceRow | None]:
    """:func:`reference_value` for each ``(key, t)`` entity row, in order."""
    return [reference_value(rows, key, t, rule) for key, t in entities]


def visibility(row: SourceRow, rule: Rule) -> datetime | None:
    """When a row becomes visible: ``max(event_ts, created_ts + delay)``."""
    if row.event_ts is None or row.created_ts is None:
        return None
    return max(utc(row.event_ts), utc(row.created_ts) + rule.availability_delay)


def reference_snapshot(
    rows: Sequence[SourceRow], as_of: datetime, rule: Rule, changed_since: datetime | None = None
) -> dict[Key, SourceRow]:
    """Every key's value at ``as_of``; with ``changed_since`` only keys with a row (kept by
    the lateness rule) that became visible in ``[changed_since, as_of)``."""
    keys = {r.key for r in rows if all(k is not None for k in r.key)}
    out: dict[Key, SourceRow] = {}
    for key in keys:
        if changed_since is not None and not any(
            _changed(r, rule, changed_since, as_of) for r in rows if r.key == key
        ):
            continue
        value = reference_value(rows, key, as_of, rule)
        if value is not None:
            out[key] = value
    return out


def _changed(row: SourceRow, rule: Rule, lo: datetime, hi: datetime) -> bool:
    vis = visibility(row, rule)
    if vis is None:
        return False
    assert row.event_ts is not None and row.created_ts is not None
    late = rule.allowed_lateness is not None and (
        utc(row.created_ts) - utc(row.event_ts) > rule.allowed_lateness
    )
    return not late and utc(lo) <= vis < utc(hi)


# -- strategies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PitCase:
    """A generated point-in-time problem.

    ``rows[i].values`` is ``(f_int, f_float, f_str)``; ``files`` the number of files the rows
    are split into (``rows[i].file`` is ``part-NNN.parquet``); ``compound`` whether keys are
    ``(int, str)`` instead of ``(int,)``; ``has_created`` whether the source has a created
    column (else created = event).
    """

    rows: list[SourceRow]
    entities: list[tuple[Key, datetime]]
    rule: Rule
    compound: bool
    has_created: bool
    files: int


def grid_times(span: int = 12) -> st.SearchStrategy[datetime]:
    """Times on a one-minute grid, sometimes a microsecond off it (borders both sides)."""
    jitter = st.sampled_from([0, 0, 0, 0, 1, -1])
    return st.builds(
        lambda k, j: BASE_TIME + k * STEP + timedelta(microseconds=j),
        st.integers(0, span),
        jitter,
    )


def rules() -> st.SearchStrategy[Rule]:
    """Rule parameters on the same grid as the times, so borders are hit exactly."""
    step = st.integers(0, 6).map(lambda k: k * STEP)
    return st.builds(
        Rule,
        ttl=st.none() | step,
        allowed_lateness=st.none() | step,
        availability_delay=st.just(timedelta(0)) | step,
    )


def keys(compound: bool) -> st.SearchStrategy[Key]:
    """Small key domains, so keys repeat (and entity keys may be absent from the source)."""
    ints = st.integers(0, 3)
    if compound:
        return st.tuples(ints, st.sampled_from(["a", "b"]))
    return st.tuples(ints)


def feature_values() -> st.SearchStrategy[tuple[Any, ...]]:
    """``(int64 | None, float64 | None, str | None)``."""
    return st.tuples(
        st.none() | st.integers(-(2**40), 2**40),
        st.none() | st.floats(allow_nan=False, width=64),
        st.none() | st.text(alphabet="xyz", max_size=3),
    )


@st.composite
def source_rows(draw: st.DrawFn, *, compound: bool, has_created: bool, files: int) -> SourceRow:
    """One source row; created lags its event by a grid amount (rarely precedes it)."""
    event = draw(grid_times())
    if has_created:
        lag = draw(st.sampled_from([0, 0, 1, 2, 3, 5, 8, -1])) * STEP
        created: datetime | None = (
            event + lag + timedelta(microseconds=draw(st.sampled_from([0, 1])))
        )
    else:
        created = event
    return SourceRow(
        key=draw(keys(compound)),
        event_ts=event,
        created_ts=created,
        values=draw(feature_values()),
        file=f"part-{draw(st.integers(0, files - 1)):03d}.parquet",
    )


@st.composite
def pit_cases(draw: st.DrawFn, *, max_rows: int = 25, max_entities: int = 15) -> PitCase:
    """A whole problem: source rows (maybe none), entity rows and a rule."""
    compound = draw(st.booleans())
    has_created = draw(st.booleans())
    files = draw(st.integers(1, 3))
    raw: list[SourceRow] = draw(
        st.lists(
            source_rows(compound=compound, has_created=has_created, files=files),
            max_size=max_rows,
        )
    )
    duplicate: bool = draw(st.booleans())
    if raw and duplicate:  # exact duplicates of (key, event, created): the tie-break
        raw += [
            SourceRow(r.key, r.event_ts, r.created_ts, draw(feature_values()), r.file)
            for r in draw(st.lists(st.sampled_from(raw), max_size=3))
        ]
    numbered: list[SourceRow] = []
    counters: dict[str, int] = {}
    for r in raw:
        n = counters.get(r.file, 0)
        counters[r.file] = n + 1
        numbered.append(SourceRow(r.key, r.event_ts, r.created_ts, r.values, r.file, n))
    pool = [r.key for r in numbered]
    key_st = st.sampled_from(pool) | keys(compound) if pool else keys(compound)
    entities = draw(st.lists(st.tuples(key_st, grid_times(16)), min_size=1, max_size=max_entities))
    if draw(st.booleans()):
        entities += entities[: draw(st.integers(0, 3))]  # duplicated entity rows
    return PitCase(numbered, entities, draw(rules()), compound, has_created, files)


def floor_hop(t: datetime, hop: timedelta) -> datetime:
    """The start of the hop (``[kH, (k+1)H)``, aligned on the epoch) holding ``t``."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((utc(t) - epoch) // hop) * hop


def hop_index(t: datetime, hop: timedelta) -> int:
    """``k`` such that ``t`` lies in the hop ``[kH, (k+1)H)`` (aligned on the epoch)."""
    return (utc(t) - datetime(1970, 1, 1, tzinfo=UTC)) // hop


def to_float32(x: float) -> float:
    """``x`` rounded to the nearest float32 (IEEE: past the largest float32, to infinity)."""
    if math.isfinite(x) and abs(x) >= _FLOAT32_OVERFLOW:
        return math.copysign(math.inf, x)
    value: float = struct.unpack("<f", struct.pack("<f", x))[0]
    return value


_FLOAT32_OVERFLOW = 2.0**128 - 2.0**103  # halfway between the largest float32 and 2**128


def float_sum(pieces: dict[tuple[int, int], list[tuple[SourceRow, float]]]) -> float:
    """The float sum of SPEC.md: each piece (the rows of one (visibility hop, event hop)) added
    up row by row in rank order, then the pieces added up in (visibility hop, event hop) order,
    one IEEE double addition at a time, starting from 0.0."""
    total = 0.0
    for vk in sorted(pieces):
        piece = 0.0
        for _, x in sorted(pieces[vk], key=lambda rx: _rank(rx[0])):
            piece += x
        total += piece
    return total


def reference_aggregate(
    rows: Sequence[SourceRow],
    key: Key,
    t: datetime,
    rule: Rule,
    *,
    function: str,
    window: timedelta,
    hop: timedelta,
    index: int = 0,
    dtype: str = "float64",
) -> Any:
    """A window aggregation of ``values[index]`` at ``t`` (SPEC.md, "Window aggregations"):
    rows visible at t (rules 1-3; ``rule.ttl`` is ignored) with ``event_ts`` in
    ``[floor_hop(t) - window, t)``; 0 for count and sum over nothing, None for the rest.

    ``dtype`` is the sum's type: an integer sum is exact; a float sum is :func:`float_sum`
    (float32: of the values rounded to float32, the total rounded once at the end). A mean is
    the float64 sum divided by the count."""
    lo = floor_hop(t, hop) - window
    plain = Rule(None, rule.allowed_lateness, rule.availability_delay)
    inside = [
        r
        for r in rows
        if r.key == key and visible(r, t, plain) and lo <= utc(r.event_ts) < utc(t)  # type: ignore[arg-type]
    ]
    vals = [(r, r.values[index]) for r in inside if r.values[index] is not None]
    if function == "count":
        return len(vals)
    if function == "count_distinct":
        return len({v for _, v in vals})
    if function in ("sum", "mean") and not (function == "sum" and dtype.startswith("int")):
        cast = to_float32 if function == "sum" and dtype == "float32" else float
        pieces: dict[tuple[int, int], list[tuple[SourceRow, float]]] = {}
        for r, v in vals:
            vis = visibility(r, plain)
            assert vis is not None and r.event_ts is not None
            pieces.setdefault((hop_index(vis, hop), hop_index(r.event_ts, hop)), []).append(
                (r, cast(v))
            )
        total = float_sum(pieces)
        if function == "sum":
            return cast(total)
        return total / len(vals) if vals else None
    if function == "sum":
        return sum(v for _, v in vals)
    if not vals:
        return None
    # NaN is the greatest float (DuckDB's order): min skips it, max returns it
    nan_last = lambda v: (isinstance(v, float) and math.isnan(v), v)  # noqa: E731
    if function == "min":
        return min((v for _, v in vals), key=nan_last)
    if function == "max":
        return max((v for _, v in vals), key=nan_last)
    if function == "last":
        return max(vals, key=lambda rv: _rank(rv[0]))[1]
    raise ValueError(f"unknown function {function!r}")
