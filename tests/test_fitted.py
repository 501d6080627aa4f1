import json

import polars as pl
import pytest

import prepkit
from prepkit.errors import DataError


@pytest.fixture
def fitted():
    recipe = prepkit.load_recipe(
        {"name": "f", "target": "y", "steps": [{"step": "impute", "strategy": "mean"}]}
    )
    return recipe.fit(pl.DataFrame({"x": [1.0, None, 3.0], "n": [1, 2, 3], "y": [0, 1, 0]}))


def test_artifact_is_versioned_plain_json(fitted, tmp_path):
    path = fitted.save(tmp_path / "m.prepkit.json")
    data = json.loads(path.read_text())
    assert data["format"] == "prepkit.fitted" and data["version"] == 1
    assert data["prepkit_version"] == prepkit.__version__
    assert data["input_schema"] == {"x": "Float64", "n": "Int64", "y": "Int64"}
    assert data["steps"][0]["step"] == "impute"
    assert data["steps"][0]["state"] == {"columns": ["x", "n"], "fill": {"x": 2.0, "n": 2.0}}
    assert data["recipe"]["steps"][0]["strategy"] == "mean"


def test_round_trip_gives_identical_output(fitted, tmp_path):
    new = pl.DataFrame({"x": [None, 5.0], "n": [None, 1], "y": [1, 1]})
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "m.json"))
    assert loaded.transform(new).equals(fitted.transform(new))


def test_target_may_be_absent_from_new_data(fitted):
    out = fitted.transform(pl.DataFrame({"x": [None], "n": [4]}))
    assert out.to_dicts() == [{"x": 2.0, "n": 4}]


def test_missing_column_and_incompatible_dtype(fitted):
    with pytest.raises(DataError, match="missing column\\(s\\) the recipe was fitted with: n"):
        fitted.transform(pl.DataFrame({"x": [1.0]}))
    with pytest.raises(
        DataError, match="column 'x' has type String, but the recipe was fitted on Float64"
    ):
        fitted.transform(pl.DataFrame({"x": ["abc"], "n": [1]}))
    # numbers written as text in a new file are cast back to the training type
    assert fitted.transform(pl.DataFrame({"x": ["1.5"], "n": [1]}))["x"].to_list() == [1.5]


def test_bad_artifacts(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match=f"{bad}:1: not valid JSON"):
        prepkit.load_fitted(bad)
    bad.write_text(json.dumps({"format": "prepkit.fitted", "version": 99}))
    with pytest.raises(DataError, match="artifact version 99"):
        prepkit.load_fitted(bad)
    bad.write_text("{}")
    with pytest.raises(DataError, match="not a prepkit fitted recipe"):
        prepkit.load_fitted(bad)


def test_pandas_and_lazy_frames(fitted):
    import pandas as pd

    out = fitted.transform(pd.DataFrame({"x": [None, 1.0], "n": [1, 2]}, index=[10, 20]))
    assert isinstance(out, pd.DataFrame) and list(out.index) == [10, 20]
    assert out["x"].tolist() == [2.0, 1.0]
    lazy = fitted.transform(pl.LazyFrame({"x": [None], "n": [1]}))
    assert isinstance(lazy, pl.LazyFrame) and lazy.collect()["x"].to_list() == [2.0]


def test_columns_the_recipe_drops_are_not_required_at_apply():
    recipe = prepkit.load_recipe(
        {"steps": [{"step": "drop", "columns": ["junk"]}, {"step": "impute", "columns": ["x"]}]}
    )
    fitted = recipe.fit(pl.DataFrame({"x": [1.0, None], "junk": ["a", "b"], "keep": [1, 2]}))
    assert fitted.required_columns() == ["x", "keep"]
    assert fitted.transform(pl.DataFrame({"x": [None], "keep": [3]})).to_dicts() == [
        {"x": 1.0, "keep": 3}
    ]
    with pytest.raises(DataError, match="missing column\\(s\\) the recipe was fitted with: keep"):
        fitted.transform(pl.DataFrame({"x": [None]}))


def test_text_dates_in_new_data_are_parsed_to_the_training_type():
    from datetime import date

    fitted = prepkit.load_recipe({"steps": []}).fit(pl.DataFrame({"d": [date(2024, 1, 2)]}))
    assert fitted.transform(pl.DataFrame({"d": ["2025-03-04"]}))["d"].to_list() == [
        date(2025, 3, 4)
    ]
    with pytest.raises(
        DataError, match="column 'd' has type String, but the recipe was fitted on Date"
    ):
        fitted.transform(pl.DataFrame({"d": ["not a date"]}))


def test_each_step_checks_its_columns_before_applying(fitted):
    from prepkit.pipeline import apply_steps
    from prepkit.steps.base import StepContext

    with pytest.raises(DataError, match="step 1 'impute_1': column 'n' does not exist") as info:
        apply_steps(
            fitted.steps, fitted.states, pl.DataFrame({"x": [1.0], "m": [1]}), StepContext()
        )
    assert "available columns: x, m" in str(info.value)
