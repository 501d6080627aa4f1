"""A loaded artifact is checked step by step: every learned state against its step's `State`.

What fitting writes always loads back unchanged; an artifact changed by hand (or damaged) is a
`DataError` naming the file, the step and the field, with a hint to refit — never an internal
error or silently wrong output (infinities from a tiny scale, a string read as a column
expression).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import prepkit
from prepkit.errors import DataError
from prepkit.fitted import FittedRecipe
from prepkit.steps.base import all_steps

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "m.prepkit.json"

FRAME = pl.DataFrame(
    {
        "age": [25, None, 41, 33, 25, 52, 38, 29, 61, 44, 25, 36],
        "income": [3.1, 2.4, float("nan"), 5.0, 3.1, 9.9, 4.2, None, 6.3, 3.8, 3.1, 4.4],
        "city": ["a", "b", "a", None, "a", "c", "b", "a", "d", "b", "a", "b"],
        "flag": [True, False, None, True, True, False, False, True, False, True, True, False],
        "const": [1] * 12,
        "y": [0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1],
    }
)

PIPELINES = {
    "onehot": [
        {"step": "drop_duplicates"},
        {"step": "rename", "mapping": {"income": "pay"}},
        {"step": "cast", "dtypes": {"flag": "int8"}},
        {"step": "drop_missing", "threshold": 0.5},
        {"step": "drop_constant"},
        {"step": "impute", "columns": "numeric", "add_indicator": True},
        {"step": "impute", "columns": ["city"], "strategy": "most_frequent"},
        {"step": "outliers", "columns": ["age"], "action": "flag"},
        {
            "step": "encode",
            "columns": ["city"],
            "min_frequency": 2,
            "handle_unknown": "infrequent",
            "drop": "first",
        },
        {"step": "scale", "columns": ["age", "pay", "city_b"], "method": "minmax"},
        # columns made by earlier steps (and read by them) are dropped again
        {"step": "drop", "columns": ["age__outlier", "city_b"]},
        {"step": "select", "columns": ["age", "pay", "flag", "city_infrequent_sklearn"]},
        {"step": "class_weights"},
    ],
    "ordinal": [
        {"step": "outliers", "columns": ["income"], "method": "zscore", "action": "clip"},
        {"step": "impute", "columns": ["age", "income"], "strategy": "mean"},
        {"step": "encode", "columns": ["city", "flag"], "method": "ordinal"},
        {"step": "scale", "columns": ["age", "income"], "method": "standard"},
        {"step": "scale", "columns": ["city", "flag"], "method": "maxabs"},
    ],
    "robust": [
        {"step": "cast", "dtypes": {"age": "str"}},
        {"step": "impute", "columns": ["age"], "strategy": "constant", "fill_value": "unknown"},
        {"step": "impute", "columns": ["income"], "strategy": "constant", "fill_value": 0},
        {"step": "outliers", "columns": ["income"], "method": "percentile", "action": "drop"},
        {"step": "scale", "columns": ["income"], "method": "robust", "unit_variance": True},
    ],
}

RESAMPLERS = [
    "oversample",
    "undersample",
    "smote",
    "borderline_smote",
    "svm_smote",
    "adasyn",
    "near_miss",
    "tomek_links",
    "edited_nearest_neighbours",
    "smote_tomek",
    "smote_enn",
]

EXAMPLES = ["images", "label_noise", "text", "tabular", "imbalanced"]


def fit(steps: list[dict[str, Any]], frame: pl.DataFrame = FRAME) -> dict[str, Any]:
    recipe = prepkit.load_recipe({"name": "t", "target": "y", "steps": steps})
    return recipe.fit(frame).to_dict()


def load(data: dict[str, Any]) -> FittedRecipe:
    return FittedRecipe.from_dict(json.loads(json.dumps(data, allow_nan=True)), SOURCE)


def refused(data: dict[str, Any], *fragments: str) -> str:
    with pytest.raises(DataError) as info:
        load(data)
    message = str(info.value)
    for fragment in (SOURCE, *fragments):
        assert fragment in message, message
    assert f"refit it with `prepkit run RECIPE --fitted {SOURCE}`" in info.value.hint
    return message


def state(data: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in data["steps"] if s["id"] == step_id)["state"]


@pytest.fixture(scope="module")
def onehot() -> dict[str, Any]:
    return fit(PIPELINES["onehot"])


@pytest.fixture
def good(onehot) -> dict[str, Any]:
    return copy.deepcopy(onehot)


# -- what fitting writes loads back ---------------------------------------------------------------


def _round_trips(data: dict[str, Any]) -> None:
    loaded = load(data)
    assert loaded.states == [s["state"] for s in data["steps"]]
    assert loaded.to_dict()["steps"] == data["steps"]


@pytest.mark.parametrize("name", PIPELINES)
def test_fitted_pipelines_load_back_unchanged(name):
    _round_trips(fit(PIPELINES[name]))


@pytest.mark.parametrize("sampler", RESAMPLERS)
def test_fitted_resamplers_load_back_unchanged(sampler):
    frame = pl.DataFrame(
        {
            "a": [float(i % 7) + i / 10 for i in range(40)],
            "b": [float((i * 3) % 11) for i in range(40)],
            "y": [1 if i % 4 == 0 else 0 for i in range(40)],
        }
    )
    _round_trips(fit([{"step": sampler, "mark_synthetic": True}], frame))


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_recipes_load_back_unchanged(example):
    _round_trips(_example(example).run(write=False).fitted.to_dict())  # writes nothing


def _example(name: str) -> prepkit.Recipe:
    return prepkit.load_recipe(ROOT / f"recipes/{name}.yaml", overrides=["split=null"])


def test_the_round_trips_fit_every_step():
    fitted = {s["step"] for steps in PIPELINES.values() for s in steps} | set(RESAMPLERS)
    fitted |= {step.name for name in EXAMPLES for step in _example(name).steps}
    assert set(all_steps()) - fitted == set()


def test_apply_after_load_gives_the_same_output(onehot):
    new = FRAME.drop("y").head(5)
    original = prepkit.load_recipe({"name": "t", "target": "y", "steps": PIPELINES["onehot"]})
    assert load(onehot).transform(new).equals(original.fit(FRAME).transform(new))


# -- tampered states ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"center": 1e308, "scale": 1e-320}, "scale must be a positive number"),
        ({"center": 0.0, "scale": 0.0}, "scale must be a positive number"),
        ({"center": 0.0, "scale": -2.0}, "scale must be a positive number"),
        ({"center": 1e308, "scale": 1e-10}, "is not a finite number"),
        ({"center": float("inf"), "scale": 1.0}, "center: Input should be a finite number"),
        ({"center": 0.0, "scale": float("nan")}, "scale: Input should be a finite number"),
        ({"center": 0.0, "scale": "1"}, "scale: Input should be a valid number"),
        ({"center": 0.0}, "scale: Field required"),
    ],
)
def test_scale_refuses_a_scale_that_cannot_divide(good, value, says):
    state(good, "scale_10")["scaling"]["age"] = value
    message = refused(good, "step 10 'scale_10'", "state.scaling.age", says)
    assert "internal error" not in message


def test_scale_needs_a_scaling_for_every_column(good):
    del state(good, "scale_10")["scaling"]["pay"]
    refused(good, "step 10 'scale_10'", "scaling: no center and scale for column 'pay'")


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("age", "pl.col('pay') * 0", "column 'age' holds numeric values"),
        ("age", True, "column 'age' holds numeric values"),
        ("age", False, "column 'age' holds numeric values"),
        ("age", float("nan"), "expected a finite number, text, true/false or null, got nan"),
        ("age", [1], "expected a finite number, text, true/false or null, got [1]"),
    ],
)
def test_impute_fill_must_suit_the_column(good, column, value, says):
    state(good, "impute_6")["fill"][column] = value
    refused(good, "step 6 'impute_6'", f"state.fill.{column}", says)


def test_impute_fill_kind_follows_cast_and_rename(good):
    # flag was cast to int8 (step 3): a number fills it, text does not
    assert state(good, "impute_6")["fill"]["flag"] == 0.0  # the median of 0s and 1s
    state(good, "impute_6")["fill"]["flag"] = "yes"
    refused(good, "state.fill.flag: column 'flag' holds numeric values")
    # pay is income renamed (step 2), and numeric
    state(good, "impute_6")["fill"] |= {"flag": 1.0, "pay": "none"}
    refused(good, "state.fill.pay: column 'pay' holds numeric values")


@pytest.mark.parametrize(("value", "ok"), [(False, True), (1, False), ("true", False)])
def test_only_true_or_false_fills_a_boolean_column(value, ok):
    data = fit([{"step": "impute", "columns": ["flag"], "strategy": "most_frequent"}])
    assert state(data, "impute_1")["fill"] == {"flag": True}
    state(data, "impute_1")["fill"]["flag"] = value
    if ok:
        load(data)
    else:
        refused(data, "state.fill.flag: column 'flag' holds boolean values")


def test_a_text_fill_suits_a_column_cast_to_text():
    data = fit(PIPELINES["robust"])
    assert state(data, "impute_2")["fill"] == {"age": "unknown"}
    load(data)


def test_impute_needs_a_fill_for_every_column(good):
    del state(good, "impute_6")["fill"]["age"]
    refused(good, "step 6 'impute_6'", "fill: no value for column 'age'")


def test_a_column_unknown_at_that_step_is_refused(good):
    impute = state(good, "impute_6")
    impute["columns"].append("no_such_column")
    impute["fill"]["no_such_column"] = 1.0
    refused(good, "state.columns.", "column 'no_such_column' is not a column of the data")


def test_a_column_made_by_a_later_step_is_unknown(good):
    state(good, "impute_6")["columns"].append("city_a")  # encode (step 8) makes it
    state(good, "impute_6")["fill"]["city_a"] = 0
    refused(good, "step 6 'impute_6'", "column 'city_a' is not a column")


@pytest.mark.parametrize(
    ("bounds", "says"),
    [
        (["low", "high"], "state.bounds.age.0: Input should be a valid number (got 'low')"),
        ([5.0, 1.0], "bounds must be [low, high] numbers with low <= high"),
        ([float("nan"), 1.0], "with low <= high"),
        ([1.0, 2.0, 3.0], "state.bounds.age: List should have at most 2 items"),
        ("1..2", "state.bounds.age"),
    ],
)
def test_outlier_bounds_must_be_a_number_pair(good, bounds, says):
    state(good, "outliers_8")["bounds"]["age"] = bounds
    refused(good, "step 8 'outliers_8'", says)


def test_infinite_outlier_bounds_are_kept(good):
    state(good, "outliers_8")["bounds"]["age"] = [float("-inf"), float("inf")]
    assert load(good).state("outliers_8")["bounds"]["age"] == [float("-inf"), float("inf")]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda e: e["outputs"].append("city_zzz"), "outputs and drop_index do not match"),
        (lambda e: e.update(drop_index=3), "outputs and drop_index do not match"),
        (lambda e: e["categories"].append("a"), "categories: a category is listed twice"),
        (lambda e: e["infrequent"].append("q"), "infrequent: not all of them are categories"),
        (lambda e: e.pop("outputs"), "encodings.city: missing outputs"),
        (lambda e: e["categories"].append({"x": 1}), "encodings.city.categories"),
    ],
)
def test_encode_encodings_must_be_consistent(good, change, says):
    change(state(good, "encode_9")["encodings"]["city"])
    refused(good, "step 9 'encode_9'", says)


def test_ordinal_encodings_have_no_onehot_keys():
    data = fit(PIPELINES["ordinal"])
    state(data, "encode_3")["encodings"]["city"]["outputs"] = ["city_a"]
    refused(data, "step 3 'encode_3'", "encodings.city: outputs belong to method onehot")
    data = fit(PIPELINES["ordinal"])
    del state(data, "encode_3")["dtype"]
    refused(data, "dtype: given for, and only for, method ordinal")


def test_column_step_states_are_checked(good):
    state(good, "cast_3")["dtypes"]["flag"] = "int9"
    refused(good, "step 3 'cast_3'", "state.dtypes: flag: unknown dtype 'int9'")
    good = load_json(good, "cast_3", {"dtypes": {"flag": "int8"}})
    state(good, "rename_2")["mapping"]["age"] = "pay"
    refused(good, "step 2 'rename_2'", "two columns get the same new name")
    good = load_json(good, "rename_2", {"mapping": {"income": "pay"}})
    state(good, "select_12")["columns"] = []
    refused(good, "step 12 'select_12'", "state.columns: List should have at least 1 item")


def load_json(data: dict[str, Any], step_id: str, fixed: dict[str, Any]) -> dict[str, Any]:
    """`data` with one step's state put back (and checked to load)."""
    next(s for s in data["steps"] if s["id"] == step_id)["state"] = fixed
    load(data)
    return data


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({}, "state.method: Field required; state.columns: Field required"),
        ("scale", "state: Input should be a valid dictionary"),
        (None, "state: Input should be a valid dictionary"),
    ],
)
def test_a_state_of_the_wrong_shape(good, value, says):
    next(s for s in good["steps"] if s["id"] == "scale_10")["state"] = value
    refused(good, "step 10 'scale_10' has an invalid learned state", says)


def test_unknown_state_keys_are_refused(good):
    state(good, "scale_10")["expr"] = "pl.col('age')"
    refused(good, "state.expr: Extra inputs are not permitted")


def test_train_only_states_are_checked_too(good):
    state(good, "class_weights_13")["weights"]["0"] = "heavy"
    refused(good, "step 13 'class_weights_13'", "state.weights.0: Input should be a valid number")


def test_long_lists_of_problems_are_cut(good):
    state(good, "scale_10")["scaling"] = {c: {"center": "x", "scale": "y"} for c in ("age", "pay")}
    message = refused(good, "state.scaling.age.center", "; and 1 more")
    assert "state.scaling.pay.scale" not in message


# -- the rest of the artifact ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda d: d.update(steps=["impute", 3, None]), "step 1 is 'impute', not a step"),
        (lambda d: d.update(steps={"a": 1}), "steps: Input should be a valid list"),
        (lambda d: d.update(input_schema=["age"]), "input_schema: Input should be a valid"),
        (lambda d: d["recipe"].update(seed="x"), "recipe.seed: Input should be a valid integer"),
        (lambda d: d.pop("output_schema"), "output_schema: Field required"),
        (lambda d: d["steps"][0].update(step="scael"), "step 1 'scael' is not known"),
        (lambda d: d["steps"][1]["params"].update(mapping=3), "step 2 'rename_2': mapping"),
        (lambda d: d["steps"][1].update(id=7), "step 2: id: Input should be a valid string"),
        (lambda d: d["recipe"].update(workers=0), "recipe.workers: Input should be greater"),
        (
            lambda d: d["steps"][1].update(params=[]),
            "step 2: params: Input should be a valid dictionary",
        ),
        (lambda d: d["steps"][1].update(colour=1), "step 2: colour: Extra inputs"),
    ],
)
def test_a_damaged_artifact_names_what_is_wrong(good, edit, says):
    edit(good)
    refused(good, says)


def test_unknown_step_names_suggest_the_close_one(good):
    good["steps"][9]["step"] = "scael"
    assert "(did you mean 'scale'?)" in refused(good, "step 10 'scael'")


def test_custom_step_ids_also_name_the_step(good):
    good["steps"][9]["id"] = "my_scaler"
    state(good, "my_scaler")["scaling"]["age"]["scale"] = 0.0
    refused(good, "step 10 'my_scaler' (scale) has an invalid learned state")


@pytest.mark.parametrize(
    ("text", "says"),
    [("", ":1: empty, not JSON"), ("{oops", ":1: not valid JSON"), ("[1]", "not a prepkit")],
)
def test_unreadable_files_say_what_to_give(tmp_path, text, says):
    path = tmp_path / "m.prepkit.json"
    path.write_text(text)
    with pytest.raises(DataError, match=says) as info:
        prepkit.load_fitted(path)
    assert str(path) in str(info.value) and "prepkit run RECIPE --fitted" in info.value.hint
