"""HTML for notebooks (`_repr_html_`): a recipe's steps, a fitted recipe's learned state."""

from __future__ import annotations

import html
import json
from typing import Any

_STYLE = (
    "<style>.prepkit-nb td,.prepkit-nb th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:left;vertical-align:top}.prepkit-nb{border-collapse:collapse}</style>"
)


def _short(value: Any, most: int = 160) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return html.escape(text if len(text) <= most else text[: most - 1] + "…")


def steps_table(title: str, rows: list[list[Any]], head: list[str]) -> str:
    """A titled table; cells are escaped, long values shortened."""
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_short(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"{_STYLE}<p><b>{html.escape(title)}</b></p><table class='prepkit-nb'><tr>{header}</tr>{body}</table>"
