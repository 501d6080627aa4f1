"""Quality gates: recipe-level `checks:` evaluated after a run (exit code 3 when one fails)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prepkit.errors import RecipeError, suggest
from prepkit.report import CheckResult, RunReport


class CheckSpec(BaseModel):
    """One quality gate: `{metric: rows_out, min: 1000}`."""

    model_config = ConfigDict(extra="forbid")

    metric: str
    min: float | None = None
    max: float | None = None
    column: str | None = Field(None, description="limit a per-column metric to one column")


@dataclass
class OutputSummary:
    """What the checks look at in the training output, as counts that add up over batches.

    `missing` counts null and NaN cells per column; `classes` counts the values of the columns
    whose class balance a check looks at. The in-memory engine summarises the whole output at once,
    the streaming engine each batch, merged with `+`.
    """

    rows: int
    columns: list[str]
    missing: dict[str, int]
    classes: dict[str, dict[object, int]] = field(default_factory=dict)

    def __add__(self, other: OutputSummary) -> OutputSummary:
        classes = {c: dict(counts) for c, counts in self.classes.items()}
        for column, counts in other.classes.items():
            merged = classes.setdefault(column, {})
            for value, n in counts.items():
                merged[value] = merged.get(value, 0) + n
        return OutputSummary(
            self.rows + other.rows,
            self.columns,
            {c: n + other.missing.get(c, 0) for c, n in self.missing.items()},
            classes,
        )


def class_columns(checks: list[CheckSpec], target: str | None) -> list[str]:
    """The columns whose value counts `checks` need (those of minority_fraction checks)."""
    wanted = [c.column or target for c in checks if c.metric == "minority_fraction"]
    if None in wanted:
        raise RecipeError("check minority_fraction needs the recipe's `target` (or `column:`)")
    return list(dict.fromkeys(c for c in wanted if c is not None))


def summarize(frame: pl.DataFrame, class_columns: Sequence[str] = ()) -> OutputSummary:
    """The summary of one frame (or one batch) of the training output."""
    missing = frame.select(
        (pl.col(c).is_null() | pl.col(c).is_nan()).sum() if dtype.is_float()
        else pl.col(c).null_count()
        for c, dtype in frame.schema.items()
    ).row(0) if frame.width else ()  # fmt: skip
    classes = {}
    for column in class_columns:
        if column in frame.columns:
            counts = frame[column].value_counts()
            classes[column] = dict(zip(counts[column].to_list(), counts["count"].to_list(),
                                       strict=True))  # fmt: skip
    return OutputSummary(
        frame.height, frame.columns, dict(zip(frame.columns, map(int, missing), strict=True)),
        classes,
    )  # fmt: skip


def _column(out: OutputSummary, column: str) -> str:
    if column not in out.columns:
        raise RecipeError(
            f"check column '{column}' is not in the training output{suggest(column, out.columns)}"
        )
    return column


Metric = Callable[[OutputSummary, RunReport, CheckSpec, "str | None"], "float | None"]


def _null_fraction(
    out: OutputSummary, report: RunReport, spec: CheckSpec, target: str | None
) -> float:
    cols = [_column(out, spec.column)] if spec.column else out.columns
    cells = out.rows * len(cols)
    return sum(out.missing[c] for c in cols) / cells if cells else 0.0


def _minority_fraction(
    out: OutputSummary, report: RunReport, spec: CheckSpec, target: str | None
) -> float | None:
    column = spec.column or target  # `class_columns` made sure there is one
    assert column is not None
    if out.rows == 0:
        return None
    return min(out.classes[_column(out, column)].values()) / out.rows


def _label_issue_fraction(
    out: OutputSummary, report: RunReport, spec: CheckSpec, target: str | None
) -> float | None:
    for step in report.steps_for("train"):
        if step.step == "label_issues":
            return step.changes.get("issues", 0) / step.rows_in if step.rows_in else 0.0
    raise RecipeError("check label_issue_fraction needs a `label_issues` step in the recipe")


METRICS: dict[str, Metric] = {
    "rows_out": lambda out, report, spec, target: float(out.rows),
    "columns_out": lambda out, report, spec, target: float(len(out.columns)),
    "rows_removed_fraction": lambda out, report, spec, target: (
        1 - out.rows / report.parts["input"]["rows"]
        if report.parts.get("input", {}).get("rows")
        else 0.0
    ),
    "null_fraction": _null_fraction,
    "minority_fraction": _minority_fraction,
    "label_issue_fraction": _label_issue_fraction,
}


# Metrics that count rows or columns: shown as integers (1,428), not as 1.428e+03.
COUNTS = frozenset({"rows_out", "columns_out"})


def _bound(bound: float, count: bool) -> str:
    return f"{int(bound):,}" if count and float(bound).is_integer() else f"{bound}"


def _shown(
    value: float, count: bool, passed: bool, bounds: tuple[float | None, float | None]
) -> str:
    """A count with thousands separators; a fraction to 4 significant digits, or every digit when
    rounding would make a failed value look equal to its bound (0.05 "must be <= 0.05")."""
    if count and float(value).is_integer():
        return f"{int(value):,}"
    text = f"{value:.4g}"
    if text.lstrip("-").isdigit():
        text += ".0"  # a fraction reads as one: 0.0, 1.0
    if not passed and float(text) in [b for b in bounds if b is not None]:
        return repr(float(value))
    return text


def evaluate(
    checks: list[CheckSpec],
    output: pl.DataFrame | OutputSummary,
    report: RunReport,
    target: str | None,
) -> list[CheckResult]:
    """Evaluate each check on the training output (a frame, or the summary of its batches);
    returns results (does not raise)."""
    wanted = class_columns(checks, target)  # also: minority_fraction has a column
    if isinstance(output, pl.DataFrame):
        output = summarize(output, wanted)
    return [judge(check, METRICS[check.metric](output, report, check, target)) for check in checks]


def judge(check: CheckSpec, value: float | None) -> CheckResult:
    """Whether a check's value is within its bounds, and the message that says so."""
    passed = (
        value is not None
        and (check.min is None or value >= check.min)
        and (check.max is None or value <= check.max)
    )
    count = check.metric in COUNTS
    bounds = " and ".join(
        b
        for b in (
            f">= {_bound(check.min, count)}" if check.min is not None else "",
            f"<= {_bound(check.max, count)}" if check.max is not None else "",
        )
        if b
    )
    label = check.metric + (f"[{check.column}]" if check.column else "")
    shown = "n/a" if value is None else _shown(value, count, passed, (check.min, check.max))
    return CheckResult(
        check.metric, value, check.min, check.max, passed, f"{label} = {shown} (must be {bounds})"
    )


# -- checks of `prepkit apply`: the applied output and the new data's drift ---------------------
DRIFT_METRICS = ("psi", "kl_divergence", "js_distance", "ks_statistic", "chi2_statistic",
                 "unseen_fraction", "out_of_range_fraction", "null_rate_change")  # fmt: skip
APPLY_METRICS = ("rows_out", "columns_out", "null_fraction", "drifted_columns", *DRIFT_METRICS)


def evaluate_apply(
    checks: list[CheckSpec], output: OutputSummary, drift: Any, source: str = "apply_checks"
) -> list[CheckResult]:
    """Evaluate `prepkit apply`'s checks: output metrics on the applied output, drift metrics
    on the new data against the artifact's reference profile (`drift`, a `DriftResult`).

    A drift metric with `column:` is that column's figure; without, the largest over the columns
    that have it (absolute values, as the drift thresholds: a null rate that falls counts too).
    """
    results = []
    for check in checks:
        if check.metric in DRIFT_METRICS:
            value = _drift_figure(drift, check, source)
        elif check.metric == "drifted_columns":
            value = float(len(drift.drifted))
        elif check.metric == "null_fraction":
            value = _null_fraction(output, RunReport(recipe=""), check, None)
        else:
            value = float(output.rows if check.metric == "rows_out" else len(output.columns))
        results.append(judge(check, value))
    return results


def _drift_figure(drift: Any, check: CheckSpec, source: str) -> float | None:
    columns = drift.columns
    if check.column is not None:
        if check.column not in columns:
            known = [c for c, f in columns.items() if f.get(check.metric) is not None]
            raise RecipeError(
                f"{source}: check {check.metric} column '{check.column}' is not a column of both "
                f"the training data and the new data{suggest(check.column, known)}",
                hint=f"columns with {check.metric}: {', '.join(known) or 'none'}",
            )
        value = columns[check.column].get(check.metric)
        return None if value is None else abs(float(value))
    found = [
        abs(float(f[check.metric])) for f in columns.values() if f.get(check.metric) is not None
    ]
    return max(found) if found else 0.0
