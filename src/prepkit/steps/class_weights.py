"""Class weights for cost-sensitive learning: weigh rows instead of resampling them."""

from __future__ import annotations

from typing import Any, Literal

import polars as pl
from pydantic import Field, FiniteFloat

from prepkit.engines.statistics import Counts, Request
from prepkit.errors import DataError, suggest
from prepkit.steps.base import Column, Step, StepContext, StepParams, StepState, register


def _key(value: Any) -> str:
    """A class label as text: YAML keys and polars' String cast of the target agree."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@register("class_weights")
class ClassWeights(Step):
    """Learn one weight per class and add it to every training row as a `sample_weight` column.

    `balanced` gives each class the weight `rows / (classes * rows_in_class)`, exactly like
    scikit-learn's `compute_class_weight("balanced")`; a mapping gives weights by hand (classes
    left out get 1.0, as in scikit-learn). The weights are kept in the fitted artifact and the
    report, so a training script can read them from there instead (`add_column: false`). Rows are
    never changed. The step is `train_only`: valid/test parts and `prepkit apply` get no weight
    column.

    ```yaml
    - step: class_weights
      weights: balanced          # or {0: 1.0, 1: 9.0}
      column: sample_weight
      add_column: true
    ```
    """

    class Params(StepParams):
        weights: Literal["balanced"] | dict[int | str, float] = Field(
            "balanced",
            description="`balanced` (n / (n_classes * class count)) or a mapping {class: weight}.",
        )
        column: str = Field("sample_weight", description="Name of the per-row weight column.")
        add_column: bool = Field(
            True, description="Add the per-row weight column to the training output."
        )

    phase = "train_only"
    keeps_rows = True  # adds a column, never changes rows

    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Request]:
        return [Counts(ctx.require_target(frame, "class_weights"))]

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        target = ctx.require_target(frame, "class_weights")
        counts = answers[Counts(target)]
        missing = counts.get(None, 0)
        if missing:
            raise DataError(
                f"target '{target}' has {missing} missing labels",
                hint="drop the rows without a label before computing class weights",
            )
        if self.params.column in frame.columns:
            raise DataError(
                f"class_weights: column '{self.params.column}' already exists",
                hint="choose another name with `column:`",
            )
        # the labels as polars casts them to text (apply looks the weights up the same way)
        dtype = frame.schema[target]
        text = pl.Series(
            list(counts), dtype=pl.String if isinstance(dtype, (pl.Categorical, pl.Enum)) else dtype
        ).cast(pl.String)
        sizes = dict(sorted(zip(text.to_list(), counts.values(), strict=True)))
        classes = list(sizes)
        rows = sum(sizes.values())
        weights = self.params.weights
        if weights == "balanced":
            n, k = rows, len(classes)
            learned = {c: n / (k * sizes[c]) for c in classes}
        else:
            given = {_key(c): float(w) for c, w in weights.items()}
            unknown = [c for c in given if c not in sizes]
            if unknown and rows:
                raise DataError(
                    f"class_weights names class(es) not in target '{target}': {', '.join(unknown)}"
                    f"{suggest(unknown[0], classes)}",
                    hint=f"classes: {', '.join(classes)}",
                )
            learned = {c: given.get(c, 1.0) for c in classes}
        return {"target": target, "weights": learned, "class_counts": sizes}

    class State(StepState):
        target: Column
        weights: dict[str, FiniteFloat]
        class_counts: dict[str, int]

        def made(self, step: Step, columns: dict[str, str]) -> dict[str, str]:
            return {step.params.column: "numeric"} if step.params.add_column else {}

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        if not self.params.add_column:
            return frame
        target = state["target"]
        weight = (
            pl.col(target)
            .cast(pl.String)
            .replace_strict(state["weights"], default=None, return_dtype=pl.Float64)
        )
        return frame.with_columns(weight.alias(self.params.column))

    def describe(
        self, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any]
    ) -> dict[str, Any]:
        # counts of the rows this application saw (they add up over batches); the weights,
        # learned once, are in `learned`
        target = state["target"]
        counts = before.get_column(target).cast(pl.String).value_counts() if before.height else None
        return {
            "class_counts": {} if counts is None else dict(counts.iter_rows()),
            "column": self.params.column if self.params.add_column else None,
        }

    def learned(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"weights": state["weights"]}
