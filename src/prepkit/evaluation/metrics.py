"""Metrics for imbalanced classification, per held-out fold.

Binary: the minority class is the positive class of precision/recall/F1, average precision and
ROC-AUC. Multiclass: the minority_* metrics are those of the least frequent class, average
precision and ROC-AUC are one-vs-rest macro averages.
"""

from __future__ import annotations

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
    y: np.ndarray, proba: np.ndarray, classes: np.ndarray, minority: int
) -> dict[str, float]:
    """Every metric of `METRICS` for one fold: `y` holds class positions (0..C-1), `proba` the
    predicted probability of each class (columns in `classes` order), `minority` a position."""
    from sklearn import metrics as m

    labels = np.arange(len(classes))
    predicted = proba.argmax(axis=1)
    precision, recall, f1, _ = m.precision_recall_fscore_support(
        y, predicted, labels=[minority], zero_division=0
    )
    binary = len(classes) == 2
    present = np.unique(y)
    if binary:
        positive = (y == minority).astype(int)
        score = proba[:, minority]
        ap = m.average_precision_score(positive, score) if 0 < positive.sum() < len(y) else np.nan
        auc = m.roc_auc_score(positive, score) if 0 < positive.sum() < len(y) else np.nan
    else:
        onehot = (y[:, None] == labels[None, :]).astype(int)
        seen = [c for c in labels if 0 < onehot[:, c].sum() < len(y)]
        ap = float(np.mean([m.average_precision_score(onehot[:, c], proba[:, c]) for c in seen]))
        auc = float(np.mean([m.roc_auc_score(onehot[:, c], proba[:, c]) for c in seen]))
    clipped = np.clip(proba, 1e-15, 1)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return {
        "balanced_accuracy": float(np.mean([np.mean(predicted[y == c] == c) for c in present])),
        "f1_macro": float(
            m.f1_score(y, predicted, labels=labels, average="macro", zero_division=0)
        ),
        "f1_weighted": float(
            m.f1_score(y, predicted, labels=labels, average="weighted", zero_division=0)
        ),
        "minority_precision": float(precision[0]),
        "minority_recall": float(recall[0]),
        "minority_f1": float(f1[0]),
        "average_precision": float(ap),
        "roc_auc": float(auc),
        "log_loss": float(-np.mean(np.log(clipped[np.arange(len(y)), y]))),
    }


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
