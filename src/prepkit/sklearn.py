"""A prepkit recipe as a scikit-learn transformer (and an imbalanced-learn sampler).

`RecipeTransformer` fits a recipe on the training data it is given and applies it to new data,
so a recipe can sit first in a pipeline that `cross_validate` or `GridSearchCV` fits once per
fold: every statistic (medians, scales, categories) and every resampled row comes from the
training fold only.

Resampling steps change the training rows, which a scikit-learn transformer cannot do.
imbalanced-learn's `Pipeline` can: it calls `fit_resample` on a step that has it (and no
`transform`), and skips such a step at predict time. So which methods a `RecipeTransformer`
offers depends on its state (see the class docstring).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.metaestimators import available_if

from prepkit import recipe as _recipe
from prepkit.api import FittedRecipe, load_recipe
from prepkit.errors import DataError, RecipeError
from prepkit.fitted import fit_frame
from prepkit.frames import to_polars
from prepkit.steps.base import Step

__all__ = ["InputError", "InputTypeError", "ParamError", "RecipeTransformer", "recipe_params"]

_OUTPUTS = ("default", "pandas", "polars")
_TOP_LEVEL = ("seed", "target")  # the recipe's top-level values `get_params` lists
_DEFAULT_TARGET = "target"


class InputError(DataError, ValueError):
    """Bad input data: a prepkit `DataError` that is also the `ValueError` scikit-learn expects."""


class InputTypeError(DataError, TypeError):
    """Input of a type prepkit cannot read: a `DataError` that is also a `TypeError`."""


class ParamError(RecipeError, ValueError):
    """A bad parameter or recipe: a prepkit `RecipeError` that is also a `ValueError`."""


# -- the recipe -----------------------------------------------------------------------------------
def _load(recipe: Any) -> _recipe.Recipe:
    """The validated recipe from a `Recipe`, a YAML path, YAML text or a dict."""
    if isinstance(recipe, _recipe.Recipe):
        return recipe
    if isinstance(recipe, (str, Path, dict)):
        try:
            return load_recipe(recipe)
        except RecipeError as exc:
            raise ParamError(exc.message, hint=exc.hint) from exc
    raise ParamError(
        f"recipe must be a prepkit Recipe, a YAML file path, YAML text or a dict, "
        f"got {type(recipe).__name__}",
        hint="e.g. RecipeTransformer(prepkit.load_recipe('recipes/tabular.yaml'))",
    )


def _train_only(step: Step) -> bool:
    """A step that `apply` skips (resampling, label-issue removal, class weights...)."""
    return not step.runs_at_apply


def _changes_rows(step: Step) -> bool:
    """A train-only step that adds, drops or reorders training rows (a sampler)."""
    return _train_only(step) and not step.keeps_rows


def recipe_params(recipe: _recipe.Recipe) -> dict[str, Any]:
    """The recipe's values addressable like `--set`: `seed`, `target` and `steps.N.option`.

    N is 1-based; every option of every step is listed, defaults included (`Recipe.to_dict`).
    """
    data = recipe.to_dict()
    params = {key: data.get(key) for key in _TOP_LEVEL}
    for number, step in enumerate(data["steps"], 1):
        params.update(
            (f"steps.{number}.{option}", value)
            for option, value in step.items()
            if option != "step"
        )
    return params


def _plain(value: Any) -> Any:
    """A numpy scalar (as a parameter grid holds) as the Python value a recipe holds."""
    return value.item() if isinstance(value, np.generic) else value


def _changed_recipe(recipe: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The recipe as a dict with `values` set (`steps.3.k_neighbors` ...), validated again."""
    data = _load(recipe).to_dict()
    for key, value in values.items():
        try:
            _recipe.set_value(data, key, _plain(value))
        except RecipeError as exc:
            message = exc.message.removeprefix("--set ")
            raise ParamError(f"set_params: {message}", hint=exc.hint) from exc
    try:
        load_recipe(data)
    except RecipeError as exc:
        raise ParamError(f"set_params({', '.join(values)}): {exc.message}", hint=exc.hint) from exc
    return data


# -- the data -------------------------------------------------------------------------------------
def _is_pandas(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "pandas"


def _from_array(X: Any) -> pl.DataFrame:
    """A 2-D array (numpy or array-like) as a frame with columns x0..xN-1 (NaN: missing)."""
    array = np.asarray(X)
    if array.ndim != 2:
        raise InputError(
            f"Expected 2D array, got {array.ndim}-D data of shape {array.shape}. Reshape your "
            "data either using array.reshape(-1, 1) if it has a single feature or "
            "array.reshape(1, -1) if it contains a single sample.",
            hint="or give a pandas or polars DataFrame",
        )
    if array.shape[1] == 0:
        raise InputError(
            f"Found array with 0 feature(s) (shape={array.shape}) while a minimum of 1 is required."
        )
    if np.iscomplexobj(array):
        raise InputError("Complex data not supported", hint="give real numbers")
    if array.dtype == object:
        array = _object_array(array)
    names = [f"x{i}" for i in range(array.shape[1])]
    if array.dtype == object:
        frame = pl.DataFrame(
            [pl.Series(name, array[:, i].tolist(), strict=False) for i, name in enumerate(names)]
        )
    else:
        frame = pl.DataFrame({name: array[:, i] for i, name in enumerate(names)})
    floats = [name for name, dtype in frame.schema.items() if dtype.is_float()]
    return frame.with_columns(pl.col(floats).fill_nan(None)) if floats else frame


def _object_array(array: np.ndarray) -> np.ndarray:
    """An object array as numbers when it holds only numbers; as it is when it holds text."""
    try:
        return array.astype(np.float64)
    except ValueError:
        return array  # text: each column becomes a text (or mixed) column
    except TypeError as exc:
        raise InputTypeError(
            f"X holds a value that is neither a number nor text ({exc})",
            hint="give numbers, text, or a DataFrame with typed columns",
        ) from None


def _as_frame(X: Any) -> pl.DataFrame:
    """X (a pandas or polars DataFrame, or a 2-D array) as a polars frame."""
    if issparse(X):
        raise InputError(
            "sparse input is not supported: RecipeTransformer takes a dense 2-D array or a frame",
            hint="convert it with X.toarray(), or give a pandas or polars DataFrame",
        )
    if isinstance(X, (pl.DataFrame, pl.LazyFrame)):
        return to_polars(X)[0]
    if _is_pandas(X) and hasattr(X, "columns"):
        if not all(isinstance(c, str) for c in X.columns):
            X = X.rename(columns=str)
        return to_polars(X)[0]
    if isinstance(X, (str, bytes, dict, pl.Series)) or _is_pandas(X) or X is None:
        raise InputError(
            f"X must be a pandas or polars DataFrame or a 2-D numpy array, got {type(X).__name__}",
            hint="give the feature columns as a frame, or a 2-D array (columns x0..xN-1)",
        )
    return _from_array(X)


def _name_of(y: Any) -> str | None:
    """The name of a pandas or polars Series (None for arrays and unnamed series)."""
    name = getattr(y, "name", None)
    return name if isinstance(name, str) and name else None


def _target_series(y: Any, name: str, rows: int) -> pl.Series:
    """y as a polars Series called `name`; its length must be `rows`."""
    if isinstance(y, pl.Series):
        series = y.alias(name)
    elif _is_pandas(y) and hasattr(y, "to_numpy") and getattr(y, "ndim", 1) == 1:
        series = pl.from_pandas(y.reset_index(drop=True), nan_to_null=True).alias(name)
    else:
        values = np.asarray(y)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values.ravel()
        if values.ndim != 1:
            raise InputError(
                f"y must be one column of labels, got shape {values.shape}",
                hint="give a 1-D array or a Series",
            )
        series = pl.Series(name, values)
    if series.len() != rows:
        raise InputError(
            f"y has {series.len()} values but X has {rows} rows",
            hint="give one label per row of X",
        )
    return series


def _data_errors(action: str, fn: Callable[[], Any]) -> Any:
    """Run `fn`; a prepkit `DataError` comes out as an `InputError` (also a ValueError)."""
    try:
        return fn()
    except (InputError, InputTypeError):
        raise
    except DataError as exc:
        raise InputError(f"{action}: {exc.message}", hint=exc.hint) from exc


# -- the estimator --------------------------------------------------------------------------------
class RecipeTransformer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """A prepkit recipe as a scikit-learn transformer, or an imbalanced-learn sampler.

    Parameters
    ----------
    recipe : a prepkit `Recipe` (`prepkit.load_recipe`), a YAML file path, YAML text or a dict.
        Its `split:` is ignored (the caller splits); its `target:` names the label column.
    resample : bool, default True
        Run the recipe's train-only steps (resampling, label-issue removal...) when fitting.
        False drops them from the recipe: a plain transformer.
    output : "default", "pandas" or "polars", default "default"
        The container `transform` returns; "default" follows scikit-learn's global
        `transform_output` (numpy unless set). `set_output(transform=...)` sets it.

    `fit(X, y)`: X is a pandas or polars DataFrame, or a 2-D array (columns x0..xN-1); y, when
    given, is added as the target column (the recipe's `target:`, else y's name, else
    "target"). The recipe is fitted in memory. `transform(X)` applies it (train-only steps are
    skipped, as `prepkit apply` does) and returns the features: the applied columns without the
    target, and without the columns only train-only steps add (`synthetic`, `sample_weight`).
    `get_feature_names_out()` names them.

    **Which methods exist depends on the state.** A recipe with train-only steps that change
    rows (SMOTE, undersampling, dropping label issues), with `resample=True`:

    - unfitted, it offers `fit_resample(X, y)` -> (Xt, yt), the resampled training data, and
      has *no* `transform` / `fit_transform`: imbalanced-learn's `Pipeline` then resamples the
      training data with it (it refuses steps with both methods);
    - once fitted (by `fit` or `fit_resample`), it offers `transform` / `fit_transform` and no
      `fit_resample`: the pipeline applies it to the data it predicts on, without resampling.

    So a fitted one is not refitted with resampling by a pipeline: use `sklearn.base.clone()`
    for a fresh one to fit again (`cross_validate` and `GridSearchCV` clone for every fit). Any
    other recipe, or `resample=False`, gives a plain transformer at all times.

    `get_params()` lists, besides the three parameters, the recipe's values as `--set` names
    them: `seed`, `target` and `steps.N.option` (N from 1), so a grid can search them:
    `GridSearchCV(pipe, {"prep__steps.3.k_neighbors": [3, 5]})`. `set_params` of those stores
    the changed recipe, validated, as a dict in `recipe`.

    Fitted attributes: `fitted_` (the prepkit `FittedRecipe`), `feature_names_in_`,
    `n_features_in_`.
    """

    def __init__(self, recipe: Any, *, resample: bool = True, output: str = "default") -> None:
        self.recipe = recipe
        self.resample = resample
        self.output = output

    # -- state-dependent methods ------------------------------------------------------------------
    def _is_sampler(self) -> bool:
        """Unfitted, with train-only steps that change rows, and `resample`: a sampler."""
        if self.__sklearn_is_fitted__() or self.resample is not True:
            return False
        try:
            steps = _load(self.recipe).steps
        except RecipeError:
            return False  # fit reports the recipe's problems
        return any(_changes_rows(step) for step in steps)

    def _is_transformer(self) -> bool:
        return not self._is_sampler()

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "fitted_")

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are data a recipe handles
        tags.target_tags.required = False
        return tags

    # -- parameters -------------------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The parameters; with `deep`, also the recipe's values (`seed`, `steps.3.k_neighbors`)."""
        params = super().get_params(deep=False)
        if deep:
            params.update(recipe_params(_load(self.recipe)))
        return params

    def set_params(self, **params: Any) -> RecipeTransformer:
        """Set parameters, or the recipe's values by their `get_params` names (validated)."""
        own = self._get_param_names()
        for name in own:
            if name in params:
                setattr(self, name, params.pop(name))
        if params:
            self.recipe = _changed_recipe(self.recipe, params)
        return self

    def set_output(self, *, transform: str | None = None) -> RecipeTransformer:
        """Choose what `transform`, `fit_transform` and `fit_resample` return: "default"
        (numpy, or scikit-learn's global `transform_output`), "pandas" or "polars"."""
        if transform is None:
            return self
        if transform not in _OUTPUTS:
            raise ValueError(f"output config must be in {list(_OUTPUTS)}, got {transform!r}")
        self.output = transform
        return self

    # -- fitting ----------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> RecipeTransformer:
        """Fit the recipe on X (and y as its target column); returns self."""
        self._fit(X, y)
        return self

    @available_if(_is_transformer)
    def fit_transform(self, X: Any, y: Any = None) -> Any:
        """Fit, then transform X (as `fit(X, y).transform(X)`: one output row per row of X)."""
        return self.fit(X, y).transform(X)

    @available_if(_is_sampler)
    def fit_resample(self, X: Any, y: Any = None) -> tuple[Any, Any]:
        """Fit on X and y; return (Xt, yt), the training data after every step, resampling
        included. Offered while unfitted, for recipes with row-changing train-only steps."""
        out, target = self._fit(X, y)
        features = out.select(self._columns_of(out, "the resampled training data"))
        labels = out[target] if target is not None and target in out.columns else None
        return self._wrap(features), self._wrap_labels(labels)

    def _fit(self, X: Any, y: Any) -> tuple[pl.DataFrame, str | None]:
        """Fit; set the fitted attributes; return the training output and the target's name."""
        self._check_params()
        base = _load(self.recipe)
        frame = _data_errors("X", lambda: _as_frame(X))
        inputs = list(frame.columns)
        target = base.target
        if y is not None:
            target = target or _name_of(y) or _DEFAULT_TARGET
            if target in frame.columns:
                raise InputError(
                    f"X already has a column '{target}', the target y would be added as",
                    hint="drop the target from X, or give y=None to use X's column",
                )
            frame = frame.with_columns(_target_series(y, target, frame.height))
        recipe = self._recipe_to_fit(base, target)
        fitted, out = _data_errors("fit", lambda: fit_frame(recipe, frame))
        fitted = FittedRecipe.of(fitted)
        empty = frame.clear().drop([c for c in (target,) if c in frame.columns])
        applied, _ = _data_errors("fit", lambda: fitted.transform_frame(empty))
        self.fitted_ = fitted
        self.feature_names_in_ = np.asarray(inputs, dtype=object)
        self.n_features_in_ = len(inputs)
        self._target = target
        self._fitted_on_frame = isinstance(X, (pl.DataFrame, pl.LazyFrame)) or _is_pandas(X)
        self._features_out = [c for c in applied.columns if c != target]
        return out, target

    def _check_params(self) -> None:
        if not isinstance(self.resample, (bool, np.bool_)):
            raise ParamError(f"resample must be True or False, got {self.resample!r}")
        if self.output not in _OUTPUTS:
            raise ParamError(f"output must be one of {list(_OUTPUTS)}, got {self.output!r}")

    def _recipe_to_fit(self, base: _recipe.Recipe, target: str | None) -> _recipe.Recipe:
        """The recipe without its split, with the target, and without train-only steps unless
        `resample`."""
        steps = base.steps if self.resample else [s for s in base.steps if not _train_only(s)]
        spec = base.spec.model_copy(update={"split": None, "target": target})
        return _recipe.Recipe(spec, steps, base.base_dir, base.source)

    # -- applying ---------------------------------------------------------------------------------
    @available_if(_is_transformer)
    def transform(self, X: Any) -> Any:
        """Apply the fitted recipe to X (train-only steps skipped); return its features."""
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )
        frame = self._transform_input(X)
        out, _ = _data_errors("transform", lambda: self.fitted_.transform_frame(frame, source="X"))
        features = out.select(self._columns_of(out, "the transformed data"))
        index = X.index if _is_pandas(X) and out.height == frame.height else None
        return self._wrap(features, index)

    def _transform_input(self, X: Any) -> pl.DataFrame:
        """X as a frame of the fitted input columns (without the target), in the fitted order.

        Frames are matched by column name (any order; extra columns are left out) when the
        recipe was fitted on a frame; arrays, and anything after fitting on an array, by
        position.
        """
        inputs = [c for c in self.feature_names_in_ if c != self._target]
        is_frame = isinstance(X, (pl.DataFrame, pl.LazyFrame)) or _is_pandas(X)
        frame = _data_errors("X", lambda: _as_frame(X))
        if is_frame and self._fitted_on_frame:
            missing = [c for c in inputs if c not in frame.columns]
            if missing:
                raise InputError(
                    f"X is missing column(s) the recipe was fitted with: {', '.join(missing)}",
                    hint=f"columns of X: {', '.join(frame.columns) or '(none)'}",
                )
            return frame.select(inputs)
        if frame.width not in (len(inputs), self.n_features_in_):
            raise InputError(
                f"X has {frame.width} features, but {type(self).__name__} is expecting "
                f"{len(inputs)} features as input.",
                hint=f"the columns fitted on: {', '.join(inputs)}",
            )
        names = inputs if frame.width == len(inputs) else list(self.feature_names_in_)
        frame = frame.rename(dict(zip(frame.columns, names, strict=True)))
        return frame.select(inputs)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The names of the columns `transform` returns (from the fitted recipe).

        `input_features`, when given, must be `feature_names_in_` (after fitting on a frame) or
        have one name per input column (after fitting on an array: outputs that are input
        columns x0..xN-1 take those names).
        """
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' first."
            )
        names = list(self._features_out)
        if input_features is None:
            return np.asarray(names, dtype=object)
        given = [str(name) for name in input_features]
        if len(given) != self.n_features_in_:
            raise ValueError(
                "input_features should have length equal to number of features "
                f"({self.n_features_in_}), got {len(given)}"
            )
        fitted = list(self.feature_names_in_)
        if self._fitted_on_frame:
            if given != fitted:
                raise ValueError(
                    f"input_features is not equal to feature_names_in_: {given} != {fitted}"
                )
            return np.asarray(names, dtype=object)
        renamed = dict(zip(fitted, given, strict=True))
        return np.asarray([renamed.get(name, name) for name in names], dtype=object)

    def _columns_of(self, out: pl.DataFrame, what: str) -> list[str]:
        missing = [c for c in self._features_out if c not in out.columns]
        if missing:
            raise InputError(
                f"{what} lacks the feature column(s) {', '.join(missing)}",
                hint="a step makes different columns at fit and at apply time",
            )
        return self._features_out

    # -- output containers ------------------------------------------------------------------------
    def _container(self) -> str:
        if self.output != "default":
            return self.output
        from sklearn import get_config

        return get_config().get("transform_output", "default")

    def _wrap(self, frame: pl.DataFrame, index: Any = None) -> Any:
        """The features as numpy, pandas or polars (`output` / `set_output`)."""
        kind = self._container()
        if kind == "polars":
            return frame
        if kind == "pandas":
            result = frame.to_pandas()
            if index is not None:
                result.index = index
            return result
        dtypes = frame.dtypes
        numeric = all(d.is_numeric() or d == pl.Boolean for d in dtypes)
        if dtypes and numeric and not all(d.is_integer() for d in dtypes):
            common = pl.Float32 if all(d == pl.Float32 for d in dtypes) else pl.Float64
            return frame.cast(common).to_numpy()
        return frame.to_numpy()

    def _wrap_labels(self, labels: pl.Series | None) -> Any:
        """The target of `fit_resample`, in the container of the features."""
        if labels is None:
            return None
        kind = self._container()
        if kind == "polars":
            return labels
        if kind == "pandas":
            return labels.to_pandas()
        return labels.to_numpy()
