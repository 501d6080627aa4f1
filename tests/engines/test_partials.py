"""Statistics over batches equal the in-memory statistics: exactly for counts, minima, maxima and
quantiles (the same order statistics, the same interpolation), to 1e-12 for means and variances."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prepkit.engines import partials
from prepkit.engines.statistics import Counts, Missing, Moments, Quantiles, compute

QS = (0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0)


def _close(a, b, scale: float = 0.0) -> bool:
    """Equal to 1e-12 relative (of `scale` if larger: the size rounding errors are relative to)."""
    if a is None or b is None:
        return a is b
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if math.isinf(scale):  # a variance whose rounding noise may exceed the largest float64
        return True
    if isinstance(a, float) and not math.isfinite(a):
        return a == b
    return abs(a - b) <= 1e-12 * max(1.0, abs(a), scale)


def _same_moments(a: dict, b: dict) -> bool:
    """Counts, minima and maxima equal; mean and std to 1e-12 of the largest finite |value| and
    var of its square (the std of a constant column is rounding noise of the values' size)."""
    ends = [abs(v) for v in (a["min"], a["max"]) if v is not None and math.isfinite(v)]
    top = max(ends, default=0.0)
    scales = {"mean": top, "std": top, "var": top * top}
    return a.keys() == b.keys() and all(_close(a[k], b[k], scales.get(k, 0.0)) for k in a)


def _agree(frame: pl.DataFrame, batch_size: int, qs=QS, counted=()) -> dict:
    requests = [Quantiles(c, qs) for c in frame.columns if frame.schema[c].is_numeric()]
    requests += [Moments(c) for c in frame.columns if frame.schema[c].is_numeric()]
    requests += [Missing(c) for c in frame.columns] + [Counts(c) for c in counted]
    memory = compute(frame, requests)
    streamed = partials.compute_batches(lambda: iter(frame.iter_slices(batch_size)), requests)
    for r in requests:
        if isinstance(r, Moments):
            assert _same_moments(memory[r], streamed[r]), (r, memory[r], streamed[r])
        else:
            assert streamed[r] == memory[r], r
    return memory


@pytest.fixture
def mixed() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    n = 200_000
    x = rng.normal(size=n)
    x[rng.random(n) < 0.05] = np.nan
    w = rng.exponential(size=n)
    w[:10], w[10:20] = np.inf, -np.inf
    frame = pl.DataFrame(
        {
            "x": x,
            "ties": rng.integers(0, 3, n).astype(float),
            "w": w,
            "i": rng.integers(-5, 1000, n),
        }
    )
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("i")).alias("i"),
        pl.Series("city", rng.choice(["a", "b", None, "c"], n)),
    )


def test_large_columns_in_batches_equal_memory_exactly(mixed):
    memory = _agree(mixed, 30_000, counted=("city", "i"))
    # and the in-memory answer is numpy's
    x = mixed["x"].to_numpy()
    assert memory[Quantiles("x", QS)] == list(np.quantile(x[~np.isnan(x)], QS))


def test_narrowing_passes_when_a_bracket_exceeds_the_budget(mixed, monkeypatch):
    monkeypatch.setattr(partials, "WINDOW_BUDGET", 1_000)
    _agree(mixed, 7_777)


def test_heavy_ties_cost_no_window(monkeypatch):
    rng = np.random.default_rng(3)
    values = np.concatenate([np.zeros(150_000), rng.normal(size=70_000)])
    frame = pl.DataFrame({"c": rng.permutation(values)})
    monkeypatch.setattr(partials, "WINDOW_BUDGET", 500)
    _agree(frame, 10_000, qs=(0.1, 0.5, 0.66, 0.9))


def test_empty_and_all_missing_columns():
    frame = pl.DataFrame({"a": [None, None, float("nan")], "b": [1, 2, 3]})
    memory = _agree(frame, 2)
    assert memory[Quantiles("a", QS)] is None
    assert memory[Moments("a")]["count"] == 0
    _agree(frame.head(0), 5)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    values=st.lists(
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32)),
        max_size=300,
    ),
    batch_size=st.integers(1, 64),
    budget=st.sampled_from([4, 50, 1 << 24]),
    sample=st.sampled_from([8, 64, 1 << 16]),
)
def test_any_values_any_batches(values, batch_size, budget, sample):
    frame = pl.DataFrame({"v": pl.Series(values, dtype=pl.Float64)})
    old = partials.WINDOW_BUDGET, partials.SAMPLE
    partials.WINDOW_BUDGET, partials.SAMPLE = budget, sample
    try:
        _agree(frame, batch_size)
    finally:
        partials.WINDOW_BUDGET, partials.SAMPLE = old


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 1000])
def test_moments_of_values_near_the_largest_float64_are_finite_and_merge(batch_size):
    # sums overflow (top), squares overflow (wide), and batches at very different scales merge
    rng = np.random.default_rng(2)
    frame = pl.DataFrame(
        {
            "top": [1.79e308, 1.7e308, 1.75e308, None, 1.78e308, 1.6e308],
            "wide": [1e200, -1e200, 3e200, 0.0, 1.0, -2e200],
            "mixed": [1e-300, 2.0, -1e300, 5e299, 1e10, float("nan")],
            "flat": [1.7e308] * 6,
        }
    )
    memory = _agree(frame, batch_size)
    for column, exponent in (("top", 1024), ("wide", 667), ("mixed", 997), ("flat", 1024)):
        x = frame[column].fill_nan(None).drop_nulls().to_numpy() * 2.0**-exponent
        found = memory[Moments(column)]
        assert found["mean"] == pytest.approx(math.ldexp(x.mean(), exponent), rel=1e-14)
        assert found["std"] == pytest.approx(math.ldexp(x.std(), exponent), rel=1e-14)
        assert found["var"] == math.inf  # the std squared: more than the largest float64
    flat = memory[Moments("flat")]
    assert flat["mean"] == pytest.approx(1.7e308, rel=1e-15) and flat["std"] <= 1e-15 * 1.7e308
    # below the scaling threshold the moments are polars' own, bit for bit
    small = pl.DataFrame({"x": rng.normal(size=50) * 1e70})
    assert compute(small, [Moments("x")])[Moments("x")]["var"] == small["x"].var(ddof=0)


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_mean_with_infinite_values_is_the_limit_on_every_engine(batch_size):
    frame = pl.DataFrame(
        {
            "down": [1e308, 1e308, -math.inf, 1.0],  # 1e308 + 1e308 - inf would be NaN
            "up": [math.inf, -1e308, -1e308, 2.0],
            "both": [math.inf, 1.0, -math.inf, 2.0],
        }
    )
    memory = _agree(frame, batch_size)
    assert [memory[Moments(c)]["mean"] for c in ("down", "up")] == [-math.inf, math.inf]
    assert math.isnan(memory[Moments("both")]["mean"])
    assert [memory[Moments(c)]["inf"] for c in frame.columns] == [1, 1, 2]
    assert [memory[Moments(c)]["neginf"] for c in frame.columns] == [1, 0, 1]
    assert all(math.isnan(memory[Moments(c)]["std"]) for c in frame.columns)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    values=st.lists(
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), max_size=60
    ),
    batch_size=st.integers(1, 16),
)
def test_any_float64_values_any_batches(values, batch_size):
    """Values of any magnitude: batches at different power-of-two scales merge to the moments
    of the whole column."""
    _agree(pl.DataFrame({"v": pl.Series(values, dtype=pl.Float64)}), batch_size)


def _partitioned(frame: pl.DataFrame, cuts: list[int], batch_size: int):
    """A scan as the Spark engine runs one: a partial per partition (its batches added), sent
    through pickle, merged in partition order."""
    import pickle

    bounds = [0, *cuts, frame.height]

    def scan(make):
        parts = []
        for pid, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False)):
            part = make(pid << 40)
            for batch in frame.slice(lo, hi - lo).iter_slices(batch_size):
                part.add(batch)
            parts.append(pickle.loads(pickle.dumps(part)))
        merged = parts[0]
        for later in parts[1:]:
            merged = merged.merge(later)
        return merged

    return scan


@pytest.mark.parametrize("cuts", [[50_000, 50_000, 120_000], [1], [199_999]])
def test_partials_of_partitions_merge_to_the_in_memory_answers(mixed, monkeypatch, cuts):
    """Partitions (one of them empty, one of one row) merged on the driver: the same answers,
    also when quantile brackets need narrowing passes."""
    from prepkit.engines.statistics import Distinct

    monkeypatch.setattr(partials, "WINDOW_BUDGET", 5_000)
    requests = [Quantiles(c, QS) for c in ("x", "ties", "w", "i")]
    requests += [Moments(c) for c in ("x", "w", "i")] + [Missing("city"), Counts("city")]
    requests += [Distinct("city", 10), Distinct("i", 50)]
    memory = compute(mixed, requests)
    merged = partials.compute_scanned(_partitioned(mixed, cuts, 9_999), requests)
    for r in requests:
        if isinstance(r, Moments):
            assert _same_moments(memory[r], merged[r]), r
        else:
            assert merged[r] == memory[r], r
    assert len(merged[Distinct("city", 10)]) == 4  # in order of first appearance
    assert merged[Distinct("i", 50)] is None  # more than 50 values
