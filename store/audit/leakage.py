"""Leakage audit: what the point-in-time guards changed against a naive event-time join.

A naive join gives each entity row the source row with the greatest ``(event_ts,
created_ts)`` before ``t``, whether or not it had landed by ``t``, however late it landed,
however old it is. The offline rule differs from it in three ways; each changed value is put
down to the first that applies to the naive choice:

* **leakage guard**: the naive row had not landed at ``t`` (``created_ts + delay >= t``): a
  naive join would train on data from the future;
* **watermark**: it landed later than ``allowed_lateness`` after its event (the rule drops it);
* **ttl**: it was older than the view's ttl at ``t`` (the rule serves nothing).

The guards are the store working as designed, so changes are a *warning* (a pipeline with a
naive join would leak); a change none of them explains is an *alert*.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from store.aggregation import AggregationView
from store.audit.pit import GUARDED, NAIVE, choices, guarded, naive
from store.audit.report import AuditReport, Row, Status, worst
from store.definitions import FeatureView
from store.offline.engine import OfflineEngine
from store.offline.sql import AS_OF

GUARD = "leakage guard"
WATERMARK = "watermark"
TTL = "ttl"
OTHER = "unexplained"
CAUSES = (GUARD, WATERMARK, TTL, OTHER)
MAX_EXAMPLES = 5
_US = timedelta(microseconds=1)


def _us(table: pa.Table, name: str) -> list[int | None]:
    return pc.cast(table.column(name), pa.int64()).to_pylist()  # type: ignore[no-any-return]


def cause(view: FeatureView, t: int, n_e: int, n_c: int) -> str:
    """Why the rule did not take the naive choice ``(n_e, n_c)`` at ``t`` (all µs)."""
    if n_c + view.availability_delay // _US >= t:
        return GUARD
    if view.allowed_lateness is not None and n_c - n_e > view.allowed_lateness // _US:
        return WATERMARK
    if view.ttl is not None and t - n_e > view.ttl // _US:
        return TTL
    return OTHER


def audit_view(
    engine: OfflineEngine,
    view: FeatureView,
    entity_df: pd.DataFrame | pa.Table | str | Path,
    features: Sequence[str],
) -> tuple[dict[str, int], list[dict[str, Any]], int]:
    """Counts by cause, examples and the number of entity rows of one view."""
    table = choices(engine, view, entity_df, list(features))
    ts, g_e, g_c = _us(table, AS_OF), _us(table, GUARDED[0]), _us(table, GUARDED[1])
    n_e, n_c = _us(table, NAIVE[0]), _us(table, NAIVE[1])
    counts = dict.fromkeys(CAUSES, 0)
    picked: list[tuple[int, str]] = []
    shown = dict.fromkeys(CAUSES, 0)
    for i, t in enumerate(ts):
        ne, nc = n_e[i], n_c[i]
        if (g_e[i], g_c[i]) == (ne, nc) or ne is None or nc is None or t is None:
            continue
        why = cause(view, t, ne, nc)
        counts[why] += 1
        if shown[why] < MAX_EXAMPLES:
            shown[why] += 1
            picked.append((i, why))
    examples = [_example(table, view, features, i, why) for i, why in picked]
    return counts, examples, table.num_rows


def _example(
    table: pa.Table, view: FeatureView, features: Sequence[str], i: int, why: str
) -> dict[str, Any]:
    row = table.slice(i, 1).to_pylist()[0]
    out: dict[str, Any] = {"view": view.name, "cause": why}
    out |= {k: row[k] for k in view.join_keys}
    out["t"] = row[AS_OF]
    out["naive_event_ts"], out["naive_created_ts"] = row[NAIVE[0]], row[NAIVE[1]]
    out["naive"] = {f: row[naive(f)] for f in features}
    out["guarded_event_ts"], out["guarded_created_ts"] = row[GUARDED[0]], row[GUARDED[1]]
    out["guarded"] = {f: row[guarded(f)] for f in features}
    return out


def leakage_audit(
    engine: OfflineEngine,
    views: Mapping[str, tuple[FeatureView, Sequence[str]]],
    entity_df: pd.DataFrame | pa.Table | str | Path,
    *,
    on_demand: Mapping[str, Sequence[str]] | None = None,
) -> AuditReport:
    """Count, per view, the values the guards changed against a naive event-time join.

    Args:
        engine: the offline engine.
        views: view name -> (view, requested features).
        entity_df: the training request's entity rows (join keys + ``event_timestamp``).
        on_demand: requested on-demand view -> its source views (which must be in ``views``):
            an on-demand view leaks what its sources leak; its row says so and takes their
            worst status.

    Returns:
        An :class:`AuditReport` of kind ``leakage``: ``counts`` per view by cause (leakage
        guard, watermark, ttl), one row per view, examples with the key, ``t``, the naive
        choice (values, event and created time) and the guarded one. Warn when a guard changed
        a value (a naive join would leak), alert on a change none of them explains. An
        aggregation view counts the entity rows whose value differs from a naive aggregation
        of the window on event time alone (:mod:`store.audit.agg_leakage`).
    """
    from store.audit.agg_leakage import audit_aggregation

    rows: list[Row] = []
    examples: list[dict[str, Any]] = []
    counts: dict[str, dict[str, int]] = {}
    total = changed = 0
    statuses: list[Status] = []
    by_view: dict[str, Status] = {}
    for name, (view, features) in views.items():
        if isinstance(view, AggregationView):
            found, view_examples, n = audit_aggregation(
                engine, view, entity_df, features, MAX_EXAMPLES
            )
            by_cause = dict.fromkeys(CAUSES, 0) | found
            note = "rows whose window value differs from a naive event-time aggregation"
        else:
            by_cause, view_examples, n = audit_view(engine, view, entity_df, features)
            note = "rows whose chosen row differs from a naive event-time join"
        n_changed = sum(by_cause.values())
        status: Status = "alert" if by_cause[OTHER] else ("warn" if n_changed else "ok")
        statuses.append(status)
        by_view[name] = status
        total, changed = max(total, n), changed + n_changed
        counts[name] = {c: k for c, k in by_cause.items() if k}
        examples += view_examples
        rows.append(
            {"view": name, "status": status, "count": n_changed, "rows": n, **by_cause}
            | {"note": note}
        )
    for name, sources in (on_demand or {}).items():
        rows.append(
            {
                "view": name,
                "status": worst([by_view[s] for s in sources]),
                "count": 0,
                "rows": total,
                "note": (
                    "computed at request time: it leaks what its sources leak; counted under "
                    + ", ".join(sources)
                ),
            }
        )
    headline = f"{changed:,} values differ from a naive event-time join in {total:,} rows"
    return AuditReport(
        kind="leakage",
        status=worst(statuses),
        summary={"headline": headline, "rows": total, "changed": changed},
        rows=rows,
        examples=examples,
        counts=counts,
        params={
            "views": {n: list(f) for n, (_, f) in views.items()},
            "on_demand": {n: list(s) for n, s in (on_demand or {}).items()},
        },
    )
