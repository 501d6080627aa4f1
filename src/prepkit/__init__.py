"""prepkit: data preprocessing and class-imbalance handling from YAML recipes.

Fit on training data, save the learned state as plain JSON, apply it to new data::

    import prepkit
    recipe = prepkit.load_recipe("recipes/tabular.yaml")
    fitted = recipe.fit(train_df)          # pandas or polars in
    clean = fitted.transform(new_df)       # same frame type out
    fitted.save("model.prepkit.json")
    prepkit.load_fitted("model.prepkit.json").transform(new_df)
"""

from prepkit.errors import CheckFailed, DataError, PrepkitError, RecipeError
from prepkit.fitted import FittedRecipe, load_fitted
from prepkit.recipe import Recipe, load_recipe

__version__ = "0.1.0"

__all__ = [
    "CheckFailed",
    "DataError",
    "FittedRecipe",
    "PrepkitError",
    "Recipe",
    "RecipeError",
    "__version__",
    "load_fitted",
    "load_recipe",
]
