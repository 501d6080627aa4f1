import datetime as dt

import polars as pl
import pytest

import prepkit
from prepkit.errors import DataError, RecipeError
from prepkit.steps.base import StepContext


def recipe(*steps, target="y"):
    return prepkit.load_recipe({"target": target, "steps": list(steps)})


def apply_step(fitted, frame):
    """Apply the first step directly (the artifact's input-schema check wants every column)."""
    return fitted.steps[0].apply(frame, fitted.states[0], StepContext(target="y"))


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "age": [30, 40, 50, 60],
            "income": [1.0, None, float("nan"), 4.0],
            "plan": ["a", "b", "a", "b"],
            "score_1": [1, 1, 1, 1],
            "score_2": [None, None, None, 7],
            "y": [0, 1, 0, 1],
        }
    )


# -- select -------------------------------------------------------------------------------------
def test_select_keeps_order_and_target(frame):
    out = recipe({"step": "select", "columns": ["plan", "age"]}).fit_transform(frame)
    assert out.columns == ["plan", "age", "y"]
    out = recipe(
        {"step": "select", "columns": {"regex": "^score"}, "keep_target": False}
    ).fit_transform(frame)
    assert out.columns == ["score_1", "score_2"]
    assert out.equals(frame.select("score_1", "score_2"))


def test_select_apply_without_target_and_round_trip(frame, tmp_path):
    fitted = recipe({"step": "select", "columns": "numeric"}).fit(frame)
    assert fitted.state("select_1") == {"columns": ["age", "income", "score_1", "score_2", "y"]}
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.json"))
    assert loaded.transform(frame.drop("y")).columns == ["age", "income", "score_1", "score_2"]
    assert loaded.transform(frame).equals(fitted.transform(frame))
    assert fitted.report.steps[0].learned == {"kept": ["age", "income", "score_1", "score_2", "y"]}
    assert fitted.report.steps[0].columns_removed == ["plan"]


def test_select_errors(frame):
    with pytest.raises(DataError, match="did you mean 'plan'"):
        recipe({"step": "select", "columns": ["plann"]}).fit(frame)
    with pytest.raises(DataError, match="matches no columns"):
        recipe({"step": "select", "columns": {"regex": "^zz"}}).fit(frame)
    with pytest.raises(RecipeError, match="'columns' is required"):
        recipe({"step": "select"})
    fitted = recipe({"step": "select", "columns": ["age"]}).fit(frame)
    with pytest.raises(DataError, match="age"):
        fitted.transform(frame.drop("age"))


def test_select_backends_agree(frame, backend):
    out = recipe({"step": "select", "columns": ["plan"]}).fit_transform(backend.make(frame))
    assert list(out.columns) == ["plan", "y"]
    assert backend.to_polars(out)["plan"].to_list() == ["a", "b", "a", "b"]


# -- drop ---------------------------------------------------------------------------------------
def test_drop_and_absent_at_apply_is_fine(frame, tmp_path):
    fitted = recipe({"step": "drop", "columns": {"regex": "^score_"}}).fit(frame)
    assert fitted.transform(frame).columns == ["age", "income", "plan", "y"]
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.json"))
    assert loaded.transform(frame).equals(fitted.transform(frame))
    assert fitted.report.steps[0].changes == {"dropped": ["score_1", "score_2"]}
    # the target is dropped only when named
    assert recipe({"step": "drop", "columns": "all"}).fit_transform(frame).columns == ["y"]
    assert recipe({"step": "drop", "columns": ["y"]}).fit_transform(frame).columns[-1] == "score_2"


def test_drop_missing_name_is_an_error(frame):
    with pytest.raises(DataError, match="did you mean 'income'"):
        recipe({"step": "drop", "columns": ["incme"]}).fit(frame)


def test_drop_backends_agree(frame, backend):
    out = backend.to_polars(
        recipe({"step": "drop", "columns": ["plan", "age"]}).fit_transform(backend.make(frame))
    )
    assert out.columns == ["income", "score_1", "score_2", "y"]


# -- rename -------------------------------------------------------------------------------------
def test_rename(frame, tmp_path):
    fitted = recipe({"step": "rename", "mapping": {"age": "years", "plan": "tier"}}).fit(frame)
    out = fitted.transform(frame)
    assert out.columns == ["years", "income", "tier", "score_1", "score_2", "y"]
    assert out["years"].to_list() == [30, 40, 50, 60]
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.json"))
    assert loaded.transform(frame).equals(out)
    assert fitted.report.steps[0].changes == {"renamed": {"age": "years", "plan": "tier"}}


def test_rename_errors(frame, backend):
    with pytest.raises(DataError, match="did you mean 'plan'"):
        recipe({"step": "rename", "mapping": {"plna": "tier"}}).fit(frame)
    with pytest.raises(DataError, match="already used by other columns: plan"):
        recipe({"step": "rename", "mapping": {"age": "plan"}}).fit(frame)
    with pytest.raises(RecipeError, match="renamed to x"):
        recipe({"step": "rename", "mapping": {"age": "x", "plan": "x"}})
    # swapping two names is fine
    out = recipe({"step": "rename", "mapping": {"age": "plan", "plan": "age"}}).fit_transform(
        backend.make(frame)
    )
    assert backend.to_polars(out)["age"].to_list() == ["a", "b", "a", "b"]


# -- cast ---------------------------------------------------------------------------------------
@pytest.fixture
def text() -> pl.DataFrame:
    return pl.DataFrame(  # no target column: the cast tests' recipes have none
        {
            "n": [" 1", "2", None, "x", "y"],
            "f": ["1.5", "2", "3e2", None, "-1"],
            "d": ["2024-01-31", "2024-02-01", None, "2024-03-05", "2024-12-24"],
            "b": ["yes", "No", "TRUE", "0", None],
            "r": [1.0, 2.0, 3.5, float("nan"), None],
        }
    )


def test_cast_values(text):
    out = recipe(
        {"step": "cast", "dtypes": {"f": "float64", "d": "date", "b": "bool", "r": "str"}},
        target=None,
    ).fit_transform(text)
    assert out["f"].to_list() == [1.5, 2.0, 300.0, None, -1.0]
    assert out["d"].to_list()[:2] == [dt.date(2024, 1, 31), dt.date(2024, 2, 1)]
    assert out["b"].to_list() == [True, False, True, False, None]
    assert out.schema["r"] == pl.String
    out = recipe({"step": "cast", "dtypes": {"f": "category"}}, target=None).fit_transform(text)
    assert out.schema["f"] == pl.Categorical


def test_cast_strict_lists_offending_values(text):
    with pytest.raises(
        DataError, match=r"2 value\(s\) of column 'n' cannot be cast to int64, e.g. 'x', 'y'"
    ):
        recipe({"step": "cast", "dtypes": {"n": "int64"}}, target=None).fit(text)
    # a fractional float is not silently truncated
    with pytest.raises(DataError, match="column 'r'.*3.5"):
        recipe({"step": "cast", "dtypes": {"r": "int64"}}, target=None).fit(text)


def test_cast_not_strict_turns_bad_values_to_null_and_counts(text, tmp_path):
    fitted = recipe(
        {"step": "cast", "dtypes": {"n": "int64", "r": "int32"}, "strict": False}, target=None
    ).fit(text)
    out = fitted.transform(text)
    assert out["n"].to_list() == [1, 2, None, None, None]
    assert out["r"].to_list() == [1, 2, None, None, None]  # NaN was missing already
    report = fitted.report.steps[0]
    assert report.changes["nulls_created"] == {"n": 2, "r": 1}
    assert any("2 value(s) of 'n'" in w for w in report.warnings)
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.json"))
    assert loaded.transform(text).equals(out)


def test_cast_errors(text):
    with pytest.raises(RecipeError, match="unknown dtype 'flaot64'.*did you mean 'float64'"):
        recipe({"step": "cast", "dtypes": {"f": "flaot64"}})
    with pytest.raises(DataError, match="did you mean 'f'"):
        recipe({"step": "cast", "dtypes": {"ff": "int64"}}, target=None).fit(text)


def test_cast_backends_agree(backend):
    frame = pl.DataFrame({"a": [1, 2, 3], "y": [0, 1, 0]})
    out = recipe({"step": "cast", "dtypes": {"a": "float64"}}).fit_transform(backend.make(frame))
    assert backend.to_polars(out)["a"].to_list() == [1.0, 2.0, 3.0]
    assert str(backend.to_polars(out)["a"].dtype) == "Float64"


def test_cast_zero_and_one_row(text, zero_rows):
    step = {"step": "cast", "dtypes": {"f": "float64"}}
    zero_rows(recipe(step, target=None), text)
    assert recipe(step, target=None).fit(text).transform(text.head(0)).schema["f"] == pl.Float64
    assert recipe(step, target=None).fit_transform(text.head(1))["f"].to_list() == [1.5]


# -- drop_constant ------------------------------------------------------------------------------
def test_drop_constant(frame, tmp_path):
    fitted = recipe({"step": "drop_constant"}).fit(frame)
    assert fitted.state("drop_constant_1") == {"columns": ["score_1"]}  # score_2 has a null
    assert "score_1" not in fitted.transform(frame).columns
    fitted = recipe({"step": "drop_constant", "ignore_nulls": True}).fit(frame)
    assert fitted.state("drop_constant_1") == {"columns": ["score_1", "score_2"]}
    # learned list reused: new data with varying score_1 still loses it
    new = frame.with_columns(score_1=pl.Series([1, 2, 3, 4]))
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.json"))
    assert loaded.transform(new).columns == ["age", "income", "plan", "y"]
    assert apply_step(loaded, frame.drop("score_2")).columns == ["age", "income", "plan", "y"]
    assert fitted.report.steps[0].changes == {"dropped": ["score_1", "score_2"]}


def test_drop_constant_zero_and_one_row(frame, backend, zero_rows):
    zero_rows(recipe({"step": "drop_constant"}), frame)
    fitted = recipe({"step": "drop_constant"}).fit(frame.head(1))
    assert fitted.transform(frame).columns == ["y"]
    assert "single row" in fitted.report.steps[0].warnings[0]
    out = recipe({"step": "drop_constant", "columns": ["score_1", "age"]}).fit_transform(
        backend.make(frame)
    )
    assert "score_1" not in out.columns and "age" in out.columns


# -- drop_missing -------------------------------------------------------------------------------
def test_drop_missing_counts_nan_and_null(frame, tmp_path):
    fitted = recipe({"step": "drop_missing", "threshold": 0.5}).fit(frame)
    # income: null + NaN = 0.5 (not above), score_2: 0.75
    assert fitted.state("drop_missing_1") == {
        "columns": ["score_2"],
        "missing_fraction": {"score_2": 0.75},
    }
    fitted = recipe({"step": "drop_missing", "threshold": 0.4}).fit(frame)
    assert fitted.state("drop_missing_1")["columns"] == ["income", "score_2"]
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.json"))
    assert loaded.transform(frame).columns == ["age", "plan", "score_1", "y"]
    assert apply_step(loaded, frame.drop("income")).columns == ["age", "plan", "score_1", "y"]
    assert fitted.report.steps[0].changes == {"dropped": ["income", "score_2"]}
    assert fitted.report.steps[0].learned == {"missing_fraction": {"income": 0.5, "score_2": 0.75}}


def test_drop_missing_edges_and_errors(frame, backend, zero_rows):
    zero_rows(recipe({"step": "drop_missing"}), frame)
    one = recipe({"step": "drop_missing"}).fit_transform(frame.head(1))
    assert one.columns == ["age", "income", "plan", "score_1", "y"]
    with pytest.raises(RecipeError, match="threshold"):
        recipe({"step": "drop_missing", "threshold": 50})
    out = backend.to_polars(
        recipe({"step": "drop_missing", "threshold": 0.4}).fit_transform(backend.make(frame))
    )
    assert out.columns == ["age", "plan", "score_1", "y"]
