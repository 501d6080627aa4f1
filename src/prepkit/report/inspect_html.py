"""The `inspect` profile as a self-contained HTML page (see `page`): the problems first, then the
summary, the class balance, the missing values and a card per column.

Plots carry information or are left out: no bar chart of a single value, no histogram of a
constant column, no top-values chart of a column whose values each occur once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prepkit.report.page import Raw, escape, facts, number, page, percent, plot, table

LABEL = 28  # characters of a value shown on a chart axis or in a table
BAR = 0.22  # inches of plot height per bar of a horizontal bar chart


def inspect_html(profile: dict[str, Any], source: str = "") -> str:
    """A complete page for `Profile.to_dict()`; `source` (the file inspected) in the subtitle."""
    columns = profile["columns"]
    subtitle = f"{source}: " if source else ""
    subtitle += f"{profile['rows']:,} rows, {len(columns)} columns"
    if profile.get("target"):
        subtitle += f", target '{profile['target']}'"
    return page("prepkit inspect", inspect_sections(profile), subtitle)


def inspect_sections(profile: dict[str, Any]) -> list[str]:
    """The body of the page, section by section (to embed in another page)."""
    sections = [_summary(profile), _problems(profile["problems"])]
    if profile.get("label_issues"):
        sections.append(_label_issues(profile["label_issues"]))
    if profile.get("classes") and len(profile["classes"]) > 1:
        sections.append(_classes(profile["classes"], profile["target"]))
    missing = [c for c in profile["columns"] if c["missing"]]
    if missing:
        sections.append(_missingness(missing))
    sections.append(_columns(profile))
    return sections


def _summary(profile: dict[str, Any]) -> str:
    count, columns = profile["rows"], profile["columns"]
    cells = count * len(columns)
    missing = sum(c["missing"] for c in columns)
    duplicates = profile["duplicate_rows"]
    rows = [
        ("rows", number(count)),
        ("columns", number(len(columns))),
        ("duplicate rows", f"{duplicates:,} ({percent(duplicates / count if count else 0.0)})"),
        ("missing cells", f"{missing:,} ({percent(missing / cells if cells else 0.0)})"),
        ("columns with missing values", number(sum(1 for c in columns if c["missing"]))),
        ("target", profile.get("target") or "none given"),
        ("problems found", number(len(profile["problems"]))),
    ]
    if profile.get("classes"):
        rows.insert(6, ("classes", number(len(profile["classes"]))))
    return "<h2 id='summary'>Summary</h2>" + facts(rows)


def _problems(problems: Sequence[dict[str, Any]]) -> str:
    head = "<h2 id='problems'>Problems</h2>"
    if not problems:
        return head + "<p class='good'>No problems found.</p>"
    rows = [
        (
            p["kind"],
            Raw(_column_link(p["column"])) if p["column"] else "(all rows)",
            p["message"],
            _evidence(p["evidence"]),
            Raw(f"<code>{escape(p['fix'])}</code>"),
        )
        for p in problems
    ]
    count = (
        f"<p>{len(problems)} problem{'s' if len(problems) != 1 else ''} a recipe should fix.</p>"
    )
    return head + count + table(["kind", "column", "message", "evidence", "fix with"], rows)


def _evidence(evidence: dict[str, Any]) -> str:
    """`key: value` pairs; fractions as percentages, nested mappings inline."""
    parts = []
    for key, value in evidence.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {number(v)}" for k, v in value.items())
        elif isinstance(value, float) and ("fraction" in key or key == "score"):
            value = percent(value)
        parts.append(f"{key.replace('_', ' ')}: {number(value)}")
    return "; ".join(parts)


def _label_issues(found: dict[str, Any]) -> str:
    rows = [(label, count) for label, count in found.get("per_class", {}).items()]
    text = (
        f"<p><b>{found['issues']:,}</b> rows ({percent(found['fraction'])}) look mislabelled. "
        f"Method: {escape(found.get('method', ''))}.</p>"
    )
    return (
        "<h2 id='label-issues'>Label issues</h2>"
        + text
        + (table(["labelled as", "suspect rows"], rows, numeric=[1]) if rows else "")
    )


def _classes(classes: dict[str, int], target: str) -> str:
    names, counts = list(classes), list(classes.values())
    total = sum(counts)
    rows = [(n, c, percent(c / total)) for n, c in zip(names, counts, strict=True)]
    return (
        f"<h2 id='classes'>Class balance of '{escape(target)}'</h2>"
        + "<div class='grid'><div>"
        + table(["class", "rows", "share"], rows, numeric=[1, 2])
        + "</div><div>"
        + _bars(names, counts, "rows", total=total)
        + "</div></div>"
    )


def _missingness(columns: Sequence[dict[str, Any]]) -> str:
    ordered = sorted(columns, key=lambda c: -c["missing_fraction"])
    names = [c["name"] for c in ordered]
    fractions = [c["missing_fraction"] for c in ordered]

    head = "<h2 id='missing'>Missing values</h2>"
    if len(columns) == 1:  # one bar tells no more than the sentence
        only = ordered[0]
        return head + (
            f"<p>Only {_column_link(only['name'])} has missing values: {only['missing']:,} "
            f"({percent(only['missing_fraction'])}).</p>"
        )

    def draw(fig: Any, ax: Any) -> None:
        _hbars(ax, names, fractions, [percent(f) for f in fractions])
        ax.set_xlim(0, min(1.0, max(fractions) * 1.3))
        ax.xaxis.set_major_formatter(_percent_axis())
        ax.set_xlabel("share of rows missing (nulls, and NaN in float columns)")

    return (
        head
        + f"<p>{len(columns)} columns have missing values.</p>"
        + plot(draw, 6.0, _height(len(names)))
    )


def _columns(profile: dict[str, Any]) -> str:
    flagged: dict[str, list[str]] = {}
    for p in profile["problems"]:
        if p["column"]:
            flagged.setdefault(p["column"], []).append(p["kind"])
    cards = [
        _card(c, profile["rows"], flagged.get(c["name"], []), profile) for c in profile["columns"]
    ]
    return (
        "<h2 id='columns'>Columns</h2><div class='grid' style='align-items:flex-start'>"
        + "".join(cards)
        + "</div>"
    )


def _card(column: dict[str, Any], rows: int, kinds: list[str], profile: dict[str, Any]) -> str:
    name = column["name"]
    role = " (target)" if name == profile.get("target") else ""
    pairs: list[tuple[str, Any]] = [
        ("dtype", f"{column['dtype']} ({column['kind']})"),
        ("missing", f"{column['missing']:,} ({percent(column['missing_fraction'])})"),
        ("distinct", number(column["distinct"])),
    ]
    if column["nans"]:
        pairs.append(("of them NaN", number(column["nans"])))
    for key in ("min", "q25", "median", "q75", "max", "mean", "std"):
        if key in column:
            pairs.append((key, number(column[key])))
    if "text_length" in column:
        length = column["text_length"]
        pairs.append(
            (
                "text length min / mean / max",
                f"{length['min']:,} / {length['mean']:.1f} / {length['max']:,}",
            )
        )
    problems = "<p class='warn'>" + ", ".join(escape(k) for k in kinds) + "</p>" if kinds else ""
    body = [
        f"<div class='card' id='{_anchor(name)}' style='width:22.5rem'><h3>{escape(name)}{role}</h3>",
        problems,
        facts(pairs),
    ]
    chart = _histogram(column) if "histogram" in column else _top_values(column)
    if chart:
        body.append(chart)
    elif column["top"] and column["kind"] != "numeric":
        body.append(_top_table(column))
    return "".join(body) + "</div>"


def _histogram(column: dict[str, Any]) -> str:
    """The column's histogram, unless all its values are one."""
    counts, edges = column["histogram"]["counts"], column["histogram"]["edges"]
    if column["distinct"] < 2 or edges[-1] <= edges[0] or sum(1 for c in counts if c) < 2:
        return ""

    def draw(fig: Any, ax: Any) -> None:
        widths = [b - a for a, b in zip(edges, edges[1:], strict=False)]
        ax.bar(edges[:-1], counts, width=widths, align="edge", edgecolor="white", linewidth=0.5)
        ax.set_ylabel("rows")
        ax.set_title(f"histogram ({len(counts)} bins)", loc="left")
        ax.tick_params(axis="x", labelrotation=0)
        ax.locator_params(axis="x", nbins=5)

    return plot(draw, 3.6, 1.8)


def _top_values(column: dict[str, Any]) -> str:
    """A bar chart of the most frequent values of a non-numeric column, when it tells anything:
    at least two values, and values that repeat (an id's values each occur once)."""
    top = column["top"]
    if column["kind"] in ("numeric", "text") or len(top) < 2 or top[0]["count"] < 2:
        return ""
    names = [_short(t["value"]) for t in top]
    counts = [t["count"] for t in top]
    shown = (
        "all values"
        if column["distinct"] <= len(top)
        else f"top {len(top)} of {column['distinct']:,}"
    )
    return f"<p class='sub'>{shown}</p>" + _bars(names, counts, "rows", width=3.6)


def _top_table(column: dict[str, Any]) -> str:
    rows = [(_short(t["value"], 60), t["count"]) for t in column["top"][:3]]
    return table(["most frequent", "rows"], rows, numeric=[1])


def _bars(
    names: Sequence[str], counts: Sequence[float], label: str, total: float = 0, width: float = 4.0
) -> str:
    """Horizontal bars, the first value on top, each labelled with its count (and share)."""
    names = [_short(n) for n in names]
    texts = [f"{c:,}" + (f" ({percent(c / total)})" if total else "") for c in counts]

    def draw(fig: Any, ax: Any) -> None:
        _hbars(ax, names, counts, texts)
        ax.set_xlabel(label)

    return plot(draw, width, _height(len(names)))


def _hbars(ax: Any, names: Sequence[str], values: Sequence[float], texts: Sequence[str]) -> None:
    positions = range(len(names))
    ax.barh(positions, values, height=0.7)
    ax.set_yticks(list(positions), [_short(str(n)) for n in names])
    ax.invert_yaxis()
    ax.set_xlim(0, max(values) * 1.3 if max(values) else 1)
    for y, (value, text) in enumerate(zip(values, texts, strict=True)):
        ax.text(value, y, " " + text, va="center", fontsize=7)


def _height(bars: int) -> float:
    return 0.6 + BAR * bars


def _percent_axis() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


def _short(value: Any, limit: int = LABEL) -> str:
    text = number(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _anchor(name: str) -> str:
    return "col-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def _column_link(name: str) -> str:
    return f"<a href='#{_anchor(name)}'>{escape(name)}</a>"
