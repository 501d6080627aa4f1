"""Metrics for imbalanced classification, per held-out fold.

Binary: the minority class is the positive class of precision/recall/F1, average precision and
ROC-AUC. Multiclass: the minority_* metrics are those of the least frequent class, average
precision and ROC-AUC are one-vs-rest macro averages.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

import numpy as np

# name -> True when higher is better
METRICS: dict[str, bool] = {
    "balanced_accuracy": True,
    "f1_macro": True,
    "f1_weighted": True,
    "minority_precision": True,
    "minority_recall": True,
    "minority_f1": True,
    "average_precision": True,
    "roc_auc": True,
    "log_loss": False,
}


def fold_metrics(
    y: np.ndarray, proba: np.ndarray, classes: Sized, minority: int
) -> dict[str, float]:
    """Every metric of `METRICS` for one fold: `y` holds class positions (0..C-1), `proba` the
    predicted probability of each class (columns in `classes` order), `minority` a position.

    The counting metrics come from the confusion matrix (scikit-learn's definitions with
    `zero_division=0`; the tests compare them); the ranking ones from scikit-learn.
    """
    from sklearn import metrics as m

    counts = confusion(y, proba, len(classes))
    tp = np.diag(counts).astype(float)
    support, predicted = counts.sum(axis=1), counts.sum(axis=0)
    f1 = _ratio(2 * tp, support + predicted)
    recall = _ratio(tp, support)
    present = support > 0
    if len(classes) == 2:
        positive = (y == minority).astype(int)
        score = proba[:, minority]
        ranked = 0 < positive.sum() < len(y)
        ap = m.average_precision_score(positive, score) if ranked else np.nan
        auc = m.roc_auc_score(positive, score) if ranked else np.nan
    else:
        onehot = (y[:, None] == np.arange(len(classes))[None, :]).astype(int)
        seen = [c for c in range(len(classes)) if 0 < onehot[:, c].sum() < len(y)]
        ap = float(np.mean([m.average_precision_score(onehot[:, c], proba[:, c]) for c in seen]))
        auc = float(np.mean([m.roc_auc_score(onehot[:, c], proba[:, c]) for c in seen]))
    clipped = np.clip(proba, 1e-15, 1)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return {
        "balanced_accuracy": float(recall[present].mean()),
        "f1_macro": float(f1.mean()),
        "f1_weighted": float((f1 * support).sum() / support.sum()),
        "minority_precision": float(_ratio(tp, predicted)[minority]),
        "minority_recall": float(recall[minority]),
        "minority_f1": float(f1[minority]),
        "average_precision": float(ap),
        "roc_auc": float(auc),
        "log_loss": float(-np.mean(np.log(clipped[np.arange(len(y)), y]))),
    }


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, 0 where b is 0 (scikit-learn's `zero_division=0`)."""
    return np.divide(a, b, out=np.zeros(len(a)), where=b > 0)


def confusion(y: np.ndarray, proba: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts[true, predicted] for one fold."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y, proba.argmax(axis=1)), 1)
    return counts


def summary(values: list[float]) -> dict[str, Any]:
    """Mean, standard deviation (ddof 1), min and max over the folds."""
    a = np.asarray(values, dtype=float)
    return {
        "mean": float(np.nanmean(a)),
        "std": float(np.nanstd(a, ddof=1)) if np.sum(~np.isnan(a)) > 1 else 0.0,
        "min": float(np.nanmin(a)),
        "max": float(np.nanmax(a)),
    }
