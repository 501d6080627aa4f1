"""Albumentations pipelines from recipe YAML: validation with suggestions, and serialization.

A recipe gives either `transforms:` (a list of `{name: HorizontalFlip, p: 0.5}` items, where the
group transforms OneOf/SomeOf/Sequential/OneOrOther/RandomOrder take nested `transforms:`), or
`pipeline:` (albumentations' own `A.to_dict` format). Both become one serialized `Compose` dict,
which is what the fitted artifact stores and what worker processes rebuild with `A.from_dict`.
"""

from __future__ import annotations

import inspect
import json
import os
import warnings
from functools import lru_cache
from typing import Any

from prepkit.errors import suggest

GROUPS = ("OneOf", "SomeOf", "Sequential", "OneOrOther", "RandomOrder")
# Abstract bases and transforms that need extra inputs (reference images, metadata) per call.
_NOT_USABLE = {
    "BasicTransform", "DualTransform", "ImageOnlyTransform", "Transform3D", "BaseCompose",
    "Compose", "ReplayCompose", "BboxParams", "KeypointParams", "Lambda", "FDA",
    "HistogramMatching", "PixelDistributionAdaptation", "TemplateTransform", "OverlayElements",
    "TextImage", "XYMasking",
}  # fmt: skip


def albumentations():
    """Import albumentations without its online update check (offline runs stall on it)."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations as A

    return A


@lru_cache(maxsize=1)
def transform_names() -> dict[str, type]:
    """Every albumentations transform usable in a recipe, by class name."""
    A = albumentations()
    names = {}
    for name in dir(A):
        obj = getattr(A, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, (A.BasicTransform, A.BaseCompose))
            and name not in _NOT_USABLE
            and not name.startswith("_")
        ):
            names[name] = obj
    return names


def _arguments(cls: type) -> tuple[set[str], bool]:
    """The keyword arguments a transform accepts, and whether it takes **kwargs."""
    params = inspect.signature(cls.__init__).parameters
    named = {n for n, p in params.items() if n != "self" and p.kind is not p.VAR_KEYWORD}
    return named, any(p.kind is p.VAR_KEYWORD for p in params.values())


def _to_serialized(item: Any, where: str) -> dict[str, Any]:
    """One `{name: ..., params...}` item as albumentations' serialized form, checked."""
    if not isinstance(item, dict) or "name" not in item:
        raise ValueError(f"{where}: each transform is a mapping with a `name:`, got {item!r}")
    names = transform_names()
    name = str(item["name"])
    if name not in names:
        raise ValueError(
            f"{where}: unknown albumentations transform '{name}'{suggest(name, names)}"
        )
    params = {k: v for k, v in item.items() if k != "name"}
    _check_params(name, names[name], params, where)
    out: dict[str, Any] = {"__class_fullname__": name, **params}
    if name in GROUPS:
        children = params.get("transforms")
        if not isinstance(children, list) or not children:
            raise ValueError(f"{where}: group '{name}' needs a non-empty `transforms:` list")
        out["transforms"] = [
            _to_serialized(child, f"{where} > {name}[{i + 1}]") for i, child in enumerate(children)
        ]
    return out


def _check_params(name: str, cls: type, params: dict[str, Any], where: str) -> None:
    allowed, open_ended = _arguments(cls)
    if open_ended and name not in GROUPS:
        return
    allowed.discard("always_apply")
    for key in params:
        if key not in allowed:
            raise ValueError(
                f"{where}: unknown parameter '{key}' for {name}{suggest(key, allowed)}; "
                f"valid parameters: {', '.join(sorted(allowed))}"
            )


def _check_names(node: Any, where: str) -> None:
    """Walk a serialized pipeline: every class name must be a known transform (with suggestion)."""
    if not isinstance(node, dict):
        raise ValueError(f"{where}: expected a mapping, got {node!r}")
    name = str(node.get("__class_fullname__", ""))
    short = name.rsplit(".", 1)[-1]
    names = transform_names()
    if short not in names and short not in ("Compose", "ReplayCompose"):
        raise ValueError(
            f"{where}: unknown albumentations transform '{name}'{suggest(short, names)}"
        )
    if short in names:
        params = {k: v for k, v in node.items() if k != "__class_fullname__"}
        _check_params(short, names[short], params, where)
    for i, child in enumerate(node.get("transforms") or []):
        _check_names(child, f"{where} > {short}[{i + 1}]")


def build_pipeline(
    transforms: list[Any] | None = None, pipeline: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Validate and return the serialized Compose (`A.to_dict` form, JSON data).

    Raises ValueError with a message naming the transform and a suggestion for misspellings.
    """
    A = albumentations()
    if pipeline is not None:
        body = pipeline.get("transform", pipeline) if isinstance(pipeline, dict) else pipeline
        if not isinstance(body, dict) or "__class_fullname__" not in body:
            raise ValueError(
                "pipeline: expected albumentations' serialized form "
                "({transform: {__class_fullname__: Compose, transforms: [...]}})"
            )
        _check_names(body, "pipeline")
        if str(body["__class_fullname__"]).rsplit(".", 1)[-1] not in ("Compose", "ReplayCompose"):
            body = {"__class_fullname__": "Compose", "p": 1.0, "transforms": [body]}
    else:
        items = transforms or []
        if not isinstance(items, list) or not items:
            raise ValueError("transforms: give a non-empty list of `{name: ..., ...}` items")
        body = {
            "__class_fullname__": "Compose",
            "p": 1.0,
            "transforms": [_to_serialized(t, f"transforms[{i + 1}]") for i, t in enumerate(items)],
        }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compose = A.from_dict({"transform": body})
    except Exception as exc:
        detail = " ".join(str(exc).split())
        raise ValueError(f"invalid albumentations pipeline: {detail[:400]}") from None
    return json.loads(json.dumps(A.to_dict(compose)))


_CACHE: dict[str, Any] = {}


def compose_from(serialized: str) -> Any:
    """The Compose for a serialized pipeline (JSON text), built once per process."""
    compose = _CACHE.get(serialized)
    if compose is None:
        A = albumentations()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compose = A.from_dict(json.loads(serialized))
        _CACHE[serialized] = compose
    return compose
