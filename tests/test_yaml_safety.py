"""Recipe YAML that only a mistake or an attack produces: duplicate keys, billion laughs, deep
nesting, recursive aliases, Python tags, and bad `--set` values. Each is one RecipeError (exit 2)
naming the file and line, raised quickly and without building the expanded data."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app
from prepkit.errors import DataError, RecipeError
from prepkit.yamlsource import MAX_DEPTH, load_value, load_yaml

runner = CliRunner()

# 9 lines whose last alias expands to 9**9 (387 million) strings
BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    + "name: laughs\nsteps: []\n"
)


def write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(source, overrides=()) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        prepkit.load_recipe(source, overrides)
    assert info.value.exit_code == 2
    return info.value


# -- duplicate keys ---------------------------------------------------------------------------


def test_duplicate_top_level_key_names_both_lines(tmp_path):
    path = write(
        tmp_path,
        "name: dup\nsteps:\n  - step: impute\n  - step: scale\nseed: 1\nsteps:\n  - step: scale\n",
    )
    err = error_of(path)
    assert err.message == f"{path}:6: duplicate key 'steps' (first at line 2)"
    assert "only the last" in err.hint


def test_duplicate_key_inside_a_step(tmp_path):
    path = write(
        tmp_path, "name: dup\nsteps:\n  - step: impute\n    strategy: median\n    strategy: mean\n"
    )
    assert error_of(path).message == f"{path}:5: duplicate key 'strategy' (first at line 4)"


def test_duplicate_key_in_a_flow_mapping_and_deeper(tmp_path):
    path = write(tmp_path, "name: dup\nsplit: {valid: 0.1,\n  valid: 0.2}\nsteps: []\n")
    assert error_of(path).message == f"{path}:3: duplicate key 'valid' (first at line 2)"
    path = write(
        tmp_path,
        "name: dup\ninput:\n  path: a.csv\n  options:\n    separator: ';'\n    separator: ','\n",
    )
    assert error_of(path).message == f"{path}:6: duplicate key 'separator' (first at line 5)"


def test_keys_equal_in_python_are_duplicates():
    # `1` and `true` are one dict key in Python: the second would silently replace the first
    with pytest.raises(RecipeError, match=r"^x:3: duplicate key 'true' \(first at line 2\)"):
        load_yaml("m:\n  1: a\n  true: b\n", "x")


def test_merge_keys_and_overriding_a_merged_key_are_not_duplicates(tmp_path):
    path = write(
        tmp_path,
        "name: merge\nsteps:\n"
        "  - &imp {step: impute, strategy: median, columns: [a]}\n"
        "  - <<: *imp\n    strategy: mean\n",
    )
    recipe = prepkit.load_recipe(path)
    assert [(s.id, s.params.strategy) for s in recipe.steps] == [
        ("impute_1", "median"),
        ("impute_2", "mean"),
    ]


# -- aliases: billion laughs, recursion, line map ---------------------------------------------


def test_billion_laughs_fails_fast_with_little_memory(tmp_path):
    path = write(tmp_path, BILLION_LAUGHS)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        err = error_of(path)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.message == (
        f"{path}:7:4: this value expands to more than 1,000,000 YAML values "
        "once its aliases (*name) are expanded"
    )
    assert "fewer nested aliases" in err.hint
    assert elapsed < 2
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_billion_laughs_through_the_cli_exits_2(tmp_path):
    path = write(tmp_path, BILLION_LAUGHS)
    started = time.perf_counter()
    result = runner.invoke(app, ["validate", str(path)])
    assert time.perf_counter() - started < 2
    assert result.exit_code == 2
    assert f"{path}:7:4: this value expands to more than 1,000,000" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_alias_inside_its_own_anchor_is_refused(tmp_path):
    path = write(tmp_path, "name: loop\ndescription: &x [1, *x]\n")
    err = error_of(path)
    assert err.message == (
        f"{path}:2:21: alias '*x' is inside the value it refers to (a recursive structure)"
    )


def test_aliases_nesting_each_other_past_the_depth_limit():
    text = "".join(f"a{i}: &a{i} [{f'*a{i - 1}' if i else 1}]\n" for i in range(MAX_DEPTH + 20))
    with pytest.raises(RecipeError, match=r"nested deeper than 100 levels once its aliases"):
        load_yaml(text, "x")


def test_ordinary_aliases_still_work_and_errors_point_at_the_alias(tmp_path):
    path = write(
        tmp_path,
        "name: shared\nsteps:\n"
        "  - &bad {step: impute, strategy: medain}\n"  # line 3
        "  - *bad\n",  # line 4: the same node again, not walked twice
    )
    text = str(error_of(path))
    assert f"{path}:3: step 1 'impute': 'medain' is not valid for 'strategy'" in text
    assert f"{path}:4: step 2 'impute': 'medain' is not valid for 'strategy'" in text
    path = write(
        tmp_path,
        "name: shared\nsteps:\n"
        "  - {step: impute, columns: &cols [a, b]}\n"
        "  - {step: scale, columns: *cols}\n",
    )
    assert [s.params.columns for s in prepkit.load_recipe(path).steps] == [["a", "b"]] * 2


def test_shared_values_under_the_cap_load_validate_and_serialise():
    names = ", ".join(f"c{i}" for i in range(5000))
    text = (
        f"name: wide\nsteps:\n  - step: select\n    columns: &cols [{names}]\n"
        + "  - step: select\n    columns: *cols\n" * 19
    )
    started = time.perf_counter()
    recipe = prepkit.load_recipe(text)
    dumped = json.dumps(recipe.to_dict())
    assert time.perf_counter() - started < 10
    assert [len(s.params.columns) for s in recipe.steps] == [5000] * 20
    assert dumped.count('"c4999"') == 20


def test_many_problems_are_listed_up_to_a_limit():
    text = "name: many\nsteps:\n" + "  - step: imptue\n" * 200
    message = error_of(text).message
    assert message.count("unknown step 'imptue'") == 20
    assert message.endswith("... and 180 more problems")


# -- nesting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: deep\nsteps:\n  - step: impute\n    columns: " + "[" * 5000 + "]" * 5000, ":4:"),
        ("name: deep\ndescription: " + "{a: " * 5000 + "}" * 5000, ":2:"),
        ("name: deep\ndescription:\n" + "  - " * 5000 + "1\n", ":3:"),
        ("name: deep\nx:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(300)), ":101:"),
    ],
    ids=["flow-lists", "flow-mappings", "block-lists", "block-mappings"],
)
def test_deep_nesting_is_a_recipe_error(tmp_path, text, where):
    path = write(tmp_path, text)
    started = time.perf_counter()
    err = error_of(path)
    assert time.perf_counter() - started < 2
    assert err.message.startswith(f"{path}{where}")
    assert err.message.endswith(f"YAML nested deeper than {MAX_DEPTH} levels")
    assert "nesting" in err.hint


def test_depth_limit_is_exact():
    assert load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, "x")[0] is not None
    with pytest.raises(RecipeError, match=r"^x:1:101: YAML nested deeper than 100 levels"):
        load_yaml("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "x")


def test_python_data_that_is_recursive_deep_or_huge_is_refused():
    looped: dict = {"name": "x", "steps": []}
    looped["steps"].append(looped)
    assert "contains itself" in error_of(looped).message
    deep = inner = []
    for _ in range(5000):
        inner.append([])
        inner = inner[0]
    assert "nested deeper than 100 levels" in error_of({"name": "x", "description": deep}).message
    shared = ["lol"] * 10
    for _ in range(6):
        shared = [shared] * 10
    assert "more than 1,000,000 values" in error_of({"name": "x", "description": shared}).message


# -- tags and other YAML mistakes -------------------------------------------------------------


def test_python_tag_is_refused_without_an_indentation_hint(tmp_path):
    path = write(tmp_path, "name: !!python/object/apply:os.system ['echo pwned']\nsteps: []\n")
    err = error_of(path)
    assert err.message == (
        f"{path}:1:7: Python tags are not allowed in recipes: '!!python/object/apply:os.system'"
    )
    assert "indent" not in str(err) and "pwned" not in str(err)
    assert "plain YAML" in err.hint


def test_custom_tag_and_other_mistakes_get_fitting_hints(tmp_path):
    cases = [
        ("name: !Secret x\n", ":1:7: unknown YAML tag '!Secret'", "plain YAML"),
        ("name: 'x\nsteps: []\n", ":1:7: a quoted value is never closed", "close the quote"),
        ("name: x\nsteps:\n\t- step: impute\n", ":3:1: a tab character", "indent with spaces"),
        ("name: a\n---\nname: b\n", ":2:1: a second YAML document", "one recipe per file"),
        ("name: *nowhere\n", ":1:7: found undefined alias 'nowhere'", "define the anchor"),
    ]
    for text, message, hint in cases:
        path = write(tmp_path, text)
        err = error_of(path)
        assert err.message.startswith(f"{path}{message}"), err.message
        assert hint in err.hint


# -- --set values -----------------------------------------------------------------------------

RECIPE = "name: s\nsteps:\n  - step: impute\n  - step: scale\n"


def test_unparsable_set_value_names_the_argument():
    err = error_of(RECIPE, ["seed=[1,"])
    assert err.message == (
        "--set seed=[1,: not a valid YAML value: "
        "expected the node content, but found '<stream end>' (column 4)"
    )
    assert "[a, b]" in err.hint


def test_set_value_with_a_python_tag_or_deep_nesting():
    err = error_of(RECIPE, ["name=!!python/name:os.system"])
    assert "--set name=!!python/name:os.system" in err.message
    assert "Python tags are not allowed" in err.message
    err = error_of(RECIPE, ["description=" + "[" * 5000])
    assert f"not a valid YAML value: YAML nested deeper than {MAX_DEPTH} levels" in err.message


def test_set_value_through_the_cli(tmp_path):
    path = write(tmp_path, RECIPE)
    result = runner.invoke(app, ["validate", str(path), "--set", "seed=[1,"])
    assert result.exit_code == 2
    assert "--set seed=[1,: not a valid YAML value" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_set_mistakes_have_hints():
    err = error_of(RECIPE, ["seed"])
    assert err.message == "--set expects key=value, got 'seed'" and "seed=7" in err.hint
    err = error_of(RECIPE, ["steps.9.strategy=mean"])
    assert err.message == "--set steps.9.strategy: no item '9' in 'steps'"
    assert err.hint == "'steps' has 2 steps, numbered from 1; or use a step id: impute_1, scale_2"


def test_load_value_keeps_plain_values():
    assert load_value("[1, 2]", "--set x") == [1, 2]
    assert load_value("{a: b}", "--set x") == {"a": "b"}
    assert load_value("mean", "--set x") == "mean"


# -- the recipe file itself -------------------------------------------------------------------


def test_recipe_that_is_a_folder_or_not_utf8(tmp_path):
    with pytest.raises(DataError, match=r"is a folder, not a recipe file"):
        prepkit.load_recipe(tmp_path)
    path = tmp_path / "latin.yaml"
    path.write_bytes("name: ok\ndescription: caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        prepkit.load_recipe(path)
    assert info.value.message == (
        f"{path}:2: the recipe is not UTF-8 text (byte 0xe9 is not valid utf-8)"
    )
    assert "UTF-8" in info.value.hint


def test_set_on_an_aliased_step_changes_only_that_step():
    text = "name: s\nsteps:\n  - &imp {step: impute, strategy: median}\n  - *imp\n"
    recipe = prepkit.load_recipe(text, ["steps.2.strategy=mean"])
    assert [s.params.strategy for s in recipe.steps] == ["median", "mean"]
    recipe = prepkit.load_recipe(text, ["steps.impute_1.strategy=constant"])
    assert [s.params.strategy for s in recipe.steps] == ["constant", "median"]
