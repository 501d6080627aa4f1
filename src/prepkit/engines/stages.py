"""Stages of a pass over batches: what each fitted step does to the batches flowing through it.

A pass reads the input batch by batch and sends each batch through one stage per fitted step.
Most stages map a batch to a batch (`Mapped`); a stage may also drop rows by their position in
the stream (`ByPosition`: `drop_duplicates`, under-samplers) or add rows after the last batch
(`finish`: over-samplers append their new rows at the end, as they do in memory). Rows a stage
adds at the end flow through the stages after it, so every later step sees them.

`finish` may read the input again (a text augmenter adds its rows batch by batch that way).
A stage is made afresh for each pass (it may count rows within a pass): engines keep factories.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import polars as pl

Transform = Callable[[pl.DataFrame], pl.DataFrame]


class Stage:
    """One step in a pass: `__call__` maps each batch, `finish` gives rows to add at the end.

    `ctx` is the step's context for this batch (counts for the report go in `ctx.record`), or
    None while fitting later steps, when only the rows matter.
    """

    def __call__(self, batch: pl.DataFrame, ctx: Any = None) -> pl.DataFrame:
        return batch

    def finish(self, ctx: Any = None) -> Iterable[pl.DataFrame]:
        return ()

    # whether the stage counts positions in the stream (then a pass over one partition of the
    # data must `begin` where the rows before it left off)
    positional = False

    def summarize(self, batch: pl.DataFrame) -> dict[str, Any]:
        """For a positional stage: what it must know of a batch it does not see (counts that
        add: rows, rows per class)."""
        return {"rows": batch.height}

    def begin(self, before: dict[str, Any]) -> None:
        """Start the pass after rows summarized (added up) by `before`."""


StageFactory = Callable[[], Stage]


class Mapped(Stage):
    """A stage that maps every batch with `fn(batch, ctx)`."""

    def __init__(self, fn: Callable[[pl.DataFrame, Any], pl.DataFrame]) -> None:
        self.fn = fn

    def __call__(self, batch: pl.DataFrame, ctx: Any = None) -> pl.DataFrame:
        return self.fn(batch, ctx)


class ByPosition(Stage):
    """Keep (or drop) the rows at `positions` (ascending, repeats allowed when keeping) of the
    stream, counted from the first row of the pass."""

    def __init__(self, positions: np.ndarray, keep: bool) -> None:
        self.positions, self.keep, self.seen = positions, keep, 0

    positional = True

    def begin(self, before: dict[str, Any]) -> None:
        self.seen = before.get("rows", 0)

    def __call__(self, batch: pl.DataFrame, ctx: Any = None) -> pl.DataFrame:
        start = self.seen
        self.seen += batch.height
        lo, hi = np.searchsorted(self.positions, [start, self.seen])
        if self.keep:
            return batch[self.positions[lo:hi] - start]
        if lo == hi:
            return batch
        mask = np.ones(batch.height, dtype=bool)
        mask[self.positions[lo:hi] - start] = False
        return batch.filter(pl.Series(mask))


def by_position(positions: np.ndarray, keep: bool) -> StageFactory:
    positions = np.asarray(positions, dtype=np.int64)
    return lambda: ByPosition(positions, keep)


class Appending(Stage):
    """Batches mapped by `fn`, then `rows` (if any) added after the last one, with `changes`
    recorded in the report of the rows added."""

    def __init__(self, fn: Transform, rows: pl.DataFrame | None, changes: dict[str, Any]) -> None:
        self.fn, self.rows, self.changes = fn, rows, changes

    def __call__(self, batch: pl.DataFrame, ctx: Any = None) -> pl.DataFrame:
        return self.fn(batch)

    def finish(self, ctx: Any = None) -> Iterable[pl.DataFrame]:
        if ctx is not None:
            ctx.record(**self.changes)
        return (self.rows,) if self.rows is not None else ()


def appending(fn: Transform, rows: pl.DataFrame | None, changes: dict[str, Any]) -> StageFactory:
    return lambda: Appending(fn, rows, changes)


def run_stages(
    stages: list[Stage], batches: Iterable[pl.DataFrame], finish: bool = True
) -> Iterator[pl.DataFrame]:
    """Each batch through every stage; then (unless a later part of the data follows: `finish`
    False) the rows each stage adds at the end, in step order, through the stages after it."""
    for batch in batches:
        for stage in stages:
            batch = stage(batch)
        yield batch
    if not finish:
        return
    for number, stage in enumerate(stages):
        for batch in stage.finish():
            for later in stages[number + 1 :]:
                batch = later(batch)
            yield batch
