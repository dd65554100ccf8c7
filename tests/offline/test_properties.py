"""The DuckDB join equals the reference implementation on adversarial data (hypothesis)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.offline.retrieval import get_historical_features, snapshot
from store.registry import Definitions, resolve_features
from store.testing import (
    PitCase,
    Rule,
    SourceRow,
    grid_times,
    pit_cases,
    reference_join,
    reference_snapshot,
    utc,
)

from .conftest import case_view, engine_for, write_case

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ZONES = [None, "UTC", "Asia/Kolkata"]


def _expected(row: SourceRow | None) -> tuple[Any, ...]:
    return (None, None, None) if row is None else row.values


def _times(row: SourceRow | None) -> tuple[datetime, datetime] | None:
    if row is None:
        return None
    assert row.event_ts is not None and row.created_ts is not None
    return (utc(row.event_ts), utc(row.created_ts))


def _reference_leakage(case: PitCase) -> dict[str, int]:
    """The manifest's leakage counts, by definition: a naive join takes the greatest
    ``(event_ts, created_ts)`` before t (ttl applied; no guard, no lateness); a changed value
    is put down to the first cause: landed beyond allowed_lateness, else not landed at t,
    else unexplained (exclusive, so they add up)."""
    rule = case.rule
    counts = {"changed": 0, "not_landed": 0, "late": 0, "unexplained": 0}
    guarded = reference_join(case.rows, case.entities, rule)
    for (key, t), chosen in zip(case.entities, guarded, strict=True):
        before = [
            r
            for r in case.rows
            if r.key == key
            and None not in r.key
            and r.event_ts is not None
            and r.created_ts is not None
            and utc(r.event_ts) < utc(t)
        ]
        naive = _times(max(before, key=_times)) if before else None
        if naive is not None and rule.ttl is not None and utc(t) - naive[0] > rule.ttl:
            naive = None
        if _times(chosen) == naive:
            continue
        counts["changed"] += 1
        lateness = rule.allowed_lateness
        if naive is not None and lateness is not None and naive[1] - naive[0] > lateness:
            counts["late"] += 1
        elif naive is not None and naive[1] + rule.availability_delay >= utc(t):
            counts["not_landed"] += 1
        else:
            counts["unexplained"] += 1
    return counts


def _entity_frame(case: PitCase, zone: str | None) -> pd.DataFrame:
    times = pd.Series([t for _, t in case.entities]).dt.tz_convert("UTC")
    # naive = UTC; aware = converted, never reinterpreted
    times = times.dt.tz_localize(None) if zone is None else times.dt.tz_convert(zone)
    data: dict[str, Any] = {"k1": [k[0] for k, _ in case.entities]}
    if case.compound:
        data["k2"] = [k[1] for k, _ in case.entities]
    data["event_timestamp"] = times
    data["label"] = range(len(case.entities))
    return pd.DataFrame(data)


@SETTINGS
@given(
    case=pit_cases(),
    unit=st.sampled_from(["us", "ns"]),
    source_tz=st.sampled_from(ZONES),
    entity_tz=st.sampled_from(ZONES),
    stream=st.booleans(),
)
def test_training_frame_equals_reference(
    case: PitCase, unit: str, source_tz: str | None, entity_tz: str | None, stream: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        view = case_view(case)
        if not case.rows:
            view = case_view(case, path="data/src/*.parquet")
            case = PitCase([], case.entities, case.rule, case.compound, case.has_created, 1)
        write_case(root, case, unit=unit, tz=source_tz)
        defs = Definitions(views={"v": view})
        ent = _entity_frame(case, entity_tz)
        frame = get_historical_features(
            engine_for(root),
            defs,
            resolve_features(defs, ["v"]),
            ent,
            out_path=root / "out.parquet" if stream else None,
        )
        got = frame.to_arrow()
        expected = reference_join(case.rows, case.entities, case.rule)
        rows = list(zip(*(got[c].to_pylist() for c in ("f_int", "f_float", "f_str")), strict=True))
        assert rows == [_expected(r) for r in expected]
        assert got["label"].to_pylist() == list(range(len(case.entities)))
        assert got.column_names[: len(ent.columns)] == list(ent.columns)
        leak = frame.manifest["views"]["v"]["leakage"]
        got_leak = {
            "changed": leak["changed_vs_naive_join"],
            "not_landed": leak["naive_value_not_yet_landed"],
            "late": leak["naive_value_beyond_allowed_lateness"],
            "unexplained": leak["unexplained"],
        }
        assert got_leak == _reference_leakage(case)


def _snapshot_rows(batches: Any, compound: bool) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    table = batches.read_all()
    out = {}
    for rec in table.to_pylist():
        key = (rec["k1"], rec["k2"]) if compound else (rec["k1"],)
        out[key] = (
            rec["f_int"],
            rec["f_float"],
            rec["f_str"],
            rec["__event_ts"],
            rec["__created_ts"],
        )
    return out


@SETTINGS
@given(case=pit_cases(), as_of=grid_times(16), since=st.none() | grid_times(16))
def test_snapshot_equals_reference(case: PitCase, as_of: datetime, since: datetime | None) -> None:
    if not case.rows:
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_case(root, case)
        got = _snapshot_rows(
            snapshot(engine_for(root), case_view(case), as_of, changed_since=since), case.compound
        )
        want = {
            key: (*row.values, row.event_ts, row.created_ts)
            for key, row in reference_snapshot(case.rows, as_of, case.rule, since).items()
        }
        assert got == want


@pytest.mark.parametrize("reverse", [False, True])
def test_leakage_counts_on_event_time_ties(reverse: bool) -> None:
    # Two rows with one event time: the naive join takes the later created_ts whatever the
    # file order (an ASOF join on event time alone picks either), and it had not landed at t.
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [((1,), 11, (1, 1.0, "a")), ((1,), 20, (2, 2.0, "b"))]
    rows = rows[::-1] if reverse else rows
    case = PitCase(
        [
            SourceRow(
                k, t0 + timedelta(minutes=10), t0 + timedelta(minutes=c), v, "part-000.parquet", i
            )
            for i, (k, c, v) in enumerate(rows)
        ],
        [((1,), t0 + timedelta(minutes=15)), ((1,), t0 + timedelta(minutes=30))],
        Rule(),
        compound=False,
        has_created=True,
        files=1,
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_case(root, case)
        defs = Definitions(views={"v": case_view(case)})
        ent = _entity_frame(case, None)
        frame = get_historical_features(engine_for(root), defs, resolve_features(defs, ["v"]), ent)
    assert frame.to_arrow()["f_int"].to_pylist() == [1, 2]
    leak = frame.manifest["views"]["v"]["leakage"]
    assert _reference_leakage(case) == {"changed": 1, "not_landed": 1, "late": 0, "unexplained": 0}
    assert (leak["changed_vs_naive_join"], leak["naive_value_not_yet_landed"]) == (1, 1)
