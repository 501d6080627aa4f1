import numpy as np
import polars as pl
import pytest
from sklearn.utils.class_weight import compute_class_weight

import prepkit
from prepkit.errors import DataError, RecipeError
from prepkit.runner import run_recipe


def recipe(target: str | None = "y", **params):
    spec = {"steps": [{"step": "class_weights", **params}]}
    if target:
        spec["target"] = target
    return prepkit.load_recipe(spec)


@pytest.fixture
def labels() -> pl.DataFrame:
    return pl.DataFrame({"x": list(range(10)), "y": ["a"] * 6 + ["b"] * 3 + ["c"]})


def test_balanced_equals_scikit_learn(labels, backend):
    out = backend.to_polars(recipe().fit_transform(backend.make(labels)))
    y = labels["y"].to_numpy()
    classes = np.unique(y)
    expected = dict(
        zip(classes, compute_class_weight("balanced", classes=classes, y=y), strict=True)
    )
    np.testing.assert_allclose(out["sample_weight"].to_numpy(), [expected[v] for v in y])
    assert out.drop("sample_weight").equals(
        backend.to_polars(backend.make(labels))
    )  # rows untouched


def test_learned_state_is_the_hand_computed_weights(labels):
    fitted = recipe().fit(labels)
    state = fitted.state("class_weights_1")
    assert state["weights"] == pytest.approx({"a": 10 / 18, "b": 10 / 9, "c": 10 / 3})
    assert state["class_counts"] == {"a": 6, "b": 3, "c": 1}
    assert fitted.report.steps[0].learned["weights"] == state["weights"]
    assert fitted.report.steps[0].changes["class_counts"] == {"a": 6, "b": 3, "c": 1}


def test_explicit_mapping_with_integer_labels_and_default_one():
    frame = pl.DataFrame({"y": [0, 0, 0, 1, 2]})
    out = prepkit.load_recipe(
        "target: y\nsteps:\n  - step: class_weights\n    weights: {1: 9.0, 0: 0.5}\n"
    ).fit_transform(frame)
    assert out["sample_weight"].to_list() == [0.5, 0.5, 0.5, 9.0, 1.0]  # class 2 not listed: 1.0


def test_boolean_target_mapping():
    frame = pl.DataFrame({"y": [True, False, False]})
    out = recipe(weights={"true": 2.0}).fit_transform(frame)
    assert out["sample_weight"].to_list() == [2.0, 1.0, 1.0]


def test_unknown_class_in_mapping_is_a_clear_error(labels):
    with pytest.raises(DataError, match="not in target 'y': d"):
        recipe(weights={"d": 2.0}).fit(labels)


def test_add_column_false_keeps_weights_in_state_only(labels):
    fitted = recipe(add_column=False, column="w").fit(labels)
    assert fitted.state("class_weights_1")["weights"]["c"] == pytest.approx(10 / 3)
    assert recipe(add_column=False).fit_transform(labels).equals(labels)


def test_custom_column_name_and_existing_column_error(labels):
    assert "w" in recipe(column="w").fit_transform(labels).columns
    with pytest.raises(DataError, match="column 'x' already exists"):
        recipe(column="x").fit(labels)


def test_only_the_training_part_gets_weights(tmp_path):
    frame = pl.DataFrame({"x": list(range(100)), "y": [0] * 80 + [1] * 20})
    spec = {
        "target": "y",
        "seed": 1,
        "split": {"test": 0.2, "stratify": True},
        "steps": [{"step": "class_weights"}],
    }
    result = run_recipe(prepkit.load_recipe(spec), frame, write=False)
    train, test = result.outputs["train"], result.outputs["test"]
    assert "sample_weight" not in test.columns
    assert train.group_by("y").agg(pl.col("sample_weight").first()).sort("y")[
        "sample_weight"
    ].to_list() == [
        pytest.approx(80 / (2 * 64)),  # 80 training rows: 64 of class 0, 16 of class 1
        pytest.approx(80 / (2 * 16)),
    ]


def test_missing_target_and_missing_labels_are_errors(labels):
    with pytest.raises(RecipeError, match="needs a target column"):
        recipe(target=None).fit(labels)
    with pytest.raises(DataError, match="target column 'label'"):
        recipe(target="label").fit(labels)
    with pytest.raises(DataError, match="1 missing labels"):
        recipe().fit(
            labels.with_columns(
                pl.when(pl.col("x") == 0).then(None).otherwise(pl.col("y")).alias("y")
            )
        )


def test_bad_option_is_a_recipe_error():
    with pytest.raises(RecipeError):
        recipe(weights="balance")
    with pytest.raises(RecipeError):
        recipe(colum="w")


def test_zero_and_one_row(labels, zero_rows):
    zero_rows(recipe(), labels)
    assert recipe().fit_transform(labels.head(1))["sample_weight"].to_list() == [1.0]


def test_fitted_json_round_trip(labels, tmp_path):
    fitted = recipe().fit(labels)
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.prepkit.json"))
    assert loaded.state("class_weights_1") == fitted.state("class_weights_1")
    assert loaded.transform(labels).equals(fitted.transform(labels))
    assert loaded.transform(labels).equals(labels)  # train-only: new data gets no weights
