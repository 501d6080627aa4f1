"""The run report as rich tables on stderr."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from prepkit.report import RunReport


def _fmt_changes(changes: dict[str, Any], limit: int = 6) -> str:
    parts = []
    for key, value in changes.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}={v}" for k, v in list(value.items())[:limit])
            more = f", +{len(value) - limit} more" if len(value) > limit else ""
            parts.append(f"{key}: {inner}{more}")
        elif isinstance(value, list):
            if value and isinstance(value[0], dict):
                parts.append(f"{key}: {len(value)} listed")  # e.g. worst rows; in the JSON report
            else:
                shown = ", ".join(map(str, value[:limit]))
                parts.append(f"{key}: {shown}" + (" ..." if len(value) > limit else ""))
        else:
            parts.append(f"{key}: {value}")
    return "\n".join(parts)


def render(report: RunReport, console: Console | None = None) -> None:
    console = console or Console(stderr=True)
    for part in dict.fromkeys(s.part for s in report.steps):
        table = Table(title=f"{report.recipe} - {part}", title_justify="left")
        for col, kw in (
            ("#", {"justify": "right"}),
            ("step", {}),
            ("rows in", {"justify": "right"}),
            ("rows out", {"justify": "right"}),
            ("columns +/-", {}),
            ("changes", {}),
            ("time", {"justify": "right"}),
        ):
            table.add_column(col, **kw)
        for i, s in enumerate(report.steps_for(part), 1):
            cols = ""
            if s.columns_added:
                cols += f"+{len(s.columns_added)}"
            if s.columns_removed:
                cols += f" -{len(s.columns_removed)}"
            changes = "skipped (train only)" if s.skipped else _fmt_changes(s.changes)
            if s.warnings:
                changes += "".join(f"\n[yellow]warning: {w}[/]" for w in s.warnings)
            table.add_row(
                str(i), s.id, f"{s.rows_in:,}", f"{s.rows_out:,}", cols.strip(), changes,
                f"{s.seconds:.2f}s",
            )  # fmt: skip
        console.print(table)
    for check in report.checks:
        mark = "[green]pass[/]" if check.passed else "[red]FAIL[/]"
        console.print(f"check {check.metric}: {mark} {check.message}")
    for part, path in report.outputs.items():
        console.print(f"wrote {part}: {path}")
    if report.fitted:
        console.print(f"wrote fitted recipe: {report.fitted}")
    console.print(f"done in {report.seconds:.2f}s")
