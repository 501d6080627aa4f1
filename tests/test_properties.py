"""Property-based tests: hypothesis generates frames and recipes, prepkit must keep its invariants.

Frames: 0..50 rows of integer, float (with nulls and NaN, no inf), boolean, string and
categorical columns with nulls. Recipes: random subsets and orders of impute / scale / encode /
outliers / drop_duplicates / select / drop / cast with random valid options.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import prepkit
from prepkit.errors import PrepkitError

# modest and reproducible, so CI stays fast and a failure is the same failure everywhere
settings.register_profile(
    "prepkit-ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
CI = settings.get_profile("prepkit-ci")

NUMERIC = ["i", "f", "g"]
CATEGORICAL = ["s", "k"]
COLUMNS = ["i", "f", "g", "b", "s", "k"]

# -- frames ------------------------------------------------------------------------------------

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False)
words = st.sampled_from(["a", "b", "c", "d"])


@st.composite
def frames(draw: st.DrawFn, min_rows: int = 0, nan: bool = True) -> pl.DataFrame:
    n = draw(st.integers(min_rows, 50))

    def column(values: st.SearchStrategy) -> list[Any]:
        return draw(st.lists(values, min_size=n, max_size=n))

    float_values = st.one_of(finite, st.none(), st.just(math.nan)) if nan else finite | st.none()
    return pl.DataFrame(
        {
            "i": pl.Series(column(st.integers(-1000, 1000) | st.none()), dtype=pl.Int64),
            "f": pl.Series(column(float_values), dtype=pl.Float64, nan_to_null=False),
            "g": pl.Series(column(finite | st.none()), dtype=pl.Float64),
            "b": pl.Series(column(st.booleans() | st.none()), dtype=pl.Boolean),
            "s": pl.Series(column(words | st.none()), dtype=pl.String),
            "k": pl.Series(column(words | st.none()), dtype=pl.String).cast(pl.Categorical),
        }
    )


# -- recipes -----------------------------------------------------------------------------------


def names(choices: list[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(choices), min_size=1, max_size=len(choices), unique=True)


impute_numeric = st.fixed_dictionaries(
    {
        "step": st.just("impute"),
        "columns": st.just("numeric") | names(NUMERIC),
        "strategy": st.sampled_from(["mean", "median", "most_frequent", "constant"]),
    },
    optional={"add_indicator": st.booleans()},
)
impute_categorical = st.fixed_dictionaries(
    {
        "step": st.just("impute"),
        "columns": st.just("categorical") | names(CATEGORICAL),
        "strategy": st.sampled_from(["most_frequent", "constant"]),
    },
    optional={"add_indicator": st.booleans()},
)
scale = st.fixed_dictionaries(
    {
        "step": st.just("scale"),
        "columns": st.just("numeric") | names(NUMERIC),
        "method": st.sampled_from(["standard", "minmax", "robust", "maxabs"]),
    }
)
encode = st.fixed_dictionaries(
    {
        "step": st.just("encode"),
        "columns": st.just("categorical") | names(CATEGORICAL),
        "method": st.sampled_from(["onehot", "ordinal"]),
    },
    optional={"handle_unknown": st.sampled_from(["ignore", "use_encoded_value"])},
)
outliers = st.fixed_dictionaries(
    {
        "step": st.just("outliers"),
        "columns": st.just("numeric") | names(NUMERIC),
        "method": st.sampled_from(["iqr", "zscore", "percentile"]),
        "action": st.sampled_from(["clip", "flag"]),
    },
    optional={"factor": st.sampled_from([0.5, 1.5, 3.0])},
)
drop_duplicates = st.fixed_dictionaries(
    {"step": st.just("drop_duplicates"), "keep": st.sampled_from(["first", "last", "none"])},
    optional={"subset": names(COLUMNS)},
)
outliers_drop = outliers.map(lambda s: {**s, "action": "drop"})
select = st.fixed_dictionaries({"step": st.just("select"), "columns": names(COLUMNS)})
drop = st.fixed_dictionaries({"step": st.just("drop"), "columns": names(COLUMNS)})
cast = st.fixed_dictionaries(
    {
        "step": st.just("cast"),
        "dtypes": st.dictionaries(
            st.sampled_from(["i", "g", "s"]),
            st.sampled_from(["float64", "category", "string"]),
            min_size=1,
            max_size=2,
        ),
    }
)

# transform steps keep every row in order; the train-only ones may drop rows at fit time
ROW_WISE = [impute_numeric, impute_categorical, scale, encode, outliers, select, drop, cast]
ANY_STEP = [*ROW_WISE, drop_duplicates, outliers_drop]


def recipes(steps: list[st.SearchStrategy]) -> st.SearchStrategy[dict[str, Any]]:
    return st.lists(st.one_of(steps), min_size=1, max_size=5).map(
        lambda s: {"name": "generated", "seed": 0, "steps": s}
    )


def fitted_or_reject(recipe: dict[str, Any], frame: Any) -> tuple[prepkit.FittedRecipe, Any]:
    """Fit and transform the training frame; an honest refusal (PrepkitError) is not a case."""
    try:
        loaded = prepkit.load_recipe(recipe)
        fitted = loaded.fit(frame)
        return fitted, loaded.fit_transform(frame)
    except PrepkitError as exc:
        assert "failed while" not in exc.message, exc.message  # a library error in disguise
        assume(False)
        raise


# -- invariants --------------------------------------------------------------------------------


@CI
@given(frame=frames(), recipe=recipes(ANY_STEP))
def test_fit_raises_only_prepkit_errors(frame: pl.DataFrame, recipe: dict[str, Any]) -> None:
    try:
        prepkit.load_recipe(recipe).fit_transform(frame)
    except PrepkitError as exc:
        # `step N failed while fitting: KeyError: ...` is a library error wrapped, not a message
        assert "failed while" not in exc.message, exc.message


@CI
@given(frame=frames(), recipe=recipes(ROW_WISE))
def test_fit_transform_equals_transform_for_transform_steps(
    frame: pl.DataFrame, recipe: dict[str, Any]
) -> None:
    fitted, train_out = fitted_or_reject(recipe, frame)
    assert_frame_equal(fitted.transform(frame), train_out)


@CI
@given(frame=frames(), recipe=recipes(ANY_STEP))
def test_artifact_round_trip_gives_the_same_output(
    frame: pl.DataFrame, recipe: dict[str, Any]
) -> None:
    fitted, _ = fitted_or_reject(recipe, frame)
    with tempfile.TemporaryDirectory() as folder:
        path = fitted.save(Path(folder) / "model.prepkit.json")
        json.loads(path.read_text())  # plain JSON (NaN allowed: Python's reader accepts it)
        loaded = prepkit.load_fitted(path)
    assert_frame_equal(loaded.transform(frame), fitted.transform(frame))


@CI
@given(frame=frames(min_rows=1), recipe=recipes(ANY_STEP))
def test_zero_rows_give_zero_rows_with_the_same_columns(
    frame: pl.DataFrame, recipe: dict[str, Any]
) -> None:
    fitted, _ = fitted_or_reject(recipe, frame)
    full = fitted.transform(frame)
    empty = fitted.transform(frame.head(0))
    assert empty.height == 0
    assert empty.schema == full.schema


@CI
@given(frame=frames(min_rows=2), recipe=recipes(ROW_WISE), seed=st.integers(0, 2**32 - 1))
def test_shuffled_input_gives_shuffled_output(
    frame: pl.DataFrame, recipe: dict[str, Any], seed: int
) -> None:
    fitted, _ = fitted_or_reject(recipe, frame)
    order = np.random.default_rng(seed).permutation(frame.height)
    out = fitted.transform(frame)
    assert_frame_equal(fitted.transform(frame[order]), out[order])


def _missing(series: pl.Series) -> int:
    nan = int(series.is_nan().sum()) if series.dtype.is_float() else 0
    return series.null_count() + nan


@CI
@given(frame=frames(), step=impute_numeric | impute_categorical)
def test_imputed_columns_have_no_missing_values(frame: pl.DataFrame, step: dict[str, Any]) -> None:
    fitted, out = fitted_or_reject({"name": "impute", "steps": [step]}, frame)
    columns = fitted.states[0]["columns"]
    assert columns, "an impute step that selected nothing"
    for name in columns:
        assert _missing(out[name]) == 0, name
        assert _missing(fitted.transform(frame)[name]) == 0, name


@CI
@given(frame=frames(), columns=st.just("numeric") | names(NUMERIC))
def test_standard_scaled_columns_have_mean_0_and_std_1(
    frame: pl.DataFrame, columns: str | list[str]
) -> None:
    recipe = {"name": "s", "steps": [{"step": "scale", "columns": columns, "method": "standard"}]}
    fitted, out = fitted_or_reject(recipe, frame)
    for name in fitted.states[0]["columns"]:
        raw = frame[name].cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
        if len(np.unique(raw)) < 2 or np.std(raw) < 1e-6 * max(1.0, np.abs(raw).max()):
            continue  # constant (or numerically constant) columns are left at scale 1
        values = out[name].fill_nan(None).drop_nulls().to_numpy()
        assert len(values) == len(raw)
        assert abs(values.mean()) < 1e-6, (name, values.mean())
        assert abs(values.std(ddof=0) - 1) < 1e-6, (name, values.std(ddof=0))


@CI
@given(frame=frames(min_rows=1), columns=st.just("categorical") | names(CATEGORICAL))
def test_onehot_columns_sum_to_one_for_known_categories(
    frame: pl.DataFrame, columns: str | list[str]
) -> None:
    recipe = {"name": "o", "steps": [{"step": "encode", "columns": columns, "method": "onehot"}]}
    fitted, out = fitted_or_reject(recipe, frame)
    state = fitted.states[0]
    for name, encoding in state["encodings"].items():
        known = (
            frame[name]
            .cast(pl.String)
            .is_in(pl.Series([str(c) for c in encoding["categories"] if c is not None]).implode())
        )
        known = known.fill_null(False)
        total = out.select(
            pl.sum_horizontal([pl.col(c).cast(pl.Int64) for c in encoding["outputs"]])
        )
        assert total.to_series().filter(known).to_list() == [1] * int(known.sum()), name


def _values(frame: pl.DataFrame) -> dict[str, list[Any]]:
    """Column values with every missing value as None and numbers as floats (dtype-blind)."""
    out = {}
    for name, series in frame.to_dict().items():
        if series.dtype.is_numeric() or series.dtype == pl.Boolean:
            series = series.cast(pl.Float64).fill_nan(None)
        else:
            series = series.cast(pl.String)
        out[name] = series.to_list()
    return out


def _nullable_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """The frame as pandas with nullable dtypes: numpy dtypes cannot hold a null boolean."""
    dtypes = {"i": "Int64", "f": "Float64", "g": "Float64", "b": "boolean", "s": "string"}
    data = {name: pd.array(frame[name].to_list(), dtype=dtype) for name, dtype in dtypes.items()}
    # categories of text, as pandas infers them whenever a value is present (for an all-missing
    # column pandas would infer float64 categories, which prepkit then reads as a float column)
    values = frame["k"].cast(pl.String).to_list()
    categories = pd.Index(sorted({v for v in values if v is not None}), dtype="str")
    data["k"] = pd.Categorical(values, categories=categories)
    return pd.DataFrame(data)


@CI
@given(frame=frames(nan=False), recipe=recipes(ANY_STEP))
def test_pandas_input_gives_the_same_values_as_polars(
    frame: pl.DataFrame, recipe: dict[str, Any]
) -> None:
    fitted, polars_out = fitted_or_reject(recipe, frame)
    pandas_in = _nullable_pandas(frame)
    pandas_fitted = prepkit.load_recipe(recipe).fit(pandas_in)
    pandas_out = prepkit.load_recipe(recipe).fit_transform(pandas_in)
    assert isinstance(pandas_out, pd.DataFrame)
    assert list(pandas_out.columns) == polars_out.columns
    assert _values(pl.from_pandas(pandas_out)) == _values(polars_out)
    new_out = pandas_fitted.transform(pandas_in)
    assert _values(pl.from_pandas(new_out)) == _values(fitted.transform(frame))


@CI
@given(frame=frames(nan=False), recipe=recipes(ANY_STEP), seed=st.integers(0, 2**32 - 1))
def test_rows_kept_by_train_only_steps_keep_their_index_labels(
    frame: pl.DataFrame, recipe: dict[str, Any], seed: int
) -> None:
    """Each output row of fit_transform is the transform of the input row with the same label."""
    pandas_in = _nullable_pandas(frame)
    pandas_in.index = 1000 + np.random.default_rng(seed).permutation(frame.height)
    fitted, out = fitted_or_reject(recipe, pandas_in)
    assert set(out.index) <= set(pandas_in.index)
    pd.testing.assert_frame_equal(fitted.transform(pandas_in.loc[out.index]), out)


def test_profile_is_modest_and_reproducible() -> None:
    assert CI.max_examples <= 50 and CI.deadline is None and CI.derandomize
