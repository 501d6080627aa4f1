"""Step families. Each module registers its steps by YAML name when imported.

Modules are imported lazily (on first registry lookup) so that `prepkit --help` stays fast; heavy
libraries (imbalanced-learn, cleanlab, albumentations, nlpaug) are imported inside the steps.
"""

from __future__ import annotations

import importlib

STEP_MODULES = (
    "impute",
    "outliers",
    "duplicates",
    "encode",
    "scale",
    "columns",
    "resample",
    "class_weights",
    "label_issues",
    "augment_image",
    "augment_text",
    "text",
)

_loaded = False


def load_all() -> None:
    global _loaded
    if _loaded:
        return
    for module in STEP_MODULES:
        importlib.import_module(f"prepkit.steps.{module}")
    _loaded = True
