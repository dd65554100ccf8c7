"""Category bins for the drift audit: the baseline's top categories, ``(other)``, ``(unseen)``.

Values are compared by their text (``str`` of the Arrow value), so an ``int32`` baseline and an
``int64`` current column share categories. Nulls are left out (the null rate covers them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from store.audit.report import Histogram

OTHER = "(other)"
UNSEEN = "(unseen)"
#: Histograms show at most this many bars; the smallest bins are merged into ``(rest)``.
MAX_BARS = 15
#: Chi-square bins expected to hold fewer values than this are pooled (Cochran's rule).
MIN_EXPECTED = 5.0
#: How many unseen categories a drift row lists as examples.
TOP_UNSEEN = 5


@dataclass
class CategoryBins:
    """Counts per category bin, baseline and current, in the same order.

    Attributes:
        labels: top baseline categories (most frequent first), then ``(other)`` when the
            baseline had more than ``max_categories``, then ``(unseen)``.
        baseline: baseline count per bin.
        current: current count per bin.
        unseen: number of current values whose category the baseline never had.
        unseen_top: the most frequent unseen categories (at most ``TOP_UNSEEN``) and counts.
    """

    labels: list[str]
    baseline: npt.NDArray[np.int64]
    current: npt.NDArray[np.int64]
    unseen: int
    unseen_top: dict[str, int]

    def pooled(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Counts with every bin expected to hold < 5 values merged into one (for chi-square)."""
        total = self.baseline + self.current
        grand = total.sum()
        if grand == 0:
            return self.baseline, self.current
        smaller_side = min(self.baseline.sum(), self.current.sum())
        small = total * smaller_side / grand < MIN_EXPECTED
        if small.sum() < 2:
            return self.baseline, self.current
        keep = ~small
        base = np.append(self.baseline[keep], self.baseline[small].sum())
        cur = np.append(self.current[keep], self.current[small].sum())
        return base.astype(np.int64), cur.astype(np.int64)


def value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    """Non-null value -> count, keyed by the value's text."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    column = pc.drop_null(column)
    if len(column) == 0:
        return {}
    counts = pc.value_counts(column)
    values = counts.field("values").to_pylist()
    numbers = counts.field("counts").to_pylist()
    out: dict[str, int] = {}
    for value, n in zip(values, numbers, strict=True):
        key = _text(value)
        out[key] = out.get(key, 0) + int(n)
    return out


def category_bins(
    baseline: pa.ChunkedArray, current: pa.ChunkedArray, max_categories: int
) -> CategoryBins:
    """Bin both columns on the baseline's categories (see the module docstring)."""
    base, cur = value_counts(baseline), value_counts(current)
    ranked = sorted(base, key=lambda k: (-base[k], k))
    top = ranked[: max(max_categories, 1)]
    truncated = len(ranked) > len(top)
    labels = [*top, *([OTHER] if truncated else []), UNSEEN]
    index = {k: i for i, k in enumerate(top)}
    b = np.zeros(len(labels), dtype=np.int64)
    c = np.zeros(len(labels), dtype=np.int64)
    for key, n in base.items():
        b[index.get(key, len(top))] += n
    unseen = 0
    unseen_counts: dict[str, int] = {}
    for key, n in cur.items():
        if key in index:
            c[index[key]] += n
        elif key in base:
            c[len(top)] += n
        else:
            c[-1] += n
            unseen += n
            unseen_counts[key] = n
    top_unseen = sorted(unseen_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_UNSEEN]
    return CategoryBins(labels, b, c, unseen, dict(top_unseen))


def histogram_for(bins: CategoryBins) -> Histogram:
    """A histogram of at most ``MAX_BARS`` bars: the biggest bins, the rest merged.

    Integer categories (counts such as ``tx_1h``) are drawn in value order, so the bars read
    as a distribution; other categories stay biggest first. "other", "unseen" and "rest"
    bars come last.
    """
    labels, base, cur = list(bins.labels), bins.baseline.tolist(), bins.current.tolist()
    if bins.current[-1] == 0:  # no unseen values: drop the empty (unseen) bar
        labels, base, cur = labels[:-1], base[:-1], cur[:-1]
    keep, rest = list(range(len(labels))), list[int]()
    if len(labels) > MAX_BARS:
        weight = [
            b / max(sum(base), 1) + c / max(sum(cur), 1) for b, c in zip(base, cur, strict=True)
        ]
        order = sorted(range(len(labels)), key=lambda i: -weight[i])
        keep = sorted(order[: MAX_BARS - 1])
        rest = [i for i in range(len(labels)) if i not in set(keep)]
    keep = _display_order(labels, keep)
    hist = Histogram([labels[i] for i in keep], [base[i] for i in keep], [cur[i] for i in keep])
    if rest:
        hist.labels.append(f"(rest: {len(rest)})")
        hist.baseline.append(sum(base[i] for i in rest))
        hist.current.append(sum(cur[i] for i in rest))
    return hist


def _display_order(labels: list[str], keep: list[int]) -> list[int]:
    """``keep`` in value order when every category among them is an integer."""
    specials = [i for i in keep if labels[i] in (OTHER, UNSEEN)]
    values = [i for i in keep if i not in specials]
    try:
        numbers = {i: int(labels[i]) for i in values}
    except ValueError:
        return keep
    return sorted(values, key=numbers.__getitem__) + specials


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
