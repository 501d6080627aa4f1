"""The result of `prepkit drift` as a self-contained HTML page (see `page`): how many columns
drifted, a table of every column's figures (those over their threshold highlighted), and the
reference and new distributions side by side, drifted columns first.

`drift_sections` gives the body pieces alone, for a drift panel inside another report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prepkit.report.page import Raw, escape, facts, number, page, percent, plot, table

LABEL = 24  # characters of a category shown on a chart axis
REFERENCE, NEW = "#4c78a8", "#f58518"


def drift_html(result: dict[str, Any], reference: str = "", new: str = "") -> str:
    """A complete page for `DriftResult.to_dict()`; `reference` and `new` name the data compared."""
    subtitle = f"{reference or 'reference'} → {new or 'new data'}"
    return page("prepkit drift", drift_sections(result), subtitle)


def drift_sections(result: dict[str, Any]) -> list[str]:
    """The body pieces: summary, figures per column, distributions."""
    ordered = _drifted_first(result["columns"])
    return [_summary(result), _figures(ordered, result["thresholds"]), _distributions(ordered)]


def _drifted_first(columns: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The columns, drifted ones first, each group in the data's order."""
    items = list(columns.items())
    return [i for i in items if i[1]["drifted"]] + [i for i in items if not i[1]["drifted"]]


def _summary(result: dict[str, Any]) -> str:
    drifted, columns = result["drifted"], result["columns"]
    if drifted:
        names = ", ".join(f"<a href='#{_anchor(c)}'>{escape(c)}</a>" for c in drifted)
        verdict = f"<p class='bad'>{len(drifted)} of {len(columns)} columns drifted: {names}</p>"
    else:
        verdict = f"<p class='good'>None of the {len(columns)} columns drifted.</p>"
    missing = result.get("missing_columns") or []
    if missing:
        verdict += (
            f"<p class='warn'>{len(missing)} column{'s' if len(missing) != 1 else ''} of the "
            f"reference {'are' if len(missing) != 1 else 'is'} not in the new data: "
            f"{escape(', '.join(missing))}</p>"
        )
    limits = facts((_FIGURE_NAMES.get(k, k), v) for k, v in result["thresholds"].items())
    return (
        "<h2 id='drift-summary'>Drift summary</h2>"
        + verdict
        + "<p>A column drifts when one of its figures passes its threshold:</p>"
        + limits
    )


_FIGURE_NAMES = {
    "psi": "PSI",
    "js_distance": "Jensen-Shannon distance",
    "kl_divergence": "KL divergence",
    "ks_statistic": "KS statistic",
    "chi2_statistic": "chi² statistic",
    "unseen_fraction": "share of new values unseen",
    "out_of_range_fraction": "share of new values out of range",
    "null_rate_change": "change of the missing rate",
}


_SHORT = {"out_of_range_fraction": "out of range", "unseen_fraction": "unseen",
          "null_rate_change": "missing rate", "psi": "PSI", "js_distance": "JS",
          "kl_divergence": "KL", "ks_statistic": "KS", "chi2_statistic": "chi²"}  # fmt: skip


def _figures(columns: list[tuple[str, dict[str, Any]]], thresholds: dict[str, float]) -> str:
    headers = [
        "column", "kind", "new rows", "PSI", "JS distance", "test", "statistic", "p-value",
        "unseen / out of range", "missing rate Δ", "drifted",
    ]  # fmt: skip
    rows = []
    for name, f in columns:
        over = set(f.get("over_threshold", []))
        test = "KS" if f["kind"] == "numeric" else "chi²"
        statistic = "ks_statistic" if f["kind"] == "numeric" else "chi2_statistic"
        share = "out_of_range_fraction" if f["kind"] == "numeric" else "unseen_fraction"
        rows.append([
            Raw(f"<a href='#{_anchor(name)}'>{escape(name)}</a>"),
            f["kind"],
            f.get("rows"),
            _cell(f.get("psi"), "psi" in over),
            _cell(f.get("js_distance"), "js_distance" in over),
            test if statistic in f else "",
            _cell(f.get(statistic), statistic in over),
            _cell(f.get(statistic.replace("statistic", "pvalue")), False),
            _cell(f.get(share), share in over, percent),
            _cell(f.get("null_rate_change"), "null_rate_change" in over, _signed_percent),
            Raw("<span class='bad'>" + escape(", ".join(_SHORT.get(m, m) for m in sorted(over))) + "</span>")
            if f["drifted"]
            else "no",
        ])  # fmt: skip
    return (
        "<h2 id='drift-figures'>Figures per column</h2>"
        "<p>Figures over their threshold are <span class='bad'>highlighted</span>; PSI, JS and KL "
        "over the reference's decile bins (numbers) or the categories.</p>"
        + table(headers, rows, numeric=[2, 3, 4, 6, 7, 8, 9])
    )


def _cell(value: Any, over: bool, show: Any = number) -> Raw:
    text = "" if value is None else escape(show(value) if show is not number else _sig(value))
    return Raw(f"<span class='bad'>{text}</span>" if over and text else text)


def _sig(value: float) -> str:
    """Three significant digits; tiny p-values in scientific notation."""
    if isinstance(value, float) and 0 < abs(value) < 1e-16:
        return "< 1e-16"
    if isinstance(value, float) and value != 0 and abs(value) < 1e-3:
        return f"{value:.1e}"
    return f"{value:,.3g}" if isinstance(value, float) else number(value)


def _signed_percent(value: float) -> str:
    return "0" if value == 0 else f"{value:+.1%}"


def _distributions(columns: list[tuple[str, dict[str, Any]]]) -> str:
    cards = [_distribution(name, f) for name, f in columns]
    return (
        "<h2 id='drift-distributions'>Distributions</h2>"
        f"<p>Share of rows per bin or category: <span style='color:{REFERENCE}'>■</span> "
        f"reference, <span style='color:{NEW}'>■</span> new. Drifted columns first.</p>"
        "<div class='grid' style='align-items:flex-start'>" + "".join(cards) + "</div>"
    )


def _distribution(name: str, figures: dict[str, Any]) -> str:
    title = escape(name) + (" <span class='bad'>drifted</span>" if figures["drifted"] else "")
    if "bins" in figures:
        chart = _numeric_chart(figures["bins"])
    elif "categories" in figures:
        chart = _categorical_chart(figures["categories"], figures.get("unseen", {}))
    else:
        chart = "<p class='sub'>no distribution to show (no values in one of the two)</p>"
    return f"<div class='card' id='{_anchor(name)}' style='width:34.5rem'><h3>{title}</h3>{chart}</div>"


def bin_labels(edges: Sequence[float]) -> list[str]:
    """Labels of the bins the inner `edges` make: `< a`, `a–b`, …, `≥ z` (numpy's bins include
    their left edge)."""
    if not edges:
        return ["all"]
    inner = [f"{number(a)}–{number(b)}" for a, b in zip(edges, edges[1:], strict=False)]
    return [f"< {number(edges[0])}", *inner, f"≥ {number(edges[-1])}"]


def _numeric_chart(bins: dict[str, Any]) -> str:
    labels = bin_labels(bins["edges"])
    ref, new = _shares(bins["reference"]), _shares(bins["new"])

    def draw(fig: Any, ax: Any) -> None:
        _grouped(ax, labels, ref, new, horizontal=False)
        ax.set_ylabel("share of rows")

    return plot(draw, 5.6, 2.6)


def _categorical_chart(categories: dict[str, Any], unseen: dict[str, int]) -> str:
    """Bars of the categories listed; when they are only some of them, a note of the share of
    rows they hold (an "all others" bar would dwarf them)."""
    names = list(categories["names"])
    ref = _shares(categories["reference"], categories.get("reference_total"))
    new = _shares(categories["new"], categories.get("new_total"))
    labels = [_short(n) + (" (unseen)" if n in unseen else "") for n in names]
    note = ""
    if min(sum(ref), sum(new)) < 1 - 1e-9:
        note = (
            f"<p class='sub'>the {len(names)} categories shown hold {percent(sum(ref))} of the "
            f"reference's rows and {percent(sum(new))} of the new rows</p>"
        )

    def draw(fig: Any, ax: Any) -> None:
        _grouped(ax, labels, ref, new, horizontal=True)
        ax.set_xlabel("share of rows")

    return plot(draw, 5.6, 0.7 + 0.28 * len(labels)) + note


def _grouped(
    ax: Any, labels: Sequence[str], ref: Sequence[float], new: Sequence[float], horizontal: bool
) -> None:
    """Reference and new bars side by side per label, shares as percentages."""
    from matplotlib.ticker import PercentFormatter

    positions = list(range(len(labels)))
    width = 0.4
    left = [p - width / 2 for p in positions]
    right = [p + width / 2 for p in positions]
    if horizontal:
        ax.barh(left, ref, height=width, color=REFERENCE, label="reference")
        ax.barh(right, new, height=width, color=NEW, label="new")
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    else:
        ax.bar(left, ref, width=width, color=REFERENCE, label="reference")
        ax.bar(right, new, width=width, color=NEW, label="new")
        ax.set_xticks(positions, labels, rotation=35, ha="right", rotation_mode="anchor")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.legend(frameon=False, fontsize=7, loc="best")


def _shares(counts: Sequence[float], total: float | None = None) -> list[float]:
    whole = total if total else sum(counts)
    return [c / whole if whole else 0.0 for c in counts]


def _short(value: str, limit: int = LABEL) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _anchor(name: str) -> str:
    return "drift-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
