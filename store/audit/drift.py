"""Drift audit: does the current population of each feature still look like the baseline?

The baseline is what the model was trained on (a training frame, or offline values over a
period); the current side is what is served now (the served log, or another frame).

**Which metrics.** A feature is *categorical* when its type is ``string`` or ``bool``, or an
integer type whose baseline has at most ``Thresholds.int_category_max`` (20) distinct values;
other numbers (and timestamps, as epoch microseconds) are *numeric*; lists are skipped.

* numeric: PSI on quantile bins frozen from the baseline (10 bins, fewer when the baseline has
  fewer than 10 values per bin), KS, Jensen–Shannon and KL on the same bins;
* categorical: the baseline's top ``max_categories`` (50) categories, an ``(other)`` bin for
  the rest and an ``(unseen)`` bin for categories the baseline never had; PSI, JS and KL over
  those bins, chi-square (bins expected to hold fewer than 5 values are pooled, Cochran's
  rule), and the share of unseen values;
* both: null rate (null and NaN) change, current minus baseline.

**How the status is set** (per feature, with its :class:`Thresholds`): PSI, JS, unseen share
and absolute null-rate change each give warn/alert at their ``*_warn``/``*_alert`` levels.
A significance test (KS for numbers, chi-square for categories) only warns, and only when
both significant (p < ``alpha``) *and* large (KS ``D`` or Cramér's V >= ``effect_warn``):
with a million rows every difference is significant, so significance alone is not drift.
With fewer than ``min_samples`` non-null values on either side the tests are not used and the
distribution metrics can at most warn; the row notes the low sample. The report's status is
the worst feature status.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from store.audit import metrics
from store.audit.categories import category_bins, histogram_for
from store.audit.columns import as_float, edge_labels, infer_type, null_rate
from store.audit.report import DriftReport, FeatureResult, Histogram, Status, worst
from store.audit.thresholds import Thresholds
from store.errors import AuditError
from store.types import ValueType

ABSENT = "absent"
"""The flag of a baseline feature with no values at all in the current data."""
Columns: TypeAlias = "pa.Table | Mapping[str, pa.Array | pa.ChunkedArray]"


def drift_audit(
    baseline: Columns,
    current: Columns,
    features: dict[str, ValueType] | None = None,
    thresholds: dict[str, Thresholds] | None = None,
    *,
    default_thresholds: Thresholds | None = None,
) -> DriftReport:
    """Compare each feature's distribution in ``current`` against ``baseline``.

    Args:
        baseline: the reference population (e.g. the training frame): a table, or a mapping
            of feature name to column (columns may differ in length).
        current: the population to check: another frame, or the served-feature log as
            columns (see :func:`store.audit.served.served_columns`).
        features: feature name -> type; default every column the two tables share, typed
            from the baseline's Arrow schema.
        thresholds: per-feature overrides of ``default_thresholds``.
        default_thresholds: thresholds for features without an override.

    Returns:
        A :class:`DriftReport`, one row per feature, status ok / warn / alert.

    Raises:
        AuditError: a requested feature is missing from a table, or a threshold names an
            unknown feature.
    """
    default = default_thresholds or Thresholds()
    base_cols, cur_cols = _columns(baseline), _columns(current)
    features = _resolve_features(base_cols, cur_cols, features)
    overrides = dict(thresholds or {})
    unknown = sorted(set(overrides) - set(features))
    if unknown:
        raise AuditError(
            f"drift thresholds given for unknown feature(s) {unknown}; "
            f"the audited features are {sorted(features)}"
        )
    rows = [
        audit_feature(name, vt, base_cols[name], cur_cols[name], overrides.get(name, default))
        for name, vt in features.items()
    ]
    status = worst([r.status for r in rows])
    summary: dict[str, Any] = {
        "features": len(rows),
        "alert": sum(r.status == "alert" for r in rows),
        "warn": sum(r.status == "warn" for r in rows),
        "ok": sum(r.status == "ok" for r in rows),
        "skipped": sum(r.kind == "skipped" for r in rows),
        "baseline_rows": max((len(c) for c in base_cols.values()), default=0),
        "current_rows": max((len(c) for c in cur_cols.values()), default=0),
    }
    params = {
        "default_thresholds": asdict(default),
        "thresholds": {k: asdict(v) for k, v in overrides.items()},
        "features": {k: str(v) for k, v in features.items()},
    }
    examples = [
        {"feature": r.feature, "status": r.status, "unseen category": value, "current count": n}
        for r in rows
        if r.status != "ok"
        for value, n in r.unseen_top.items()
    ]
    report = DriftReport("drift", status, summary, list(rows), examples, params=params)
    report.summary["flagged"] = report.flagged
    absent = [r.feature for r in rows if ABSENT in r.flags]
    moved = [r.feature for r in rows if r.status != "ok" and ABSENT not in r.flags]
    report.summary["headline"] = (
        f"{len(moved)} of {len(rows) - len(absent)} features drifted"
        + (f": {', '.join(moved)}" if moved else "")
        + f" ({summary['baseline_rows']:,} baseline vs {summary['current_rows']:,} current rows)"
        + (f"; no values in the current data (warn): {', '.join(absent)}" if absent else "")
    )
    if absent:
        report.summary["absent"] = absent
    return report


def audit_feature(
    name: str, vtype: ValueType, baseline: pa.ChunkedArray, current: pa.ChunkedArray, th: Thresholds
) -> FeatureResult:
    """Audit one feature column (see the module docstring for the rules)."""
    base_null = null_rate(baseline)
    cur_null = null_rate(current)
    result = FeatureResult(name, "skipped", "ok", len(baseline), len(current), base_null, cur_null)
    if len(current) == 0 and len(baseline) > 0 and not vtype.is_list:
        # Nothing to compare is not "no drift": serving stopped logging it, or never served it.
        result.flags[ABSENT] = "warn"
        result.reasons.append(
            f"{name!r} is in the baseline but has no values in the current data (not in the "
            "served log or the current frame): check that serving still returns and logs it"
        )
        result.status = "warn"
        return result
    try:
        _compare(result, vtype, baseline, current, th)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        # Served values that no longer read as the trained type are skew, not a crash.
        result.kind, result.histogram = "skipped", None
        result.flags["type"] = "alert"
        result.reasons.append(
            f"types differ: baseline {baseline.type}, current {current.type} ({exc})"
        )
    _flag_range(
        result,
        "null_rate",
        abs(cur_null - base_null),
        th.null_warn,
        th.null_alert,
        f"null rate {base_null:.1%} → {cur_null:.1%}, change {abs(cur_null - base_null):.3f}",
    )
    result.status = worst(tuple(result.flags.values()))
    return result


def _compare(
    result: FeatureResult,
    vtype: ValueType,
    baseline: pa.ChunkedArray,
    current: pa.ChunkedArray,
    th: Thresholds,
) -> None:
    if vtype.is_list:
        result.notes.append("list features are not audited for drift")
    elif _is_categorical(vtype, baseline, th):
        _categorical(result, baseline, current, th)
    else:
        is_time = vtype.scalar == "timestamp"
        _numeric(result, as_float(baseline), as_float(current), th, is_time=is_time)


def _numeric(
    result: FeatureResult, base: np.ndarray, cur: np.ndarray, th: Thresholds, *, is_time: bool
) -> None:
    base, cur = metrics.finite(base), metrics.finite(cur)
    result.kind = "numeric"
    if not _enough(result, base.size, cur.size, th):
        return
    edges = metrics.quantile_bins(base, min(th.n_bins, max(2, base.size // 10)))
    bc, cc = metrics.bin_counts(base, edges), metrics.bin_counts(cur, edges)
    result.psi = metrics.psi_from_counts(bc, cc)
    result.js = metrics.js_divergence(bc, cc)
    result.kl = metrics.kl_divergence(cc, bc)
    result.ks, result.ks_pvalue = metrics.ks(base, cur)
    labels = edge_labels(edges, is_time=is_time)
    result.histogram = Histogram(labels, bc.tolist(), cc.tolist())
    _flag_distribution(result, th, low=_low(base.size, cur.size, th))
    if not _low(base.size, cur.size, th) and result.ks_pvalue < th.alpha:
        _flag_range(
            result,
            "ks",
            result.ks,
            th.effect_warn,
            math.inf,
            f"KS D {result.ks:.3f} ({_p(result.ks_pvalue)})",
        )


def _categorical(
    result: FeatureResult, baseline: pa.ChunkedArray, current: pa.ChunkedArray, th: Thresholds
) -> None:
    result.kind = "categorical"
    bins = category_bins(baseline, current, th.max_categories)
    n_base, n_cur = int(bins.baseline.sum()), int(bins.current.sum())
    if not _enough(result, n_base, n_cur, th):
        return
    result.psi = metrics.psi_from_counts(bins.baseline, bins.current)
    result.js = metrics.js_divergence(bins.baseline, bins.current)
    result.kl = metrics.kl_divergence(bins.current, bins.baseline)
    result.unseen_rate = bins.unseen / n_cur
    result.unseen_top = bins.unseen_top
    pooled_b, pooled_c = bins.pooled()
    result.chi2, result.chi2_pvalue = metrics.chi_square(pooled_b, pooled_c)
    result.histogram = histogram_for(bins)
    low = _low(n_base, n_cur, th)
    _flag_distribution(result, th, low=low)
    _flag_range(
        result,
        "unseen_rate",
        result.unseen_rate,
        th.unseen_warn,
        th.unseen_alert,
        f"unseen categories {result.unseen_rate:.1%}",
    )
    if not low and result.chi2_pvalue < th.alpha:
        cramers_v = math.sqrt(result.chi2 / (n_base + n_cur))
        _flag_range(
            result,
            "chi2",
            cramers_v,
            th.effect_warn,
            math.inf,
            f"chi-square {result.chi2:.1f} ({_p(result.chi2_pvalue)}, Cramér's V {cramers_v:.2f})",
        )


def _flag_distribution(result: FeatureResult, th: Thresholds, *, low: bool) -> None:
    alert_at = math.inf if low else 1.0
    psi, js = result.psi or 0.0, result.js or 0.0
    _flag_range(result, "psi", psi, th.psi_warn, th.psi_alert * alert_at, f"PSI {psi:.3f}")
    _flag_range(result, "js", js, th.js_warn, th.js_alert * alert_at, f"JS {js:.3f}")


def _flag_range(
    result: FeatureResult, metric: str, value: float, warn: float, alert: float, reason: str
) -> None:
    status: Status = "alert" if value >= alert else "warn" if value >= warn else "ok"
    if status != "ok":
        result.flags[metric] = status
        level = alert if status == "alert" else warn
        result.reasons.append(f"{reason} ≥ {level:g} ({status})")


def _p(pvalue: float) -> str:
    return "p<1e-300" if pvalue == 0 else f"p={pvalue:.2g}"


def _enough(result: FeatureResult, n_base: int, n_cur: int, th: Thresholds) -> bool:
    if n_base == 0 or n_cur == 0:
        side = "baseline" if n_base == 0 else "current"
        result.notes.append(f"no non-null values in {side}: distribution not compared")
        return False
    if _low(n_base, n_cur, th):
        result.notes.append(
            f"low sample ({n_base} baseline, {n_cur} current non-null values; "
            f"min_samples {th.min_samples}): tests not used, at most warn"
        )
    return True


def _low(n_base: int, n_cur: int, th: Thresholds) -> bool:
    return min(n_base, n_cur) < th.min_samples


def _columns(data: Columns) -> dict[str, pa.ChunkedArray]:
    if isinstance(data, pa.Table):
        return {name: data.column(name) for name in data.column_names}
    return {
        name: col if isinstance(col, pa.ChunkedArray) else pa.chunked_array([col])
        for name, col in data.items()
    }


def _resolve_features(
    baseline: dict[str, pa.ChunkedArray],
    current: dict[str, pa.ChunkedArray],
    features: dict[str, ValueType] | None,
) -> dict[str, ValueType]:
    if features is not None:
        for name in features:
            for side, cols in (("baseline", baseline), ("current", current)):
                if name not in cols:
                    raise AuditError(
                        f"drift: feature {name!r} is not a column of the {side} table "
                        f"(columns: {list(cols)})"
                    )
        return {k: ValueType.parse(v, what=f"feature {k!r}") for k, v in features.items()}
    inferred = {c: infer_type(col.type) for c, col in baseline.items() if c in current}
    return {c: t for c, t in inferred.items() if t is not None}


def _is_categorical(vtype: ValueType, baseline: pa.ChunkedArray, th: Thresholds) -> bool:
    if vtype.scalar in {"string", "bool"}:
        return True
    if vtype.is_integer:
        return bool(pc.count_distinct(baseline).as_py() <= th.int_category_max)
    return False
