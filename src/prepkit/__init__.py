"""prepkit: data preprocessing and class-imbalance handling from YAML recipes.

Fit on training data, save the learned state as plain JSON, apply it to new data::

    import prepkit
    recipe = prepkit.load_recipe("recipes/tabular.yaml")
    fitted = recipe.fit(train_df)          # pandas or polars in
    clean = fitted.transform(new_df)       # same frame type out
    fitted.save("model.prepkit.json")
    prepkit.load_fitted("model.prepkit.json").transform(new_df)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from prepkit.errors import CheckFailed, DataError, PrepkitError, RecipeError

if TYPE_CHECKING:
    from prepkit.api import FittedRecipe, Recipe, load_fitted, load_recipe
    from prepkit.drifts import drift
    from prepkit.evaluation import Evaluation, evaluate
    from prepkit.inspection import inspect

__version__ = "0.1.0"

# Imported on first use, so that `prepkit --help` and `import prepkit.errors` do not pay for
# polars, numpy and pydantic.
_LAZY = {
    "FittedRecipe": "prepkit.api",
    "load_fitted": "prepkit.api",
    "Recipe": "prepkit.api",
    "load_recipe": "prepkit.api",
    "evaluate": "prepkit.evaluation",
    "Evaluation": "prepkit.evaluation",
    "inspect": "prepkit.inspection",
    "drift": "prepkit.drifts",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'prepkit' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "CheckFailed",
    "DataError",
    "Evaluation",
    "FittedRecipe",
    "PrepkitError",
    "Recipe",
    "RecipeError",
    "__version__",
    "drift",
    "evaluate",
    "inspect",
    "load_fitted",
    "load_recipe",
]
