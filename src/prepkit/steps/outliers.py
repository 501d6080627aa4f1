"""Outliers: learn per-column bounds on the training data, then clip, flag or drop values outside."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import AfterValidator, Field, model_validator

from prepkit.columns import Selector, require_numeric, select_columns
from prepkit.engines.statistics import Missing, Moments, Quantiles, Request
from prepkit.errors import DataError
from prepkit.steps.base import (
    Column,
    PhaseByParams,
    Step,
    StepContext,
    StepParams,
    StepState,
    register,
)

# The helpers take the frame's schema, looked up once per step: `frame.schema` builds a new
# object on every call, so one lookup per column would make wide frames quadratic.


def _value(schema: pl.Schema, column: str) -> pl.Expr:
    """The column with NaN read as missing: missing values are never outliers."""
    col = pl.col(column)
    return col.fill_nan(None) if schema[column].is_float() else col


def _outside(schema: pl.Schema, column: str, bounds: list[float]) -> pl.Expr:
    """True where a (non-missing) value is below the lower or above the upper bound."""
    lo, hi = (pl.lit(b, dtype=pl.Float64) for b in bounds)
    col = pl.col(column)
    above = col > hi
    if schema[column].is_float():  # NaN sorts above every number in polars
        above = above & col.is_not_nan()
    return ((col < lo) | above).fill_null(False)


def _refuse_infinite(
    moments: dict[str, dict[str, Any]], pairs: dict[str, tuple[float, float] | None]
) -> None:
    """zscore bounds from infinite values are NaN and would flag nothing: name the columns."""
    problems = [
        f"column '{c}' has {moments[c]['inf']} infinite value{'s' * (moments[c]['inf'] > 1)}"
        if moments[c]["inf"]
        else f"column '{c}' has values so large that mean -/+ threshold * std overflows"
        for c, b in pairs.items()
        if b is not None and not (math.isfinite(b[0]) and math.isfinite(b[1]))
    ]
    if problems:
        raise DataError(
            f"outliers method 'zscore': {'; '.join(problems)}, so its bounds are not finite",
            hint="use method: iqr or percentile, whose bounds clip infinite values, or replace "
            "them with null first",
        )


def _integral(bounds: list[float]) -> bool:
    return all(float(b).is_integer() for b in bounds)


def _ordered(bounds: list[float]) -> list[float]:
    low, high = bounds
    if not low <= high:  # also NaN
        raise ValueError(f"bounds must be [low, high] numbers with low <= high, got {bounds}")
    return bounds


# [low, high]; infinite where the training values were
Bounds = Annotated[list[float], Field(min_length=2, max_length=2), AfterValidator(_ordered)]


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

    @property
    def keeps_rows(self) -> bool:
        return self.params.action != "drop"  # drop reports the rows it kept

    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Request]:
        p = self.params
        columns = select_columns(frame, p.columns, ctx.protected)
        require_numeric(frame, columns, "outliers")
        if not columns:
            return []
        return [Missing(columns[0]), *(self._learned_from(c) for c in columns)]

    def _learned_from(self, column: str) -> Moments | Quantiles:
        p = self.params
        if p.method == "zscore":
            return Moments(column)
        return Quantiles(column, (0.25, 0.75) if p.method == "iqr" else (p.lower, p.upper))

    def _bounds(self, found: Any) -> tuple[float, float] | None:
        """The bounds from the answer to `_learned_from`; None when the column had no values."""
        p = self.params
        if p.method == "zscore":
            if found["mean"] is None:
                return None
            spread = p.threshold * found["std"]
            return found["mean"] - spread, found["mean"] + spread
        if found is None:
            return None
        low, high = found
        if p.method == "iqr":
            iqr = high - low
            return low - p.factor * iqr, high + p.factor * iqr
        return low, high

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        p = self.params
        columns = select_columns(frame, p.columns, ctx.protected)
        if not columns:
            return {"columns": [], "bounds": {}}
        found = {c: answers[self._learned_from(c)] for c in columns}
        pairs = {c: self._bounds(f) for c, f in found.items()}
        if p.method == "zscore":
            _refuse_infinite(found, pairs)
        bounds = {c: None if b is None else [float(b[0]), float(b[1])] for c, b in pairs.items()}
        empty = [c for c, b in bounds.items() if b is None]
        if empty and answers[Missing(columns[0])]["rows"]:
            ctx.warn(f"outliers: no values at fit time in {', '.join(empty)}; left unchanged")
        return {"columns": columns, "bounds": bounds}

    def _checked(self, frame: pl.DataFrame, state: dict[str, Any]) -> dict[str, list[float]]:
        return {c: b for c, b in state["bounds"].items() if b is not None}

    class State(StepState):
        columns: list[Column]
        bounds: dict[Column, Bounds | None]  # None: no values at fit time

        @model_validator(mode="after")
        def _complete(self) -> Outliers.State:
            self.entry_for_each(self.columns, self.bounds, "bounds", "bounds")
            return self

        def made(self, step: Step, columns: dict[str, str]) -> dict[str, str]:
            if step.params.action != "flag":
                return {}
            if step.params.flag_column == "single":
                return {"is_outlier": "boolean"}
            return {f"{c}__outlier": "boolean" for c in self.columns}

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        bounds = self._checked(frame, state)
        action = self.params.action
        schema = frame.schema
        if action == "drop":
            if not bounds:
                return frame
            return ctx.filter_rows(
                frame, ~pl.any_horizontal(_outside(schema, c, b) for c, b in bounds.items())
            )
        if action == "flag":
            flags = [_outside(schema, c, b).alias(f"{c}__outlier") for c, b in bounds.items()]
            if self.params.flag_column == "per_column":
                return frame.with_columns(flags)
            any_flag = pl.any_horizontal(flags) if flags else pl.lit(False)
            return frame.with_columns(any_flag.alias("is_outlier"))
        return frame.with_columns(self._clip(schema, c, b) for c, b in bounds.items())

    @staticmethod
    def _clip(schema: pl.Schema, column: str, bounds: list[float]) -> pl.Expr:
        dtype = schema[column]
        if not (dtype.is_float() or (dtype.is_integer() and _integral(bounds))):
            dtype = pl.Float64  # a fractional bound cannot be written into an integer column
        lo, hi = (pl.lit(b, dtype=pl.Float64) for b in bounds)
        if schema[column].is_float():  # polars' clip leaves NaN and null as they are
            return pl.col(column).clip(lo.cast(dtype), hi.cast(dtype))
        value = _value(schema, column)
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
        schema = before.schema
        bounds = {c: b for c, b in state["bounds"].items() if b is not None and c in schema}
        counts = (
            before.select(_outside(schema, c, b).sum().alias(c) for c, b in bounds.items()).row(
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
