"""Paired comparison of two recipes over the same cross-validation splits.

The folds of K-fold cross-validation share training rows, so the per-fold differences are not
independent and a plain paired t-test is far too confident. The corrected resampled t-test of
Nadeau and Bengio (2003), in the repeated K-fold form of Bouckaert and Frank (2004), widens the
variance by the overlap: var * (1/n + n_test/n_train) over the n = K * repeats differences, with
n - 1 degrees of freedom.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

TEST = "corrected resampled t-test (Nadeau & Bengio 2003; Bouckaert & Frank 2004)"


def corrected_t_test(
    differences: np.ndarray, test_train_ratio: float, confidence: float = 0.95
) -> dict[str, Any]:
    """Mean difference, its confidence interval and two-sided p-value."""
    from scipy import stats

    d = np.asarray(differences, dtype=float)
    d = d[~np.isnan(d)]
    n = len(d)
    mean = float(d.mean()) if n else math.nan
    if n < 2:
        return {"mean": mean, "low": math.nan, "high": math.nan, "p_value": math.nan}
    se = math.sqrt((1 / n + test_train_ratio) * float(d.var(ddof=1)))
    if se == 0:
        return {"mean": mean, "low": mean, "high": mean, "p_value": 1.0 if mean == 0 else 0.0}
    t = mean / se
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
    return {
        "mean": mean,
        "low": mean - half,
        "high": mean + half,
        "p_value": float(2 * stats.t.sf(abs(t), n - 1)),
    }


def verdict(test: dict[str, Any], higher_is_better: bool) -> str:
    """better / worse (the interval excludes 0) or 'no significant difference'."""
    low, high = test["low"], test["high"]
    if math.isnan(low):
        return "not tested"
    if low > 0:
        return "better" if higher_is_better else "worse"
    if high < 0:
        return "worse" if higher_is_better else "better"
    return "no significant difference"
