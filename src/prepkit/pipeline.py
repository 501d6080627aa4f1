"""Fit / apply orchestration: runs steps in order, wraps their errors, records the report."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import polars as pl

from prepkit.columns import require_columns
from prepkit.errors import DataError, PrepkitError, suggest
from prepkit.frames import carry_rows, forget_rows
from prepkit.io import separator_hint
from prepkit.report import StepReport
from prepkit.report.figures import FROM_STEP, step_figures
from prepkit.steps.base import Step, StepContext, plain_state

if TYPE_CHECKING:
    from prepkit.recipe import Recipe


def guard_step(step: Step, number: int, action: str, fn: Any, *args: Any) -> Any:
    """Call a step method; any error names the step (never a bare traceback)."""
    try:
        return fn(*args)
    except PrepkitError as exc:
        raise type(exc)(f"step {number} '{step.id}': {exc.message}", hint=exc.hint) from exc
    except Exception as exc:  # a library error inside a step: say which step, keep the cause
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DataError(
            f"step {number} '{step.id}' failed while {action}: {type(exc).__name__}: {detail}",
            hint="run with --debug for the full traceback",
        ) from exc


def record_step(
    step: Step, part: str, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any],
    ctx: StepContext, seconds: float, number: int,
) -> StepReport:  # fmt: skip
    changes = guard_step(step, number, "describing", step.describe, before, after, state)
    changes = {**changes, **ctx.changes}
    own = changes.pop(FROM_STEP, {})  # the step's own figures (`prepkit.report.figures.record`)
    before_cols, after_cols = set(before.columns), set(after.columns)
    return StepReport(
        id=step.id,
        step=step.name,
        phase=step.phase,
        part=part,
        rows_in=before.height,
        rows_out=after.height,
        columns_added=[c for c in after.columns if c not in before_cols],
        columns_removed=[c for c in before.columns if c not in after_cols],
        changes=changes,
        learned=guard_step(step, number, "describing", step.learned, state),
        warnings=list(ctx.warnings),
        seconds=round(seconds, 4),
        figures={**step_figures(before, after, ctx.target, training=ctx.fitting), **own},
    )


def _follow_rows(step: Step, ctx: StepContext, before: pl.DataFrame, after: pl.DataFrame) -> None:
    """Tell the pandas adapter which of `before`'s rows `after` holds (see `frames.carry_rows`).

    Rows are the caller's rows only while every step keeps them all in order, or reports which
    ones it kept; after a step that adds or reorders rows, the output gets a fresh index.
    """
    if after is before or (step.keeps_rows and after.height == before.height):
        carry_rows(before, after)
    elif ctx.rows_kept is not None:
        carry_rows(before, after, ctx.rows_kept)
    else:
        forget_rows(after)


def fit_steps(
    steps: list[Step], frame: pl.DataFrame, base: StepContext, part: str = "train"
) -> tuple[pl.DataFrame, list[dict[str, Any]], list[StepReport]]:
    """Fit each step on the output of the steps before it; return output, states and reports."""
    states: list[dict[str, Any]] = []
    reports: list[StepReport] = []
    for number, step in enumerate(steps, 1):
        ctx = replace(base, step_id=step.id, warnings=[], changes={}, rows_kept=None, fitting=True)
        start = time.perf_counter()
        state, out = guard_step(step, number, "fitting", step.fit_transform, frame, ctx)
        state = plain_state(state, step.id)
        _follow_rows(step, ctx, frame, out)
        reports.append(
            record_step(step, part, frame, out, state, ctx, time.perf_counter() - start, number)
        )
        states.append(state)
        frame = out
    return frame, states, reports


def apply_steps(
    steps: list[Step],
    states: list[dict[str, Any]],
    frame: pl.DataFrame,
    base: StepContext,
    part: str = "new",
) -> tuple[pl.DataFrame, list[StepReport]]:
    """Apply fitted steps to new data; train-only steps are skipped (and reported as skipped)."""
    reports: list[StepReport] = []
    for number, (step, state) in enumerate(zip(steps, states, strict=True), 1):
        if not step.runs_at_apply:
            reports.append(
                StepReport(id=step.id, step=step.name, phase=step.phase, part=part,
                           rows_in=frame.height, rows_out=frame.height, skipped=True,
                           figures=step_figures(frame, frame, base.target, training=False))
            )  # fmt: skip
            continue
        ctx = replace(base, step_id=step.id, warnings=[], changes={}, rows_kept=None, fitting=False)
        start = time.perf_counter()
        needed = [c for c in step.required_columns(state) if c != ctx.target]
        guard_step(step, number, "checking columns", require_columns, frame, needed)
        out = guard_step(step, number, "applying", step.apply, frame, state, ctx)
        _follow_rows(step, ctx, frame, out)
        reports.append(
            record_step(step, part, frame, out, state, ctx, time.perf_counter() - start, number)
        )
        frame = out
    return frame, reports


def context_for(recipe: Recipe, **extra: Any) -> StepContext:
    return StepContext(
        target=recipe.spec.target,
        seed=recipe.spec.seed,
        base_dir=recipe.base_dir,
        workers=recipe.spec.workers,
        fold_column=split.fold_column if (split := recipe.spec.split) and split.kfold else None,
        **extra,
    )


def require_rows(frame: pl.DataFrame, source: str | None = None) -> None:
    """A `DataError` when there is nothing to fit on: no columns, or no rows.

    `source` names the input (a path, "standard input") when known. Call it on the input before
    splitting too, so an empty input gets this message rather than the splitter's. Applying a
    fitted recipe to 0 rows is fine; fitting on them is not.
    """
    where = f" ({source})" if source else ""
    if frame.width == 0:
        raise DataError(f"the input{where} has no columns")
    if frame.height == 0:
        raise DataError(
            f"the training data{where} has no rows",
            hint="every step learns from the training rows: give an input with at least one "
            "data row (a CSV file with a header only has none)",
        )


def require_target(frame: pl.DataFrame, target: str | None, source: str | None = None) -> None:
    """A `DataError` when the recipe's `target` is not a column of the training data.

    `source` names the input (a path, "standard input") when known.
    """
    if target is None or target in frame.columns:
        return
    where = f"{source}: " if source else ""
    fix = f"fix `target:` in the recipe (or --set target=NAME); columns: {_listed(frame.columns)}"
    raise DataError(
        f"{where}target column '{target}' is not in the data{suggest(target, frame.columns)}",
        # a frame from Python was not read by prepkit: reader options would not help
        hint=(source and separator_hint(frame.columns)) or fix,
    )


def _listed(names: list[str], most: int = 30) -> str:
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} (+{len(names) - most} more)"
