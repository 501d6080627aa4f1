"""Class weights for cost-sensitive learning: weigh rows instead of resampling them."""

from __future__ import annotations

from typing import Any, Literal

import polars as pl
from pydantic import Field

from prepkit.errors import DataError, suggest
from prepkit.steps.base import Step, StepContext, StepParams, register


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

    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        target = ctx.require_target(frame, "class_weights")
        labels = frame[target]
        missing = labels.null_count()
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
        text = labels.cast(pl.String)
        counts = text.value_counts(name="n").sort(target)
        classes = counts[target].to_list()
        sizes = dict(zip(classes, counts["n"].to_list(), strict=True))
        weights = self.params.weights
        if weights == "balanced":
            n, k = frame.height, len(classes)
            learned = {c: n / (k * sizes[c]) for c in classes}
        else:
            given = {_key(c): float(w) for c, w in weights.items()}
            unknown = [c for c in given if c not in sizes]
            if unknown and frame.height:
                raise DataError(
                    f"class_weights names class(es) not in target '{target}': {', '.join(unknown)}"
                    f"{suggest(unknown[0], classes)}",
                    hint=f"classes: {', '.join(classes)}",
                )
            learned = {c: given.get(c, 1.0) for c in classes}
        return {"target": target, "weights": learned, "class_counts": sizes}

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
        return {
            "weights": state["weights"],
            "class_counts": state["class_counts"],
            "column": self.params.column if self.params.add_column else None,
        }
