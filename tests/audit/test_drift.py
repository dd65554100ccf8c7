"""drift_audit finds injected drift, and only it; clean data audits clean."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from store.audit import Thresholds, drift_audit
from store.errors import AuditError
from store.types import ValueType

N = 5_000
CATS = ["grocery", "travel", "electronics", "gaming"]


def frame(seed: int, *, shift: float = 0.0, nulls: float = 0.0, new_cat: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    amount = rng.normal(100.0, 15.0, N)
    shifted = rng.normal(10.0 + shift, 2.0, N)
    age = rng.exponential(3.0, N)
    age[rng.random(N) < nulls] = np.nan
    cat = rng.choice(CATS, N, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    cat[rng.random(N) < new_cat] = "crypto"
    return pa.table(
        {
            "amount": amount,
            "shifted": shifted,
            "age": age,
            "category": pa.array(cat, pa.string()),
            "count_1h": rng.integers(0, 6, N),
            "is_foreign": rng.random(N) < 0.3,
        }
    )


def test_identical_population_audits_clean() -> None:
    report = drift_audit(frame(1), frame(2))
    assert report.status == "ok", [r.reasons for r in report.features]
    assert report.exit_code == 0
    assert report.flagged == []
    kinds = {r.feature: r.kind for r in report.features}
    assert kinds == {
        "amount": "numeric",
        "shifted": "numeric",
        "age": "numeric",
        "category": "categorical",
        "count_1h": "categorical",  # int with <= 20 distinct values
        "is_foreign": "categorical",
    }


def test_same_table_gives_zero_metrics() -> None:
    table = frame(1)
    report = drift_audit(table, table)
    for r in report.features:
        assert r.psi == pytest.approx(0.0, abs=1e-12)
        assert r.js == pytest.approx(0.0, abs=1e-12)
        assert r.status == "ok"


def test_shifted_distribution_alerts_and_nothing_else() -> None:
    report = drift_audit(frame(1), frame(2, shift=1.5))
    assert report.status == "alert"
    assert report.exit_code == 1
    assert report.flagged == ["shifted"]
    shifted = report.feature("shifted")
    assert shifted.status == "alert"
    assert shifted.flags["psi"] == "alert"
    assert shifted.ks is not None and shifted.ks > 0.2
    assert shifted.ks_pvalue is not None and shifted.ks_pvalue < 1e-10
    assert shifted.histogram is not None and len(shifted.histogram.labels) == 10


def test_unseen_categories_are_found() -> None:
    report = drift_audit(frame(1), frame(2, new_cat=0.1))
    assert report.flagged == ["category"]
    cat = report.feature("category")
    assert cat.unseen_rate == pytest.approx(0.1, abs=0.02)
    assert cat.flags["unseen_rate"] == "alert"
    assert cat.histogram is not None and "(unseen)" in cat.histogram.labels
    assert [(e["feature"], e["unseen category"]) for e in report.examples] == [
        ("category", "crypto")
    ]


def test_null_rate_change_is_found() -> None:
    report = drift_audit(frame(1), frame(2, nulls=0.3))
    assert report.flagged == ["age"]
    age = report.feature("age")
    assert age.null_rate_current == pytest.approx(0.3, abs=0.03)
    assert age.flags == {"null_rate": "alert"}


def test_per_feature_thresholds_are_respected() -> None:
    base, cur = frame(1), frame(2, shift=1.5)
    lenient = Thresholds(psi_warn=5.0, psi_alert=10.0, js_warn=1.0, js_alert=1.0, effect_warn=1.0)
    report = drift_audit(base, cur, thresholds={"shifted": lenient})
    assert report.status == "ok"
    strict = Thresholds(psi_warn=0.0, psi_alert=0.0)
    report = drift_audit(base, cur, thresholds={"amount": strict})
    assert report.feature("amount").status == "alert"
    assert report.feature("count_1h").status == "ok"


def test_explicit_features_and_types() -> None:
    report = drift_audit(frame(1), frame(2), features={"count_1h": ValueType("float64")})
    assert [r.feature for r in report.features] == ["count_1h"]
    assert report.features[0].kind == "numeric"


def test_low_sample_is_noted_and_capped_at_warn() -> None:
    base = pa.table({"x": np.arange(40.0)})
    cur = pa.table({"x": np.arange(40.0) + 100})
    result = drift_audit(base, cur).feature("x")
    assert result.status == "warn"
    assert any("low sample" in n for n in result.notes)


def test_all_null_current_is_reported_not_crashing() -> None:
    base = pa.table({"x": np.arange(200.0)})
    cur = pa.table({"x": pa.array([None] * 50, pa.float64())})
    result = drift_audit(base, cur).feature("x")
    assert result.status == "alert"
    assert result.psi is None
    assert any("no non-null values in current" in n for n in result.notes)


def test_list_columns_are_skipped() -> None:
    base = pa.table({"xs": [[1, 2], [3]] * 60})
    result = drift_audit(base, base).feature("xs")
    assert result.kind == "skipped" and result.status == "ok"


def test_high_cardinality_strings_use_top_categories() -> None:
    base = pa.table({"id": [f"u{i}" for i in range(3000)]})
    cur = pa.table({"id": [f"u{i}" for i in range(3000)]})
    result = drift_audit(base, cur).feature("id")
    assert result.histogram is not None and len(result.histogram.labels) <= 15
    assert result.status == "ok"


def test_bad_input_raises_audit_error_naming_the_problem() -> None:
    with pytest.raises(AuditError, match=r"'amount'.*current"):
        drift_audit(frame(1), frame(2).drop(["amount"]), features={"amount": ValueType("int64")})
    with pytest.raises(AuditError, match="unknown feature"):
        drift_audit(frame(1), frame(2), thresholds={"typo": Thresholds()})
    with pytest.raises(AuditError, match="psi_warn"):
        Thresholds(psi_warn=0.5, psi_alert=0.2)


def test_timestamps_and_dictionary_strings() -> None:
    rng = np.random.default_rng(9)
    start = 1_700_000_000_000_000

    def table(offset_days: int) -> pa.Table:
        ts = start + offset_days * 86_400_000_000 + rng.integers(0, 30 * 86_400_000_000, N)
        cats = pa.array(rng.choice(CATS, N)).dictionary_encode()
        return pa.table({"seen_at": pa.array(ts).cast(pa.timestamp("us", tz="UTC")), "cat": cats})

    report = drift_audit(table(0), table(60))
    assert report.feature("seen_at").status == "alert"
    assert report.feature("cat").status == "ok"
    hist = report.feature("seen_at").histogram
    assert hist is not None and hist.labels[0].startswith("< 2023-")


def test_thresholds_from_mapping() -> None:
    th = Thresholds.from_mapping({"psi_warn": "0.2", "psi_alert": 0.5, "min_samples": "30"})
    assert (th.psi_warn, th.psi_alert, th.min_samples) == (0.2, 0.5, 30)
    assert isinstance(th.min_samples, int)
    with pytest.raises(AuditError, match=r"view 'u'.*unknown threshold.*psi_wran"):
        Thresholds.from_mapping({"psi_wran": 1}, what="view 'u'")
    with pytest.raises(AuditError, match="must be a number"):
        Thresholds.from_mapping({"psi_warn": "high"})
    with pytest.raises(AuditError, match="whole number"):
        Thresholds.from_mapping({"n_bins": 2.5})


def test_type_change_is_an_alert_not_a_crash() -> None:
    base = pa.table({"x": np.arange(200.0)})
    cur = pa.table({"x": [f"v{i}" for i in range(200)]})
    result = drift_audit(base, cur).feature("x")
    assert result.status == "alert"
    assert result.flags == {"type": "alert"}
    assert "types differ" in result.reasons[0]


def test_empty_tables_audit_without_error() -> None:
    empty = pa.table({"x": pa.array([], pa.float64()), "c": pa.array([], pa.string())})
    report = drift_audit(empty, empty)
    assert report.status == "ok"
    assert all("no non-null values" in r.notes[0] for r in report.features)
