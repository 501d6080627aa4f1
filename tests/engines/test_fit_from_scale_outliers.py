"""scale and outliers fit from statistics: the state fitted in memory equals the state fitted from
answers computed over batches of 1, 3, 7 rows and one batch (the streaming engine sees only the
first batch itself), exactly but for means and standard deviations (1e-12 relative); so do the
errors and warnings. Quantiles, hence robust scales and iqr/percentile bounds, are exact."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from engine_helpers import recipe
from sklearn.preprocessing import StandardScaler

INF, NAN = math.inf, math.nan


@pytest.fixture
def numbers() -> pl.DataFrame:
    rng = np.random.default_rng(5)
    n = 23
    normal = rng.normal(40, 9, n)
    normal[[2, 11]] = NAN
    return pl.DataFrame(
        {
            "f": normal,
            "i": pl.Series(
                [None if k % 5 == 0 else int(v) for k, v in enumerate(rng.integers(-9, 30, n))]
            ),
            "u8": pl.Series([7] * (n - 1) + [None], dtype=pl.UInt8),  # constant integers
            "f32": pl.Series(rng.normal(size=n), dtype=pl.Float32),
            "flat": [2.5] * n,
            "zero": [0.0] * n,
            "tiny": [1.0 + (k % 2) * 2.220446049250313e-16 for k in range(n)],  # range < 10 eps
            "late": [None] * 10 + [float(v) for v in rng.exponential(size=n - 10)],
            "huge": [float(v) * 1e300 for v in rng.normal(size=n)],  # var overflows
            "top": [1.79e308, 1.7e308, *([1.75e308] * (n - 3)), None],  # sums overflow
            "wide": [1e200 * (-1) ** k for k in range(n)],  # squares overflow
            "nothing": pl.Series([None] * n, dtype=pl.Float64),
            "nan": [NAN] * n,
            "text": ["x"] * n,
        },
        nan_to_null=False,
    )


SCALE = [
    {},
    {"with_mean": False},
    {"with_std": False},
    {"with_mean": False, "with_std": False},
    {"method": "minmax"},
    {"method": "minmax", "feature_range": [-1, 3], "clip": True},
    {"method": "maxabs"},
    {"method": "robust"},
    {"method": "robust", "quantile_range": [10, 90], "unit_variance": True},
    {"method": "robust", "quantile_range": [0, 100]},
    {"method": "robust", "quantile_range": [50, 50]},
    {"method": "robust", "with_centering": False},
    {"method": "robust", "with_scaling": False},
]


@pytest.mark.parametrize("params", SCALE, ids=str)
def test_scale_over_batches_equals_memory(numbers, params, over_batches):
    columns = [c for c in numbers.columns if c != "text"]
    exact = params.get("method", "standard") != "standard"  # min, max, quantiles: exact
    step = {"step": "scale", "columns": columns, **params}
    state = over_batches(recipe(step), numbers, rel=0.0 if exact else 1e-12)
    assert state["columns"] == columns
    assert state["scaling"]["nothing"] == state["scaling"]["nan"] == {"center": 0.0, "scale": 1.0}
    assert all(
        math.isfinite(s["center"]) and math.isfinite(s["scale"]) for s in state["scaling"].values()
    )


def test_scale_learns_what_scikit_learn_does_at_any_magnitude(numbers, over_batches):
    state = over_batches(
        recipe({"step": "scale", "columns": ["f", "flat", "zero", "tiny"]}), numbers
    )
    scaling = state["scaling"]
    f = numbers["f"].to_numpy()
    f = f[~np.isnan(f)]
    assert scaling["f"]["center"] == pytest.approx(f.mean(), rel=1e-15)
    assert scaling["f"]["scale"] == pytest.approx(f.std(), rel=1e-15)
    # constant columns (also to rounding) get scale 1, as scikit-learn's _is_constant_feature
    assert scaling["flat"] == {"center": 2.5, "scale": 1.0}
    assert scaling["zero"] == {"center": 0.0, "scale": 1.0}
    assert scaling["tiny"]["scale"] == 1.0
    # values near 1e308: moments at a power-of-two scale, so mean and std are finite and right
    for column, exponent in (("huge", 1000), ("top", 1024), ("wide", 700)):
        state = over_batches(recipe({"step": "scale", "columns": [column]}), numbers)
        x = numbers[column].drop_nulls().to_numpy().reshape(-1, 1) * 2.0**-exponent
        sklearn = StandardScaler().fit(x)
        got = state["scaling"][column]
        assert got["center"] == pytest.approx(math.ldexp(sklearn.mean_[0], exponent), rel=1e-14)
        assert got["scale"] == pytest.approx(math.ldexp(sklearn.scale_[0], exponent), rel=1e-13)


def test_scale_of_a_constant_huge_column_is_one_on_every_engine(over_batches):
    frame = pl.DataFrame({"x": [1.7e308] * 9, "y": [1e300] * 9, "z": [-3e-300] * 9})
    for method in ("standard", "minmax", "robust"):
        state = over_batches(recipe({"step": "scale", "method": method}), frame)
        assert [s["scale"] for s in state["scaling"].values()] == [1.0, 1.0, 1.0], method
    state = over_batches(recipe({"step": "scale", "method": "maxabs"}), frame)
    assert [s["scale"] for s in state["scaling"].values()] == [1.7e308, 1e300, 1.0]


def test_scale_of_one_row_and_of_integers(over_batches):
    one = pl.DataFrame({"x": [4.0], "i": [3]})
    for params in SCALE:
        over_batches(recipe({"step": "scale", **params}), one)
    assert over_batches(recipe({"step": "scale"}), one)["scaling"] == {
        "x": {"center": 4.0, "scale": 1.0},
        "i": {"center": 3.0, "scale": 1.0},
    }
    ints = pl.DataFrame(
        {"i": [1, 5, None, 3, 3, 8, 2], "u": pl.Series([0, 9, 4, 4, 1, 2, 2], dtype=pl.UInt16)}
    )
    for params in SCALE:
        over_batches(recipe({"step": "scale", **params}), ints)


def test_scale_refuses_infinite_values_on_every_engine(same_error):
    frame = pl.DataFrame(
        {
            "ok": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "x": [1.0, 2.0, INF, 2.0, -INF, INF, 3.0, 4.0],
        }
    )
    for method in ("standard", "minmax", "robust", "maxabs"):
        message = same_error(recipe({"step": "scale", "method": method}), frame, "infinite")
        assert (
            "column 'x' has 3 infinite values (inf: 2, -inf: 1); scale needs finite numbers"
            in message
        )
        assert "'ok'" not in message


def test_scale_refuses_a_span_beyond_float64_on_every_engine(same_error):
    frame = pl.DataFrame({"x": [1e308, 1.5e308, -1.7e308, 1.7e308, None, 3.0]})
    same_error(recipe({"step": "scale", "method": "minmax"}), frame, "span more than the largest")


def test_scale_warns_alike_about_columns_without_values(numbers, fit_in_batches):
    r = recipe({"step": "scale", "columns": ["f", "nothing", "nan"]})
    memory = r.fit(numbers).report.steps[0].warnings
    assert memory == ["scale: no values to learn from in nothing, nan; left unscaled"]
    for rows in (1, 3, 7):
        assert fit_in_batches(r, numbers, rows)[1] == memory
    assert fit_in_batches(r, numbers.head(0), 5)[1] == []  # no rows: nothing to warn about


def test_scale_of_no_columns(numbers, over_batches):
    state = over_batches(recipe({"step": "scale", "columns": {"regex": "^none$"}}), numbers)
    assert state == {"method": "standard", "columns": [], "scaling": {}}


OUTLIERS = [
    {},
    {"factor": 3.0, "action": "flag"},
    {"factor": 0.5, "action": "drop"},
    {"method": "percentile"},
    {"method": "percentile", "lower": 0.0, "upper": 1.0, "action": "flag", "flag_column": "single"},
    {"method": "percentile", "lower": 0.1, "upper": 0.35},
    {"method": "zscore"},
    {"method": "zscore", "threshold": 1.5, "action": "drop", "drop_at_apply": True},
]


@pytest.mark.parametrize("params", OUTLIERS, ids=str)
def test_outliers_over_batches_equal_memory(numbers, params, over_batches):
    columns = [c for c in numbers.columns if c != "text"]
    exact = params.get("method") != "zscore"  # quantiles: exact
    step = {"step": "outliers", "columns": columns, **params}
    state = over_batches(recipe(step), numbers, rel=0.0 if exact else 1e-12)
    assert state["columns"] == columns
    assert state["bounds"]["nothing"] is None and state["bounds"]["nan"] is None
    assert state["bounds"]["flat"] == [2.5, 2.5]
    method = params.get("method", "iqr")
    if method == "zscore":
        return
    for column in ("f", "i", "huge"):  # quantiles: exactly numpy's
        x = numbers[column].cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
        if method == "iqr":
            q1, q3 = np.quantile(x, [0.25, 0.75])
            factor = params.get("factor", 1.5)
            expected = [q1 - factor * (q3 - q1), q3 + factor * (q3 - q1)]
        else:
            expected = list(np.quantile(x, [params.get("lower", 0.01), params.get("upper", 0.99)]))
        assert state["bounds"][column] == expected, column


def test_outliers_zscore_bounds_are_finite_for_huge_values(numbers, over_batches):
    state = over_batches(
        recipe({"step": "outliers", "method": "zscore", "columns": ["huge", "wide"]}), numbers
    )
    for column, exponent in (("huge", 1000), ("wide", 700)):
        x = numbers[column].to_numpy() * 2.0**-exponent
        expected = [math.ldexp(x.mean() + t * 3 * x.std(), exponent) for t in (-1, 1)]
        assert state["bounds"][column] == pytest.approx(expected, rel=1e-13)


def test_outliers_zscore_refuses_what_has_no_finite_bounds_on_every_engine(numbers, same_error):
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, INF]})
    message = same_error(recipe({"step": "outliers", "method": "zscore"}), frame, "not finite")
    assert "column 'x' has 1 infinite value" in message
    frame = pl.DataFrame({"ok": [1.0, 2.0] * 4, "x": [1.7e308, -1.7e308] * 4})  # 3 std > 1.8e308
    message = same_error(recipe({"step": "outliers", "method": "zscore"}), frame, "'x'")
    assert "column 'x' has values so large that mean -/+ threshold * std overflows" in message
    assert "'ok'" not in message


def test_outliers_iqr_and_percentile_clip_infinite_values_alike(over_batches):
    frame = pl.DataFrame({"x": [1.0, 2.0, INF, 3.0, -INF, 4.0, 5.0, None, 6.0, INF]})
    # non-missing values sorted: -inf 1 2 3 4 5 6 inf inf; Q1 = 2, Q3 = 6
    assert over_batches(recipe({"step": "outliers"}), frame)["bounds"]["x"] == [-4.0, 12.0]
    state = over_batches(recipe({"step": "outliers", "method": "percentile", "upper": 0.95}), frame)
    assert state["bounds"]["x"] == [-INF, INF]


def test_outliers_of_one_row_and_integers(over_batches):
    one = pl.DataFrame({"x": [4.0], "i": [3]})
    for params in OUTLIERS:
        assert over_batches(recipe({"step": "outliers", **params}), one)["bounds"] == {
            "x": [4.0, 4.0],
            "i": [3.0, 3.0],
        }
    ints = pl.DataFrame(
        {
            "i": [1, 50, None, 3, 3, 8, 2, -40],
            "u": pl.Series([0, 9, 4, 4, 1, 2, 2, 200], dtype=pl.UInt8),
        }
    )
    for params in OUTLIERS:
        over_batches(recipe({"step": "outliers", **params}), ints)


def test_outliers_warn_alike_about_columns_without_values(numbers, fit_in_batches):
    r = recipe({"step": "outliers", "columns": ["f", "late", "nothing"]})
    memory = r.fit(numbers).report.steps[0].warnings
    assert memory == ["outliers: no values at fit time in nothing; left unchanged"]
    for rows in (1, 3, 7):
        assert fit_in_batches(r, numbers, rows)[1] == memory
