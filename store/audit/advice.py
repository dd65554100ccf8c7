"""What to do next about each finding of an audit: one sentence per class of difference.

Every warn or alert a report raises maps to a next step here (by audit kind and class, the
class names the audits put in ``counts`` and ``examples``), so the HTML report (and anything
else that renders reports) never shows a red row without saying what to run or check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from store.audit.report import AuditReport

_RUN = "`parity materialize now` (add `--view VIEW` to rewrite only those views)"
_MATERIALIZE = f"run {_RUN} for the view(s) to rewrite the online values"
STEPS: dict[str, dict[str, str]] = {
    "parity": {
        "missing online": f"keys the offline rule gives are not in Redis: {_MATERIALIZE}",
        "extra online": "Redis holds keys the offline rule does not give: look for a writer "
        f"outside Parity using the same project prefix, then {_MATERIALIZE}",
        "stale": f"rows landed after the last materialization: run {_RUN} again "
        "(or schedule `parity materialize-incremental now` more often)",
        "version mismatch": "a definition was applied but not materialized: " + _MATERIALIZE,
        "value differs": "online values were changed behind the store's back: find the "
        f"writer from the example keys, then {_MATERIALIZE}",
        "type differs": "online payloads have another type than declared: find the writer "
        f"from the example keys, then {_MATERIALIZE}",
        "unexpected row online": "an online row newer than the offline one was written before "
        "the materialization time: check the push source and the view's allowed_lateness",
        "not materialized": f"the view was never materialized: run {_RUN}",
        "source not present online (passed as null)": "serving passed a missing source value "
        "as null where training had one: materialize the on-demand view's source views",
    },
    "replay": {
        "definition change": "the view changed after these values were served: compare "
        "`served_version` with the current version; retrain or re-serve on one version",
        "ttl expiry": "serving returned values the ttl had expired: shorten the "
        "materialization interval or lengthen the view's ttl",
        "not yet materialized": "serving read before the values were materialized: schedule "
        "`parity materialize-incremental now` more often",
        "late row": "rows landed after serving had read: set the view's allowed_lateness or "
        "availability_delay to the real landing lag so training sees what serving could",
        "value differs": "served values differ from the offline rule for the same row: run "
        "`parity audit parity` to find the keys changed outside Parity, then " + _RUN,
    },
    "schema": {
        "online type": "online payloads are not the declared type: run `parity audit parity` "
        f"to find the keys, then {_MATERIALIZE}",
        "output type": "the on-demand function returns another type: cast its output or "
        "change the field's declared type, then `parity apply`",
        "unseen category": "online values hold categories the source never had: check the "
        "writer of those keys, or the source for a new category",
        "source type": "the source column's type does not fit the declared type: fix the "
        "Field type or the source, then `parity apply`",
    },
    "leakage": {
        "watermark": "rows landed later than allowed_lateness (a backfill or a stalled "
        "pipeline): find them by the examples' naive_created_ts; training frames leave them "
        "out, so fix the pipeline or raise allowed_lateness if the lag is normal",
        "unexplained": "neither the leakage guard nor the watermark explains these rows: "
        "rebuild with `parity training-frame` and report the examples",
    },
}
DRIFT = {
    "absent": "serving returned or logged none of it: check the feature service the clients "
    "request and the served-feature log, then rerun `parity audit drift`",
    "null_rate": "check the upstream pipeline for missing values",
    "unseen_rate": "new categories reach serving: map them, or retrain on recent data",
}
DRIFT_DEFAULT = (
    "compare the two histograms below: if the change is real, retrain on recent data; if it is "
    "expected, raise the feature's thresholds in Field(drift=...)"
)
FALLBACK = "see the rows marked {status} below and the audit's section in docs/audits.md"


def next_steps(report: AuditReport) -> list[tuple[str, str]]:
    """``(finding, next step)`` for every class of warn or alert in ``report`` (empty when ok)."""
    if report.status == "ok":
        return []
    if report.kind == "drift":
        return _drift_steps(report)
    table = STEPS.get(report.kind, {})
    found: dict[str, set[str]] = {}
    for group, by_class in report.counts.items():
        for cls, n in by_class.items():
            if n:
                found.setdefault(cls, set()).add(group)
    for example in report.examples:
        named = example.get("class") or example.get("cause")
        if named is not None:
            found.setdefault(str(named), set()).add(str(example.get("view", "")))
    rows = [r for r in report.rows if isinstance(r, dict)]
    for row in rows:
        if row.get("source_mismatch"):
            found.setdefault("source type", set()).add(str(row.get("view", "")))
    steps = [
        (_finding(cls, groups), table[cls]) for cls, groups in sorted(found.items()) if cls in table
    ]
    if not steps:
        flagged = [r for r in rows if r.get("status") in ("warn", "alert")]
        finding = ", ".join(sorted({str(r.get("view", "")) for r in flagged} - {""}))
        note = next((str(r["note"]) for r in flagged if r.get("note")), None)
        fallback = FALLBACK.format(status=report.status.upper())
        steps.append((finding or report.status, note or fallback))
    return steps


def _finding(cls: str, groups: set[str]) -> str:
    where = ", ".join(sorted(g for g in groups if g))
    return f"{cls} ({where})" if where else cls


def _drift_steps(report: AuditReport) -> list[tuple[str, str]]:
    steps = []
    for row in report.sorted_rows():
        status = getattr(row, "status", "ok")
        if status == "ok" or isinstance(row, dict):
            continue
        flags = getattr(row, "flags", {})
        extra = [DRIFT[name] for name in DRIFT if name in flags]
        text = "; ".join([*extra, DRIFT_DEFAULT])
        steps.append((f"{row.feature} ({status})", text))
    return steps
