import math

import numpy as np
import polars as pl
import pytest
from sklearn.impute import SimpleImputer

import prepkit
from prepkit.errors import DataError


def recipe(**params):
    return prepkit.load_recipe({"steps": [{"step": "impute", **params}]})


@pytest.fixture
def gaps() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "a": [1.0, None, 3.0, 10.0, float("nan"), 4.0],
            "b": [5, 7, None, 7, 1, None],
            "c": ["x", None, "y", "y", "x", "z"],
        }
    )


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent"])
def test_numeric_matches_simple_imputer(gaps, strategy):
    fitted = recipe(strategy=strategy, columns=["a", "b"]).fit(gaps)
    out = fitted.transform(gaps)
    x = gaps.select("a", "b").to_numpy().astype(float)
    expected = SimpleImputer(strategy=strategy).fit_transform(x)
    np.testing.assert_allclose(out.select("a", "b").to_numpy().astype(float), expected, atol=1e-9)


def test_learned_state_is_the_hand_computed_median(gaps):
    state = recipe().fit(gaps).state("impute_1")
    assert state == {"columns": ["a", "b"], "fill": {"a": 3.5, "b": 6.0}}


def test_nan_and_null_both_filled_and_counted(gaps):
    fitted = recipe(columns="a", strategy="mean").fit(gaps)
    assert fitted.transform(gaps)["a"].to_list() == [1.0, 4.5, 3.0, 10.0, 4.5, 4.0]
    assert fitted.report.steps[0].changes["imputed"] == {"a": 2}


def test_integer_column_keeps_integer_dtype_when_statistic_is_integral(gaps):
    out = recipe(columns="b", strategy="median").fit_transform(gaps)
    assert out.schema["b"] == pl.Int64
    assert out["b"].to_list() == [5, 7, 6, 7, 1, 6]  # median of 1, 5, 7, 7


def test_most_frequent_on_strings_picks_smallest_tie(gaps):
    out = recipe(columns="c", strategy="most_frequent").fit_transform(gaps)
    assert out["c"].to_list() == ["x", "x", "y", "y", "x", "z"]  # x and y tie: x is smaller


def test_constant_and_indicator(gaps):
    out = recipe(
        columns=["a", "c"], strategy="constant", fill_value=-1, add_indicator=True
    ).fit_transform(gaps.with_columns(pl.col("c").fill_null("q")))
    assert out["a"].to_list() == [1.0, -1.0, 3.0, 10.0, -1.0, 4.0]
    assert out["a__missing"].to_list() == [False, True, False, False, True, False]
    assert out["c__missing"].to_list() == [False] * 6


def test_apply_uses_train_statistics_not_new_data(gaps):
    fitted = recipe(columns="a").fit(gaps)
    new = pl.DataFrame({"a": [None, 100.0, 200.0], "b": [1, 2, 3], "c": ["x", "y", "z"]})
    assert fitted.transform(new)["a"].to_list() == [3.5, 100.0, 200.0]


def test_all_missing_column_is_a_clear_error():
    frame = pl.DataFrame({"a": [None, None]}, schema={"a": pl.Float64})
    with pytest.raises(DataError, match="no values at fit time"):
        recipe(columns="a").fit(frame)


def test_mean_on_text_column_is_an_error(gaps):
    with pytest.raises(DataError, match="needs numeric columns"):
        recipe(columns="c", strategy="mean").fit(gaps)


def test_backends_agree(gaps, backend):
    out = backend.to_polars(recipe(strategy="mean").fit_transform(backend.make(gaps)))
    assert out["a"].to_list() == pytest.approx([1.0, 4.5, 3.0, 10.0, 4.5, 4.0])
    assert [float(v) for v in out["b"].to_list()] == [5.0, 7.0, 5.0, 7.0, 1.0, 5.0]
    assert type(recipe().fit_transform(backend.make(gaps))) is type(backend.make(gaps))


def test_one_row_and_zero_rows(gaps):
    one = gaps.head(1)
    assert recipe().fit_transform(one).row(0) == one.row(0)
    fitted = recipe().fit(gaps)
    assert fitted.transform(gaps.head(0)).height == 0
    assert not math.isnan(fitted.state("impute_1")["fill"]["a"])
