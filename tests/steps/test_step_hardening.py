"""Regression tests for issue 9, items 6, 7, 18, 19 (steps), 22 and 23: steps given values that
used to be corrupted silently (a text fill on numbers, infinities, values near 1e308, NaN codes,
NaN next to null, blank texts, unseen categories)."""

import datetime
import json
import math
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app
from prepkit.errors import DataError
from prepkit.stats import quantiles, quantiles_of
from prepkit.steps.base import get_step_class

INF = math.inf
NAN = math.nan

# numpy and scikit-learn overflow (and say so) on the very inputs these tests are about
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def recipe(*steps):
    return prepkit.load_recipe({"steps": list(steps)})


def step_report(fitted, frame):
    """The report of applying `fitted` to `frame` (its first step)."""
    return fitted.transform_frame(frame)[1].steps[0]


# -- 6. impute strategy: constant with a fill value of the wrong type ---------------------------


def test_text_fill_on_a_float_column_is_an_error_at_fit_naming_column_dtype_and_value():
    frame = pl.DataFrame({"x": [1.0, None, 3.0]})
    with pytest.raises(DataError) as caught:
        recipe(
            {"step": "impute", "columns": ["x"], "strategy": "constant", "fill_value": "foo"}
        ).fit(frame)
    error = caught.value
    assert "column 'x' (Float64) cannot be filled with 'foo' (text)" in error.message
    assert "give a numeric fill_value, or select text columns only" in error.message
    assert error.exit_code == 1 and "fill_value" in error.hint


TYPED = pl.DataFrame(
    {
        "f": pl.Series([1.0, None, 3.0]),
        "i": pl.Series([1, None, 3]),
        "i8": pl.Series([1, None, 3], dtype=pl.Int8),
        "u8": pl.Series([1, None, 3], dtype=pl.UInt8),
        "s": pl.Series(["a", None, "b"]),
        "cat": pl.Series(["a", None, "b"], dtype=pl.Categorical),
        "enum": pl.Series(["a", None, "b"], dtype=pl.Enum(["a", "b"])),
        "b": pl.Series([True, None, False]),
        "d": pl.Series([datetime.date(2024, 1, 1), None, datetime.date(2024, 1, 3)]),
        "dt": pl.Series([datetime.datetime(2024, 1, 1, 8), None, datetime.datetime(2024, 1, 3)]),
        "null": pl.Series([None, None, None]),
    }
)

# (column, fill_value, the filled cell and the column's dtype after) for every accepted pairing
ACCEPTED = [
    ("f", 5, 5.0, pl.Float64),
    ("f", 2.5, 2.5, pl.Float64),
    ("f", -INF, -INF, pl.Float64),  # explicitly asked for: allowed
    ("i", 5, 5, pl.Int64),
    ("i", 3.0, 3, pl.Int64),
    ("i", 2.5, 2.5, pl.Float64),  # a fraction makes an integer column float64, as mean/median
    ("i8", -128, -128, pl.Int8),
    ("u8", 255, 255, pl.UInt8),
    ("s", "foo", "foo", pl.String),
    ("s", 5, "5", pl.String),  # numbers become text as polars writes them
    ("s", 2.5, "2.5", pl.String),
    ("s", True, "true", pl.String),
    ("cat", "new", "new", pl.Categorical),
    ("cat", 7, "7", pl.Categorical),
    ("enum", "b", "b", pl.Enum(["a", "b"])),
    ("b", False, False, pl.Boolean),
    ("d", "2020-02-29", datetime.date(2020, 2, 29), pl.Date),
    ("dt", "2020-02-29T12:30:00", datetime.datetime(2020, 2, 29, 12, 30), pl.Datetime("us")),
    ("dt", "2020-02-29", datetime.datetime(2020, 2, 29), pl.Datetime("us")),
    ("null", "x", "x", pl.String),  # an all-null column takes the fill value's type
]


@pytest.mark.parametrize(("column", "value", "cell", "dtype"), ACCEPTED)
def test_constant_fill_accepted_pairings_fill_the_cell_and_count_it(column, value, cell, dtype):
    fitted = recipe(
        {"step": "impute", "columns": [column], "strategy": "constant", "fill_value": value}
    ).fit(TYPED)
    out = fitted.transform(TYPED)
    assert out[column][1] == cell
    assert out.schema[column] == dtype
    assert out[column].null_count() == 0
    expected = 3 if column == "null" else 1
    assert fitted.report.steps[0].changes["imputed"] == {column: expected}


# (column, fill_value, what the message says) for every refused pairing
REFUSED = [
    ("f", "foo", "give a numeric fill_value"),
    ("f", True, "give a numeric fill_value"),  # a YAML `yes` is not the number 1
    ("f", "2020-01-01", "give a numeric fill_value"),
    ("f", NAN, "NaN is a missing value itself"),
    ("i", "foo", "give a numeric fill_value"),
    ("i8", 1000, "1000 does not fit Int8: give a value in its range"),
    ("u8", -1, "-1 does not fit UInt8: give a value in its range"),
    ("enum", "zzz", "give one of the column's categories: a, b"),
    ("b", "foo", "give fill_value: true or false"),
    ("b", 1, "give fill_value: true or false"),
    ("b", 0.5, "give fill_value: true or false"),
    ("d", "foo", "give ISO text such as '2024-01-31'"),
    ("d", 5, "give ISO text such as '2024-01-31'"),
    ("d", "2020-13-45", "give ISO text such as '2024-01-31'"),
    ("dt", True, "give ISO text such as '2024-01-31T13:45:00'"),
]


@pytest.mark.parametrize(("column", "value", "reason"), REFUSED)
def test_constant_fill_refused_pairings_are_errors_at_fit(column, value, reason):
    with pytest.raises(DataError) as caught:
        recipe(
            {"step": "impute", "columns": [column], "strategy": "constant", "fill_value": value}
        ).fit(TYPED)
    message = caught.value.message
    assert f"column '{column}' ({TYPED.schema[column]}) cannot be filled with {value!r}" in message
    assert reason in message


@pytest.mark.parametrize("column", ["b", "d", "enum"])
def test_the_default_constant_on_boolean_date_and_enum_columns_says_it_is_the_default(column):
    with pytest.raises(DataError, match=r"no fill_value given: the default.*'missing' \(text\)"):
        recipe({"step": "impute", "columns": [column], "strategy": "constant"}).fit(TYPED)


def test_every_refused_column_is_named_in_one_message():
    with pytest.raises(DataError) as caught:
        recipe(
            {"step": "impute", "columns": ["f", "s", "b"], "strategy": "constant", "fill_value": 0}
        ).fit(TYPED)
    message = caught.value.message
    assert "column 'b' (Boolean)" in message and "'f'" not in message and "'s'" not in message


def test_report_counts_only_cells_really_filled():
    step = get_step_class("impute")(get_step_class("impute").Params(columns=["x"]), "impute_1")
    before = pl.DataFrame({"x": [None, NAN, 1.0, None]})
    after = pl.DataFrame({"x": [2.0, NAN, 1.0, 2.0]})  # one cell left missing
    assert step.describe(before, after, {"columns": ["x"], "fill": {"x": 2.0}}) == {
        "imputed": {"x": 2}
    }


def test_a_fill_that_does_not_fit_the_column_at_apply_is_an_error_not_left_missing():
    # the artifact's schema check casts new data first; the step still refuses on its own
    fitted = recipe({"step": "impute", "columns": ["x"], "strategy": "median"}).fit(
        pl.DataFrame({"x": [1.0, None, 3.0]})
    )
    step, state = fitted.steps[0], fitted.state("impute_1")
    new = pl.DataFrame({"x": pl.Series([True, None], dtype=pl.Boolean)})
    with pytest.raises(DataError, match=r"column 'x' \(Boolean\) cannot be filled with 2\.0"):
        step.apply(new, state, None)


def test_most_frequent_on_date_and_datetime_columns_fills_them():
    # the learned date is kept as ISO text; polars 2 no longer casts text to dates
    fitted = recipe({"step": "impute", "columns": ["d", "dt"], "strategy": "most_frequent"}).fit(
        TYPED
    )
    out = fitted.transform(TYPED)
    assert fitted.state("impute_1")["fill"] == {"d": "2024-01-01", "dt": "2024-01-01T08:00:00"}
    assert out["d"].to_list()[1] == datetime.date(2024, 1, 1)
    assert out["dt"].to_list()[1] == datetime.datetime(2024, 1, 1, 8)


def test_most_frequent_on_a_column_named_n_and_on_an_all_null_column():
    out = recipe({"step": "impute", "columns": ["n"], "strategy": "most_frequent"}).fit_transform(
        pl.DataFrame({"n": [1, 1, None, 2]})
    )
    assert out["n"].to_list() == [1, 1, 1, 2]
    with pytest.raises(DataError, match=r"cannot impute column 'null': entirely missing"):
        recipe({"step": "impute", "columns": ["null"], "strategy": "most_frequent"}).fit(TYPED)


# -- 7. scale: infinite values and values near 1e308 --------------------------------------------

SCALERS = {
    "standard": StandardScaler,
    "minmax": MinMaxScaler,
    "robust": RobustScaler,
    "maxabs": MaxAbsScaler,
}


@pytest.mark.parametrize("method", SCALERS)
def test_scale_refuses_infinite_values_naming_the_column(method):
    frame = pl.DataFrame({"ok": [1.0, 2.0, 3.0, 4.0, 5.0], "x": [1.0, INF, 2.0, -INF, INF]})
    with pytest.raises(DataError) as caught:
        recipe({"step": "scale", "method": method}).fit(frame)
    assert (
        "column 'x' has 3 infinite values (inf: 2, -inf: 1); scale needs finite numbers"
        in caught.value.message
    )
    assert "'ok'" not in caught.value.message
    assert "step: outliers, method: iqr, action: clip" in caught.value.hint
    with pytest.raises(ValueError, match="infinity"):  # scikit-learn refuses them too
        SCALERS[method]().fit(frame.to_numpy())


def test_scale_refuses_infinity_beyond_the_quantile_range_too():
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, INF]})  # robust's IQR is finite
    with pytest.raises(DataError, match=r"column 'x' has 1 infinite value \(inf: 1\)"):
        recipe({"step": "scale", "method": "robust"}).fit(frame)


HUGE = {
    "mixed signs": [1e308, 1.5e308, -1.7e308, 1.7e308, None, 3.0],
    "near the top": [1.7e308, 1.6e308, 1.75e308, 1.79e308, 1.0, None],
    "constant": [1e308] * 5,
    "1e200 (square overflows)": [1e200, -1e200, 3e200, 0.0, 1.0],
}


def _sklearn(method, values, exponent):
    """scikit-learn's scaler on the values times 2**-exponent: an exact scaling that keeps its
    arithmetic finite. Every scaler's output is unchanged by it (the statistics scale along)."""
    x = np.array([np.nan if v is None else v for v in values], dtype=float).reshape(-1, 1)
    return SCALERS[method]().fit_transform(x * 2.0**-exponent).ravel()


@pytest.mark.parametrize("method", SCALERS)
@pytest.mark.parametrize("name", HUGE)
def test_scale_of_huge_finite_values_matches_sklearn_without_overflow(method, name):
    values = HUGE[name]
    frame = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    step = {"step": "scale", "method": method}
    if name == "mixed signs" and method == "minmax":
        # max - min is 3.4e308: no float64 holds that scale
        with pytest.raises(DataError, match="span more than the largest float64"):
            recipe(step).fit(frame)
        return
    fitted = recipe(step).fit(frame)
    got = fitted.transform(frame)["x"].to_numpy()
    assert fitted.report.steps[0].warnings == []  # never "no values to learn from"
    assert np.isfinite(got[[v is not None for v in values]]).all()
    exponent = math.frexp(max(abs(v) for v in values if v is not None))[1]
    expected = _sklearn(method, values, exponent)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    state = fitted.state("scale_1")["scaling"]["x"]
    assert math.isfinite(state["center"]) and math.isfinite(state["scale"])


@pytest.mark.parametrize("method", ["minmax", "maxabs"])
def test_scale_matches_sklearn_on_raw_values_where_sklearn_stays_finite(method):
    # maxabs never overflows; minmax of positive values near 1e308 does not either
    values = HUGE["near the top"][:5]
    expected = SCALERS[method]().fit_transform(np.array(values).reshape(-1, 1)).ravel()
    assert np.isfinite(expected).all()
    got = recipe({"step": "scale", "method": method}).fit_transform(pl.DataFrame({"x": values}))
    np.testing.assert_allclose(got["x"].to_numpy(), expected, rtol=1e-9, atol=0)


def test_scale_with_a_huge_centre_applies_without_overflow_to_new_data():
    train = pl.DataFrame({"x": [1e308, 1.5e308, -1.7e308, 1.7e308]})
    fitted = recipe({"step": "scale"}).fit(train)
    new = pl.DataFrame({"x": [-1.79e308, 1.79e308, 0.0]})
    got = fitted.transform(new)["x"].to_numpy()
    exponent = 1024
    scaler = StandardScaler().fit(train.to_numpy() * 2.0**-exponent)
    expected = scaler.transform(new.to_numpy() * 2.0**-exponent).ravel()
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_an_all_missing_column_still_warns_and_is_left_unscaled():
    frame = pl.DataFrame({"x": [NAN, None, NAN]}, schema={"x": pl.Float64})
    fitted = recipe({"step": "scale"}).fit(frame)
    assert fitted.report.steps[0].warnings == ["scale: no values to learn from in x; left unscaled"]


def test_outliers_zscore_refuses_infinite_values_instead_of_nan_bounds():
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, INF]
    frame = pl.DataFrame({"x": values})
    with pytest.raises(DataError, match=r"column 'x' has 1 infinite value.*not finite"):
        recipe({"step": "outliers", "method": "zscore"}).fit(frame)
    # the remedy the hints give works: iqr bounds are finite and clip the infinity
    q1, q3 = np.quantile(values, [0.25, 0.75])
    out = recipe({"step": "outliers", "method": "iqr"}).fit_transform(frame)
    assert out["x"].to_list() == [*values[:-1], q3 + 1.5 * (q3 - q1)]
    fitted = recipe({"step": "scale"}).fit(out)
    assert math.isfinite(fitted.state("scale_1")["scaling"]["x"]["scale"])


# -- 18. ordinal codes that are NaN or fractional -------------------------------------------------

ORDINAL_TRAIN = pl.DataFrame(
    {"c": ["a", "b", None, "a"], "n": [1.0, NAN, 2.0, None], "i": [3, None, 1, 3]}
)
ORDINAL_NEW = pl.DataFrame(
    {"c": ["a", "z", None, "b", "y"], "n": [1.0, 5.0, NAN, None, 2.0], "i": [3, 7, None, 1, 1]}
)


def _objects(frame: pl.DataFrame, column: str) -> np.ndarray:
    """A column as scikit-learn sees pandas data: an object array with NaN for missing."""
    return np.array(
        [[NAN if v is None or v != v else v] for v in frame[column].to_list()], dtype=object
    )


@pytest.mark.parametrize("missing", [NAN, -1, -2, None])
@pytest.mark.parametrize("unknown", [-1, NAN, -7])
def test_ordinal_matches_sklearn_with_nan_or_integer_codes(missing, unknown):
    fitted = recipe(
        {
            "step": "encode",
            "method": "ordinal",
            "columns": ["c", "n", "i"],
            "unknown_value": unknown,
            "encoded_missing_value": missing,
        }
    ).fit(ORDINAL_TRAIN)
    out = fitted.transform(ORDINAL_NEW)
    is_float = any(isinstance(v, float) and v != v for v in (missing, unknown))
    assert set(out.dtypes) == {pl.Float64 if is_float else pl.Int64}
    for column in ["c", "n", "i"]:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=unknown,
            encoded_missing_value=NAN if missing is None else missing,
        ).fit(_objects(ORDINAL_TRAIN, column))
        expected = encoder.transform(_objects(ORDINAL_NEW, column)).ravel()
        got = out[column].cast(pl.Float64).fill_null(NAN).to_numpy()  # null: where sklearn has NaN
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], atol=1e-9)


def test_ordinal_fractional_codes_give_float64_output():
    fitted = recipe(
        {
            "step": "encode",
            "method": "ordinal",
            "columns": ["c"],
            "unknown_value": 0.5,
            "encoded_missing_value": -2.5,
        }
    ).fit(ORDINAL_TRAIN)
    out = fitted.transform(ORDINAL_NEW)
    assert out.schema["c"] == pl.Float64
    assert out["c"].to_list() == [0.0, 0.5, -2.5, 1.0, 0.5]
    assert json.loads(json.dumps(fitted.to_dict()))["steps"][0]["state"]["dtype"] == "float64"


# -- 19. quantiles with infinities; median of [1, inf]; NaN beside null; all-null columns ----------


def _limit_quantile(values, q):
    """The linearly interpolated quantile, with the limit where an end is infinite."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    a, b, t = ordered[low], ordered[min(low + 1, len(ordered) - 1)], position - low
    if t == 0 or a == b:
        return a
    if math.isinf(a) and math.isinf(b):
        return NAN
    if math.isinf(a) or math.isinf(b):
        return a if math.isinf(a) else b
    return None  # finite: numpy's own rounding decides, compared separately


QS = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([INF, -INF]),
            st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_quantiles_with_infinities_are_the_limits_and_numpy_where_numpy_is_defined(values):
    got = quantiles_of(pl.Series(values, dtype=pl.Float64), QS)
    with np.errstate(invalid="ignore"):
        numpy = np.quantile(values, QS)
    for q, ours, theirs in zip(QS, got, numpy, strict=True):
        if not math.isnan(theirs):  # numpy is NaN only from inf - inf in its interpolation
            assert ours == theirs
        limit = _limit_quantile(values, q)
        if limit is not None:
            assert ours == limit or (math.isnan(limit) and math.isnan(ours))
    median = float(np.median(values))  # (a + b) / 2: equal to ours where it is not finite
    if not math.isfinite(median):
        assert got[3] == median or (math.isnan(median) and math.isnan(got[3]))


def test_median_of_one_and_inf_is_inf_as_numpy_median():
    assert quantiles_of(pl.Series([1.0, INF]), [0.0, 0.5, 1.0]) == [1.0, INF, INF]
    assert np.median([1.0, INF]) == INF
    assert math.isnan(quantiles_of(pl.Series([-INF, INF]), [0.5])[0])


def test_quantiles_with_infinities_on_the_sampled_path():
    rng = np.random.default_rng(5)
    values = rng.normal(size=200_000)
    values[rng.random(200_000) < 0.6] = INF  # the median is inf
    values[rng.random(200_000) < 0.1] = -INF
    frame = pl.DataFrame({"a": values, "b": -values})
    found = quantiles(frame, ["a", "b"], [0.05, 0.5, 0.95])
    assert found["a"] == [-INF, INF, INF] and found["b"] == [-INF, -INF, INF]


def test_impute_median_of_one_and_inf_is_an_error_naming_the_infinite_values():
    frame = pl.DataFrame({"x": [1.0, INF, None], "y": [1.0, 2.0, None]})
    with pytest.raises(DataError) as caught:
        recipe({"step": "impute", "columns": ["x", "y"], "strategy": "median"}).fit(frame)
    assert caught.value.message.endswith(
        "impute strategy 'median': column 'x' has 1 infinite value (inf: 1), so its median is inf"
    )
    assert "step: outliers" in caught.value.hint


def test_impute_mean_of_plus_and_minus_inf_is_an_error_not_no_values():
    frame = pl.DataFrame({"x": [1.0, INF, -INF, None]})
    with pytest.raises(
        DataError, match=r"2 infinite values \(inf: 1, -inf: 1\), so its mean is nan"
    ):
        recipe({"step": "impute", "columns": ["x"], "strategy": "mean"}).fit(frame)


def test_impute_median_with_a_finite_median_beside_inf_is_kept():
    frame = pl.DataFrame({"x": [1.0, 2.0, INF, None]})
    fitted = recipe({"step": "impute", "columns": ["x"], "strategy": "median"}).fit(frame)
    assert fitted.state("impute_1")["fill"] == {"x": 2.0}


def test_drop_duplicates_merges_nan_and_null_in_polars_as_in_pandas():
    values = [NAN, None, 1.0, NAN, -0.0, 0.0, None]
    polars_in = pl.DataFrame({"x": values, "y": [1] * 7}, schema={"x": pl.Float64, "y": pl.Int64})
    out = recipe({"step": "drop_duplicates"}).fit_transform(polars_in)
    assert out["x"].to_list()[1:] == [1.0, -0.0] and math.isnan(out["x"][0])
    pandas_in = polars_in.to_pandas()
    expected = pandas_in.drop_duplicates()
    got = recipe({"step": "drop_duplicates"}).fit_transform(pandas_in)
    assert len(got) == len(expected) == out.height == 3


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([NAN, None, 0.0, -0.0, 1.0]), st.sampled_from(["a", None])),
        min_size=2,
        max_size=20,
    ),
    st.sampled_from(["first", "last", "none"]),
)
def test_drop_duplicates_on_polars_keeps_the_rows_pandas_keeps(rows, keep):
    frame = pl.DataFrame(rows, schema={"x": pl.Float64, "s": pl.String}, orient="row")
    expected = frame.to_pandas().drop_duplicates(keep=False if keep == "none" else keep)
    step = {"step": "drop_duplicates", "keep": keep, "subset": ["x", "s"]}
    got = recipe(step).fit_transform(frame.with_row_index("row"))["row"].to_list()
    assert got == expected.index.tolist()


def test_an_all_null_column_is_named_as_entirely_missing_not_as_string():
    frame = pl.read_csv(b"a,b\n1,\n2,\n")
    assert frame.schema["b"] == pl.String  # how an empty CSV column reads
    steps = [
        {"step": "impute", "columns": ["b"], "strategy": "median"},
        {"step": "scale", "columns": ["b"]},
        {"step": "outliers", "columns": ["b"]},
    ]
    for step in steps:
        with pytest.raises(DataError) as caught:
            recipe(step).fit(frame)
        assert "column 'b' is entirely missing (no values)" in caught.value.message
        assert "String" not in caught.value.message
        assert "drop_missing" in caught.value.hint


# -- 22. drop_near_duplicates and blank texts -----------------------------------------------------


def test_blank_texts_are_not_near_duplicates_of_each_other():
    texts = ["", None, "  ", "\t\n"] * 7 + ["", "hello world"]
    frame = pl.DataFrame({"text": texts, "id": list(range(30))})
    fitted = recipe({"step": "drop_near_duplicates"}).fit(frame)
    out = fitted.transform(frame)  # train-only: nothing at apply
    report = fitted.report.steps[0]
    assert report.rows_out == 30 and out.height == 30
    assert report.changes["blank_texts"] == 22 and report.changes["rows_removed"] == 0
    assert report.warnings == [
        "drop_near_duplicates: 22 texts in 'text' are empty or whitespace only and were kept, "
        "not compared (drop exact repeats with drop_duplicates, or short texts with "
        "clean_text's min_length)"
    ]


def test_near_duplicates_are_still_dropped_beside_blank_texts():
    frame = pl.DataFrame(
        {"text": ["the cat sat on the mat", "The cat sat on the mat!", "", " ", None, "a dog"]}
    )
    fitted = recipe({"step": "drop_near_duplicates"}).fit(frame)
    report = fitted.report.steps[0]
    assert report.rows_out == 5 and report.changes["clusters"] == 1
    assert report.changes["blank_texts"] == 2


def test_exact_blank_repeats_are_left_to_drop_duplicates():
    frame = pl.DataFrame({"text": ["", "", "x y z"]})
    out = recipe({"step": "drop_near_duplicates"}, {"step": "drop_duplicates"}).fit_transform(frame)
    assert out["text"].to_list() == ["", "x y z"]


# -- 23. unseen categories at apply: counted and warned ---------------------------------------------

TRAIN = pl.DataFrame({"city": ["a", "b", "a", "c", "a", "b"], "n": [1, 2, 1, 2, 1, 3]})
NEW = pl.DataFrame(
    {
        "city": ["a", "z", "y", None, "x", "w", "v", "u", "z"],
        "n": [1, 5, 5, None, 1, 2, 2, 9, 9],
    }
)


def test_onehot_ignore_counts_unseen_values_per_column_as_sklearn_zero_rows():
    fitted = recipe({"step": "encode", "columns": ["city", "n"]}).fit(TRAIN)
    out, report = fitted.transform_frame(NEW)
    step = report.steps[0]
    assert step.changes["unknown"] == {"city": 8, "n": 5}  # null was not seen at fit: unknown
    assert step.warnings == [
        "encode: column 'city' has 8 values not seen at fit time ('z', 'y', null, 'x', 'w' and "
        "2 more); their 'city_*' indicator columns are all zero",
        "encode: column 'n' has 5 values not seen at fit time (5, null, 9); their 'n_*' "
        "indicator columns are all zero",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about unknown categories
        for column in ["city", "n"]:
            encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
            encoder.fit(TRAIN.select(column).to_pandas())
            hot = encoder.transform(NEW.select(column).to_pandas())
            zero_rows = int((hot.sum(axis=1) == 0).sum())
            assert zero_rows == step.changes["unknown"][column]
            ours = out.select(pl.col(f"^{column}_.*$")).to_numpy()
            assert int((ours.sum(axis=1) == 0).sum()) == zero_rows


def test_onehot_infrequent_says_where_unseen_values_went():
    fitted = recipe(
        {
            "step": "encode",
            "columns": ["city"],
            "handle_unknown": "infrequent",
            "min_frequency": 2,
        }
    ).fit(TRAIN)
    step = step_report(fitted, NEW)
    assert step.changes["unknown"] == {"city": 8}
    assert step.warnings[0].endswith("they went to 'city_infrequent_sklearn'")


def test_ordinal_counts_unseen_values_but_not_nulls():
    fitted = recipe({"step": "encode", "method": "ordinal", "columns": ["city", "n"]}).fit(TRAIN)
    step = step_report(fitted, NEW)
    assert step.changes["unknown"] == {"city": 7, "n": 4}
    assert (
        step.warnings[1]
        == "encode: column 'n' has 4 values not seen at fit time (5, 9); coded as -1"
    )


def test_no_unseen_values_give_an_empty_count_and_no_warning():
    fitted = recipe({"step": "encode", "columns": ["city"]}).fit(TRAIN)
    step = step_report(fitted, TRAIN)
    assert step.changes["unknown"] == {} and step.warnings == []


def test_unknown_counts_add_over_batches(tmp_path):
    fitted = recipe({"step": "encode", "columns": ["city", "n"]}).fit(TRAIN)
    (tmp_path / "new.csv").write_text(NEW.write_csv())
    report = fitted.transform_file(tmp_path / "new.csv", tmp_path / "out.csv", batch_size=4)
    assert report.steps[0].changes["unknown"] == {"city": 8, "n": 5}


# -- the same through the command line --------------------------------------------------------------


def _run(tmp_path, steps: str, csv: str):
    (tmp_path / "in.csv").write_text(csv)
    (tmp_path / "r.yaml").write_text(f"name: t\ninput: in.csv\noutput: out.csv\nsteps:\n{steps}")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "r.yaml"), "--quiet"])
    return result


def test_cli_text_fill_on_numbers_exits_1_naming_the_column_and_writes_nothing(tmp_path):
    steps = "  - step: impute\n    columns: [x]\n    strategy: constant\n    fill_value: unknown\n"
    result = _run(tmp_path, steps, "x,y\n1.5,a\n,b\n")
    assert result.exit_code == 1
    assert "column 'x' (Float64) cannot be filled with 'unknown' (text)" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.csv").exists()


def test_cli_scale_on_inf_exits_1_naming_the_column(tmp_path):
    result = _run(tmp_path, "  - step: scale\n", "x,y\n1.5,1\ninf,2\n-inf,3\n")
    assert result.exit_code == 1
    assert "column 'x' has 2 infinite values (inf: 1, -inf: 1)" in result.output
    assert "no values to learn from" not in result.output
    assert not (tmp_path / "out.csv").exists()


def test_pandas_round_trip_of_constant_text_fill_on_object_column():
    frame = pd.DataFrame({"s": ["a", None, "b"]})
    out = recipe(
        {"step": "impute", "columns": ["s"], "strategy": "constant", "fill_value": 0}
    ).fit_transform(frame)
    assert out["s"].tolist() == ["a", "0", "b"]
