"""The run report as one self-contained HTML page (inline CSS and SVG bar charts, no scripts)."""

from __future__ import annotations

import html
import json
from typing import Any

from prepkit.report import RunReport

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;
vertical-align:top;text-align:left}th{background:#f3f3f3}td.n{text-align:right}.warn{color:#a60}
.fail{color:#b00;font-weight:600}.pass{color:#070}svg text{font:11px system-ui,sans-serif}
details pre{white-space:pre-wrap;font-size:12px}
"""


def _bars(title: str, values: dict[str, float], colour: str = "#4a7fb5") -> str:
    """A horizontal bar chart as inline SVG."""
    if not values:
        return ""
    width, bar, gap, label_w = 640, 16, 6, 200
    top = max(values.values()) or 1
    height = len(values) * (bar + gap) + 24
    rows = []
    for i, (label, value) in enumerate(values.items()):
        y = 20 + i * (bar + gap)
        w = (width - label_w - 80) * value / top
        rows.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{html.escape(str(label))[:30]}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 12}">{value:,.4g}</text>'
        )
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">'
        f'<text x="0" y="12" font-weight="600">{html.escape(title)}</text>{"".join(rows)}</svg>'
    )


def _numeric_mapping(value: Any) -> dict[str, float] | None:
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(v, (int, float)) for v in value.values())
    ):
        return {str(k): float(v) for k, v in value.items()}
    return None


def render_html(report: RunReport) -> str:
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>prepkit report: {html.escape(report.recipe)}</title><style>{CSS}</style></head><body>",
        f"<h1>prepkit report: {html.escape(report.recipe)}</h1>",
        f"<p>status: <b>{html.escape(report.status)}</b> - {report.seconds:.2f}s</p>",
    ]
    if report.parts:
        out.append("<table><tr><th>part</th><th>rows</th><th>columns</th></tr>")
        for part, shape in report.parts.items():
            out.append(
                f"<tr><td>{html.escape(part)}</td><td class=n>{shape.get('rows', 0):,}</td>"
                f"<td class=n>{shape.get('columns', 0):,}</td></tr>"
            )
        out.append("</table>")
    for check in report.checks:
        cls = "pass" if check.passed else "fail"
        out.append(f"<p class={cls}>check {html.escape(check.message)}: {cls}</p>")
    for part in dict.fromkeys(s.part for s in report.steps):
        steps = report.steps_for(part)
        out.append(f"<h2>{html.escape(part)}</h2>")
        out.append(_bars("rows after each step", {s.id: s.rows_out for s in steps}))
        out.append(
            "<table><tr><th>#</th><th>step</th><th>phase</th><th>rows in</th><th>rows out</th>"
            "<th>columns added / removed</th><th>time</th></tr>"
        )
        for i, s in enumerate(steps, 1):
            cols = f"+{len(s.columns_added)} / -{len(s.columns_removed)}"
            out.append(
                f"<tr><td>{i}</td><td>{html.escape(s.id)}</td><td>{s.phase}"
                f"{' (skipped)' if s.skipped else ''}</td><td class=n>{s.rows_in:,}</td>"
                f"<td class=n>{s.rows_out:,}</td><td>{cols}</td><td class=n>{s.seconds:.3f}s</td></tr>"
            )
        out.append("</table>")
        for s in steps:
            if s.skipped or not (s.changes or s.learned or s.warnings):
                continue
            out.append(f"<h3>{html.escape(s.id)}</h3>")
            out.extend(f"<p class=warn>warning: {html.escape(w)}</p>" for w in s.warnings)
            for key, value in s.changes.items():
                mapping = _numeric_mapping(value)
                if mapping:
                    out.append(_bars(f"{s.id}: {key}", mapping))
            detail = json.dumps({"changes": s.changes, "learned": s.learned}, indent=2, default=str)
            out.append(
                f"<details><summary>details</summary><pre>{html.escape(detail)}</pre></details>"
            )
    out.append("</body></html>")
    return "\n".join(out)
