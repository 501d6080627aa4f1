"""The run report as a compact rich table on stderr (the JSON/HTML reports have every detail)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from prepkit.report import RunReport, StepReport

MAX_ITEMS = 4


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt_float(value: float) -> str:
    """199999.5 as 199,999.5 (not 2e+05); 0.123456 as 0.1235; 1e-07 as 1e-07."""
    if value != value or abs(value) >= 1e15:  # NaN, inf, huge
        return f"{value:.4g}"
    if value.is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.1f}"
    return f"{value:.4g}"


def _fmt_value(value: Any) -> str | None:
    """A short rendering of one change, or None for details left to the JSON report."""
    if isinstance(value, float):
        return _fmt_float(value)
    if _number(value):
        return f"{value:,}"
    if isinstance(value, (str, bool)):
        return str(value)
    if (
        isinstance(value, dict)
        and value
        and all(_number(v) or isinstance(v, str) for v in value.values())
    ):
        items = [f"{k}={_fmt_value(v)}" for k, v in list(value.items())[:MAX_ITEMS]]
        more = f" (+{len(value) - MAX_ITEMS} more)" if len(value) > MAX_ITEMS else ""
        return ", ".join(items) + more
    if isinstance(value, list) and value and all(isinstance(v, (str, int, float)) for v in value):
        more = f" (+{len(value) - MAX_ITEMS} more)" if len(value) > MAX_ITEMS else ""
        return ", ".join(map(str, value[:MAX_ITEMS])) + more
    return None


def summarize(step: StepReport) -> str:
    """Counts and short lists from a step's changes and learned values; nested details stay in
    the JSON report."""
    lines = []
    for key, value in {**step.changes, **step.learned}.items():
        text = _fmt_value(value)
        if text:
            lines.append(f"{key}: {text}")
    lines.extend(f"[yellow]warning:[/] {w}" for w in step.warnings)
    return "\n".join(lines)


def _console() -> Console:
    # cron and CI logs are not terminals: use a readable width instead of rich's 80 columns
    width = None if sys.stderr.isatty() else int(os.environ.get("COLUMNS", 140))
    return Console(stderr=True, width=width)


def written(report: RunReport, report_file: str | Path | None = None) -> list[str]:
    """One line per file or folder the run wrote: outputs (with their rows), artifact, report."""
    from prepkit.io import IMAGE_STEPS

    unit = "image" if any(s.step in IMAGE_STEPS for s in report.steps) else "row"
    lines = []
    for part, path in report.outputs.items():
        if str(path) == "-":
            continue
        rows = report.parts.get(part, {}).get("rows")
        counted = f" ({rows:,} {unit}{'' if rows == 1 else 's'})" if rows is not None else ""
        lines.append(f"wrote {_near(path)}{counted}")
    if report.fitted:
        lines.append(f"wrote {_near(report.fitted)} (fitted recipe)")
    if report_file is not None and str(report_file) != "-":
        lines.append(f"wrote {_near(report_file)} (report)")
    return lines


def _near(path: str | Path) -> str:
    """A path below the current folder, relative to it (`out/churn_train.parquet`)."""
    p = Path(path)
    if p.is_absolute():
        try:
            return str(p.relative_to(Path.cwd()))
        except ValueError:
            pass
    return str(path)


def render(
    report: RunReport, console: Console | None = None, *, report_file: str | Path | None = None
) -> None:
    """The report on stderr; `report_file` is where the report itself was written, if anywhere."""
    console = console or _console()
    train = report.steps_for("train")
    if train:
        table = Table(title=f"{report.recipe}: fit on train", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("step", no_wrap=True)
        table.add_column("rows in", justify="right")
        table.add_column("rows out", justify="right")
        table.add_column("columns", no_wrap=True)
        table.add_column("changes")
        table.add_column("time", justify="right")
        for i, s in enumerate(train, 1):
            cols = " ".join(
                t for t in (
                    f"+{len(s.columns_added)}" if s.columns_added else "",
                    f"-{len(s.columns_removed)}" if s.columns_removed else "",
                ) if t
            )  # fmt: skip
            table.add_row(
                str(i), s.id, f"{s.rows_in:,}", f"{s.rows_out:,}", cols, summarize(s),
                f"{s.seconds:.2f}s",
            )  # fmt: skip
        console.print(table)
    for part in dict.fromkeys(s.part for s in report.steps if s.part != "train"):
        steps = report.steps_for(part)
        skipped = [s.id for s in steps if s.skipped]
        warnings = [f"{s.id}: {w}" for s in steps for w in s.warnings]
        line = f"{part}: {steps[0].rows_in:,} rows in, {steps[-1].rows_out:,} rows out"
        if skipped:
            line += f"; train-only steps skipped: {', '.join(skipped)}"
        console.print(line, highlight=False)
        for warning in warnings:
            console.print(f"  [yellow]warning:[/] {warning}", highlight=False)
    if report.drift is not None:
        drifted = report.drift["drifted"]
        line = f"drift against the training data: {len(drifted)} of {len(report.drift['columns'])} columns"
        console.print(line + (f" ({', '.join(drifted)})" if drifted else ""), highlight=False,
                      markup=False)  # fmt: skip
        for warning in report.drift.get("warnings", []):
            console.print("  [yellow]warning:[/] " + escape(warning), highlight=False)
    for check in report.checks:
        mark = "[green]pass[/]" if check.passed else "[red]FAIL[/]"
        console.print(f"check {mark}: {escape(check.message)}", highlight=False)
    for line in written(report, report_file):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.print(f"done in {report.seconds:.2f}s", highlight=False)
