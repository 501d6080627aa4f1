"""Every registered step honours the full step contract (see STYLE.md)."""

import inspect
import json

import polars as pl
import pytest

from prepkit.steps.base import Step, StepContext, all_steps

STEPS = sorted(all_steps())


def test_all_step_families_are_present():
    expected = {
        "impute", "drop_duplicates", "outliers", "encode", "scale", "select", "drop", "rename",
        "cast", "drop_constant", "drop_missing", "oversample", "undersample", "smote",
        "borderline_smote", "adasyn", "svm_smote", "tomek_links", "edited_nearest_neighbours",
        "near_miss", "smote_tomek", "smote_enn", "class_weights", "label_issues", "augment_images",
        "prepare_images", "dedupe_images", "augment_text", "clean_text", "drop_near_duplicates",
    }  # fmt: skip
    assert expected <= set(STEPS)


@pytest.mark.parametrize("name", STEPS)
def test_step_has_contract(name):
    cls = all_steps()[name]
    assert issubclass(cls, Step)
    assert cls.phase in ("transform", "train_only")
    for method in ("fit", "apply", "describe"):
        assert callable(getattr(cls, method))
    assert cls.apply is not Step.apply, f"{name} must implement apply"
    doc = inspect.getdoc(cls) or ""
    assert f"step: {name}" in doc, f"{name}'s docstring needs a YAML example"
    for field_name, field in cls.Params.model_fields.items():
        assert field.description, f"{name}.{field_name} needs a description"


def _frame() -> pl.DataFrame:
    return pl.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})


@pytest.mark.parametrize("name", STEPS)
def test_empty_selection_is_a_noop_and_state_is_json(name):
    cls = all_steps()[name]
    if "columns" not in cls.Params.model_fields:
        pytest.skip("step has no column selector")
    try:
        params = cls.Params.model_validate({"columns": {"regex": "^no_such_column$"}})
    except Exception:
        pytest.skip("step needs other required options")
    step = cls(params, f"{name}_1")
    frame = _frame()
    ctx = StepContext(target="y", step_id=step.id)
    try:
        state = step.fit(frame, ctx)
    except Exception as exc:  # steps that need a non-empty selection must say so clearly
        from prepkit.errors import PrepkitError

        assert isinstance(exc, PrepkitError), f"{name}: {type(exc).__name__}: {exc}"
        return
    state = json.loads(json.dumps(state))
    out = step.apply(frame, state, ctx)
    if cls.phase == "transform":
        assert out.equals(frame)


def _mixed(rows: int) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "num": [1.5, None, 3.0, 4.0, 10.0, 2.0, 2.5, 3.5],
            "count": [1, 2, 2, 3, 1, 4, 2, 3],
            "cat": ["a", "b", None, "a", "b", "a", "b", "a"],
            "text": ["a short review text"] * 4 + ["another longer text here"] * 4,
            "y": [0, 1, 0, 1, 0, 1, 0, 1],
        }
    )
    return frame.head(rows)


@pytest.mark.parametrize("rows", [0, 1, 8])
@pytest.mark.parametrize("name", STEPS)
def test_default_params_on_tiny_frames_work_or_fail_clearly(name, rows, tmp_path):
    """0-, 1- and 8-row frames either work (and survive a JSON round trip) or raise a clear error."""
    import prepkit
    from prepkit.errors import PrepkitError

    try:
        recipe = prepkit.load_recipe({"target": "y", "steps": [{"step": name}]})
    except PrepkitError:
        pytest.skip("step needs options")
    frame = _mixed(rows)
    try:
        fitted = recipe.fit(frame)
    except PrepkitError:
        return
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.json"))
    assert loaded.transform(frame).equals(fitted.transform(frame))
