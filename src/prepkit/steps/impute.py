"""Imputation: fill missing values with statistics learned on the training data."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, ValidationInfo, model_validator

from prepkit.columns import Selector, require_numeric, select_columns
from prepkit.engines.statistics import Counts, Infinities, Missing, Moments, Quantiles, Request
from prepkit.errors import DataError
from prepkit.steps.base import (
    Column,
    Scalar,
    Step,
    StepContext,
    StepParams,
    StepState,
    context_kind,
    register,
)


def _missing(schema: pl.Schema, column: str) -> pl.Expr:
    """Null, and NaN for float columns: both count as missing.

    Takes the frame's schema, looked up once per step: `frame.schema` builds a new object on
    every call, so one lookup per column would make wide frames quadratic.
    """
    col = pl.col(column)
    return col.is_null() | col.is_nan() if schema[column].is_float() else col.is_null()


def _plain(value: Any) -> Any:
    """A polars scalar as JSON-friendly Python (dates as ISO text)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, (int, float)) else "text"


# the fill values a column of each kind takes (see `_fill_literal`); other kinds take any value
_FILLS: dict[str, tuple[type, ...]] = {
    "numeric": (int, float),
    "boolean": (bool,),
    "datetime": (str,),
}


def _fill_literal(value: Any, dtype: pl.DataType) -> tuple[pl.Expr, pl.DataType] | str:
    """The literal that fills a column of `dtype` with `value` and the column's dtype after
    filling, or why `value` cannot fill it (a hint for the user).

    Numbers fill numeric columns (an integer column becomes float64 for a fractional value);
    text, numbers and booleans fill text and categorical columns (written as polars writes them:
    5 -> "5", true -> "true"); only true/false fill boolean columns; ISO text fills date,
    datetime and time columns. Anything else would leave the cells missing, so it is refused.
    """
    if isinstance(value, float) and math.isnan(value):
        return "NaN is a missing value itself: give a number"
    if dtype == pl.Null:  # no values at all: the column takes the fill value's type
        return pl.lit(value), dtype
    if dtype.is_numeric():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "give a numeric fill_value, or select text columns only (columns: categorical)"
        if dtype.is_integer() and isinstance(value, float) and not value.is_integer():
            return pl.lit(value, dtype=pl.Float64), pl.Float64()
        try:
            pl.Series([value]).cast(dtype, strict=True)
        except pl.exceptions.PolarsError:
            return f"{value!r} does not fit {dtype}: give a value in its range"
        return pl.lit(value).cast(dtype), dtype
    if dtype == pl.Boolean:
        if not isinstance(value, bool):
            return "give fill_value: true or false for boolean columns"
        return pl.lit(value), dtype
    if isinstance(dtype, pl.Enum):
        categories = dtype.categories.to_list()
        if not isinstance(value, str) or value not in categories:
            return f"give one of the column's categories: {', '.join(categories)}"
        return pl.lit(value).cast(dtype), dtype
    if dtype == pl.String or isinstance(dtype, pl.Categorical):
        return pl.lit(value).cast(pl.String).cast(dtype), dtype
    if dtype in (pl.Date, pl.Time) or isinstance(dtype, pl.Datetime):
        return _temporal_literal(value, dtype)
    return f"impute cannot fill {dtype} columns: leave the column out of `columns:`"


def _temporal_literal(value: Any, dtype: pl.DataType) -> tuple[pl.Expr, pl.DataType] | str:
    """ISO text as a date, datetime or time literal (most_frequent keeps dates as ISO text)."""
    example = {pl.Date: "2024-01-31", pl.Time: "13:45:00"}.get(dtype, "2024-01-31T13:45:00")
    hint = f"give ISO text such as '{example}'"
    if not isinstance(value, str):
        return hint
    text = pl.Series([value])
    try:
        if dtype == pl.Date:
            parsed = text.str.to_date(strict=True)
        elif dtype == pl.Time:
            parsed = text.str.to_time(strict=True)
        else:
            parsed = text.str.to_datetime(
                time_unit=dtype.time_unit, time_zone=dtype.time_zone, strict=True
            )
        parsed = parsed.cast(dtype, strict=True)
    except pl.exceptions.PolarsError:
        return hint
    return pl.lit(parsed[0], dtype=dtype), dtype


def _most_frequent(counts: dict[Any, int], dtype: pl.DataType) -> Any:
    """The most frequent value that is not missing (null, NaN) in `Counts`' answer, or None.

    Like SimpleImputer: the smallest among equally frequent values, in the order polars sorts
    the column (an Enum by its categories' order, a categorical by its labels' text)."""
    found = [(n, v) for v, n in counts.items() if v is not None and v == v]  # NaN != NaN
    if not found:
        return None
    if isinstance(dtype, pl.Enum):
        order = {label: i for i, label in enumerate(dtype.categories.to_list())}
        return min(found, key=lambda item: (-item[0], order[item[1]]))[1]
    return min(found, key=lambda item: (-item[0], item[1]))[1]


def _refused(column: str, dtype: pl.DataType, value: Any, reason: str) -> str:
    return f"column '{column}' ({dtype}) cannot be filled with {value!r} ({_kind(value)}): {reason}"


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

    def _columns(self, frame: pl.DataFrame, ctx: StepContext) -> list[str]:
        p = self.params
        columns = select_columns(frame, p.columns, ctx.protected)
        if p.strategy in ("mean", "median"):
            require_numeric(frame, columns, f"impute strategy '{p.strategy}'")
        return columns

    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Request]:
        columns = self._columns(frame, ctx)
        strategy = self.params.strategy
        if strategy == "constant":
            return []  # the fill values come from the options and the dtypes
        if strategy == "most_frequent":
            return [Counts(c) for c in columns]
        schema = frame.schema
        requests: list[Request] = [Missing(columns[0])] if columns else []  # the rows
        for c in columns:
            requests.append(Moments(c) if strategy == "mean" else Quantiles(c, (0.5,)))
            if schema[c].is_float():  # to name the infinite values that make a statistic infinite
                requests.append(Infinities(c))
        return requests

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        p = self.params
        columns = self._columns(frame, ctx)
        if not columns:
            return {"columns": [], "fill": {}}
        schema = frame.schema
        if p.strategy == "constant":
            fill = {}
            refused = []
            for c in columns:
                default = 0 if schema[c].is_numeric() else "missing"  # as SimpleImputer's
                fill[c] = p.fill_value if p.fill_value is not None else default
                found = _fill_literal(fill[c], schema[c])
                if isinstance(found, str):
                    refused.append(_refused(c, schema[c], fill[c], found))
            if refused:
                given = "" if p.fill_value is not None else " (no fill_value given: the default)"
                raise DataError(
                    f"impute strategy 'constant'{given}: {'; '.join(refused)}",
                    hint="set fill_value to a value of the column's type, or impute columns of "
                    "different types in separate steps",
                )
            return {"columns": columns, "fill": fill}
        if p.strategy == "most_frequent":
            counts = [answers[Counts(c)] for c in columns]
            values = [_most_frequent(n, schema[c]) for c, n in zip(columns, counts, strict=True)]
            rows = sum(counts[0].values())
        else:
            rows = answers[Missing(columns[0])]["rows"]
            values = [self._statistic(answers, c, schema[c]) for c in columns]
        fill = {c: _plain(v) for c, v in zip(columns, values, strict=True)}
        self._check_finite(schema, fill, answers)
        empty = [
            c for c, v in fill.items() if v is None or (isinstance(v, float) and math.isnan(v))
        ]
        if empty and rows:
            names = ", ".join(f"'{c}'" for c in empty)
            raise DataError(
                f"cannot impute column{'s' * (len(empty) > 1)} {names}: entirely missing (no "
                f"values at fit time to learn a {p.strategy} from)",
                hint="drop the column first (step: drop_missing) or use strategy: constant",
            )
        return {"columns": columns, "fill": fill}

    def _statistic(self, answers: dict[Any, Any], column: str, dtype: pl.DataType) -> Any:
        """The column's mean (in its own float precision, as polars gives it) or median."""
        if self.params.strategy == "median":
            median = answers[Quantiles(column, (0.5,))]
            return None if median is None else median[0]
        mean = answers[Moments(column)]["mean"]
        return float(np.float32(mean)) if mean is not None and dtype == pl.Float32 else mean

    def _check_finite(
        self, schema: pl.Schema, fill: dict[str, Any], answers: dict[Any, Any]
    ) -> None:
        """Infinite values are values, but filling gaps with an infinite (or, from +inf and -inf,
        undefined) statistic is surely not wanted: name the columns and their infinite values."""
        problems = []
        for c, v in fill.items():
            if not (isinstance(v, float) and not math.isfinite(v) and schema[c].is_float()):
                continue
            up, down = answers[Infinities(c)]["inf"], answers[Infinities(c)]["-inf"]
            if up or down:  # else NaN from no values at all: reported as such by the caller
                found = ", ".join(f"{sign}inf: {n}" for sign, n in (("", up), ("-", down)) if n)
                problems.append(
                    f"column '{c}' has {up + down} infinite value{'s' * (up + down > 1)} "
                    f"({found}), so its {self.params.strategy} is {v}"
                )
        if problems:
            raise DataError(
                f"impute strategy '{self.params.strategy}': {'; '.join(problems)}",
                hint="clip the infinite values first (step: outliers, method: iqr, action: clip) "
                "or replace them with null, then impute",
            )

    class State(StepState):
        columns: list[Column]
        fill: dict[Column, Scalar]  # None: nothing to learn from

        @model_validator(mode="after")
        def _fits(self, info: ValidationInfo) -> Impute.State:
            self.entry_for_each(self.columns, self.fill, "fill", "value")
            for c, value in self.fill.items():
                kind = context_kind(info, c)
                allowed = _FILLS.get(kind or "", ())
                # True and False are ints in Python, but not numbers to fill with
                boolean = isinstance(value, bool)
                fits = isinstance(value, allowed) and not (kind == "numeric" and boolean)
                if value is not None and allowed and not fits:
                    raise ValueError(
                        f"fill.{c}: column '{c}' holds {kind} values, so it cannot be filled "
                        f"with {value!r} ({_kind(value)})"
                    )
            return self

        def made(self, step: Step, columns: dict[str, str]) -> dict[str, str]:
            if not step.params.add_indicator:
                return {}
            return {f"{c}__missing": "boolean" for c in self.columns}

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        columns = state["columns"]
        exprs = []
        indicators = []
        schema = frame.schema
        for c in columns:
            value = state["fill"][c]
            if value is None:
                continue
            # a fractional mean/median makes an integer column float64 (see _fill_literal)
            found = _fill_literal(value, schema[c])
            if isinstance(found, str):  # new data whose column type changed since fitting
                raise DataError(
                    f"impute: {_refused(c, schema[c], value, found)}",
                    hint="give this column the type it had when the recipe was fitted",
                )
            fill, dtype = found
            target = pl.col(c).cast(dtype) if dtype not in (schema[c], pl.Null) else pl.col(c)
            exprs.append(pl.when(_missing(schema, c)).then(fill).otherwise(target).alias(c))
            if self.params.add_indicator:
                indicators.append(_missing(schema, c).alias(f"{c}__missing"))
        return frame.with_columns(*exprs, *indicators)

    def describe(
        self, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any]
    ) -> dict[str, Any]:
        schema = before.schema
        columns = [c for c in state["columns"] if c in schema]
        if not columns:
            return {"imputed": {}}
        counts = before.select(_missing(schema, c).sum().alias(c) for c in columns).row(
            0, named=True
        )
        # only cells really filled: imputing never empties a cell, so filled = missing before
        # minus missing after (a fill that failed leaves them missing and is not counted)
        after_schema = after.schema
        left = after.select(
            _missing(after_schema, c).sum().alias(c) for c in columns if c in after_schema
        ).row(0, named=True)
        filled = {c: int(n) - int(left.get(c, n)) for c, n in counts.items()}
        return {"imputed": {c: n for c, n in filled.items() if n}}

    def learned(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"values": state["fill"]}
