"""Messages for bad input at the Python API level: each names the file (when there is one) and
says what to do (issue 9: header-only data, wrong separator, ragged rows, spreadsheets, a bad
regex or a mistyped group in a selector, new data that does not fit the artifact)."""

from __future__ import annotations

import polars as pl
import pytest

import prepkit
from prepkit.columns import select_columns
from prepkit.errors import DataError, RecipeError
from prepkit.io import detect_format, read_table, separator_hint
from prepkit.pipeline import require_rows, require_target
from prepkit.runner import apply_fitted, run_recipe

FRAME = pl.DataFrame({"age": [30, 40, 50], "city": ["a", "b", "a"], "y": [0, 1, 0]})


# -- selectors ----------------------------------------------------------------------------------
def test_an_invalid_regex_is_a_recipe_error_on_its_line(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\nsteps:\n  - step: scale\n    columns: {regex: '(unclosed'}\n")
    with pytest.raises(RecipeError) as info:
        prepkit.load_recipe(path)
    assert info.value.message == (
        f"{path}:4: step 1 'scale': 'regex': '(unclosed' is not a valid regular expression: "
        "missing ), unterminated subpattern at position 0"
    )


def test_a_valid_regex_still_selects():
    assert select_columns(FRAME, {"regex": "^(a|c)"}) == ["age", "city"]


def test_a_mistyped_group_suggests_the_group():
    with pytest.raises(DataError) as info:
        select_columns(FRAME, "numerc")
    assert info.value.message == "column 'numerc' does not exist (did you mean 'numeric'?)"
    assert info.value.hint == (
        "available columns: age, city, y; "
        "or a dtype group: numeric, categorical, text, boolean, datetime, all"
    )


def test_a_mistyped_lone_column_suggests_the_column():
    with pytest.raises(DataError, match=r"column 'agee' does not exist \(did you mean 'age'\?\)"):
        select_columns(FRAME, "agee")


def test_a_lone_column_and_a_group_still_select():
    assert select_columns(FRAME, "age") == ["age"]
    assert select_columns(FRAME, "numeric", target="y") == ["age"]


# -- training data ------------------------------------------------------------------------------
def test_no_rows_names_the_source_when_there_is_one():
    empty = FRAME.clear()
    with pytest.raises(DataError) as info:
        require_rows(empty, "data/header.csv")
    assert info.value.message == "the training data (data/header.csv) has no rows"
    with pytest.raises(DataError) as info:
        require_rows(empty)
    assert info.value.message == "the training data has no rows"


def test_a_header_only_file_is_named_by_run(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("age,city,y\n")
    recipe = prepkit.load_recipe({"target": "y", "split": {"test": 0.5}, "steps": []})
    with pytest.raises(DataError) as info:
        run_recipe(recipe, input=path, write=False)
    assert info.value.message == f"the training data ({path}) has no rows"


def test_a_python_frame_without_rows_has_no_file_name():
    recipe = prepkit.load_recipe({"target": "y", "steps": [{"step": "scale"}]})
    with pytest.raises(DataError) as info:
        recipe.run(FRAME.clear(), write=False)
    assert info.value.message == "the training data has no rows"


def test_one_column_with_semicolons_hints_at_the_separator():
    frame = pl.DataFrame({"a;b;y": ["1;x;0"]})
    with pytest.raises(DataError) as info:
        require_target(frame, "y", "semi.csv")
    assert info.value.message == "semi.csv: target column 'y' is not in the data"
    assert info.value.hint == separator_hint(["a;b;y"])
    assert "--set \"input.options.separator=';'\"" in info.value.hint


def test_a_python_frame_gets_no_separator_hint():
    with pytest.raises(DataError) as info:
        require_target(pl.DataFrame({"a;b;y": [1]}), "y")
    assert info.value.message == "target column 'y' is not in the data"
    assert info.value.hint == "fix `target:` in the recipe (or --set target=NAME); columns: a;b;y"


def test_separator_hint_by_character():
    assert "`separator: '|'`" in separator_hint(["a|b"])
    assert "--format tsv" in separator_hint(["a\tb"])
    assert "one column 'a\\tb'" in separator_hint(["a\tb"])  # the tab shown, not printed
    assert separator_hint(["a;b", "c"]) is None  # two columns: the separator was right
    assert separator_hint(["plain"]) is None


def test_dash_i_reads_with_the_recipe_input_options(tmp_path):
    """So the separator hint works with `-i`: the recipe's CSV options apply to a CSV given."""
    path = tmp_path / "semi.csv"
    path.write_text("age;city;y\n30;a;0\n40;b;1\n")
    recipe = prepkit.load_recipe(
        {"input": {"path": "x.csv", "options": {"separator": ";"}}, "target": "y", "steps": []}
    )
    result = run_recipe(recipe, input=path, write=False)
    assert result.outputs["train"].columns == ["age", "city", "y"]
    parquet = tmp_path / "data.parquet"
    FRAME.write_parquet(parquet)  # another format: the CSV options are not passed
    assert run_recipe(recipe, input=parquet, write=False).outputs["train"].height == 3


def test_ragged_rows_hint_at_truncate_ragged_lines(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n3,4,5,6\n7,8\n")
    with pytest.raises(DataError) as info:
        read_table(path)
    assert info.value.message == f"cannot read {path}: a row has more fields than the header"
    assert "`truncate_ragged_lines: true`" in info.value.hint
    out = read_table(path, options={"truncate_ragged_lines": True})
    assert out.to_dict(as_series=False) == {"a": [1, 3, 7], "b": [2, 4, 8]}


def test_a_spreadsheet_extension_hints_at_format():
    with pytest.raises(RecipeError) as info:
        detect_format("data/small.xlsx")
    assert "save the sheet as CSV or Parquet" in info.value.hint
    assert "--format (csv," in info.value.hint


# -- applying -----------------------------------------------------------------------------------
@pytest.fixture
def fitted():
    return prepkit.load_recipe({"target": "y", "steps": [{"step": "scale"}]}).fit(FRAME)


def test_apply_names_the_file_missing_a_column(fitted, tmp_path):
    path = tmp_path / "new_bad.csv"
    FRAME.drop("age").write_csv(path)
    for batch_size in (None, 2):
        with pytest.raises(DataError) as info:
            apply_fitted(fitted, path, tmp_path / "out.csv", batch_size=batch_size)
        assert info.value.message == (
            f"{path} is missing column(s) the recipe was fitted with: age"
        )
    assert not (tmp_path / "out.csv").exists()


def test_apply_names_the_file_with_a_wrong_dtype(fitted, tmp_path):
    path = tmp_path / "new_bad.csv"
    FRAME.with_columns(pl.lit("old").alias("age")).write_csv(path)
    with pytest.raises(DataError) as info:
        apply_fitted(fitted, path, tmp_path / "out.csv")
    assert info.value.message == (
        f"{path}: column 'age' has type String, but the recipe was fitted on Int64"
    )


def test_python_transform_says_input(fitted):
    with pytest.raises(DataError) as info:
        fitted.transform(FRAME.drop("age"))
    assert info.value.message == "input is missing column(s) the recipe was fitted with: age"
