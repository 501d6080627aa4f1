"""Self-contained HTML pages: inline CSS, plots drawn by matplotlib as inline SVG, no scripts.

Every HTML report prepkit writes (run, apply, inspect, drift, evaluate) is built from these
pieces, so that they look alike and stay offline: nothing is loaded from anywhere (no CDN, no
web font, no `src` or `href` to another address), and a page opens from a file, an e-mail or a
CI artifact as it is.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterable, Sequence
from typing import Any

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:76rem;
color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
.sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:.25rem .5rem;vertical-align:top;text-align:left}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.warn{color:#a35b00}.fail,.bad{color:#b00020;font-weight:600}.pass,.good{color:#157a2c}
.grid{display:flex;flex-wrap:wrap;gap:1rem}.card{border:1px solid #ddd;border-radius:6px;
padding:.5rem .75rem;background:#fcfcfc}
.card h3{margin:.2rem 0 .4rem;font-size:1rem}
details pre{white-space:pre-wrap;font-size:12px}svg{max-width:100%;height:auto}
img.thumb{max-width:160px;max-height:160px;border:1px solid #ccc}
"""

escape = html.escape


def page(title: str, body: Iterable[str], subtitle: str | None = None) -> str:
    """A complete page: `title` as its heading, then the pieces of `body` in order."""
    sub = f"<p class='sub'>{escape(subtitle)}</p>" if subtitle else ""
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
        f"<h1>{escape(title)}</h1>{sub}\n" + "\n".join(body) + "\n</body></html>\n"
    )


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = ()
) -> str:
    """An HTML table; cells are escaped (wrap a cell in `Raw` to keep its markup); the columns
    at the positions `numeric` are right-aligned and numbers in them formatted."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            text = value if isinstance(value, Raw) else escape(number(value))
            cells.append(f"<td class=n>{text}</td>" if i in numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


class Raw(str):
    """Markup a table cell keeps as it is."""


def number(value: Any) -> str:
    """Numbers as people read them: 1,234, 0.1235, 12.3%; anything else as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e15 else f"{value:.4g}"
    return str(value)


def percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}" if value >= 0.001 or value == 0 else "<0.1%"


def figure(width: float = 6.0, height: float = 3.0, **subplots: Any) -> tuple[Any, Any]:
    """A matplotlib figure and its axes, drawn off screen (Agg), sized in inches."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt.subplots(figsize=(width, height), **subplots)


def svg(fig: Any) -> str:
    """A matplotlib figure as inline SVG (no date in it, so equal plots give equal pages),
    closed afterwards."""
    from matplotlib import pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


# the look of every plot: small type, text kept as SVG text (smaller pages, selectable), ids in
# the SVG derived from its content only (equal plots give equal pages)
STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "prepkit",
    "figure.facecolor": "none",
    "axes.facecolor": "none",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": __import__("cycler").cycler(color=["#4c78a8", "#f58518", "#54a24b"]),
}


def facts(pairs: Iterable[tuple[str, Any]]) -> str:
    """A two-column table without a header: a name and its value (right-aligned) per row."""
    rows = "".join(
        f"<tr><th>{escape(name)}</th><td class=n>"
        f"{value if isinstance(value, Raw) else escape(number(value))}</td></tr>"
        for name, value in pairs
    )
    return f"<table class='facts'>{rows}</table>"


def plot(draw: Any, width: float = 4.0, height: float = 2.0, **subplots: Any) -> str:
    """Inline SVG of a figure `draw(fig, axes)` fills, drawn in `STYLE`."""
    import matplotlib

    matplotlib.use("Agg")
    with matplotlib.rc_context(STYLE):
        fig, axes = figure(width, height, **subplots)
        draw(fig, axes)
        return svg(fig)
