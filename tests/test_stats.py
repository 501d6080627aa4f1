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
    with np.errstate(invalid="ignore"):  # inf - inf in numpy's interpolation
        expected = np.quantile(values, QS)
    # where numpy's interpolation gives NaN from inf - inf, the quantile is the infinite end
    lower, higher = (np.quantile(values, QS, method=m) for m in ("lower", "higher"))
    expected = np.where(np.isnan(expected), np.where(np.isinf(lower), lower, higher), expected)
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


def test_steps_on_large_columns_match_scikit_learn():
    # above 65,536 values the steps take the sampled-selection path: outliers (iqr), impute
    # (median) and scale (robust) must still equal numpy / scikit-learn on the same data
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import RobustScaler

    import prepkit

    rows = 150_000
    x = RNG.lognormal(size=rows)
    x[RNG.random(rows) < 0.1] = np.nan
    y = RNG.integers(0, 1000, rows).astype(float)
    frame = pl.DataFrame({"x": x, "y": y})

    def fitted(step: dict) -> dict:
        return prepkit.load_recipe({"steps": [step]}).fit(frame).states[0]

    bounds = fitted({"step": "outliers", "method": "iqr"})["bounds"]
    for name, values in (("x", x), ("y", y)):
        q1, q3 = np.nanpercentile(values, [25, 75])
        assert bounds[name] == [q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)]
    fill = fitted({"step": "impute", "strategy": "median"})["fill"]
    expected = SimpleImputer(strategy="median").fit(np.c_[x, y]).statistics_
    assert [fill["x"], fill["y"]] == expected.tolist()
    scaling = fitted({"step": "scale", "method": "robust", "quantile_range": [10, 90]})["scaling"]
    scaler = RobustScaler(quantile_range=(10, 90)).fit(np.c_[x, y])
    assert [scaling[c]["center"] for c in "xy"] == scaler.center_.tolist()
    assert [scaling[c]["scale"] for c in "xy"] == scaler.scale_.tolist()
