import numpy as np
import polars as pl
import pytest

from prepkit import stats
from prepkit.stats import quantiles, quantiles_of

QS = [0.0, 0.01, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.99, 1.0]
RNG = np.random.default_rng(11)
ARRAYS = {
    "normal": RNG.normal(size=400_000),
    "sorted": np.sort(RNG.normal(size=200_001)),
    "reversed": np.sort(RNG.normal(size=200_000))[::-1].copy(),
    "three values (ties)": RNG.integers(0, 3, 300_000).astype(float),
    "constant": np.full(100_000, 4.5),
    "heavy tails": RNG.standard_cauchy(300_000),
    "mostly zeros": np.r_[np.zeros(280_000), RNG.normal(size=20_000)],
    "infinities": np.r_[np.full(100_000, -np.inf), RNG.normal(size=150_000), [np.inf] * 3],
    "small": RNG.normal(size=1_001),
}


@pytest.mark.parametrize("name", ARRAYS)
def test_quantiles_equal_numpy_exactly(name):
    values = ARRAYS[name]
    with np.errstate(invalid="ignore"):  # inf - inf in the interpolation, as numpy's own
        expected = np.quantile(values, QS)
    np.testing.assert_array_equal(quantiles_of(pl.Series(values), QS), expected)


def test_a_missed_bracket_falls_back_to_a_full_partition(monkeypatch):
    # a margin of zero makes the sample's bracket miss most ranks; the answer stays exact
    monkeypatch.setattr(stats, "_SLACK", 0)
    calls = []
    full = stats._order_statistics_by_partition
    monkeypatch.setattr(
        stats, "_order_statistics_by_partition", lambda v, r: calls.append(len(v)) or full(v, r)
    )
    values = ARRAYS["normal"]
    np.testing.assert_array_equal(quantiles_of(pl.Series(values), QS), np.quantile(values, QS))
    assert calls == [len(values)]


def test_mostly_missing_and_integer_columns():
    # a sample drawn over all rows keeps only the values present; integers are read as floats
    values = RNG.normal(size=300_000)
    values[RNG.random(300_000) < 0.7] = np.nan
    column = pl.Series(values).fill_nan(None).scatter([3], float("nan"))  # nulls and a NaN
    values[3] = np.nan
    expected = np.quantile(values[~np.isnan(values)], QS)
    np.testing.assert_array_equal(quantiles_of(column, QS), expected)
    ints = RNG.integers(-50, 50, 200_000)
    np.testing.assert_array_equal(quantiles_of(pl.Series(ints), QS), np.quantile(ints, QS))


def test_a_column_almost_all_missing_is_partitioned_whole(monkeypatch):
    # 70k values among 3M rows: the sample drawn holds too few values to bracket with
    values = np.full(3_000_000, np.nan)
    values[RNG.choice(3_000_000, 70_000, replace=False)] = RNG.normal(size=70_000)
    calls = []
    full = stats._order_statistics_by_partition
    monkeypatch.setattr(
        stats, "_order_statistics_by_partition", lambda v, r: calls.append(len(v)) or full(v, r)
    )
    got = quantiles_of(pl.Series(values), QS)
    np.testing.assert_array_equal(got, np.quantile(values[~np.isnan(values)], QS))
    assert calls == [70_000]


def test_frame_quantiles_ignore_null_and_nan():
    values = RNG.normal(size=100_000)
    column = pl.Series(values).scatter([0, 5, 9], None).scatter([1, 2], float("nan"))
    frame = pl.DataFrame({"x": column, "empty": pl.Series([None] * 100_000, dtype=pl.Float64)})
    got = quantiles(frame, ["x", "empty"], [0.25, 0.5])
    kept = np.delete(values, [0, 1, 2, 5, 9])
    assert got == {"x": np.quantile(kept, [0.25, 0.5]).tolist(), "empty": None}
