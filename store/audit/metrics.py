"""Distribution metrics for the drift audit: pure, vectorised numpy, no scipy at runtime.

Conventions shared by every function here:

* Numbers: ``NaN`` (and Arrow null, which the caller converts to ``NaN``) is *null*: it is left
  out of every distribution and counted only by :func:`null_rate`. ``+inf``/``-inf`` are
  values: they fall in the outer bins (whose edges are ``-inf`` and ``+inf``) and take part in
  the KS statistic.
* Binned metrics take *counts* (or proportions) over the same bins, in the same order.
* Logarithms: PSI and KL use the natural log (nats); Jensen–Shannon uses base 2, so it lies in
  ``[0, 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Proportion used in place of an empty bin by :func:`psi` and as additive smoothing by
#: :func:`kl_divergence`: one in ten thousand, small enough not to matter for bins with data
#: and large enough to keep ``ln(q / p)`` finite (an empty bin then adds at most ~ q * 9.2).
EPS = 1e-4

#: Above this many cells (``(n1 + n2) * min(n1, n2)``) :func:`ks` uses the asymptotic p-value.
KS_EXACT_MAX_CELLS = 2_000_000


def finite(values: npt.ArrayLike) -> FloatArray:
    """Return the non-null values (``NaN`` dropped, ``±inf`` kept) as a float64 array."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[~np.isnan(arr)]


def quantile_bins(baseline: npt.ArrayLike, n_bins: int = 10) -> FloatArray:
    """Bin edges frozen from the baseline's quantiles, for PSI and the drift histograms.

    The inner edges are the baseline quantiles at ``k / n_bins`` (k = 1 .. n_bins - 1) of the
    finite values, de-duplicated, so ties merge bins instead of making empty ones; the outer
    edges are ``-inf`` and ``+inf`` so every current value lands somewhere. Bins are closed on
    the left: bin ``i`` holds ``edges[i] <= x < edges[i + 1]``. A constant baseline ``c`` gets
    the edges ``[-inf, c, nextafter(c), +inf]``: below, at, and above ``c``, so a shift either
    way shows. A baseline without finite values gets one bin ``[-inf, +inf]``.

    Args:
        baseline: baseline values (NaN ignored).
        n_bins: the number of bins wanted (fewer result when values tie).

    Returns:
        Increasing edges, ``len(edges) - 1`` bins.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    values = finite(baseline)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.array([-np.inf, np.inf])
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        above = np.nextafter(lo, np.inf)  # the largest float has no finite neighbour above
        return np.array(
            [-np.inf, lo, above, np.inf] if np.isfinite(above) else [-np.inf, lo, np.inf]
        )
    inner = np.unique(np.quantile(values, np.arange(1, n_bins) / n_bins))
    inner = inner[inner > lo]  # an edge at the minimum would only make an empty bin below it
    return np.concatenate(([-np.inf], inner, [np.inf]))


def bin_counts(values: npt.ArrayLike, edges: FloatArray) -> IntArray:
    """Count the non-null values per bin of ``edges`` (left-closed; ``±inf`` in outer bins)."""
    arr = finite(values)
    index = np.searchsorted(edges, arr, side="right") - 1
    index = np.clip(index, 0, len(edges) - 2)
    return np.bincount(index, minlength=len(edges) - 1).astype(np.int64)


def proportions(counts: npt.ArrayLike) -> FloatArray:
    """Counts to proportions summing to 1 (all zeros stay zeros)."""
    arr = np.asarray(counts, dtype=np.float64)
    total = arr.sum()
    return arr / total if total > 0 else np.zeros_like(arr)


def psi_from_counts(
    baseline_counts: npt.ArrayLike, current_counts: npt.ArrayLike, eps: float = EPS
) -> float:
    """Population stability index of two count vectors over the same bins.

    ``PSI = sum_i (q_i - p_i) * ln(q_i / p_i)`` where ``p``/``q`` are the baseline/current
    proportions, each clipped below at ``eps`` (an empty bin counts as ``eps``; no
    renormalisation). Every term is >= 0, so PSI >= 0, and it is 0 for equal proportions.
    Rule of thumb: < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 major shift.
    """
    p = np.maximum(proportions(baseline_counts), eps)
    q = np.maximum(proportions(current_counts), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def psi(
    baseline: npt.ArrayLike, current: npt.ArrayLike, edges: FloatArray, eps: float = EPS
) -> float:
    """PSI of raw values over ``edges`` (see :func:`quantile_bins`, :func:`psi_from_counts`)."""
    return psi_from_counts(bin_counts(baseline, edges), bin_counts(current, edges), eps)


def kl_divergence(p: npt.ArrayLike, q: npt.ArrayLike, eps: float = EPS) -> float:
    """Kullback–Leibler divergence ``KL(p || q)`` in nats over shared bins.

    ``p`` and ``q`` are counts or proportions. Both are normalised, smoothed additively
    (``p' = (p + eps) / (1 + k * eps)`` over ``k`` bins, so an empty bin in ``q`` gives a
    large but finite term) and compared: ``KL = sum_i p'_i * ln(p'_i / q'_i)`` >= 0.
    """
    pp, qq = _smooth(p, eps), _smooth(q, eps)
    return float(max(np.sum(pp * np.log(pp / qq)), 0.0))


def _smooth(counts: npt.ArrayLike, eps: float) -> FloatArray:
    prop = proportions(counts)
    return (prop + eps) / (1.0 + prop.size * eps)


def js_divergence(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """Jensen–Shannon divergence in bits (base 2) over shared bins; symmetric, in ``[0, 1]``.

    ``JS = (KL(p || m) + KL(q || m)) / 2`` with ``m = (p + q) / 2`` on normalised ``p``, ``q``
    and ``0 * log 0 = 0``: ``m`` is positive wherever ``p`` or ``q`` is, so no smoothing is
    needed. An empty side gives 0.
    """
    pp, qq = proportions(p), proportions(q)
    if pp.sum() == 0 or qq.sum() == 0:
        return 0.0
    m = (pp + qq) / 2.0
    return float(min(max((_kl2(pp, m) + _kl2(qq, m)) / 2.0, 0.0), 1.0))


def _kl2(p: FloatArray, m: FloatArray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / m[mask])))


def ks(baseline: npt.ArrayLike, current: npt.ArrayLike) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov test (two-sided), like ``scipy.stats.ks_2samp``.

    The statistic ``D = max_x |F_b(x) - F_c(x)|`` over the empirical CDFs of the non-null
    values is exact. The p-value ``P(D' >= D)`` under the null hypothesis is

    * **exact** when ``(n1 + n2) * min(n1, n2) <= KS_EXACT_MAX_CELLS`` and
      ``max(n1, n2) <= 10000`` (as scipy's ``method="auto"``): a lattice-path walk over the
      ``n1 x n2`` grid (a uniformly random path is a random interleaving of the two samples)
      sums the probability of first leaving the band ``|i * n2 - j * n1| < D * n1 * n2``,
      so small p-values keep full relative precision; it matches ``method="exact"``;
    * **asymptotic** otherwise: the Kolmogorov distribution ``Q(lambda)`` with Stephens'
      small-sample correction ``lambda = (sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) * D``,
      ``ne = n1 * n2 / (n1 + n2)``; within a few per cent of scipy's ``method="asymp"``.

    Returns:
        ``(statistic, pvalue)``; ``(0.0, 1.0)`` if either side has no values.
    """
    a, b = np.sort(finite(baseline)), np.sort(finite(current))
    n1, n2 = a.size, b.size
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    both = np.concatenate((a, b))
    cdf1 = np.searchsorted(a, both, side="right") / n1
    cdf2 = np.searchsorted(b, both, side="right") / n2
    stat = float(np.max(np.abs(cdf1 - cdf2)))
    small, large = min(n1, n2), max(n1, n2)
    if large <= 10_000 and (n1 + n2) * small <= KS_EXACT_MAX_CELLS:
        pvalue = _ks_exact(n1, n2, stat)
    else:
        ne = n1 * n2 / (n1 + n2)
        pvalue = kolmogorov_sf((math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * stat)
    return stat, min(max(pvalue, 0.0), 1.0)


def _ks_exact(n1: int, n2: int, stat: float) -> float:
    m, n = min(n1, n2), max(n1, n2)  # walk along the longer side: vectors of length m + 1
    h = round(stat * m * n)
    if h == 0:
        return 1.0
    i = np.arange(m + 1)
    prob = np.zeros(m + 1)
    prob[0] = 1.0
    outside = 0.0
    for k in range(m + n):  # diagonal k holds cells (i, k - i)
        j = k - i
        live = (j >= 0) & (j <= n)
        left = m + n - k
        step_i = np.where(live & (i < m), prob * (m - i) / left, 0.0)
        step_j = np.where(live & (j < n), prob * (n - j) / left, 0.0)
        nxt = step_j.copy()
        nxt[1:] += step_i[:-1]
        out = np.abs(i * n - (k + 1 - i) * m) >= h
        outside += float(nxt[out].sum())
        prob = np.where(out, 0.0, nxt)
    return outside


def kolmogorov_sf(lam: float) -> float:
    """Survival function of the Kolmogorov distribution, ``P(K > lam)``.

    ``Q(lam) = 2 * sum_{k>=1} (-1)^(k-1) * exp(-2 k^2 lam^2)`` for ``lam >= 1``; below that the
    dual series ``1 - sqrt(2 pi) / lam * sum_{k>=1} exp(-(2k-1)^2 pi^2 / (8 lam^2))``, which
    converges fast where the first one does not.
    """
    if lam <= 0:
        return 1.0
    k = np.arange(1, 101, dtype=np.float64)
    if lam >= 1.0:
        terms = (-1.0) ** (k - 1) * np.exp(-2.0 * k * k * lam * lam)
        return float(min(max(2.0 * terms.sum(), 0.0), 1.0))
    terms = np.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * lam * lam))
    return float(min(max(1.0 - math.sqrt(2 * math.pi) / lam * terms.sum(), 0.0), 1.0))


def chi_square(
    baseline_counts: npt.ArrayLike, current_counts: npt.ArrayLike
) -> tuple[float, float]:
    """Chi-square test of homogeneity of two category count vectors (a 2 x k contingency table).

    ``stat = sum (O - E)^2 / E`` with ``E = row_total * column_total / grand_total``, over the
    categories seen on either side; ``dof = k - 1``; no Yates correction (equals
    ``scipy.stats.chi2_contingency(..., correction=False)``). The p-value is the chi-square
    survival function :func:`chi2_sf`. Fewer than two categories, or an empty side: ``(0, 1)``.
    """
    table = np.vstack(
        (np.asarray(baseline_counts, np.float64), np.asarray(current_counts, np.float64))
    )
    table = table[:, table.sum(axis=0) > 0]
    rows = table.sum(axis=1)
    if table.shape[1] < 2 or np.any(rows == 0):
        return 0.0, 1.0
    expected = np.outer(rows, table.sum(axis=0)) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    return stat, chi2_sf(stat, table.shape[1] - 1)


def chi2_sf(x: float, dof: int) -> float:
    """``P(X > x)`` for ``X ~ chi2(dof)``: the regularised upper gamma ``Q(dof / 2, x / 2)``.

    ``Q(a, x)`` comes from its power series (``x < a + 1``: ``Q = 1 - P``) or from its continued
    fraction by the modified Lentz method (``x >= a + 1``, accurate for tiny p-values), with
    prefactor ``exp(-x + a ln x - lgamma(a))`` (Numerical Recipes, 6.2).
    """
    if dof <= 0:
        raise ValueError(f"dof must be positive, got {dof}")
    a, z = dof / 2.0, x / 2.0
    if z <= 0:
        return 1.0
    front = math.exp(-z + a * math.log(z) - math.lgamma(a))
    if z < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(100_000):
            ap += 1.0
            term *= z / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return min(max(1.0 - total * front, 0.0), 1.0)
    tiny = 1e-300
    b = z + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return min(max(front * h, 0.0), 1.0)


def unseen_rate(baseline_categories: Iterable[Any], current_values: npt.ArrayLike) -> float:
    """Share of the non-null current values whose category never occurs in the baseline.

    Null (``None``, ``NaN``) current values are left out of numerator and denominator; no
    non-null current value gives 0.
    """
    seen = {str(v) for v in baseline_categories}
    cur = [str(v) for v in np.asarray(current_values, dtype=object).ravel() if not _is_null(v)]
    if not cur:
        return 0.0
    uniques, counts = np.unique(np.asarray(cur, dtype=str), return_counts=True)
    unseen = int(counts[~np.isin(uniques, list(seen))].sum()) if seen else len(cur)
    return float(unseen / len(cur))


def null_rate(values: npt.ArrayLike) -> float:
    """Share of null values: ``None`` and ``NaN`` count as null (``±inf`` do not); empty: 0."""
    arr = np.asarray(values)
    if arr.size == 0:
        return 0.0
    if arr.dtype.kind == "f":
        return float(np.isnan(arr).mean())
    if arr.dtype.kind == "O":
        return float(np.mean([_is_null(v) for v in arr.ravel()]))
    return 0.0


def _is_null(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
