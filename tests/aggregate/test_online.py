"""Online aggregation reads equal the training frame at the same t (hypothesis).

The guarantee: tiles written at ``W`` (a materialization's ``end``, or, for a pushed key, the
push's landing time plus 1 µs) hold exactly the rows visible at ``W``; a read at ``t >= W``
returns the offline value at ``t`` over those rows. So it equals the training frame at ``t``
whenever no row of the key becomes visible in ``[W, t)``, and otherwise the reference over the
rows visible at ``W``.
Float sums and means included, bit for bit (see ``helpers.agg_cases``).
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from store import FeatureStore, Status
from store.aggregation import AggregationView
from store.push import push_rows
from store.testing import Key, PitCase, Rule, SourceRow, grid_times, visibility

from ..facade_helpers import recent, store_for, to_recent
from ..offline.conftest import write_case
from .helpers import NAMES, agg_cases, agg_module, exact, expected, rounding_floats

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
MIN = timedelta(minutes=1)
US = timedelta(microseconds=1)


def _names(case: PitCase) -> list[str]:
    return ["k1", "k2"] if case.compound else ["k1"]


def _keys(case: PitCase) -> list[Key]:
    pool = {r.key for r in case.rows} | {k for k, _ in case.entities}
    return sorted((k for k in pool if all(x is not None for x in k)), key=repr)


def _online(fs: FeatureStore, case: PitCase, keys: list[Key], t: datetime) -> list[tuple[Any, ...]]:
    rows = [dict(zip(_names(case), k, strict=True)) for k in keys]
    resp = fs.get_online_features(["agg"], rows, now=t)
    for col in resp.columns:
        assert all(s in (Status.PRESENT, Status.MISSING) for s in col.statuses)
    return list(zip(*(c.values for c in resp.columns), strict=True))


def _frame(fs: FeatureStore, case: PitCase, keys: list[Key], t: datetime) -> list[tuple[Any, ...]]:
    ent = pd.DataFrame([dict(zip(_names(case), k, strict=True)) for k in keys])
    ent["event_timestamp"] = pd.Timestamp(t)
    got = fs.get_historical_features(ent, ["agg"]).to_arrow()
    return list(zip(*(got[n].to_pylist() for n in NAMES), strict=True))


def _check(
    fs: FeatureStore, case: PitCase, keys: list[Key], written: dict[Key, datetime], t: datetime
) -> int:
    """Online at t vs the training frame at t (and the reference as of each key's write)."""
    online, frame = _online(fs, case, keys, t), _frame(fs, case, keys, t)
    same = 0
    for key, got, off in zip(keys, online, frame, strict=True):
        w = written[key]
        changed = any(
            r.key == key and (v := visibility(r, case.rule)) is not None and w <= v < t
            for r in case.rows
        )
        if not changed:
            assert exact(got) == exact(off), (key, t)
            same += 1
        known = [r for r in case.rows if (v := visibility(r, case.rule)) is not None and v < w]
        want = expected(PitCase(known, [], case.rule, False, False, 1), key, t)
        assert exact(got) == exact(want), key
    return same


def _new_store(root: Path, case: PitCase, redis_url: str) -> FeatureStore:
    write_case(root, case)
    fs = store_for(root, agg_module(case), redis_url, project=f"p{uuid.uuid4().hex[:10]}")
    fs.apply()
    return fs


@SETTINGS
@given(case=agg_cases(), t1=grid_times(16), steps=st.lists(st.integers(0, 14), max_size=4))
def test_online_equals_training_frame_after_materialize(
    redis_url: str, case: PitCase, t1: datetime, steps: list[int]
) -> None:
    """Full materialization at T1, incremental at T2; reads at and after T2, on hop borders."""
    case = PitCase(case.rows, case.entities, Rule(None, *_rest(case.rule)), *_flags(case))
    t1, delta = to_recent(t1)
    case = recent(case, delta)
    note(f"{case!r} t1={t1}")
    with tempfile.TemporaryDirectory() as tmp:
        fs = _new_store(Path(tmp), case, redis_url)
        keys = _keys(case)
        fs.materialize(t1)
        _check(fs, case, keys, dict.fromkeys(keys, t1), t1)
        t2 = t1 + timedelta(minutes=steps[0] if steps else 3)
        fs.materialize_incremental(t2)
        for i, step in enumerate([0, *steps]):
            t = t2 + step * MIN + (US if i % 2 else timedelta(0))
            _check(fs, case, keys, dict.fromkeys(keys, t2), t)
        fs.close()


def _rest(rule: Rule) -> tuple[timedelta | None, timedelta]:
    return rule.allowed_lateness, rule.availability_delay


def _flags(case: PitCase) -> tuple[bool, bool, int]:
    return case.compound, True, case.files


@SETTINGS
@given(
    case=agg_cases(),
    t1=grid_times(16),
    pushes=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 12), st.integers(-(2**20), 2**20)),
        min_size=1,
        max_size=5,
    ),
    after=st.lists(st.integers(0, 10), min_size=1, max_size=3),
    numbers=rounding_floats(5),
)
def test_online_equals_training_frame_after_late_out_of_order_pushes(
    redis_url: str,
    case: PitCase,
    t1: datetime,
    pushes: list[tuple[int, int, int]],
    after: list[int],
    numbers: list[float | None],
) -> None:
    """Pushes land 30 s after T1 + i minutes, with events up to 12 minutes before landing
    (late, out of order); reads at and after the last landing, on hop borders too."""
    case = PitCase(case.rows, case.entities, Rule(None, *_rest(case.rule)), *_flags(case))
    t1, delta = to_recent(t1)
    case = recent(case, delta)
    with tempfile.TemporaryDirectory() as tmp:
        fs = _new_store(Path(tmp), case, redis_url)
        view = fs.definitions.view("agg")
        assert isinstance(view, AggregationView)
        keys = _keys(case)
        fs.materialize(t1)
        written = dict.fromkeys(keys, t1)
        rows = list(case.rows)
        landed = t1
        for i, (k1, back, value) in enumerate(pushes):
            number = numbers[i]
            landed = t1 + i * MIN + 30 * timedelta(seconds=1)
            key: Key = (k1, "a") if case.compound else (k1,)
            event = landed - back * MIN
            row: dict[str, Any] = dict(zip(_names(case), key, strict=True))
            row |= {"event_timestamp": event, "f_int": value, "f_float": number, "f_str": "xy"}
            push_rows(fs.offline, fs.online, view, view.version, [row], now=landed)
            new = SourceRow(key, event, landed, (value, number, "xy"), "push", i)
            rows.append(new)
            if key not in written:
                keys.append(key)
            # The push rewrites its key's tiles as the offline rule gives them at landed + 1 µs
            # (store.push.online_as_of), whatever its rows' visibility; no other key.
            written[key] = landed + US
        pushed = PitCase(rows, case.entities, case.rule, *_flags(case))
        note(f"{pushed!r} written={written}")
        for step in after:
            _check(fs, pushed, keys, written, landed + US + step * MIN)
        fs.close()
