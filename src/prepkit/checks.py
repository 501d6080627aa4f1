"""Quality gates: recipe-level `checks:` evaluated after a run (exit code 3 when one fails)."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from prepkit.errors import RecipeError
from prepkit.recipe import CheckSpec
from prepkit.report import CheckResult, RunReport

Metric = Callable[[pl.DataFrame, RunReport, CheckSpec, "str | None"], "float | None"]


def _null_fraction(
    frame: pl.DataFrame, report: RunReport, spec: CheckSpec, target: str | None
) -> float:
    cols = [spec.column] if spec.column else frame.columns
    cells = frame.height * len(cols)
    if cells == 0:
        return 0.0
    nulls = sum(
        frame[c].null_count() + (frame[c].is_nan().sum() if frame[c].dtype.is_float() else 0)
        for c in cols
    )
    return nulls / cells


def _minority_fraction(
    frame: pl.DataFrame, report: RunReport, spec: CheckSpec, target: str | None
) -> float | None:
    column = spec.column or target
    if not column:
        raise RecipeError("check minority_fraction needs the recipe's `target` (or `column:`)")
    if frame.height == 0:
        return None
    counts = frame[column].value_counts()["count"]
    return int(counts.min()) / frame.height  # type: ignore[arg-type]


def _label_issue_fraction(
    frame: pl.DataFrame, report: RunReport, spec: CheckSpec, target: str | None
) -> float | None:
    for step in report.steps_for("train"):
        if step.step == "label_issues":
            return step.changes.get("issues", 0) / step.rows_in if step.rows_in else 0.0
    raise RecipeError("check label_issue_fraction needs a `label_issues` step in the recipe")


METRICS: dict[str, Metric] = {
    "rows_out": lambda frame, report, spec, target: float(frame.height),
    "columns_out": lambda frame, report, spec, target: float(frame.width),
    "rows_removed_fraction": lambda frame, report, spec, target: (
        1 - frame.height / report.parts["input"]["rows"]
        if report.parts.get("input", {}).get("rows")
        else 0.0
    ),
    "null_fraction": _null_fraction,
    "minority_fraction": _minority_fraction,
    "label_issue_fraction": _label_issue_fraction,
}


def evaluate(
    checks: list[CheckSpec], frame: pl.DataFrame, report: RunReport, target: str | None
) -> list[CheckResult]:
    """Evaluate each check on the training output; returns results (does not raise)."""
    results = []
    for check in checks:
        value = METRICS[check.metric](frame, report, check, target)
        passed = (
            value is not None
            and (check.min is None or value >= check.min)
            and (check.max is None or value <= check.max)
        )
        bounds = " and ".join(
            b
            for b in (
                f">= {check.min}" if check.min is not None else "",
                f"<= {check.max}" if check.max is not None else "",
            )
            if b
        )
        label = check.metric + (f"[{check.column}]" if check.column else "")
        shown = "n/a" if value is None else f"{value:.6g}"
        results.append(
            CheckResult(
                check.metric,
                value,
                check.min,
                check.max,
                passed,
                f"{label} = {shown} (must be {bounds})",
            )
        )
    return results
