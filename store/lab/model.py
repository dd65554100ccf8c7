"""The lab's model and its scores: one scikit-learn model, AUC, precision at a recall, and a
paired bootstrap of the offline-online gap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

RECALL = 0.5  # precision is reported at the threshold that catches half the fraud


def matrix(frame: pa.Table, columns: list[str]) -> np.ndarray:
    """The model's inputs: ``amount`` and the feature columns; a null stays NaN (the model
    treats missing values natively, so no fill rule can differ between offline and online)."""
    cols = [
        np.asarray(frame.column(c).to_numpy(zero_copy_only=False), dtype=float) for c in columns
    ]
    return np.column_stack(cols)


def fit(x: np.ndarray, y: np.ndarray, seed: int) -> Any:
    """The same model every way: gradient-boosted trees, seeded."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, random_state=seed)
    with threadpool_limits(1):  # small data: one thread is faster and the same on any machine
        return model.fit(x, y)


def predict(fitted: Any, x: np.ndarray) -> np.ndarray:
    """Fraud probability per row."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return np.asarray(fitted.predict_proba(x)[:, 1])


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    from scipy.stats import rankdata

    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_at_recall(y: np.ndarray, score: np.ndarray, recall: float = RECALL) -> float:
    """Precision at the highest threshold whose recall reaches ``recall`` (ties kept together)."""
    from sklearn.metrics import precision_recall_curve

    precision, rec, _ = precision_recall_curve(y, score)
    return float(precision[rec >= recall].max())


@dataclass(frozen=True)
class Gap:
    """Offline minus online AUC with a paired bootstrap confidence interval."""

    value: float
    low: float
    high: float


def bootstrap_gap(
    y: np.ndarray, offline: np.ndarray, online: np.ndarray, *, seed: int, rounds: int = 300
) -> Gap:
    """Resample the test requests (the same rows for both scores) ``rounds`` times; the 95%
    percentile interval of ``AUC(offline) - AUC(online)``."""
    rng = np.random.default_rng(seed)
    gaps = []
    n = len(y)
    for _ in range(rounds):
        idx = rng.integers(0, n, n)
        if y[idx].min() == y[idx].max():
            continue
        gaps.append(auc(y[idx], offline[idx]) - auc(y[idx], online[idx]))
    low, high = np.percentile(gaps, [2.5, 97.5])
    return Gap(auc(y, offline) - auc(y, online), float(low), float(high))
