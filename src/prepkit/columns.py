"""Column selectors: names, dtype groups, regex and exclusions, resolved against a schema.

A selector is written in YAML as one of::

    columns: numeric                  # a dtype group
    columns: [age, income]            # column names
    columns: age                      # one column name
    columns: {regex: "^score_", exclude: [score_raw]}
    columns: {dtype: categorical, exclude: [country]}

The recipe's target column (and the fold column of a `split: {kfold: K}`) is never selected by a
dtype group or regex: only naming it selects it.
Selection happens at fit time; the resolved list of names is saved in the step's state, so apply
uses exactly the same columns.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, field_validator

from prepkit.errors import DataError, suggest

DtypeGroup = Literal["numeric", "categorical", "text", "boolean", "datetime", "all"]
DTYPE_GROUPS: tuple[str, ...] = ("numeric", "categorical", "text", "boolean", "datetime", "all")

# A string column counts as free text (not a category) when its values average this many words.
TEXT_MIN_MEAN_WORDS = 3.0
TEXT_SAMPLE_ROWS = 10_000


class SelectorSpec(BaseModel):
    """The mapping form of a selector: any of `names`, `dtype`, `regex`, plus `exclude`."""

    model_config = ConfigDict(extra="forbid")

    names: list[str] | None = None
    dtype: DtypeGroup | list[DtypeGroup] | None = None
    regex: str | None = None
    exclude: list[str] = []

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
        return value


Selector = DtypeGroup | str | list[str] | SelectorSpec


def is_text(series: pl.Series) -> bool:
    """Free text rather than a category: string values with several words on average."""
    if series.dtype != pl.String:
        return False
    # a sample is enough to tell sentences from category labels, and keeps selection O(1)
    words = series.drop_nulls().head(TEXT_SAMPLE_ROWS).str.count_matches(r"\S+")
    return len(words) > 0 and float(words.mean()) >= TEXT_MIN_MEAN_WORDS  # type: ignore[arg-type]


def dtype_kind(dtype: pl.DataType) -> str:
    """The kind of a dtype alone: boolean, numeric, datetime, categorical, string, null or other."""
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_numeric():
        return "numeric"
    if dtype.is_temporal():
        return "datetime"
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "categorical"
    if dtype == pl.String:
        return "string"
    if dtype == pl.Null:
        return "null"
    return "other"


def dtype_group(frame: pl.DataFrame, column: str, dtype: pl.DataType | None = None) -> str:
    """The dtype group a column belongs to: numeric, categorical, text, boolean, datetime or other.

    Pass the column's `dtype` when it is known: `frame.schema` builds a new schema object on
    every call, so looking it up once per column makes wide frames quadratic.
    """
    kind = dtype_kind(frame.schema[column] if dtype is None else dtype)
    if kind == "string":
        return "text" if is_text(frame[column]) else "categorical"
    return "other" if kind == "null" else kind


def _in_groups(frame: pl.DataFrame, column: str, dtype: pl.DataType, groups: list[str]) -> bool:
    if "all" in groups:
        return True
    if dtype == pl.String and not {"text", "categorical"} & set(groups):
        return False  # skip the text/category test, which reads the values
    return dtype_group(frame, column, dtype) in groups


def require_columns(frame: pl.DataFrame, names: list[str]) -> None:
    """A `DataError` naming the first missing column, the closest name and the columns present."""
    present = set(frame.columns)
    for name in names:
        if name not in present:
            raise DataError(
                f"column '{name}' does not exist{suggest(name, frame.columns)}",
                hint=f"available columns: {', '.join(frame.columns)}",
            )


def select_columns(
    frame: pl.DataFrame,
    selector: Selector | dict[str, Any] | None,
    target: str | tuple[str, ...] | None = None,
) -> list[str]:
    """Resolve a selector to column names, in frame order.

    Named columns must exist (a `DataError` lists the available ones). The target (or each of
    several protected columns: the target and a fold column, see `StepContext.protected`) is
    left out unless it is named explicitly.
    """
    protected = {target} if isinstance(target, str) else set(target or ())
    if selector is None:
        selector = "all"
    if isinstance(selector, dict):
        selector = SelectorSpec(**selector)
    if isinstance(selector, str):
        if selector in DTYPE_GROUPS:
            selector = SelectorSpec(dtype=selector)  # type: ignore[arg-type]
        elif selector not in frame.columns:
            # a lone word may be a mistyped group (`numerc`) as well as a mistyped column
            raise DataError(
                f"column '{selector}' does not exist"
                + suggest(selector, [*frame.columns, *DTYPE_GROUPS]),
                hint=f"available columns: {', '.join(frame.columns)}; "
                f"or a dtype group: {', '.join(DTYPE_GROUPS)}",
            )
        else:
            selector = SelectorSpec(names=[selector])
    if isinstance(selector, list):
        selector = SelectorSpec(names=selector)

    require_columns(frame, selector.exclude)
    columns = frame.columns
    excluded = set(selector.exclude)
    if selector.names is not None:
        require_columns(frame, selector.names)
        present = set(columns)
        # keep the user's order for explicit names
        chosen = [c for c in selector.names if c in present]
    else:
        chosen = [c for c in columns if c not in protected]
    if selector.dtype is not None:
        groups = [selector.dtype] if isinstance(selector.dtype, str) else list(selector.dtype)
        schema = frame.schema
        chosen = [c for c in chosen if _in_groups(frame, c, schema[c], groups)]
    if selector.regex is not None:
        pattern = re.compile(selector.regex)
        chosen = [c for c in chosen if pattern.search(c)]
    return [c for c in chosen if c not in excluded]


def require_numeric(frame: pl.DataFrame, columns: list[str], step: str) -> None:
    """Fail with a clear message when a step that needs numbers is given another dtype."""
    schema = frame.schema
    bad = [c for c in columns if not schema[c].is_numeric()]
    if bad:
        # a column with no values at all reads as String (CSV) or Null: its dtype says nothing
        empty = [c for c in bad if frame.height and frame[c].null_count() == frame.height]
        if empty:
            raise DataError(
                f"{step} needs numeric columns, but "
                + ", ".join(f"column '{c}' is entirely missing (no values)" for c in empty),
                hint="drop it first (step: drop_missing), or leave it out of `columns:`",
            )
        kinds = ", ".join(f"'{c}' ({schema[c]})" for c in bad)
        raise DataError(
            f"{step} needs numeric columns, but got {kinds}",
            hint="select numeric columns (columns: numeric), or encode/cast them first",
        )
