import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

import prepkit
from prepkit.errors import DataError, RecipeError


def recipe(**params):
    return prepkit.load_recipe({"steps": [{"step": "encode", **params}]})


@pytest.fixture
def train() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": list(range(12)),
            "city": ["b", "a", "a", "b", "c", "a", None, None, "d", "b", "e", "a"],
            "plan": [
                "pro",
                "free",
                "free",
                "pro",
                "free",
                "free",
                "pro",
                "free",
                "free",
                "pro",
                "free",
                "free",
            ],  # fmt: skip
            "score": [1.5, 2.0, 0.5, 1.0, 3.0, 2.5, 1.0, 0.0, 1.0, 2.0, 1.5, 0.5],
        }
    )


@pytest.fixture
def new() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [100, 101, 102, 103, 104, 105],
            "city": ["a", "zz", "e", None, "d", "b"],
            "plan": ["pro", "free", "pro", "free", "free", "pro"],
            "score": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )


def _sk(frame: pl.DataFrame, columns: list[str]) -> pd.DataFrame:
    # object columns of Python values, as a pandas user would hand them to scikit-learn
    return pd.DataFrame({c: pd.Series(frame[c].to_list(), dtype=object) for c in columns})


def _sk_name(name: str) -> str:
    for missing in ("_None", "_nan"):
        if name.endswith(missing):
            return name[: -len(missing)] + "_null"
    return name


ONEHOT_CASES = {
    "plain": {},
    "min_count": {"min_frequency": 2},
    "min_fraction": {"min_frequency": 0.2},
    "max_categories": {"max_categories": 3},
    "max_one": {"max_categories": 1},
    "min_and_max": {"min_frequency": 2, "max_categories": 2},
    "drop_first": {"drop": "first"},
    "drop_first_infrequent": {"drop": "first", "min_frequency": 3},
    "drop_if_binary": {"drop": "if_binary"},
    "drop_if_binary_grouped": {"drop": "if_binary", "max_categories": 2},
}
UNKNOWN = {"ignore": "ignore", "infrequent": "infrequent_if_exist"}


CITY_CODES = {"a": 10, "b": 20, "c": 30, "d": 40, "e": 50, "zz": 99}


def _as(kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The city column as text, polars Categorical, or integers (nulls kept)."""
    if kind == "categorical":
        return frame.with_columns(pl.col("city").cast(pl.Categorical))
    if kind == "integer":
        return frame.with_columns(pl.col("city").replace_strict(CITY_CODES, return_dtype=pl.Int64))
    return frame


@pytest.mark.parametrize("kind", ["text", "categorical", "integer"])
@pytest.mark.parametrize("unknown", sorted(UNKNOWN))
@pytest.mark.parametrize("case", sorted(ONEHOT_CASES))
def test_onehot_matches_sklearn(train, new, case, unknown, kind):
    params = ONEHOT_CASES[case]
    columns = ["city", "plan"]
    train, new = _as(kind, train), _as(kind, new)
    fitted = recipe(columns=columns, handle_unknown=unknown, **params).fit(train)
    sk = OneHotEncoder(sparse_output=False, handle_unknown=UNKNOWN[unknown], **params)
    sk.fit(_sk(train, columns))
    names = [_sk_name(n) for n in sk.get_feature_names_out()]
    for frame in (train, new):
        out = fitted.transform(frame)
        assert out.columns == ["id", *names, "score"]  # in place of the originals
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn warns about unknown categories
            expected = sk.transform(_sk(frame, columns))
        for i, name in enumerate(names):
            np.testing.assert_allclose(
                out[name].to_numpy().astype(float), expected[:, i], atol=1e-9
            )
            assert out.schema[name] == pl.UInt8


def test_onehot_state_is_readable(train):
    state = recipe(columns="city", min_frequency=2, drop="first").fit(train).state("encode_1")
    assert state == {
        "method": "onehot",
        "columns": ["city"],
        "encodings": {
            "city": {
                "categories": ["a", "b", "c", "d", "e", None],
                "infrequent": ["c", "d", "e"],
                "drop_index": 0,
                "dropped": "a",
                "outputs": ["city_b", "city_null", "city_infrequent_sklearn"],
            }
        },
    }


def test_explicit_categories_may_place_null_anywhere(train, new):
    fitted = recipe(columns="city", categories={"city": ["b", None, "a"]}, drop="first").fit(train)
    out = fitted.transform(new)
    assert out.columns == ["id", "city_null", "city_a", "plan", "score"]
    assert out["city_null"].to_list() == [0, 0, 0, 1, 0, 0]
    assert out["city_a"].to_list() == [1, 0, 0, 0, 0, 0]


def test_onehot_integer_and_boolean_names_follow_sklearn():
    frame = pl.DataFrame({"n": [3, 1, 2, 1], "flag": [True, False, None, True]})
    out = recipe(columns=["n", "flag"]).fit_transform(frame)
    assert out.columns == ["n_1", "n_2", "n_3", "flag_False", "flag_True", "flag_null"]
    assert out["n_1"].to_list() == [0, 1, 0, 1]
    assert out["flag_null"].to_list() == [0, 0, 1, 0]
    sk = OneHotEncoder(sparse_output=False).fit(frame.select("n").to_pandas())
    assert list(sk.get_feature_names_out()) == ["n_1", "n_2", "n_3"]


def test_categorical_dtype_encodes_like_text(train, new):
    as_cat = train.with_columns(pl.col("city").cast(pl.Categorical))
    new_cat = new.with_columns(pl.col("city").cast(pl.Categorical))
    expected = recipe(columns="city", min_frequency=2).fit(train).transform(new)
    got = recipe(columns="city", min_frequency=2).fit(as_cat).transform(new_cat)
    assert got.equals(expected)


@pytest.mark.parametrize(
    "dtype, polars_dtype", [("boolean", pl.Boolean), ("float64", pl.Float64), ("int32", pl.Int32)]
)
def test_onehot_dtype(train, dtype, polars_dtype):
    out = recipe(columns="plan", dtype=dtype).fit_transform(train)
    assert out.schema["plan_pro"] == polars_dtype
    assert out["plan_pro"].cast(pl.Int8).to_list() == [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0]


def test_keep_original_puts_indicators_after_the_column(train):
    out = recipe(columns="plan", keep_original=True).fit_transform(train)
    assert out.columns == ["id", "city", "plan", "plan_free", "plan_pro", "score"]


def test_explicit_categories_set_the_order_and_unlisted_values_are_unknown(train):
    out = recipe(columns="plan", categories={"plan": ["pro", "free", "trial"]}).fit_transform(train)
    assert out.columns[2:5] == ["plan_pro", "plan_free", "plan_trial"]
    assert out["plan_trial"].sum() == 0
    out = recipe(columns="city", categories={"city": ["a", "b"]}).fit_transform(train)
    assert out["city_a"].to_list() == [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    with pytest.raises(DataError, match="'city' has values missing from its categories: c, d, e"):
        recipe(columns="city", categories={"city": ["a", "b"]}, handle_unknown="error").fit(train)


def test_onehot_unknown_error_names_column_and_values(train, new):
    fitted = recipe(columns=["city", "plan"], handle_unknown="error").fit(train.drop_nulls())
    with pytest.raises(DataError, match=r"column 'city': 'zz', null") as err:
        fitted.transform(new)
    assert "step 1 'encode_1'" in str(err.value)
    assert fitted.transform(train.drop_nulls()).height == train.drop_nulls().height


def test_onehot_unknown_error_catches_unseen_null():
    frame = pl.DataFrame({"flag": [True, False, None]})
    fitted = recipe(columns="flag", handle_unknown="error").fit(frame.head(2))
    assert fitted.transform(frame.head(2))["flag_True"].to_list() == [1, 0]
    with pytest.raises(DataError, match="column 'flag': null"):
        fitted.transform(frame)


def test_onehot_unknown_ignore_gives_zeros(train, new):
    out = recipe(columns="city").fit(train).transform(new)
    row = out.filter(pl.col("id") == 101).select(pl.col("^city_.*$")).row(0)
    assert set(row) == {0}


def test_ordinal_matches_sklearn(train, new):
    columns = ["city", "plan"]
    fitted = recipe(columns=columns, method="ordinal").fit(train)
    sk = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    sk.fit(_sk(train, columns).fillna(np.nan))
    for frame in (train, new):
        out = fitted.transform(frame)
        expected = sk.transform(_sk(frame, columns).fillna(np.nan))
        for i, c in enumerate(columns):
            assert out.schema[c] == pl.Int64
            got = out[c].cast(pl.Float64).fill_null(float("nan")).to_numpy()
            np.testing.assert_allclose(got, expected[:, i], atol=1e-9)
    assert fitted.state("encode_1")["encodings"]["city"] == {
        "categories": ["a", "b", "c", "d", "e"]
    }


def test_ordinal_explicit_categories_missing_and_unknown_values(train, new):
    order = ["pro", "free"]
    params = dict(
        columns=["city", "plan"],
        method="ordinal",
        categories={"plan": order},
        encoded_missing_value=-2,
        unknown_value=-9,
    )
    out = recipe(**params).fit(train).transform(new)
    sk = OrdinalEncoder(
        # sklearn needs missing listed to give it encoded_missing_value; prepkit always does
        categories=[["a", "b", "c", "d", "e", np.nan], order],
        handle_unknown="use_encoded_value",
        unknown_value=-9,
        encoded_missing_value=-2,
    ).fit(_sk(train, ["city", "plan"]).fillna(np.nan))
    expected = sk.transform(_sk(new, ["city", "plan"]).fillna(np.nan))
    assert out["city"].to_list() == [0, -9, 4, -2, 3, 1]
    np.testing.assert_allclose(out.select("city", "plan").to_numpy().astype(float), expected)


def test_ordinal_nan_unknown_value_gives_float(train, new):
    out = (
        recipe(columns="city", method="ordinal", unknown_value=float("nan"))
        .fit(train)
        .transform(new)
    )
    assert out.schema["city"] == pl.Float64
    assert np.isnan(out["city"][1]) and out["city"][3] is None


def test_ordinal_unknown_error(train, new):
    fitted = recipe(columns="city", method="ordinal", handle_unknown="error").fit(train)
    with pytest.raises(DataError, match=r"column 'city': 'zz'"):
        fitted.transform(new)


def test_ordinal_keep_original(train):
    out = recipe(columns="plan", method="ordinal", keep_original=True).fit_transform(train)
    assert out.columns == ["id", "city", "plan", "plan_ordinal", "score"]
    assert out["plan_ordinal"].to_list()[:3] == [1, 0, 0]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"method": "dummy"}, "'dummy' is not valid for 'method'"),
        ({"handle_unknown": "use_encoded_value"}, "does not apply to method onehot"),
        ({"method": "ordinal", "handle_unknown": "ignore"}, "does not apply to method ordinal"),
        ({"method": "ordinal", "drop": "first"}, "drop only apply to method: onehot"),
        ({"min_frequency": 0}, "min_frequency must be"),
        ({"min_frequency": 1.5}, "min_frequency must be"),
        ({"max_categories": 0}, "max_categories must be"),
        ({"dtype": "uint16"}, "'uint16' is not valid for 'dtype'"),
        ({"handel_unknown": "error"}, "did you mean 'handle_unknown'"),
    ],
)
def test_bad_options_are_recipe_errors(params, message):
    with pytest.raises(RecipeError, match=message):
        recipe(**params)


def test_errors_found_at_fit(train):
    with pytest.raises(RecipeError, match="unknown_value 1 is already the code of category 'b'"):
        recipe(columns="city", method="ordinal", unknown_value=1).fit(train)
    with pytest.raises(RecipeError, match="not encoded: score"):
        recipe(columns="city", categories={"score": [1.0]}).fit(train)
    with pytest.raises(RecipeError, match="do not match its type"):
        recipe(columns="id", categories={"id": ["x", "y"]}).fit(train)
    clash = train.with_columns(pl.lit(1).alias("plan_pro"))
    with pytest.raises(DataError, match="'plan_pro' .* would clash"):
        recipe(columns="plan").fit(clash)
    with pytest.raises(DataError, match="needs text, categorical"):
        recipe(columns="d").fit(pl.DataFrame({"d": [pl.date(2020, 1, 1)]}).select(pl.col("d")))


def test_default_selection_is_categorical_and_skips_target(train):
    r = prepkit.load_recipe({"target": "plan", "steps": [{"step": "encode"}]})
    assert r.fit(train).state("encode_1")["columns"] == ["city"]


def test_empty_selection_is_a_noop(train):
    assert recipe(columns={"regex": "^nothing$"}).fit_transform(train).equals(train)


def test_one_row_and_zero_rows(train, new, zero_rows):
    out = recipe(columns="city").fit_transform(train.head(1))
    assert out.columns == ["id", "city_b", "plan", "score"] and out["city_b"].to_list() == [1]
    zero_rows(recipe(columns="city"), train)
    zero_rows(recipe(columns="city", method="ordinal"), train)
    assert recipe(columns="city").fit(train).transform(new.head(0)).height == 0


def test_report_counts(train):
    fitted = recipe(columns=["city", "plan"], min_frequency=2, drop="if_binary").fit(train)
    assert fitted.report.steps[0].learned == {
        "method": "onehot",
        "columns_out": {"city": 4, "plan": 1},
        "infrequent": {"city": ["c", "d", "e"]},
        "dropped": {"plan": "free"},
    }
    assert fitted.report.steps[0].columns_added[:2] == ["city_a", "city_b"]


@pytest.mark.parametrize("method", ["onehot", "ordinal"])
def test_json_round_trip_gives_identical_output(train, new, tmp_path, method):
    params = {"min_frequency": 2, "handle_unknown": "infrequent"} if method == "onehot" else {}
    fitted = recipe(columns=["city", "plan"], method=method, **params).fit(train)
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "encode.prepkit.json"))
    assert loaded.transform(new).equals(fitted.transform(new))
    assert loaded.state("encode_1") == fitted.state("encode_1")


@pytest.mark.parametrize("method", ["onehot", "ordinal"])
def test_backends_agree(train, new, backend, method):
    expected = recipe(columns=["city", "plan"], method=method).fit(train).transform(new)
    fitted = recipe(columns=["city", "plan"], method=method).fit(backend.make(train))
    out = fitted.transform(backend.make(new))
    assert type(out) is type(backend.make(new))
    got = backend.to_polars(out)
    assert got.columns == expected.columns
    for c in expected.columns:
        assert got[c].cast(pl.Float64).to_list() == expected[c].cast(pl.Float64).to_list(), c
