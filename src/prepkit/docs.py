"""Step documentation generated from the steps' docstrings and parameter models."""

from __future__ import annotations

import inspect
from typing import Any

from pydantic_core import PydanticUndefined
from rich.console import Group
from rich.markdown import Markdown
from rich.table import Table

from prepkit.columns import Selector
from prepkit.steps.base import all_steps


def _type_name(annotation: Any) -> str:
    if annotation == Selector:
        return "selector (group, name, list or {regex, dtype, names, exclude})"
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation)
    return text.replace("typing.", "").replace("prepkit.columns.", "").replace("NoneType", "None")


def parameters(name: str) -> list[dict[str, Any]]:
    cls = all_steps()[name]
    rows = []
    for field_name, field in cls.Params.model_fields.items():
        default = field.default if field.default is not PydanticUndefined else "(required)"
        if field.default_factory is not None:
            default = field.default_factory()  # type: ignore[call-arg]
        rows.append({
            "name": field_name,
            "type": _type_name(field.annotation),
            "default": default,
            "description": field.description or "",
        })  # fmt: skip
    return rows


def summary(name: str) -> str:
    doc = inspect.getdoc(all_steps()[name]) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def steps_table() -> Table:
    table = Table(title="prepkit steps", title_justify="left")
    table.add_column("step")
    table.add_column("phase")
    table.add_column("what it does")
    for name, cls in all_steps().items():
        table.add_row(name, cls.phase, summary(name))
    return table


def step_help(name: str) -> Group:
    cls = all_steps()[name]
    table = Table(title=f"{name} parameters", title_justify="left")
    for col in ("parameter", "type", "default", "description"):
        table.add_column(col)
    for row in parameters(name):
        table.add_row(row["name"], row["type"], repr(row["default"]), row["description"])
    doc = inspect.getdoc(cls) or ""
    return Group(Markdown(f"# {name} ({cls.phase})\n\n{doc}"), table)


def steps_json(name: str | None = None) -> Any:
    names = [name] if name else list(all_steps())
    return [
        {"step": n, "phase": all_steps()[n].phase, "doc": inspect.getdoc(all_steps()[n]) or "",
         "parameters": parameters(n)}
        for n in names
    ]  # fmt: skip
