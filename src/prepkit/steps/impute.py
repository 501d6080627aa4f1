"""Imputation: fill missing values with statistics learned on the training data."""

from __future__ import annotations

import math
from typing import Any, Literal

import polars as pl
from pydantic import Field

from prepkit.columns import Selector, require_numeric, select_columns
from prepkit.errors import DataError
from prepkit.stats import quantiles
from prepkit.steps.base import Step, StepContext, StepParams, register


def _missing(frame: pl.DataFrame, column: str) -> pl.Expr:
    """Null, and NaN for float columns: both count as missing."""
    col = pl.col(column)
    return col.is_null() | col.is_nan() if frame.schema[column].is_float() else col.is_null()


def _plain(value: Any) -> Any:
    """A polars scalar as JSON-friendly Python (dates as ISO text)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


@register("impute")
class Impute(Step):
    """Fill missing values (null, and NaN in float columns) with a statistic learned at fit time.

    Matches scikit-learn's SimpleImputer: `mean`/`median` ignore missing values, `most_frequent`
    picks the smallest of tied values, `constant` uses `fill_value`. A column that is entirely
    missing at fit time cannot be imputed by a statistic and is an error (drop it first with
    `drop_missing`). Integer columns stay integers unless the statistic is fractional.

    ```yaml
    - step: impute
      columns: numeric
      strategy: median
      add_indicator: true      # adds income__missing (boolean)
    ```
    """

    class Params(StepParams):
        columns: Selector = Field("numeric", description="Columns to impute (selector).")
        strategy: Literal["mean", "median", "most_frequent", "constant"] = Field(
            "median", description="Statistic learned per column at fit time."
        )
        fill_value: float | int | str | bool | None = Field(
            None,
            description="Value for strategy: constant (default 0 for numbers, 'missing' for text).",
        )
        add_indicator: bool = Field(
            False, description="Add a boolean <col>__missing column for every imputed column."
        )

    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        p = self.params
        columns = select_columns(frame, p.columns, ctx.target)
        if p.strategy in ("mean", "median"):
            require_numeric(frame, columns, f"impute strategy '{p.strategy}'")
        if not columns:
            return {"columns": [], "fill": {}}
        if p.strategy == "constant":
            fill = {}
            for c in columns:
                default = 0 if frame.schema[c].is_numeric() else "missing"
                fill[c] = p.fill_value if p.fill_value is not None else default
            return {"columns": columns, "fill": fill}
        if p.strategy == "median":
            medians = quantiles(frame, columns, [0.5])
            values = tuple(None if m is None else m[0] for m in medians.values())
        else:
            present = [pl.when(~_missing(frame, c)).then(pl.col(c)).alias(c) for c in columns]
            if p.strategy == "mean":
                values = frame.select(e.mean() for e in present).row(0)
            else:
                clean = frame.select(present)
                values = tuple(self._most_frequent(clean[c]) for c in columns)
        fill = {c: _plain(v) for c, v in zip(columns, values, strict=True)}
        empty = [
            c for c, v in fill.items() if v is None or (isinstance(v, float) and math.isnan(v))
        ]
        if empty and frame.height:
            raise DataError(
                f"cannot impute {', '.join(empty)}: no values at fit time to learn a {p.strategy} from",
                hint="drop the column first (drop_missing) or use strategy: constant",
            )
        return {"columns": columns, "fill": fill}

    @staticmethod
    def _most_frequent(series: pl.Series) -> Any:
        counts = series.drop_nulls().value_counts(name="n")
        if counts.height == 0:
            return None
        # like SimpleImputer: the smallest among equally frequent values
        return counts.sort(["n", series.name], descending=[True, False])[series.name][0]

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        columns = state["columns"]
        exprs = []
        indicators = []
        for c in columns:
            value = state["fill"][c]
            dtype = frame.schema[c]
            if value is None:
                continue
            if dtype.is_integer() and isinstance(value, float) and not value.is_integer():
                dtype = pl.Float64  # a fractional mean/median cannot fit an integer column
            fill = pl.lit(value).cast(dtype, strict=False) if dtype != pl.Null else pl.lit(value)
            target = pl.col(c).cast(dtype) if dtype != frame.schema[c] else pl.col(c)
            exprs.append(pl.when(_missing(frame, c)).then(fill).otherwise(target).alias(c))
            if self.params.add_indicator:
                indicators.append(_missing(frame, c).alias(f"{c}__missing"))
        return frame.with_columns(*exprs, *indicators)

    def describe(
        self, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any]
    ) -> dict[str, Any]:
        columns = [c for c in state["columns"] if c in before.columns]
        if not columns:
            return {"imputed": {}}
        counts = before.select(_missing(before, c).sum().alias(c) for c in columns).row(
            0, named=True
        )
        return {"imputed": {c: int(n) for c, n in counts.items() if n}}

    def learned(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"values": state["fill"]}
