"""Outliers: learn per-column bounds on the training data, then clip, flag or drop values outside."""

from __future__ import annotations

from typing import Any, Literal

import polars as pl
from pydantic import Field, model_validator

from prepkit.columns import Selector, require_numeric, select_columns
from prepkit.stats import quantiles
from prepkit.steps.base import PhaseByParams, Step, StepContext, StepParams, register


def _value(frame: pl.DataFrame, column: str) -> pl.Expr:
    """The column with NaN read as missing: missing values are never outliers."""
    col = pl.col(column)
    return col.fill_nan(None) if frame.schema[column].is_float() else col


def _outside(frame: pl.DataFrame, column: str, bounds: list[float]) -> pl.Expr:
    """True where a (non-missing) value is below the lower or above the upper bound."""
    lo, hi = (pl.lit(b, dtype=pl.Float64) for b in bounds)
    col = pl.col(column)
    above = col > hi
    if frame.schema[column].is_float():  # NaN sorts above every number in polars
        above = above & col.is_not_nan()
    return ((col < lo) | above).fill_null(False)


def _integral(bounds: list[float]) -> bool:
    return all(float(b).is_integer() for b in bounds)


@register("outliers")
class Outliers(Step):
    """Find values outside bounds learned on the training data; clip, flag or drop them.

    Bounds per column are learned at fit time and reused at apply time:

    - `iqr`: `[Q1 - factor * IQR, Q3 + factor * IQR]` (Tukey's fences, factor 1.5);
    - `zscore`: `mean -/+ threshold * std` (population standard deviation, ddof=0);
    - `percentile`: the `lower` and `upper` quantiles (fractions, e.g. 0.01 and 0.99).

    Quantiles are linearly interpolated, as numpy's `percentile`. Missing values (null, NaN) are
    ignored when fitting and are never outliers. `clip` replaces values by the nearest bound (an
    integer column becomes float64 when a bound is fractional); `flag` adds boolean columns;
    `drop` removes rows with an outlier in any selected column — from the training data only
    unless `drop_at_apply: true`.

    ```yaml
    - step: outliers
      columns: [income, age]
      method: iqr
      factor: 1.5
      action: clip
    ```
    """

    class Params(StepParams):
        columns: Selector = Field(
            "numeric", description="Columns to check (selector); must be numeric."
        )
        method: Literal["iqr", "zscore", "percentile"] = Field(
            "iqr", description="How bounds are learned: iqr, zscore or percentile."
        )
        factor: float = Field(
            1.5, gt=0, description="iqr: bounds are Q1 - factor*IQR and Q3 + factor*IQR."
        )
        threshold: float = Field(
            3.0, gt=0, description="zscore: bounds are mean -/+ threshold * std (ddof=0)."
        )
        lower: float = Field(
            0.01, ge=0, le=1, description="percentile: lower quantile, a fraction in [0, 1]."
        )
        upper: float = Field(
            0.99, ge=0, le=1, description="percentile: upper quantile, a fraction in [0, 1]."
        )
        action: Literal["clip", "drop", "flag"] = Field(
            "clip",
            description="clip values to the bounds, drop rows with outliers, or flag them.",
        )
        flag_column: Literal["per_column", "single"] = Field(
            "per_column",
            description="flag: add one <col>__outlier column per column, or a single is_outlier.",
        )
        drop_at_apply: bool = Field(
            False, description="drop: also drop outlier rows from new data at apply time."
        )

        @model_validator(mode="after")
        def _check(self) -> Outliers.Params:
            if self.lower >= self.upper:
                raise ValueError(
                    f"percentile needs lower < upper, got lower={self.lower}, upper={self.upper} "
                    "(fractions, e.g. lower: 0.01, upper: 0.99)"
                )
            return self

    phase = PhaseByParams(
        "transform", lambda step: "train_only" if step.params.action == "drop" else "transform"
    )

    @property
    def runs_at_apply(self) -> bool:
        return self.params.action != "drop" or self.params.drop_at_apply

    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        p = self.params
        columns = select_columns(frame, p.columns, ctx.target)
        require_numeric(frame, columns, "outliers")
        if not columns:
            return {"columns": [], "bounds": {}}
        if p.method == "zscore":
            values = frame.select(_value(frame, c).cast(pl.Float64).alias(c) for c in columns)
            mean = values.select(pl.all().mean()).row(0)
            std = values.select(pl.all().std(ddof=0)).row(0)
            pairs = [
                None if m is None else (m - p.threshold * s, m + p.threshold * s)
                for m, s in zip(mean, std, strict=True)
            ]
        else:
            q = (0.25, 0.75) if p.method == "iqr" else (p.lower, p.upper)
            pairs = list(quantiles(frame, columns, q).values())
            if p.method == "iqr":
                pairs = [
                    None
                    if b is None
                    else (b[0] - p.factor * (b[1] - b[0]), b[1] + p.factor * (b[1] - b[0]))
                    for b in pairs
                ]
        bounds = {
            c: None if b is None else [float(b[0]), float(b[1])]
            for c, b in zip(columns, pairs, strict=True)
        }
        empty = [c for c, b in bounds.items() if b is None]
        if empty and frame.height:
            ctx.warn(f"outliers: no values at fit time in {', '.join(empty)}; left unchanged")
        return {"columns": columns, "bounds": bounds}

    def _checked(self, frame: pl.DataFrame, state: dict[str, Any]) -> dict[str, list[float]]:
        return {c: b for c, b in state["bounds"].items() if b is not None}

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        bounds = self._checked(frame, state)
        action = self.params.action
        if action == "drop":
            if not bounds:
                return frame
            return frame.filter(
                ~pl.any_horizontal(_outside(frame, c, b) for c, b in bounds.items())
            )
        if action == "flag":
            flags = [_outside(frame, c, b).alias(f"{c}__outlier") for c, b in bounds.items()]
            if self.params.flag_column == "per_column":
                return frame.with_columns(flags)
            any_flag = pl.any_horizontal(flags) if flags else pl.lit(False)
            return frame.with_columns(any_flag.alias("is_outlier"))
        return frame.with_columns(self._clip(frame, c, b) for c, b in bounds.items())

    @staticmethod
    def _clip(frame: pl.DataFrame, column: str, bounds: list[float]) -> pl.Expr:
        dtype = frame.schema[column]
        if not (dtype.is_float() or (dtype.is_integer() and _integral(bounds))):
            dtype = pl.Float64  # a fractional bound cannot be written into an integer column
        lo, hi = (pl.lit(b, dtype=pl.Float64) for b in bounds)
        if frame.schema[column].is_float():  # polars' clip leaves NaN and null as they are
            return pl.col(column).clip(lo.cast(dtype), hi.cast(dtype))
        value = _value(frame, column)
        col = pl.col(column).cast(dtype)
        return (
            pl.when(value < lo)
            .then(lo.cast(dtype, strict=False))
            .when(value > hi)
            .then(hi.cast(dtype, strict=False))
            .otherwise(col)
            .alias(column)
        )

    def describe(
        self, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any]
    ) -> dict[str, Any]:
        bounds = {c: b for c, b in state["bounds"].items() if b is not None and c in before.columns}
        counts = (
            before.select(_outside(before, c, b).sum().alias(c) for c, b in bounds.items()).row(
                0, named=True
            )
            if bounds
            else {}
        )
        found = {c: int(n) for c, n in counts.items() if n}
        verb = {"clip": "clipped", "flag": "flagged", "drop": "outliers"}[self.params.action]
        report: dict[str, Any] = {verb: found}
        if self.params.action == "drop":
            report["rows_dropped"] = before.height - after.height
        return report

    def learned(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"bounds": state["bounds"]}
