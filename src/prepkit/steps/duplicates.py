"""Duplicate rows: drop repeated rows of the training data (and optionally of new data)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from prepkit.columns import Selector, select_columns
from prepkit.steps.base import Column, Step, StepContext, StepParams, StepState, register


def keep_exact(keys: pl.DataFrame, keep: str) -> pl.Series:
    """Which rows to keep, comparing whole rows (polars' row encoding: exact, and slow)."""
    key = pl.struct(keys.columns)
    rule = {
        "first": key.is_first_distinct(),
        "last": key.is_last_distinct(),
        "none": ~key.is_duplicated(),
    }[keep]
    return keys.select(rule).to_series()


def duplicate_keys(frame: pl.DataFrame, subset: list[str]) -> pl.DataFrame:
    """The columns rows are compared on, NaN read as null: both are missing and compare equal,
    as in pandas (whose NaN arrives here as null)."""
    schema = frame.schema
    return frame.select(
        pl.col(c).fill_nan(None) if schema[c].is_float() else pl.col(c) for c in subset
    )


def _keep(keys: pl.DataFrame, keep: str) -> pl.Series:
    """Which rows to keep: exact, with the rows compared only where their hashes repeat.

    Equal rows have equal hashes (polars' row hash treats -0.0 and 0.0, and all NaNs, as equal,
    as its `unique` does), so a row whose hash occurs once has no duplicate and is kept. Only the
    few rows whose hash repeats are compared exactly, which makes this about 6x faster than
    comparing every row when duplicates are rare, and never wrong when hashes collide. When most
    rows repeat, every row is compared, and the hashing makes that 10-30% slower than comparing
    alone.
    """
    hashes = keys.hash_rows()
    ordered = np.sort(hashes.to_numpy())
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if not len(repeated):
        return pl.Series("keep", np.ones(keys.height, dtype=bool))
    # rows whose hash repeats: the repeats, plus the first row of each repeated hash
    involved = len(repeated) + 1 + int(np.count_nonzero(repeated[1:] != repeated[:-1]))
    if involved > keys.height // 2:  # most rows repeat: picking them out costs more than it saves
        return keep_exact(keys, keep)
    candidates = hashes.is_in(pl.Series(repeated).implode()).arg_true()
    dropped = candidates.filter(~keep_exact(keys[candidates], keep))
    mask = np.ones(keys.height, dtype=bool)
    mask[dropped.to_numpy()] = False
    return pl.Series("keep", mask)


@register("drop_duplicates")
class DropDuplicates(Step):
    """Drop rows that repeat an earlier (or later) row, keeping the order of the rows kept.

    Rows are compared on `subset` (default: every column, the target included); missing values
    (null and NaN alike) compare equal to each other, as in pandas' `drop_duplicates`. `keep: first` keeps the first
    copy, `last` the last copy, `none` drops every copy of a repeated row. Phase: `train_only`
    (only training rows are dropped) unless `at_apply: true`, which also dedupes new data.

    ```yaml
    - step: drop_duplicates
      subset: [customer_id, date]
      keep: last
    ```
    """

    class Params(StepParams):
        subset: Selector | None = Field(
            None,
            description="Columns that define a duplicate (selector or list); default all columns.",
        )
        keep: Literal["first", "last", "none"] = Field(
            "first", description="Which copy to keep: first, last, or none (drop every copy)."
        )
        at_apply: bool = Field(
            False, description="Also drop duplicate rows from new data at apply time."
        )

    phase = "train_only"
    row_wise = False  # a duplicate may sit in another batch
    keeps_rows = False  # drops rows (and reports which it kept: they keep their index labels)

    @property
    def runs_at_apply(self) -> bool:
        return self.params.at_apply

    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        if self.params.subset is None:
            return {"subset": list(frame.columns)}
        subset = select_columns(frame, self.params.subset, ctx.protected)
        if not subset:
            ctx.warn("drop_duplicates: the subset selects no columns; no rows dropped")
        return {"subset": subset}

    class State(StepState):
        subset: list[Column]

    def required_columns(self, state: dict[str, Any]) -> list[str]:
        return list(state["subset"])

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        # new data may come without the target: compare on the other columns
        present = set(frame.columns)
        subset = [c for c in state["subset"] if c in present]
        if not subset or frame.height < 2:
            return frame
        return ctx.filter_rows(frame, _keep(duplicate_keys(frame, subset), self.params.keep))

    def describe(
        self, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any]
    ) -> dict[str, Any]:
        return {"duplicates_removed": before.height - after.height}
