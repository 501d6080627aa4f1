"""RecipeTransformer: a prepkit recipe in scikit-learn and imbalanced-learn pipelines.

scikit-learn's estimator checks run on a simple numeric recipe (impute median, scale standard).
Every check `check_estimator` yields for it passes (`check_array_api_input` skips itself unless
SCIPY_ARRAY_API=1 is set). Of the checks it does not yield, those that apply to a transformer
over frames run below (`EXTRA_CHECKS`); these are skipped, for the reasons in `SKIPPED_CHECKS`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import yaml
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

import prepkit
from prepkit.errors import DataError, RecipeError
from prepkit.sklearn import RecipeTransformer

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"

SIMPLE = {
    "name": "numeric",
    "steps": [
        {"step": "impute", "columns": "numeric", "strategy": "median"},
        {"step": "scale", "columns": "numeric", "method": "standard"},
    ],
}

# checks scikit-learn has but `check_estimator` does not yield for this estimator
EXTRA_CHECKS = [
    "check_set_output_transform",
    "check_set_output_transform_pandas",
    "check_global_output_transform_pandas",
    "check_set_output_transform_polars",
    "check_global_set_output_transform_polars",
    "check_transformer_get_feature_names_out",
    "check_transformer_get_feature_names_out_pandas",
    "check_get_feature_names_out_error",
    "check_requires_y_none",
]
SKIPPED_CHECKS = {
    "check_array_api_input": "skips itself unless SCIPY_ARRAY_API=1; prepkit works on polars "
    "frames, not on array-API arrays",
    "check_dataframe_column_names_consistency": "prepkit matches a frame's columns by name: new "
    "data may hold them in another order and extra columns are left out (missing ones are an "
    "error); scikit-learn wants the fit order exactly",
    "check_estimators_nan_inf": "not yielded (allow_nan tag): missing values are data a recipe "
    "handles (impute), so NaN is not refused",
    "check_classifier_multioutput, check_regressor_multioutput, "
    "check_classifiers_multilabel_*": "for classifiers and regressors; y is one target column",
}


# -- scikit-learn's estimator checks ----------------------------------------------------------------
@parametrize_with_checks([RecipeTransformer(SIMPLE)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name", EXTRA_CHECKS)
def test_sklearn_extra_checks(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        getattr(estimator_checks, name)("RecipeTransformer", RecipeTransformer(SIMPLE))


def test_the_skipped_checks_are_not_silently_passing():
    # the one check that is really not met: by-name column matching (documented above)
    est = RecipeTransformer(SIMPLE).fit(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]}))
    reordered = est.transform(pd.DataFrame({"b": [4.0, 6.0], "a": [1.0, 3.0], "extra": [0, 0]}))
    z = np.sqrt(1.5)  # (x - mean) / population std
    np.testing.assert_allclose(reordered, [[-z, -z], [z, z]])


# -- the churn data, cross-validated with SMOTE in the training folds only --------------------------
def churn_recipe() -> dict:
    """recipes/imbalanced.yaml, then scaling and dropping the id and date columns (step 3: smote)."""
    data = yaml.safe_load((ROOT / "recipes" / "imbalanced.yaml").read_text())
    numbers = ["age", "tenure_months", "monthly_charges", "total_charges", "support_calls"]
    data["steps"] += [
        {"step": "scale", "columns": numbers, "method": "standard"},
        {"step": "drop", "columns": ["customer_id", "signup_date"]},
    ]
    return data


@pytest.fixture(scope="module")
def churn():
    frame = pd.read_csv(SAMPLE / "churn.csv")
    return frame.drop(columns=["churned"]), frame["churned"]


def churn_pipeline(**prep) -> ImbPipeline:
    return ImbPipeline(
        [
            ("prep", RecipeTransformer(churn_recipe(), **prep)),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )


def test_method_availability_follows_the_state(churn):
    X, y = churn
    prep = RecipeTransformer(churn_recipe())
    assert hasattr(prep, "fit_resample")
    assert not hasattr(prep, "transform") and not hasattr(prep, "fit_transform")
    Xt, yt = prep.fit_resample(X, y)
    assert not hasattr(prep, "fit_resample")
    assert hasattr(prep, "transform") and hasattr(prep, "fit_transform")
    # SMOTE grew the churners to the size of the majority class; `split:` was ignored
    majority = int((y == 0).sum())
    assert Xt.shape == (2 * majority, 18) and np.bincount(yt).tolist() == [majority, majority]
    names = list(prep.get_feature_names_out())
    assert "synthetic" not in names and "churned" not in names and "customer_id" not in names
    assert names[:2] == ["age", "tenure_months"] and "contract_two year" in names
    assert prep.transform(X).shape == (len(X), 18)
    assert prep.n_features_in_ == 11 and list(prep.feature_names_in_) == list(X.columns)
    # a clone is a fresh, unfitted sampler again
    fresh = clone(prep)
    assert hasattr(fresh, "fit_resample") and not hasattr(fresh, "fitted_")
    # without resampling (or without train-only steps): a plain transformer at all times
    plain = RecipeTransformer(churn_recipe(), resample=False)
    assert hasattr(plain, "transform") and not hasattr(plain, "fit_resample")
    assert [s.name for s in plain.fit(X, y).fitted_.steps] == [
        "impute",
        "impute",
        "encode",
        "scale",
        "drop",
    ]
    assert plain.fit_transform(X, y).shape == (len(X), 18)
    assert not hasattr(RecipeTransformer(SIMPLE), "fit_resample")


def test_cross_validate_resamples_the_training_folds_only(churn):
    X, y = churn
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    predicted_rows = []

    def rows_scored(estimator, X_test, y_test):
        predicted_rows.append(len(estimator.predict(X_test)))
        return 0.0

    result = cross_validate(
        churn_pipeline(), X, y, cv=cv, scoring={"acc": "balanced_accuracy", "rows": rows_scored},
        return_estimator=True, return_indices=True,
    )  # fmt: skip
    assert predicted_rows == [len(test) for test in result["indices"]["test"]]
    for pipe, train in zip(result["estimator"], result["indices"]["train"], strict=True):
        prep = pipe.named_steps["prep"]
        smote = next(r for r in prep.fitted_.report.steps if r.step == "smote")
        majority = int((y.iloc[train] == 0).sum())
        assert smote.rows_in == len(train)  # the training fold, not the whole data
        assert smote.rows_out == 2 * majority > len(train)  # it saw the resampled rows
        assert hasattr(prep, "transform") and not hasattr(prep, "fit_resample")
    # a real model: clearly better than chance on the balanced accuracy
    assert result["test_acc"].mean() > 0.6


def test_grid_search_reaches_the_smote_step(churn):
    X, y = churn
    pipe = churn_pipeline()
    assert pipe.get_params()["prep__steps.3.k_neighbors"] == 5

    def k_used(estimator, X_test, y_test):
        recipe = estimator.named_steps["prep"].fitted_.recipe
        return recipe["steps"][2]["k_neighbors"]

    search = GridSearchCV(
        pipe, {"prep__steps.3.k_neighbors": [3, 5]}, cv=3,
        scoring={"acc": "balanced_accuracy", "k": k_used}, refit="acc",
    )  # fmt: skip
    search.fit(X, y)
    # every fold's fitted recipe used the k of its candidate
    assert search.cv_results_["mean_test_k"].tolist() == [3.0, 5.0]
    assert search.cv_results_["std_test_k"].tolist() == [0.0, 0.0]
    best = search.best_params_["prep__steps.3.k_neighbors"]
    fitted = search.best_estimator_.named_steps["prep"].fitted_
    assert fitted.recipe["steps"][2]["k_neighbors"] == best
    assert fitted.state("smote_3") is not None
    assert len(search.predict(X.head(7))) == 7


# -- parameters -------------------------------------------------------------------------------------
def test_get_params_lists_the_recipe_values():
    prep = RecipeTransformer(churn_recipe())
    shallow = prep.get_params(deep=False)
    assert shallow == {"recipe": prep.recipe, "resample": True, "output": "default"}
    deep = prep.get_params()
    assert deep["seed"] == 42 and deep["target"] == "churned"
    assert deep["steps.1.strategy"] == "median" and deep["steps.1.add_indicator"] is False
    assert deep["steps.3.k_neighbors"] == 5 and deep["steps.3.sampling_strategy"] == "auto"
    assert deep["steps.4.method"] == "onehot" and deep["steps.6.id"] == "drop_6"
    assert not any(key.endswith(".step") for key in deep)


def test_set_params_changes_the_recipe_and_validates_it():
    original = churn_recipe()
    prep = RecipeTransformer(original)
    prep.set_params(**{"steps.3.k_neighbors": np.int64(7), "seed": 3, "resample": False})
    assert isinstance(prep.recipe, dict) and prep.resample is False
    assert prep.get_params()["steps.3.k_neighbors"] == 7 and prep.get_params()["seed"] == 3
    assert original["steps"][2]["k_neighbors"] == 5  # the caller's dict is untouched
    assert prepkit.load_recipe(prep.recipe).steps[2].params.k_neighbors == 7
    with pytest.raises(RecipeError, match="k_neighbors"):
        prep.set_params(**{"steps.3.k_neighbors": 0})
    with pytest.raises(RecipeError, match="no item '9' in 'steps'"):
        prep.set_params(**{"steps.9.k_neighbors": 3})
    with pytest.raises(RecipeError, match="unknown option 'k_neighbours'"):
        prep.set_params(**{"steps.3.k_neighbours": 3})
    assert prep.get_params()["steps.3.k_neighbors"] == 7  # a failed set changes nothing


def test_clone_keeps_the_init_args():
    recipe = prepkit.load_recipe(churn_recipe())
    prep = RecipeTransformer(recipe, resample=False, output="polars")
    copy = clone(prep)
    assert copy.resample is False and copy.output == "polars"
    assert isinstance(copy.recipe, prepkit.Recipe) and copy.recipe is not recipe
    assert copy.get_params()["steps.3.k_neighbors"] == 5


# -- data in and out --------------------------------------------------------------------------------
def test_output_containers(churn):
    X, y = churn
    X = X.set_axis(range(100, 100 + len(X)))
    prep = RecipeTransformer(churn_recipe(), output="pandas")
    Xt, yt = prep.fit_resample(X, y)
    assert isinstance(Xt, pd.DataFrame) and isinstance(yt, pd.Series) and yt.name == "churned"
    assert list(Xt.columns) == list(prep.get_feature_names_out())
    new = prep.transform(X.head(5))
    assert list(new.index) == [100, 101, 102, 103, 104]  # the caller's rows
    age = prep.fitted_.state("scale_5")["scaling"]["age"]  # learned on the resampled rows
    expected = (np.array([63.0, 62.0, 63.0, 39.0, 46.0]) - age["center"]) / age["scale"]
    np.testing.assert_allclose(new["age"], expected)
    assert new["contract_two year"].tolist() == [1, 1, 0, 0, 0]
    out = prep.set_output(transform="polars").transform(pl.from_pandas(X.head(5)))
    assert isinstance(out, pl.DataFrame) and out.columns == list(prep.get_feature_names_out())
    array = prep.set_output(transform="default").transform(X.head(5))
    assert isinstance(array, np.ndarray) and array.dtype == np.float64 and array.shape == (5, 18)
    np.testing.assert_allclose(array, new.to_numpy(dtype=float))


def test_numpy_input_and_target_names():
    X = np.array([[1.0, np.nan], [3.0, 10.0], [5.0, 20.0], [7.0, 30.0]])
    prep = RecipeTransformer(SIMPLE).fit(X, np.array([0, 1, 0, 1]))
    assert list(prep.feature_names_in_) == ["x0", "x1"] and prep.fitted_.target == "target"
    assert prep.fitted_.state("impute_1")["fill"] == {"x0": 4.0, "x1": 20.0}
    np.testing.assert_allclose(prep.transform(X)[:, 1], [0.0, -1.414214, 0.0, 1.414214], atol=1e-6)
    # y's name becomes the target when the recipe has none; a target inside X works too
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "label": [0, 1, 0]})
    named = RecipeTransformer(SIMPLE).fit(frame[["a"]], frame["label"])
    assert named.fitted_.target == "label" and list(named.get_feature_names_out()) == ["a"]
    inside = RecipeTransformer({**SIMPLE, "target": "label"}).fit(frame)
    assert list(inside.get_feature_names_out()) == ["a"]
    assert inside.transform(frame).shape == (3, 1)  # the target column is dropped


def test_columns_only_train_only_steps_make_are_not_features():
    recipe = {"target": "y", "steps": [{"step": "class_weights"}]}
    frame = pl.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "y": [0, 0, 0, 1]})
    prep = RecipeTransformer(recipe)
    assert not hasattr(prep, "fit_resample")  # class weights keep the rows
    out = prep.set_output(transform="polars").fit_transform(frame.drop("y"), frame["y"])
    assert out.columns == ["a"] and out["a"].to_list() == [1.0, 2.0, 3.0, 4.0]
    assert prep.fitted_.state("class_weights_1")["weights"] == {"0": 4 / 6, "1": 2.0}


def test_in_a_plain_sklearn_pipeline(churn):
    X, y = churn
    pipe = Pipeline(
        [
            ("prep", RecipeTransformer(churn_recipe(), resample=False)),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (len(X),)
    assert pipe.named_steps["prep"].fitted_.report.steps[0].rows_in == len(X)


# -- errors -----------------------------------------------------------------------------------------
def test_errors_are_clear(churn):
    X, y = churn
    with pytest.raises(
        DataError, match="X must be a pandas or polars DataFrame or a 2-D numpy array, got str"
    ):
        RecipeTransformer(SIMPLE).fit("data.csv")
    with pytest.raises(DataError, match="y has 10 values but X has 2040 rows"):
        RecipeTransformer(churn_recipe()).fit(X, y.head(10))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        RecipeTransformer(SIMPLE).transform(X)
    with pytest.raises(AttributeError):  # an unfitted sampler has no transform at all
        RecipeTransformer(churn_recipe()).transform(X)
    prep = RecipeTransformer(churn_recipe()).fit(X, y)
    with pytest.raises(
        DataError, match="X is missing column.* the recipe was fitted with: tenure_months, region"
    ):
        prep.transform(X.drop(columns=["tenure_months", "region"]))
    with pytest.raises(ValueError, match="X has 3 features, but RecipeTransformer is expecting 11"):
        prep.transform(np.zeros((2, 3)))
    with pytest.raises(DataError, match="X already has a column 'churned'"):
        RecipeTransformer(churn_recipe()).fit(X.assign(churned=0), y)
    with pytest.raises(RecipeError, match="recipe must be a prepkit Recipe"):
        RecipeTransformer(42).fit(X, y)
    with pytest.raises(RecipeError, match="output must be one of"):
        RecipeTransformer(SIMPLE, output="arrow").fit(X[["age"]])
