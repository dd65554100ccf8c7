"""Replay audit: every served vector recomputed offline at its read time.

Each logged (request, entity row, view) becomes an entity row of a training request at the
time the server read Redis (``read_at``); the offline rule's value is compared with the value
served, bit for bit (floats by their bytes, NaN equal to NaN). A mismatch is put down to the
first cause that applies:

* **definition change**: the value was served under another view version than the current one;
* **ttl expiry**: the server answered ``EXPIRED`` where the rule still has a value;
* **not yet materialized**: nothing online (``MISSING``), or the served row is older than the
  rule's row (a newer row, or a correction, had not been materialized yet);
* **late row**: the served row is newer than the rule's (or the rule has none): a row the
  online store took that the offline rule drops, or that had not landed by the read time;
* **value differs**: same row, other value: skew nothing else explains.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from store.audit.report import AuditReport, Row, Status, worst
from store.convert import BadValue, to_value
from store.types import ValueType

OfflineFn = Callable[[pa.Table, list[str]], pa.Table]

DEFINITION = "definition change"
TTL = "ttl expiry"
NOT_MATERIALIZED = "not yet materialized"
LATE = "late row"
VALUE = "value differs"
CAUSES = (DEFINITION, TTL, NOT_MATERIALIZED, LATE, VALUE)
_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
MAX_EXAMPLES = 5


def _json(text: str) -> Any:
    value = orjson.loads(text)
    if isinstance(value, dict) and set(value) == {"$float"}:
        return _FLOATS[value["$float"]]
    return value


def _bits(value: Any) -> Any:
    if isinstance(value, float):
        return struct.pack("<d", value) if value == value else b"nan"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _number(value: Any) -> TypeGuard[float]:
    """A served or recomputed value SMAPE can use (a tampered payload may be text)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def smape(a: float, b: float) -> float:
    """Symmetric absolute percentage error in [0, 2]; 0 when both are 0."""
    den = (abs(a) + abs(b)) / 2
    return 0.0 if den == 0 else abs(a - b) / den


def _entity_table(
    columns: Mapping[str, pa.DataType], log: pa.Table
) -> tuple[pa.Table, list[int], int, str]:
    """Unique (entity row, read time) pairs of ``log`` as an entity frame of ``columns`` (join
    keys and, for an on-demand view, its request data, from the logged entity row), each
    log row's index into it, and a note on logged values that fit no type (converted by the
    one conversion of user values; one that does not convert is replayed as null and counted:
    a warning, never fatal), with their count."""
    times = pc.coalesce(log.column("read_at"), log.column("request_time")).to_pylist()
    index: dict[tuple[str, datetime], int] = {}
    where = []
    for key, t in zip(log.column("entity_key").to_pylist(), times, strict=True):
        where.append(index.setdefault((key, t), len(index)))
    cols: dict[str, list[Any]] = {k: [] for k in columns}
    stamps: list[datetime] = []
    bad, first = 0, ""
    for key, t in index:
        parsed = orjson.loads(key)
        for k in columns:
            try:
                cols[k].append(to_value(parsed.get(k), columns[k], row=len(stamps)))
            except BadValue as exc:
                cols[k].append(None)
                bad, first = bad + 1, first or f"{k!r} {exc.detail}"
        stamps.append(t)
    arrays = {k: pa.array(v, type=columns[k]) for k, v in cols.items()}
    arrays["event_timestamp"] = pa.array(stamps, pa.timestamp("us", tz="UTC"))
    note = f"{bad} logged value(s) fit no type, replayed as null (first: {first})" if bad else ""
    return pa.table(arrays), where, bad, note


def _cause(status: str, version: str, current: str, served_e: Any, offline_e: Any) -> str:
    if status == "VERSION_MISMATCH" or version != current:
        return DEFINITION
    if status == "EXPIRED":
        return TTL
    if status == "MISSING" or (
        offline_e is not None and (served_e is None or served_e < offline_e)
    ):
        return NOT_MATERIALIZED
    if offline_e is None or served_e > offline_e:
        return LATE
    return VALUE


@dataclass(frozen=True)
class ReplayView:
    """One audited view: what to recompute and how.

    Args:
        name: the view's name (a feature, aggregation or on-demand view).
        version: its current version; None to take each logged value's own (no definition
            changes are then told apart).
        types: each logged feature's declared type.
        columns: the entity frame's columns and their types: join keys and request data.
        chosen: for a view that chooses one source row per key, the chosen row's event time
            at each entity row (only to explain a mismatch); None for a window aggregation or
            an on-demand view.
        materialized_at: for a window aggregation or an on-demand view, its committed
            materialization watermark ``T`` (the latest of its sources' for an on-demand
            view), or None; a mismatch whose served value equals the training frame's at
            ``T`` (read after ``T``) is then put down to *not yet materialized*, as for a
            plain view, instead of *value differs*.
    """

    name: str
    version: str | None
    types: Mapping[str, ValueType]
    columns: Mapping[str, pa.DataType]
    chosen: Callable[[pa.Table], list[Any]] | None = None
    materialized_at: Callable[[], datetime | None] | None = None


def audit_view(
    view: ReplayView, log: pa.Table, offline_fn: OfflineFn, min_match_rate: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """Rows (one per feature), examples and counts by cause of one view's served values."""
    features = sorted(set(log.column("feature").to_pylist()) & set(view.types))
    entities, where, bad, malformed = _entity_table(view.columns, log)
    frame = offline_fn(entities, [f"{view.name}:{f}" for f in features])
    at_mark = _values_at_mark(view, log, entities, where, frame, features, offline_fn)
    offline_e: list[Any] | None = None
    rows, examples, counts = [], [], dict.fromkeys(CAUSES, 0)
    for feature in features:
        idx = pc.indices_nonzero(pc.equal(log.column("feature"), feature))
        part = log.take(idx)
        vtype = view.types[feature]
        column = frame.column(f"{view.name}__{feature}").cast(vtype.arrow)
        want = column.to_pylist()
        positions = [where[i] for i in idx.to_pylist()]
        by_cause = dict.fromkeys(CAUSES, 0)
        errors: list[float] = []
        numeric = vtype.scalar in {"int32", "int64", "float32", "float64"}
        shown = 0
        cols = [
            part.column(c).to_pylist()
            for c in ("status", "version", "event_timestamp", "value", "entity_key", "read_at")
        ]
        for pos, status, ver, served_e, text, key, read_at in zip(positions, *cols, strict=True):
            # The value the client got, whatever the status: null for a plain view's MISSING,
            # EXPIRED or VERSION_MISMATCH, the empty window's 0 for a window never written.
            served = _json(text)
            expected = want[pos]
            if numeric and _number(served) and _number(expected):
                errors.append(smape(served, expected))
            if _bits(served) == _bits(expected):
                continue
            if offline_e is None:  # only on a mismatch: explaining costs a second query
                offline_e = view.chosen(entities) if view.chosen else [None] * entities.num_rows
            current = ver if view.version is None else view.version
            chosen_e = offline_e[pos]
            why = _cause(status, ver, current, served_e if status == "PRESENT" else None, chosen_e)
            if view.chosen is None and why in (LATE, NOT_MATERIALIZED) and status == "PRESENT":
                # A window or a computed value has no single row to date: the value the
                # training frame gives at the materialization watermark dates it instead.
                then = at_mark.get(pos)
                stale = then is not None and _bits(served) == _bits(then[feature])
                why = NOT_MATERIALIZED if stale else VALUE
            by_cause[why] += 1
            if shown < MAX_EXAMPLES:
                shown += 1
                examples.append(
                    {
                        "view": view.name,
                        "feature": feature,
                        "cause": why,
                        "key": key,
                        "t": read_at,
                        "served": served,
                        "offline": expected,
                        "served_event_ts": served_e,
                        "offline_event_ts": chosen_e,
                        "served_status": status,
                        "served_version": ver,
                    }
                )
        n = part.num_rows
        mismatched = sum(by_cause.values())
        rate = 1.0 if n == 0 else (n - mismatched) / n
        status_: Status = "ok"
        if mismatched:
            status_ = "alert" if rate < min_match_rate or by_cause[VALUE] else "warn"
        row: dict[str, Any] = {
            "view": view.name,
            "feature": feature,
            "status": status_,
            "count": mismatched,
            "served": n,
            "match_rate": rate,
        }
        if errors:
            p50, p90, p99 = np.percentile(np.asarray(errors), [50, 90, 99]).tolist()
            row |= {"smape_p50": p50, "smape_p90": p90, "smape_p99": p99, "smape_max": max(errors)}
        rows.append(row | {c: k for c, k in by_cause.items() if k})
        for c, k in by_cause.items():
            counts[c] += k
    if bad and rows:  # a null replayed for a bad key can "match": the audit cannot vouch
        rows[0] |= {"note": malformed, "malformed": bad}
        rows[0]["status"] = worst([rows[0]["status"], "warn"])
    return rows, examples, counts


def _values_at_mark(
    view: ReplayView,
    log: pa.Table,
    entities: pa.Table,
    where: list[int],
    frame: pa.Table,
    features: list[str],
    offline_fn: OfflineFn,
) -> dict[int, dict[str, Any]]:
    """For a window or on-demand view, the training frame's values at its materialization
    watermark ``T`` of the entity rows read after ``T`` whose served value differs from the
    replay (one more batched call, only when there are such mismatches), by entity row."""
    if view.chosen is not None or view.materialized_at is None:
        return {}
    suspects: set[int] = set()
    for feature in features:
        idx = pc.indices_nonzero(pc.equal(log.column("feature"), feature))
        part = log.take(idx)
        want = frame.column(f"{view.name}__{feature}").cast(view.types[feature].arrow)
        wanted = want.to_pylist()
        cols = (part.column(c).to_pylist() for c in ("status", "value"))
        for i, status, text in zip(idx.to_pylist(), *cols, strict=True):
            if status == "PRESENT" and _bits(_json(text)) != _bits(wanted[where[i]]):
                suspects.add(where[i])
    mark = view.materialized_at() if suspects else None
    if mark is None:
        return {}
    times = entities.column("event_timestamp").to_pylist()
    positions = sorted(p for p in suspects if times[p] > mark)
    if not positions:
        return {}
    rows = entities.take(pa.array(positions, pa.int64()))
    stamps = pa.array([mark] * len(positions), pa.timestamp("us", tz="UTC"))
    column = rows.schema.get_field_index("event_timestamp")
    rows = rows.set_column(column, "event_timestamp", stamps)
    then = offline_fn(rows, [f"{view.name}:{f}" for f in features])
    values = {
        f: then.column(f"{view.name}__{f}").cast(view.types[f].arrow).to_pylist() for f in features
    }
    return {p: {f: values[f][j] for f in features} for j, p in enumerate(positions)}


def replay_audit(
    views: Sequence[ReplayView],
    log: pa.Table,
    offline_fn: OfflineFn,
    *,
    min_match_rate: float = 0.99,
) -> AuditReport:
    """Recompute every served value offline at its read time and compare.

    Args:
        views: the views to audit; log rows of other views are skipped. A view with nothing
            logged gets a row saying so.
        log: the served-feature log (``store.served_log.read_served_log``).
        offline_fn: the training-frame path: ``(entity frame, ["view:feature", ...])`` -> the
            frame with ``view__feature`` columns (``FeatureStore.get_historical_features``),
            so the replay recomputes exactly what training would see, for every view kind.
        min_match_rate: a feature matching less often than this is an alert.

    Returns:
        An :class:`AuditReport` of kind ``replay``: per view and feature the match rate, SMAPE
        percentiles for numbers and mismatches by cause; ``counts`` per view by cause. Warn on
        explained mismatches, alert below ``min_match_rate`` or on unexplained ones.
    """
    rows: list[Row] = []
    examples: list[dict[str, Any]] = []
    counts: dict[str, dict[str, int]] = {}
    served = mismatched = 0
    for view in views:
        part = log.filter(pc.equal(log.column("view"), view.name))
        if part.num_rows == 0:
            rows.append(
                {
                    "view": view.name,
                    "feature": "*",
                    "status": "ok",
                    "count": 0,
                    "served": 0,
                    "note": "nothing served from this view is in the served-feature log",
                }
            )
            continue
        view_rows, view_examples, by_cause = audit_view(view, part, offline_fn, min_match_rate)
        rows += view_rows
        examples += view_examples
        counts[view.name] = {c: k for c, k in by_cause.items() if k}
        served += part.num_rows
        mismatched += sum(by_cause.values())
    status = worst([r["status"] for r in rows if isinstance(r, dict)])
    headline = f"{mismatched:,} of {served:,} served values differ from the offline replay"
    bad = sum(int(r.get("malformed", 0)) for r in rows if isinstance(r, dict))
    if bad:
        headline += f"; {bad:,} logged key/request value(s) fit no type (replayed as null)"
    return AuditReport(
        kind="replay",
        status=status,
        summary={"headline": headline, "served": served, "mismatched": mismatched},
        rows=rows,
        examples=examples,
        counts=counts,
        params={"min_match_rate": min_match_rate},
    )
