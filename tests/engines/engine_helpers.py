"""Helpers shared by the engine tests (imported as a module, like tests/images/image_helpers.py)."""

from __future__ import annotations

import prepkit


def recipe(step: dict, target: str | None = None):
    """A recipe of one step (and a target when given)."""
    spec = {"steps": [step]}
    if target:
        spec["target"] = target
    return prepkit.load_recipe(spec)
