"""Column steps: select, drop, rename and cast columns; drop constant or mostly-missing columns."""

from __future__ import annotations

from typing import Annotated, Any

import polars as pl
from pydantic import Field, field_validator, model_validator

from prepkit.columns import Selector, select_columns
from prepkit.dtypes import parse_dtype
from prepkit.engines.statistics import Distinct, Missing, Request
from prepkit.errors import DataError, RecipeError, suggest
from prepkit.steps.base import (
    Column,
    Step,
    StepContext,
    StepParams,
    StepState,
    column_kind,
    register,
)

# how many offending values a failed cast shows
_SHOWN = 5

_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


def _missing(schema: pl.Schema, column: str) -> pl.Expr:
    """Null, and NaN for float columns: both count as missing.

    Takes the frame's schema, looked up once per step: `frame.schema` builds a new object on
    every call, so one lookup per column would make wide frames quadratic.
    """
    col = pl.col(column)
    return col.is_null() | col.is_nan() if schema[column].is_float() else col.is_null()


def _require(frame: pl.DataFrame, names: list[str], step: str, target: str | None) -> list[str]:
    """The names present in the frame; a missing name is an error unless it is the target."""
    present = set(frame.columns)
    for name in names:
        if name not in present and name != target:
            raise DataError(
                f"{step}: column '{name}' does not exist{suggest(name, frame.columns)}",
                hint=f"available columns: {', '.join(frame.columns)}",
            )
    return [n for n in names if n in present]


@register("select")
class Select(Step):
    """Keep only the selected columns, in the selector's order (the target stays, last).

    The columns are resolved at fit time; apply keeps exactly those. The recipe's target is kept
    even when not selected, unless `keep_target: false`; new data without the target is fine.

    ```yaml
    - step: select
      columns: [age, income, {regex: "^score_"}]
    - step: select
      columns: {dtype: numeric, exclude: [id]}
    ```
    """

    class Params(StepParams):
        columns: Selector = Field(description="Columns to keep (selector), in this order.")
        keep_target: bool = Field(
            True, description="Keep the recipe's target column even when it is not selected."
        )

    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Request]:
        return []  # the columns come from the frame's schema

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        columns = select_columns(frame, self.params.columns, ctx.protected)
        if not columns:
            raise DataError(
                "select: the selector matches no columns, so nothing would be kept",
                hint=f"available columns: {', '.join(frame.columns)}",
            )
        target = ctx.target
        if self.params.keep_target and target in frame.columns and target not in columns:
            columns.append(target)
        return {"columns": columns}

    class State(StepState):
        columns: list[Column] = Field(min_length=1)

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        return frame.select(_require(frame, state["columns"], "select", ctx.target))

    def learned(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"kept": state["columns"]}


class DropLearned(Step):
    """Base of the steps that drop a list of columns learned at fit time (`state["columns"]`)."""

    class State(StepState):
        columns: list[str]  # absent columns need no dropping

    def required_columns(self, state: dict[str, Any]) -> list[str]:
        return []  # a column that is already absent needs no dropping

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        present = set(frame.columns)
        return frame.drop([c for c in state["columns"] if c in present])

    def describe(
        self, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any]
    ) -> dict[str, Any]:
        present = set(before.columns)
        return {"dropped": [c for c in state["columns"] if c in present]}


@register("drop")
class Drop(DropLearned):
    """Remove the selected columns.

    The columns are resolved at fit time; at apply time, learned columns that are absent from new
    data are simply not there to drop. The target is dropped only when named explicitly.

    ```yaml
    - step: drop
      columns: {regex: "_raw$|^customer_id$"}
    ```
    """

    class Params(StepParams):
        columns: Selector = Field(description="Columns to remove (selector).")

    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Request]:
        return []  # the columns come from the frame's schema

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        return {"columns": select_columns(frame, self.params.columns, ctx.protected)}


@register("rename")
class Rename(Step):
    """Rename columns with a `{old: new}` mapping.

    An old name that is not in the data is an error (with a "did you mean" suggestion); so is a
    new name that collides with a column that is kept. At apply time, new data without the target
    column is fine. Renaming the target makes later steps miss it (a warning says so).

    ```yaml
    - step: rename
      mapping: {cust_id: customer_id, amt: amount}
    ```
    """

    class Params(StepParams):
        mapping: dict[str, str] = Field(description="Old name -> new name.")

        @field_validator("mapping")
        @classmethod
        def _unique(cls, mapping: dict[str, str]) -> dict[str, str]:
            new = list(mapping.values())
            twice = sorted({n for n in new if new.count(n) > 1})
            if twice:
                raise ValueError(f"two columns would be renamed to {', '.join(twice)}")
            return mapping

    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Request]:
        return []  # the names come from the frame's schema

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        mapping = self.params.mapping
        _require(frame, list(mapping), "rename", None)
        kept = set(frame.columns) - set(mapping)
        clash = [new for new in mapping.values() if new in kept]
        if clash:
            raise DataError(
                f"rename: new name(s) already used by other columns: {', '.join(clash)}",
                hint="drop or rename those columns first, or choose other names",
            )
        if ctx.target in mapping:
            ctx.warn(f"rename: the target '{ctx.target}' is renamed; later steps will not find it")
        return {"mapping": dict(mapping)}

    class State(StepState):
        mapping: dict[Column, str]

        @model_validator(mode="after")
        def _unique(self) -> Rename.State:
            if len(set(self.mapping.values())) != len(self.mapping):
                raise ValueError("mapping: two columns get the same new name")
            return self

        def made(self, step: Step, columns: dict[str, str]) -> dict[str, str]:
            return {new: columns.get(old, "other") for old, new in self.mapping.items()}

    def required_columns(self, state: dict[str, Any]) -> list[str]:
        return list(state["mapping"])

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        present = _require(frame, list(state["mapping"]), "rename", ctx.target)
        return frame.rename({old: state["mapping"][old] for old in present})

    def describe(
        self, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any]
    ) -> dict[str, Any]:
        present = set(before.columns)
        return {"renamed": {o: n for o, n in state["mapping"].items() if o in present}}


def _cast(schema: pl.Schema, column: str, dtype: pl.DataType) -> pl.Expr:
    """Cast without failing: a value that cannot be represented becomes null."""
    source = schema[column]
    col = pl.col(column)
    if isinstance(source, (pl.Categorical, pl.Enum)) and not isinstance(dtype, pl.Categorical):
        col, source = col.cast(pl.String), pl.String()
    if source == pl.String:
        text = col.str.strip_chars()
        if dtype == pl.Date:
            return text.str.to_date(strict=False)
        if isinstance(dtype, pl.Datetime):
            return text.str.to_datetime(
                time_unit=dtype.time_unit, time_zone=dtype.time_zone, strict=False
            )
        if dtype == pl.Time:
            return text.str.to_time(strict=False)
        if dtype == pl.Boolean:
            words = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
            return text.str.to_lowercase().replace_strict(
                words, default=None, return_dtype=pl.Boolean
            )
        if dtype.is_numeric():
            return text.cast(dtype, strict=False)
    if source.is_float() and dtype.is_integer():
        # truncating 2.7 to 2 would silently change data: a fractional value cannot be cast
        whole = col.is_finite() & (col == col.floor())
        return pl.when(whole).then(col.cast(dtype, strict=False))
    if isinstance(dtype, pl.Categorical) and source != pl.String:
        return col.cast(pl.String).cast(dtype)
    return col.cast(dtype, strict=False)


@register("cast")
class Cast(Step):
    """Change column types, e.g. `{age: int64, signup: date, plan: category}`.

    Dtype names: `int8`..`int64`, `uint8`..`uint64`, `float32`, `float64`, `str`, `bool`,
    `category`, `date`, `datetime`, `time`, `duration`.
    Text is trimmed before it is parsed; dates and datetimes are parsed with an inferred format;
    `bool` reads true/false, yes/no, t/f, y/n, 1/0 (any case). A float with a fractional part is
    not an integer (no silent truncation). With `strict: true` (default) a value that cannot be
    cast is an error that names the column and shows some offending values; with
    `strict: false` it becomes null, and the report counts how many did.

    ```yaml
    - step: cast
      dtypes: {age: int64, signup: date, plan: category}
      strict: false
    ```
    """

    class Params(StepParams):
        dtypes: dict[str, str] = Field(description="Column -> dtype name (int64, str, date, ...).")
        strict: bool = Field(
            True, description="Fail on values that cannot be cast (false: they become null)."
        )

        @field_validator("dtypes")
        @classmethod
        def _known(cls, dtypes: dict[str, str]) -> dict[str, str]:
            for column, name in dtypes.items():
                try:
                    parse_dtype(name)
                except RecipeError as exc:
                    raise ValueError(f"{column}: {exc}") from None
            return dtypes

    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Request]:
        return []  # values are checked as they are cast (apply), batch by batch

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        _require(frame, list(self.params.dtypes), "cast", None)
        return {"dtypes": dict(self.params.dtypes)}

    class State(StepState):
        dtypes: dict[Column, str]

        @field_validator("dtypes")
        @classmethod
        def _known(cls, dtypes: dict[str, str]) -> dict[str, str]:
            return Cast.Params._known(dtypes)

        def made(self, step: Step, columns: dict[str, str]) -> dict[str, str]:
            return {c: column_kind(name) for c, name in self.dtypes.items()}

    def required_columns(self, state: dict[str, Any]) -> list[str]:
        return list(state["dtypes"])

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        present = _require(frame, list(state["dtypes"]), "cast", ctx.target)
        exprs = []
        schema = frame.schema
        for column in present:
            dtype = parse_dtype(state["dtypes"][column])
            expr = _cast(schema, column, dtype).alias(column)
            try:
                cast = frame.select(expr, _missing(schema, column).alias("__was_missing"))
            except pl.exceptions.PolarsError as exc:
                raise DataError(
                    f"cast: cannot cast column '{column}' from {schema[column]} "
                    f"to {state['dtypes'][column]}: {str(exc).splitlines()[0]}",
                    hint="cast it to another type first (e.g. str), or drop it",
                ) from None
            failed = cast[column].is_null() & ~cast["__was_missing"]
            bad = int(failed.sum())
            if bad:
                shown = frame[column].filter(failed).unique(maintain_order=True).head(_SHOWN)
                values = ", ".join(repr(v) for v in shown.to_list())
                if self.params.strict:
                    raise DataError(
                        f"cast: {bad} value(s) of column '{column}' cannot be cast to "
                        f"{state['dtypes'][column]}, e.g. {values}",
                        hint="fix or remove those values, or use strict: false to turn them "
                        "into nulls",
                    )
                ctx.warn(
                    f"cast: {bad} value(s) of '{column}' could not be cast to "
                    f"{state['dtypes'][column]} and became null (e.g. {values})"
                )
            exprs.append(cast[column])
        return frame.with_columns(exprs) if exprs else frame

    def describe(
        self, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any]
    ) -> dict[str, Any]:
        schema, after_columns = before.schema, set(after.columns)
        columns = [c for c in state["dtypes"] if c in schema and c in after_columns]
        was = (
            before.select(_missing(schema, c).sum().alias(c) for c in columns).row(0, named=True)
            if columns
            else {}
        )
        nulls = {}
        for c in columns:
            n = after[c].null_count() - int(was[c])
            if n:
                nulls[c] = n
        return {"cast": {c: state["dtypes"][c] for c in columns}, "nulls_created": nulls}


@register("drop_constant")
class DropConstant(DropLearned):
    """Drop columns that hold a single distinct value at fit time.

    A missing value counts as a value (so `[1, null]` is not constant) unless
    `ignore_nulls: true`, in which case a column whose non-missing values are all equal — or that
    is entirely missing — is constant. The list is learned at fit time and reused at apply time.
    A frame with no rows has no constant columns. The target is never dropped unless named.

    ```yaml
    - step: drop_constant
      columns: all
      ignore_nulls: true
    ```
    """

    class Params(StepParams):
        columns: Selector = Field("all", description="Columns to check (selector).")
        ignore_nulls: bool = Field(
            False, description="Ignore missing values when counting distinct values."
        )

    def _limit(self) -> int:
        # the distinct values needed to tell; ignoring nulls, null and NaN may take two places
        return 3 if self.params.ignore_nulls else 1

    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Request]:
        columns = select_columns(frame, self.params.columns, ctx.protected)
        if not columns:
            return []
        return [Missing(columns[0]), *(Distinct(c, self._limit()) for c in columns)]

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        columns = select_columns(frame, self.params.columns, ctx.protected)
        if not columns:
            return {"columns": []}
        rows = answers[Missing(columns[0])]["rows"]
        if rows == 0:
            return {"columns": []}
        constant = []
        for c in columns:
            values = answers[Distinct(c, self._limit())]  # None: more than the limit
            if values is not None and self.params.ignore_nulls:
                values = [v for v in values if v is not None and v == v]  # NaN != NaN
            if values is not None and len(values) <= 1:
                constant.append(c)
        if rows == 1 and constant:
            ctx.warn("drop_constant: fitted on a single row, so every column is constant")
        return {"columns": constant}


@register("drop_missing")
class DropMissing(DropLearned):
    """Drop columns whose fraction of missing values at fit time exceeds `threshold`.

    Missing means null, and NaN in float columns. The list is learned at fit time and reused at
    apply time (new data is not measured). A frame with no rows drops nothing. The target is never
    dropped unless named.

    ```yaml
    - step: drop_missing
      threshold: 0.5      # drop columns that are more than half empty
    ```
    """

    class Params(StepParams):
        columns: Selector = Field("all", description="Columns to check (selector).")
        threshold: float = Field(
            0.5,
            ge=0,
            le=1,
            description="Drop a column when its missing fraction is above this (0..1).",
        )

    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Request]:
        return [Missing(c) for c in select_columns(frame, self.params.columns, ctx.protected)]

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        columns = select_columns(frame, self.params.columns, ctx.protected)
        if not columns or answers[Missing(columns[0])]["rows"] == 0:
            return {"columns": [], "missing_fraction": {}}
        fractions = {
            c: answers[Missing(c)]["missing"] / answers[Missing(c)]["rows"] for c in columns
        }
        dropped = [c for c in columns if fractions[c] > self.params.threshold]
        return {
            "columns": dropped,
            "missing_fraction": {c: float(fractions[c]) for c in dropped},
        }

    class State(StepState):
        columns: list[str]
        missing_fraction: dict[str, Annotated[float, Field(ge=0, le=1)]]

    def learned(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"missing_fraction": {c: round(f, 4) for c, f in state["missing_fraction"].items()}}
