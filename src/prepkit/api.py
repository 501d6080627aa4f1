"""The public API: recipes and fitted recipes with the methods that run them.

The layers point one way: the recipe model (`prepkit.recipe`) knows nothing of running it; the
pipeline fits and applies steps; `prepkit.fitted` holds what a fit learned; the engines and the
runner read, split, fit, check and write. This module sits on top of them all (beside the CLI)
and gives `Recipe.fit/run` and `FittedRecipe.transform_file`, which need the layers below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prepkit import fitted as _fitted
from prepkit import recipe as _recipe
from prepkit.engines import choose_engine
from prepkit.engines.stream import run_streamed
from prepkit.fitted import fit_frame
from prepkit.frames import to_polars
from prepkit.pipeline import context_for
from prepkit.recipe import validate_apply_checks
from prepkit.report import RunReport
from prepkit.runner import RunResult, apply_fitted, run_recipe


class FittedRecipe(_fitted.FittedRecipe):
    """A recipe whose steps have learned their state. Apply it with `transform` (a frame) or
    `transform_file` (a file, as `prepkit apply`); save it with `save`."""

    @classmethod
    def of(cls, fitted: _fitted.FittedRecipe) -> FittedRecipe:
        """The same fitted recipe, with the methods of the API."""
        if isinstance(fitted, cls):
            return fitted
        return cls(
            recipe=fitted.recipe, steps=fitted.steps, states=fitted.states,
            input_schema=fitted.input_schema, output_schema=fitted.output_schema,
            report=fitted.report, created=fitted.created, prepkit_version=fitted.prepkit_version,
            approximations=fitted.approximations, reference_profile=fitted.reference_profile,
        )  # fmt: skip

    def transform_file(
        self,
        input: str | Path,
        output: str | Path,
        *,
        batch_size: int | None = None,
        format: str | None = None,
        output_format: str | None = None,
        engine: str | None = None,
        spark: dict[str, Any] | None = None,
        checks: list[dict[str, Any]] | None = None,
    ) -> RunReport:
        """What `prepkit apply` does: read a file, apply, write atomically; returns the report
        (with `report.drift`: the new data against the training data).

        With `batch_size` (or `engine="stream"`), big files are applied that many rows at a time
        in bounded memory; `engine="spark"` reads and writes through Spark (`spark`: settings).
        `checks` (as a recipe's `apply_checks:`, e.g. `[{"metric": "psi", "max": 0.2}]`) replace
        the recipe's; when one fails, nothing is written and `CheckFailed` is raised.
        """
        given = None if checks is None else validate_apply_checks(checks)
        return apply_fitted(
            self,
            input,
            output,
            format,
            output_format,
            batch_size,
            engine=engine,
            spark=spark,
            checks=given,
        )


class Recipe(_recipe.Recipe):
    """A validated recipe: its settings (`spec`), its steps, and the folder paths are relative to.

    Build one with `prepkit.load_recipe(...)`.
    """

    def fit(
        self, data: Any, *, engine: str | None = None, batch_size: int | None = None
    ) -> FittedRecipe:
        """Learn every step's state from `data` (the training frame) and return the fitted recipe.

        `engine="stream"` fits batch by batch (`batch_size` rows), as `--engine stream` does;
        the fitted recipe is the same.
        """
        return fit(self, data, engine=engine, batch_size=batch_size)[0]

    def fit_transform(self, data: Any) -> Any:
        """Fit on `data` and return it transformed, train-only steps included (same frame type)."""
        return fit(self, data)[1]

    def run(
        self,
        data: Any = None,
        *,
        output: str | Path | None = None,
        write: bool = True,
        engine: str | None = None,
        batch_size: int | None = None,
        spark: dict[str, Any] | None = None,
    ) -> RunResult:
        """Do what `prepkit run` does: read, split, fit, apply, check and (optionally) write.

        `engine`: memory, stream, spark or auto (default: the recipe's `engine:`); `batch_size`:
        rows per batch; `spark`: {"master": ..., "conf": {...}} over the recipe's `spark:`.
        """
        result = run_recipe(
            self, data, output=output, write=write, engine=engine, batch_size=batch_size,
            spark=spark,
        )  # fmt: skip
        result.fitted = FittedRecipe.of(result.fitted)
        return result


def load_recipe(
    source: str | Path | dict[str, Any], overrides: list[str] | tuple[str, ...] = ()
) -> Recipe:
    """Load and validate a recipe from a YAML file path, a YAML string or a dict.

    `overrides` are `key=value` strings as given to `--set` (`steps.2.strategy=mean`).
    Raises `RecipeError` (exit code 2) listing every problem with its YAML line.
    """
    model = _recipe.load_recipe(source, overrides)
    return Recipe(model.spec, model.steps, model.base_dir, model.source)


def load_fitted(path: str | Path) -> FittedRecipe:
    """Load a fitted recipe saved by `prepkit run` or `FittedRecipe.save`."""
    return FittedRecipe.of(_fitted.load_fitted(path))


def fit(
    recipe: _recipe.Recipe, data: Any, engine: str | None = None, batch_size: int | None = None
) -> tuple[FittedRecipe, Any]:
    """Fit on a frame (no split); on the streaming engine, batch by batch; on Spark, per
    partition (a Spark DataFrame too)."""
    choice = choose_engine(
        engine or recipe.spec.engine, recipe.steps, None, None, batch_size or recipe.spec.batch_size
    )
    if choice.name != "spark":
        frame, back = to_polars(data)
    if choice.name == "memory":
        fitted, out = fit_frame(recipe, frame)
        return FittedRecipe.of(fitted), back(out)
    if choice.name == "spark":  # the whole run, on a recipe without its split
        unsplit = _recipe.Recipe(
            recipe.spec.model_copy(update={"split": None}), recipe.steps, recipe.base_dir,
            recipe.source,
        )  # fmt: skip
        result = run_recipe(unsplit, data, write=False, engine="spark", batch_size=batch_size)
        return FittedRecipe.of(result.fitted), result.outputs["train"]
    run = run_streamed(
        recipe, lambda: frame.iter_slices(choice.batch_size), context_for(recipe), source=None,
        writers=None, class_columns=[], keep_frames=True, split=False,
    )  # fmt: skip
    run.fitted.report.engine = choice.as_dict()
    return FittedRecipe.of(run.fitted), back(run.frames["train"])
