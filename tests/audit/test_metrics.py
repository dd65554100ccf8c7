"""Metrics against scipy (KS, chi-square) and hand-computed cases (PSI, JS, KL), plus properties."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs

from store.audit import metrics as m


@pytest.mark.parametrize(
    ("n1", "n2", "shift"),
    [(5, 7, 0.0), (20, 30, 0.5), (100, 80, 0.3), (37, 1000, 0.4), (600, 900, 0.1), (1, 1, 0.0)],
)
def test_ks_matches_scipy_exact(n1: int, n2: int, shift: float) -> None:
    rng = np.random.default_rng(n1 * 1000 + n2)
    a, b = rng.normal(size=n1), rng.normal(shift, size=n2)
    stat, p = m.ks(a, b)
    ref = st.ks_2samp(a, b, method="exact")
    assert stat == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-7, abs=1e-12)


def test_ks_exact_keeps_relative_precision_for_tiny_pvalues() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=400), rng.normal(0.8, size=400)
    _, p = m.ks(a, b)
    ref = st.ks_2samp(a, b, method="exact").pvalue
    assert ref < 1e-20
    assert p == pytest.approx(ref, rel=1e-6)


def test_ks_with_ties_matches_scipy() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 5, 300).astype(float), rng.integers(0, 6, 200).astype(float)
    stat, p = m.ks(a, b)
    ref = st.ks_2samp(a, b, method="exact")
    assert stat == pytest.approx(ref.statistic)
    assert p == pytest.approx(ref.pvalue, rel=1e-6)


@pytest.mark.parametrize(("n1", "n2", "shift"), [(20_000, 30_000, 0.02), (50_000, 40_000, 0.0)])
def test_ks_asymptotic_close_to_scipy(n1: int, n2: int, shift: float) -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=n1), rng.normal(shift, size=n2)
    stat, p = m.ks(a, b)
    ref = st.ks_2samp(a, b, method="asymp")
    assert stat == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=0.03, abs=1e-3)


def test_ks_ignores_nan_and_empty_side() -> None:
    assert m.ks([1.0, np.nan, 2.0], [np.nan]) == (0.0, 1.0)
    stat, _ = m.ks([1.0, np.nan, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert stat == 0.0


@pytest.mark.parametrize(("x", "dof"), [(0.5, 1), (3, 2), (10, 5), (100, 20), (1000, 30), (5, 40)])
def test_chi2_sf_matches_scipy(x: float, dof: int) -> None:
    assert m.chi2_sf(x, dof) == pytest.approx(st.chi2.sf(x, dof), rel=1e-9)


def test_chi_square_matches_chi2_contingency() -> None:
    base, cur = [120, 80, 40, 10], [100, 90, 60, 3]
    stat, p = m.chi_square(base, cur)
    ref_stat, ref_p, _, _ = st.chi2_contingency([base, cur], correction=False)
    assert stat == pytest.approx(ref_stat)
    assert p == pytest.approx(ref_p, rel=1e-9)


def test_chi_square_drops_empty_categories_and_degenerate_tables() -> None:
    assert m.chi_square([10, 0, 5], [8, 0, 9]) == pytest.approx(m.chi_square([10, 5], [8, 9]))
    assert m.chi_square([10], [20]) == (0.0, 1.0)
    assert m.chi_square([0, 0], [3, 4]) == (0.0, 1.0)


def test_psi_hand_computed() -> None:
    # p = (0.5, 0.5), q = (0.25, 0.75): (0.25-0.5) ln(0.5) + (0.75-0.5) ln(1.5)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert m.psi_from_counts([50, 50], [25, 75]) == pytest.approx(expected)
    assert expected == pytest.approx(0.27465307)


def test_psi_empty_bin_uses_eps() -> None:
    # p = (1, 0) -> (1, 1e-4); q = (0.5, 0.5)
    expected = (0.5 - 1) * math.log(0.5 / 1) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert m.psi_from_counts([10, 0], [5, 5]) == pytest.approx(expected)


def test_psi_on_raw_values_uses_frozen_edges() -> None:
    edges = np.array([-np.inf, 0.0, np.inf])
    assert m.psi([-1, -1, 1, 1], [1, 1, 1, np.nan], edges) == pytest.approx(
        m.psi_from_counts([2, 2], [0, 3])
    )


def test_js_hand_computed() -> None:
    # disjoint supports: 1 bit; p = (1, 0), q = (0.5, 0.5): m = (0.75, 0.25)
    assert m.js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    expected = 0.5 * math.log2(1 / 0.75) + 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(2))
    assert m.js_divergence([2, 0], [1, 1]) == pytest.approx(expected)
    assert m.js_divergence([0, 0], [1, 1]) == 0.0


def test_kl_hand_computed() -> None:
    eps = 1e-4
    p = np.array([0.5, 0.5])
    q = np.array([0.25, 0.75])
    ps, qs = (p + eps) / (1 + 2 * eps), (q + eps) / (1 + 2 * eps)
    assert m.kl_divergence([50, 50], [25, 75]) == pytest.approx(float(np.sum(ps * np.log(ps / qs))))
    assert m.kl_divergence([1, 1], [1, 1]) == 0.0
    assert math.isfinite(m.kl_divergence([1, 1], [1, 0]))


def test_quantile_bins_ties_constant_and_empty() -> None:
    edges = m.quantile_bins(np.arange(100.0), 10)
    assert edges[0] == -np.inf and edges[-1] == np.inf and len(edges) == 11
    assert np.all(np.diff(edges) > 0)
    assert m.bin_counts(np.arange(100.0), edges).tolist() == [10] * 10
    const = m.quantile_bins([3.0] * 50)
    assert m.bin_counts([2.0, 3.0, 3.0, 4.0], const).tolist() == [1, 2, 1]
    tied = m.quantile_bins([0.0] * 80 + [1.0, 2.0] * 10)
    assert np.all(np.diff(tied) > 0)
    assert m.quantile_bins([np.nan, np.nan]).tolist() == [-np.inf, np.inf]


def test_bin_counts_puts_infinities_in_outer_bins_and_drops_nan() -> None:
    edges = np.array([-np.inf, 0.0, 1.0, np.inf])
    assert m.bin_counts([-np.inf, np.inf, np.nan, 0.5], edges).tolist() == [1, 1, 1]


def test_null_rate_and_unseen_rate() -> None:
    assert m.null_rate(np.array([1.0, np.nan, np.inf, 2.0])) == 0.25
    assert m.null_rate(np.array(["a", None, float("nan"), "b"], dtype=object)) == 0.5
    assert m.null_rate(np.array([], dtype=float)) == 0.0
    assert m.unseen_rate(["a", "b"], ["a", "c", None, "c", "b"]) == 0.5
    assert m.unseen_rate(["a"], [None]) == 0.0
    assert m.unseen_rate([], ["x"]) == 1.0


counts = hs.lists(hs.integers(0, 1000), min_size=2, max_size=12)


@settings(max_examples=200, deadline=None)
@given(counts, hs.data())
def test_divergence_properties(p: list[int], data: hs.DataObject) -> None:
    q = data.draw(hs.lists(hs.integers(0, 1000), min_size=len(p), max_size=len(p)))
    assert m.psi_from_counts(p, q) >= 0
    assert m.psi_from_counts(p, p) == pytest.approx(0.0, abs=1e-12)
    js = m.js_divergence(p, q)
    assert 0.0 <= js <= 1.0
    assert js == pytest.approx(m.js_divergence(q, p), abs=1e-12)
    assert m.kl_divergence(p, q) >= 0
    assert m.kl_divergence(p, p) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    hs.lists(hs.floats(-1e6, 1e6), min_size=1, max_size=40),
    hs.lists(hs.floats(-1e6, 1e6), min_size=1, max_size=40),
)
def test_ks_statistic_property_matches_scipy(a: list[float], b: list[float]) -> None:
    stat, p = m.ks(a, b)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref = st.ks_2samp(a, b, method="exact")
    assert stat == pytest.approx(ref.statistic, abs=1e-12)
    if not caught:  # scipy fell back to asymp: only the statistic is comparable
        assert p == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    hs.lists(hs.floats(allow_nan=True, allow_infinity=True), max_size=60),
    hs.integers(1, 12),
)
def test_quantile_bins_are_increasing_and_cover_every_value(xs: list[float], n_bins: int) -> None:
    edges = m.quantile_bins(xs, n_bins)
    assert edges[0] == -np.inf and edges[-1] == np.inf
    assert np.all(np.diff(edges) > 0)
    assert len(edges) - 1 <= max(n_bins, 3)
    values = np.asarray(xs, dtype=float)
    assert m.bin_counts(values, edges).sum() == np.count_nonzero(~np.isnan(values))


@pytest.mark.parametrize("lam", [0.05, 0.3, 0.8, 0.99, 1.0, 1.2, 2.0, 3.0, 5.0, 8.0])
def test_kolmogorov_sf_matches_scipy(lam: float) -> None:
    assert m.kolmogorov_sf(lam) == pytest.approx(st.kstwobign.sf(lam), rel=1e-9)
