"""Fit / apply orchestration: runs steps in order, wraps their errors, records the report."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import polars as pl

from prepkit.columns import require_columns
from prepkit.errors import DataError, PrepkitError
from prepkit.frames import to_polars
from prepkit.report import RunReport, StepReport
from prepkit.steps.base import Step, StepContext, plain_state

if TYPE_CHECKING:
    from prepkit.fitted import FittedRecipe
    from prepkit.recipe import Recipe


def _guard(step: Step, number: int, action: str, fn: Any, *args: Any) -> Any:
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


def _record(
    step: Step, part: str, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any],
    ctx: StepContext, seconds: float, number: int,
) -> StepReport:  # fmt: skip
    changes = _guard(step, number, "describing", step.describe, before, after, state)
    changes = {**changes, **ctx.changes}
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
        learned=_guard(step, number, "describing", step.learned, state),
        warnings=list(ctx.warnings),
        seconds=round(seconds, 4),
    )


def fit_steps(
    steps: list[Step], frame: pl.DataFrame, base: StepContext, part: str = "train"
) -> tuple[pl.DataFrame, list[dict[str, Any]], list[StepReport]]:
    """Fit each step on the output of the steps before it; return output, states and reports."""
    states: list[dict[str, Any]] = []
    reports: list[StepReport] = []
    for number, step in enumerate(steps, 1):
        ctx = replace(base, step_id=step.id, warnings=[], changes={}, fitting=True)
        start = time.perf_counter()
        state, out = _guard(step, number, "fitting", step.fit_transform, frame, ctx)
        state = plain_state(state, step.id)
        reports.append(
            _record(step, part, frame, out, state, ctx, time.perf_counter() - start, number)
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
                           rows_in=frame.height, rows_out=frame.height, skipped=True)
            )  # fmt: skip
            continue
        ctx = replace(base, step_id=step.id, warnings=[], changes={}, fitting=False)
        start = time.perf_counter()
        needed = [c for c in step.required_columns(state) if c != ctx.target]
        _guard(step, number, "checking columns", require_columns, frame, needed)
        out = _guard(step, number, "applying", step.apply, frame, state, ctx)
        reports.append(
            _record(step, part, frame, out, state, ctx, time.perf_counter() - start, number)
        )
        frame = out
    return frame, reports


def context_for(recipe: Recipe, **extra: Any) -> StepContext:
    return StepContext(
        target=recipe.spec.target,
        seed=recipe.spec.seed,
        base_dir=recipe.base_dir,
        workers=recipe.spec.workers,
        **extra,
    )


def fit_frame(
    recipe: Recipe, frame: pl.DataFrame, ctx: StepContext | None = None
) -> tuple[FittedRecipe, pl.DataFrame]:
    """Fit on a polars frame; return the fitted recipe and the transformed training frame."""
    from prepkit.fitted import FittedRecipe, schema_of

    if frame.width == 0:
        raise DataError("the input has no columns")
    ctx = ctx or context_for(recipe)
    out, states, reports = fit_steps(recipe.steps, frame, ctx)
    fitted = FittedRecipe(
        recipe=recipe.to_dict(),
        steps=recipe.steps,
        states=states,
        input_schema=schema_of(frame),
        output_schema=schema_of(out),
        report=RunReport(recipe=recipe.name, steps=reports),
    )
    return fitted, out


def fit(recipe: Recipe, data: Any) -> tuple[FittedRecipe, Any]:
    frame, back = to_polars(data)
    fitted, out = fit_frame(recipe, frame)
    return fitted, back(out)
