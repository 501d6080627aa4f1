"""Helpers for the engine tests: fit one step from statistics answered over batches."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from prepkit.engines.partials import compute_batches
from prepkit.errors import DataError
from prepkit.pipeline import context_for
from prepkit.steps.base import plain_state


def fit_over_batches(recipe, frame: pl.DataFrame, rows: int) -> tuple[dict, list[str]]:
    """The state and warnings of the recipe's first step fitted from answers computed over
    `frame` cut into batches of `rows` rows, as the streaming engine does (it sees only the
    first batch)."""
    step = recipe.steps[0]
    ctx = replace(context_for(recipe), step_id=step.id, fitting=True)
    first = frame.head(rows)
    requests = step.statistics(first, ctx)
    assert requests is not None, f"{step.name} does not say what it learns from"
    answers = compute_batches(lambda: iter(frame.iter_slices(rows)), requests)
    return plain_state(step.fit_from(first, answers, ctx), step.id), ctx.warnings


def state_over_batches(recipe, frame: pl.DataFrame, rows: int) -> dict:
    return fit_over_batches(recipe, frame, rows)[0]


def same_state(a, b, rel: float = 1e-12) -> bool:
    """Equal JSON states; floats to `rel` (means and standard deviations merge to rounding)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_state(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_state(x, y, rel) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b) or a == pytest.approx(b, rel=rel, abs=0)
    return type(a) is type(b) and a == b


@pytest.fixture
def same_error():
    """`same_error(recipe, frame, match)`: fitting in memory and over batches of 1, 3 and 7 rows
    fails with the same message and hint; returns the message."""

    def check(recipe, frame: pl.DataFrame, match: str) -> str:
        with pytest.raises(DataError, match=match) as memory:
            recipe.fit(frame)
        for rows in (1, 3, 7):
            with pytest.raises(DataError) as streamed:
                fit_over_batches(recipe, frame, rows)
            assert memory.value.message.endswith(streamed.value.message), rows
            assert memory.value.hint == streamed.value.hint
        return memory.value.message

    return check


@pytest.fixture
def fit_in_batches():
    """`fit_in_batches(recipe, frame, rows)`: see `fit_over_batches`."""
    return fit_over_batches


@pytest.fixture
def over_batches():
    """`over_batches(recipe, frame)`: asserts the in-memory state equals the state fitted over
    batches of 1, 3 and 7 rows and over one batch; returns the in-memory state."""

    def check(recipe, frame: pl.DataFrame, rel: float = 1e-12) -> dict:
        memory = recipe.fit(frame).states[0]
        for rows in (1, 3, 7, max(frame.height, 1)):
            streamed = state_over_batches(recipe, frame, rows)
            assert same_state(streamed, memory, rel), (rows, streamed, memory)
        return memory

    return check
