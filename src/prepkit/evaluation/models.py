"""The models `prepkit evaluate` trains on each fold: scikit-learn classifiers by name, or any
classifier given from Python."""

from __future__ import annotations

import inspect
from typing import Any

from prepkit.errors import RecipeError, suggest

# name -> (import path, defaults); each default is what a careful user would start from
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "logistic": ("sklearn.linear_model.LogisticRegression", {"max_iter": 2000}),
    "random_forest": (
        "sklearn.ensemble.RandomForestClassifier",
        {"n_estimators": 200, "n_jobs": 1},
    ),
    "hist_gradient_boosting": ("sklearn.ensemble.HistGradientBoostingClassifier", {}),
    "knn": ("sklearn.neighbors.KNeighborsClassifier", {"n_neighbors": 5}),
}


def _class(path: str) -> type:
    from importlib import import_module

    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


def make_model(model: str | Any, params: dict[str, Any] | None, seed: int) -> Any:
    """An unfitted classifier: a name from `MODELS` with its defaults, or a scikit-learn-style
    estimator (cloned). `params` override (`--model-param k=v`); `random_state` is the seed
    unless set."""
    from sklearn.base import clone

    if isinstance(model, str):
        if model not in MODELS:
            raise RecipeError(
                f"unknown model '{model}'{suggest(model, MODELS)}",
                hint=f"choose one of {', '.join(MODELS)}, or give an estimator from Python",
            )
        path, defaults = MODELS[model]
        estimator = _class(path)(**defaults)
    else:
        if not (hasattr(model, "fit") and hasattr(model, "get_params")):
            raise RecipeError(
                f"the model {type(model).__name__} is not a scikit-learn estimator",
                hint="give a classifier with fit/predict_proba/get_params, or a model name",
            )
        estimator = clone(model)
    params = dict(params or {})
    valid = estimator.get_params()
    unknown = [k for k in params if k not in valid]
    if unknown:
        raise RecipeError(
            f"--model-param {unknown[0]}: {type(estimator).__name__} has no parameter "
            f"'{unknown[0]}'{suggest(unknown[0], valid)}",
            hint=f"its parameters: {', '.join(sorted(valid))}",
        )
    if "random_state" in valid and "random_state" not in params and valid["random_state"] is None:
        params["random_state"] = seed
    estimator.set_params(**params)
    if not hasattr(estimator, "predict_proba"):
        raise RecipeError(
            f"the model {type(estimator).__name__} has no predict_proba",
            hint="the imbalance metrics (PR-AUC, ROC-AUC, log loss) need class probabilities",
        )
    return estimator


def model_name(model: str | Any) -> str:
    return model if isinstance(model, str) else type(model).__name__


def takes_weights(estimator: Any) -> bool:
    """Whether `estimator.fit` accepts `sample_weight` (class weights need it)."""
    return "sample_weight" in inspect.signature(estimator.fit).parameters
