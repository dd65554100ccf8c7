"""Leakage audit: what the point-in-time guards changed against a naive event-time join.

A naive join gives each entity row the source row with the greatest ``(event_ts,
created_ts)`` before ``t`` within the ttl, whether or not it had landed by ``t``, however late
it landed. "Changed vs a naive join" has one definition, shared with the training frame's
manifest (:func:`store.offline.plan.leakage_cause`); each changed value is put down to the
first cause that applies to the naive choice:

* **watermark**: it landed later than ``allowed_lateness`` after its event: a late row, e.g.
  a backfill (the streaming path drops it, so the rule does too);
* **leakage guard**: it had not landed at ``t`` (``created_ts + delay >= t``): a naive join
  would train on data from the future;
* **unexplained**: neither.

Status: the leakage guard hiding rows that land with the usual lag is the store working as
designed: *ok*, and the count is what Parity prevented (what a naive join would have leaked).
Rows landing later than the view's ``allowed_lateness`` are a data defect (a late backfill, a
stalled pipeline): the rule drops them, but an *alert* says they exist; so does an
unexplained change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from store.aggregation import AggregationView
from store.audit.pit import CAUSE, GUARDED, NAIVE, choices, guarded, naive
from store.audit.report import AuditReport, Row, Status, worst
from store.definitions import FeatureView
from store.offline.engine import OfflineEngine
from store.offline.plan import LATE_ROW, NOT_LANDED, UNEXPLAINED
from store.offline.sql import AS_OF

GUARD = NOT_LANDED
WATERMARK = LATE_ROW
OTHER = UNEXPLAINED
CAUSES = (WATERMARK, GUARD, OTHER)
MAX_EXAMPLES = 5


def audit_view(
    engine: OfflineEngine,
    view: FeatureView,
    entity_df: pd.DataFrame | pa.Table | str | Path,
    features: Sequence[str],
) -> tuple[dict[str, int], list[dict[str, Any]], int]:
    """Counts by cause, examples and the number of entity rows of one view."""
    table = choices(engine, view, entity_df, list(features))
    counts = dict.fromkeys(CAUSES, 0)
    picked: list[tuple[int, str]] = []
    shown = dict.fromkeys(CAUSES, 0)
    for i, why in enumerate(table.column(CAUSE).to_pylist()):
        if why is None:
            continue
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
        guard, watermark, unexplained), one row per view, examples with the key, ``t``, the
        naive choice (values, event and created time) and the guarded one. The naive join
        applies the same ttl, so the ttl is never a cause. ``ok`` when only the leakage guard
        changed values (the store working as designed; the count is what it prevented),
        ``alert`` on rows landed later than ``allowed_lateness`` or a change neither
        explains. An
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
        status: Status = "alert" if by_cause[OTHER] or by_cause[WATERMARK] else "ok"
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
    by_cause = {c: sum(v.get(c, 0) for v in counts.values()) for c in CAUSES}
    headline = (
        f"{changed:,} values differ from a naive event-time join in {total:,} rows: "
        f"{by_cause[GUARD]:,} had not landed (the leakage guard kept them out), "
        f"{by_cause[WATERMARK]:,} landed later than allowed_lateness"
        + (f", {by_cause[OTHER]:,} unexplained" if by_cause[OTHER] else "")
    )
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
