from pathlib import Path

import polars as pl
import pytest

import prepkit
from prepkit.errors import DataError, RecipeError


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_misspelled_option_value_names_line_and_suggests(tmp_path):
    path = write(tmp_path, "name: t\nsteps:\n  - step: impute\n    strategy: medain\n")
    with pytest.raises(RecipeError) as info:
        prepkit.load_recipe(path)
    assert str(info.value).startswith(
        f"{path}:4: step 1 'impute': 'medain' is not valid for 'strategy'"
    )
    assert "did you mean 'median'?" in str(info.value)


def test_unknown_option_and_unknown_step_are_all_reported(tmp_path):
    path = write(tmp_path, "steps:\n  - step: impute\n    colums: numeric\n  - step: imptue\n")
    with pytest.raises(RecipeError) as info:
        prepkit.load_recipe(path)
    text = str(info.value)
    assert f"{path}:3: step 1 'impute': unknown option 'colums' (did you mean 'columns'?)" in text
    assert f"{path}:4: step 2: unknown step 'imptue' (did you mean 'impute'?)" in text
    assert info.value.exit_code == 2


def test_unknown_top_level_key(tmp_path):
    path = write(tmp_path, "name: t\ntarget: y\nsplitt: {test: 0.2}\n")
    with pytest.raises(
        RecipeError, match=r":3: unknown option 'splitt' \(did you mean 'split'\?\)"
    ):
        prepkit.load_recipe(path)


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    path = write(tmp_path, "steps:\n  - step: impute\n   strategy: mean\n")
    with pytest.raises(RecipeError, match=rf"{path}:3:4: YAML syntax error"):
        prepkit.load_recipe(path)


def test_wrong_type_names_the_field(tmp_path):
    path = write(tmp_path, "seed: many\nsteps: []\n")
    with pytest.raises(RecipeError, match=r":1: 'seed': Input should be a valid integer"):
        prepkit.load_recipe(path)


def test_missing_recipe_file_is_data_error(tmp_path):
    with pytest.raises(DataError, match="recipe file not found"):
        prepkit.load_recipe(tmp_path / "nope.yaml")


def test_paths_are_relative_to_recipe_file(tmp_path):
    sub = tmp_path / "recipes"
    sub.mkdir()
    recipe = prepkit.load_recipe(write(sub, "input: ../data/a.csv\nsteps: []\n"))
    assert recipe.resolve(recipe.spec.input.path) == tmp_path / "data/a.csv"
    assert recipe.resolve("-") == "-"


def test_overrides_scalars_steps_by_number_and_by_id(tmp_path):
    path = write(
        tmp_path,
        "input: a.csv\nsteps:\n  - step: impute\n  - step: impute\n    id: cats\n    columns: categorical\n",
    )
    recipe = prepkit.load_recipe(
        path,
        overrides=[
            "input=b.csv",
            "seed=7",
            "steps.1.strategy=mean",
            "steps.cats.strategy=most_frequent",
        ],
    )
    assert recipe.spec.input.path == "b.csv"
    assert recipe.spec.seed == 7
    assert recipe.steps[0].params.strategy == "mean"
    assert recipe.steps[1].params.strategy == "most_frequent"
    with pytest.raises(RecipeError, match="no item '9'"):
        prepkit.load_recipe(path, overrides=["steps.9.strategy=mean"])
    with pytest.raises(RecipeError, match="key=value"):
        prepkit.load_recipe(path, overrides=["seed"])


def test_override_with_bad_value_is_validated():
    with pytest.raises(RecipeError, match="'meen' is not valid"):
        prepkit.load_recipe({"steps": [{"step": "impute"}]}, overrides=["steps.1.strategy=meen"])


def test_load_from_yaml_string_and_dict_give_same_recipe():
    a = prepkit.load_recipe("name: s\nsteps:\n  - step: impute\n    strategy: mean\n")
    b = prepkit.load_recipe({"name": "s", "steps": [{"step": "impute", "strategy": "mean"}]})
    assert a.to_dict() == b.to_dict()
    assert a.steps[0].id == "impute_1"


def test_duplicate_step_ids_rejected():
    with pytest.raises(RecipeError, match="duplicate step id 'x'"):
        prepkit.load_recipe(
            {"steps": [{"step": "impute", "id": "x"}, {"step": "impute", "id": "x"}]}
        )


def test_unknown_check_metric_suggests(tmp_path):
    path = write(tmp_path, "checks:\n  - {metric: rows_outt, min: 1}\n")
    with pytest.raises(
        RecipeError, match=r":2: unknown check metric 'rows_outt' \(did you mean 'rows_out'\?\)"
    ):
        prepkit.load_recipe(path)


def test_target_is_never_a_feature_unless_named():
    frame = pl.DataFrame({"x": [1.0, None], "y": [None, 1.0]})
    out = prepkit.load_recipe({"target": "y", "steps": [{"step": "impute"}]}).fit_transform(frame)
    assert out["y"].to_list() == [None, 1.0]
    named = prepkit.load_recipe(
        {"target": "y", "steps": [{"step": "impute", "columns": ["x", "y"]}]}
    )
    assert named.fit_transform(frame)["y"].to_list() == [1.0, 1.0]


def test_selector_errors_are_specific(tmp_path):
    path = write(tmp_path, "steps:\n  - step: impute\n    columns: {regx: a}\n")
    with pytest.raises(RecipeError) as info:
        prepkit.load_recipe(path)
    assert str(info.value) == (
        f"{path}:3: step 1 'impute': unknown option 'regx' (did you mean 'regex'?); "
        "valid options: names, dtype, regex, exclude"
    )
    path = write(tmp_path, "steps:\n  - step: impute\n    columns: 5\n")
    with pytest.raises(
        RecipeError, match=r":3: step 1 'impute': 'columns': 5 is not a column selector"
    ):
        prepkit.load_recipe(path)


def test_problems_are_listed_in_line_order(tmp_path):
    path = write(tmp_path, "split: {tst: 0.2}\ninput: {format: csv}\nsteps: [5]\n")
    with pytest.raises(RecipeError) as info:
        prepkit.load_recipe(path)
    lines = str(info.value).splitlines()[1:]
    assert [line.split(":")[1] for line in lines] == ["1", "2", "3"]
    assert "'path' is required" in lines[1] and "each step is a mapping" in lines[2]
