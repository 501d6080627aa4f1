"""Column statistics that polars computes slower than numpy.

Quantiles are exact and linearly interpolated, as numpy's default and scikit-learn. They are found
by selection instead of a sort: a small random sample brackets each wanted order statistic, one
vectorised pass counts the values below the bracket and keeps those inside it, and only that
window (a few per cent of the data) is partitioned. This is Floyd and Rivest's SELECT; on a
million values it is 6-9x faster than `np.quantile` (introselect over the whole array), which is
itself faster than polars' sort-based `quantile`. When a bracket misses (vanishingly rare, and
never a wrong answer) the whole array is partitioned instead.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

_SMALL = 1 << 16  # below this many values a plain partition is as fast
# About this many values are sampled: larger samples cost more than their narrower windows save.
_SAMPLE = 1 << 14
# The slack around a rank is _SLACK * sqrt(size) sample ranks: 6 standard deviations of a sample
# rank (a miss about once in 10^9 brackets); a window then holds about 2 * _SLACK / sqrt(_SAMPLE),
# 5%, of the values.
_SLACK = 3


def present_values(series: pl.Series) -> np.ndarray:
    """The non-missing values as float64 (null, and NaN in float columns, are missing)."""
    values = series.drop_nulls()
    if values.dtype.is_float():
        values = values.drop_nans()
    return values.cast(pl.Float64).to_numpy()


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's linear interpolation (`_lerp` in numpy's quantile), the same rounding.

    For finite `a <= b` this is numpy's formula exactly. With an infinite end it gives the limit
    instead of numpy's `inf - inf` NaN: the value itself at a whole rank (`t == 0`) or between
    equal values, and the infinite end otherwise (NaN only between -inf and +inf).
    """
    if t == 0 or a == b:
        return a
    if math.isinf(a) or math.isinf(b):
        return math.nan if math.isinf(a) and math.isinf(b) else (a if math.isinf(a) else b)
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _order_statistics(series: pl.Series, n: int, ranks: Sequence[int]) -> dict[int, float]:
    """The k-th smallest (0-based ranks) of a float column's `n` values that are not missing.

    Null and NaN never count: NaN sorts above everything in polars, so it is never below a bound
    nor inside a window, and a null comparison is neither.
    """
    if n <= _SMALL:
        return _order_statistics_by_partition(present_values(series), ranks)
    rows = len(series)
    drawn = np.random.default_rng(0).integers(0, rows, min(_SAMPLE * rows // n, 16 * _SAMPLE))
    sample = present_values(series.gather(drawn))
    size = len(sample)
    if size < _SAMPLE // 2:  # a column almost all missing: too few values drawn to bracket with
        return _order_statistics_by_partition(present_values(series), ranks)
    margin = int(_SLACK * np.sqrt(size))
    runs = _runs(sorted(set(ranks)))
    edges = [(first * size // n - margin, last * size // n + margin) for first, last in runs]
    inner = sorted({i for pair in edges for i in pair if 0 <= i < size})
    sample = np.partition(sample, inner) if inner else sample  # puts the bracket edges in place
    out: dict[int, float] = {}
    for (first, last), (at_lo, at_hi) in zip(runs, edges, strict=True):
        lo = sample[at_lo] if at_lo >= 0 else -np.inf
        hi = sample[at_hi] if at_hi < size else np.inf
        below = int((series < lo).sum())
        window = series.filter(series.is_between(lo, hi)).to_numpy()
        if not below <= first <= last < below + len(window):  # the bracket missed
            return _order_statistics_by_partition(present_values(series), ranks)
        wanted = list(range(first, last + 1))
        picked = np.partition(window, [k - below for k in wanted])
        out.update({k: float(picked[k - below]) for k in wanted})
    return out


def _order_statistics_by_partition(values: np.ndarray, ranks: Sequence[int]) -> dict[int, float]:
    picked = np.partition(values, list(ranks))
    return {k: float(picked[k]) for k in ranks}


def _runs(ranks: list[int]) -> list[tuple[int, int]]:
    """Sorted ranks grouped into runs of neighbours (k and k+1 of one interpolated quantile)."""
    runs: list[tuple[int, int]] = []
    for k in ranks:
        if runs and k - runs[-1][1] <= 1:
            runs[-1] = (runs[-1][0], k)
        else:
            runs.append((k, k))
    return runs


def quantiles_of(series: pl.Series, qs: Sequence[float]) -> list[float] | None:
    """Quantiles `qs` (fractions) of a numeric column's values, null and NaN ignored.

    Equal to `np.quantile(values, qs)` of the values that are not missing; None when none are.
    Infinite values are values: the median of [1, inf] is inf (as `np.median`; `np.quantile`
    gives NaN there, and at q=0, from `inf - inf`), of [-inf, inf] NaN.
    """
    series = series.cast(pl.Float64)
    n = len(series) - series.null_count() - int(series.is_nan().sum())
    if n == 0:
        return None
    positions = [q * (n - 1) for q in qs]
    lower = [int(np.floor(p)) for p in positions]
    ranks = sorted({k for lo in lower for k in (lo, min(lo + 1, n - 1))})
    stats = _order_statistics(series, n, ranks)
    return [
        _lerp(stats[lo], stats[min(lo + 1, n - 1)], p - lo)
        for lo, p in zip(lower, positions, strict=True)
    ]


def quantiles(
    frame: pl.DataFrame, columns: Sequence[str], qs: Sequence[float]
) -> dict[str, list[float] | None]:
    """Quantiles `qs` (fractions) of each column's non-missing values; None for an empty column.

    Columns are worked on in threads: polars and numpy release the GIL for the heavy parts.
    """
    if len(columns) < 2 or frame.height <= _SMALL:
        return {column: quantiles_of(frame[column], qs) for column in columns}
    with ThreadPoolExecutor(min(len(columns), os.cpu_count() or 1)) as pool:
        found = pool.map(lambda column: quantiles_of(frame[column], qs), columns)
        return dict(zip(columns, found, strict=True))


def splitmix64(values: np.ndarray) -> np.ndarray:
    """splitmix64 of unsigned 64-bit integers: a fixed, well-mixed pseudo-random function of
    a row position (for samples and hash splits that are the same on every run and engine)."""
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
