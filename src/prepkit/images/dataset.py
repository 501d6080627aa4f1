"""Helpers shared by the image steps: the frame's columns, staging folders, seeds, bad files."""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from prepkit.errors import DataError
from prepkit.images import COPY, IMAGE_PATH, LABEL, ORIGIN, ORIGINAL, SEED, SOURCE
from prepkit.steps.base import StepContext

WRITABLE = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_FALLBACK: list[Path] = []


def require_images(frame: pl.DataFrame, step: str) -> pl.DataFrame:
    """Check the frame is an image data set; add optional columns that are missing."""
    missing = [c for c in (IMAGE_PATH, SOURCE) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{step} needs an image data set, but column(s) {', '.join(missing)} are missing",
            hint="read images with `input: {path: FOLDER}` or `format: images` for a manifest",
        )
    defaults = {
        LABEL: pl.lit(None, pl.String),
        ORIGIN: pl.lit(ORIGINAL),
        SEED: pl.lit(None, pl.Int64),
        COPY: pl.lit(0, pl.Int32),
    }
    added = [expr.alias(c) for c, expr in defaults.items() if c not in frame.columns]
    return frame.with_columns(added) if added else frame


def staging_dir(ctx: StepContext) -> Path:
    """A new folder for the pixels this step writes (under the run's working folder)."""
    base = ctx.workdir
    if base is None:  # library use without a runner: a folder removed when Python exits
        if not _FALLBACK:
            _FALLBACK.append(Path(tempfile.mkdtemp(prefix="prepkit-images-")))
            atexit.register(shutil.rmtree, _FALLBACK[0], True)
        base = _FALLBACK[0]
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{ctx.step_id or 'step'}-", dir=base))


def image_seed(seed: int, step_id: str, source: str, copy: int) -> int:
    """A 32-bit seed from (recipe seed, step id, source path, copy index): worker-independent."""
    digest = hashlib.sha256(f"{seed}\x00{step_id}\x00{source}\x00{copy}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def suffix_for(image_path: str, fmt: str = "same") -> str:
    """The file suffix staged pixels are written with."""
    if fmt != "same":
        return f".{fmt}"
    suffix = Path(image_path).suffix.lower()
    return suffix if suffix in WRITABLE else ".png"


def label_column(frame: pl.DataFrame, ctx: StepContext, step: str) -> str:
    """The column holding each image's class: the recipe's `target`, else `label`.

    A folder of class folders (or a manifest's label column) already gives every image its
    class in `label`, so a recipe needs no `target:` for it.
    """
    if ctx.target:
        return ctx.require_target(frame, step)
    if LABEL in frame.columns and frame[LABEL].is_not_null().any():
        return LABEL
    raise DataError(
        f"{step} needs class labels, and these images have none",
        hint="put the images in one folder per class (root/cat/1.png), give a manifest a "
        "`label` column, or name the label column with `target:`",
    )


def default_label(frame: pl.DataFrame, ctx: StepContext) -> str | None:
    """The recipe's target, else `label` when the images have classes (for reports and checks)."""
    if ctx.target:
        return ctx.target
    return LABEL if LABEL in frame.columns and frame[LABEL].is_not_null().any() else None


def class_counts(frame: pl.DataFrame, column: str | None) -> dict[str, int]:
    """Images per class, sorted by class (null labels as `null`)."""
    if not column or column not in frame.columns or frame.height == 0:
        return {}
    counts = frame[column].cast(pl.String).fill_null("null").value_counts(name="n").sort(column)
    return dict(zip(counts[column].to_list(), counts["n"].to_list(), strict=True))


def skip_unreadable(
    frame: pl.DataFrame,
    results: list[dict[str, Any]],
    ctx: StepContext,
    max_bad_fraction: float | None,
) -> tuple[list[bool], list[dict[str, str]]]:
    """Which rows could be read; fail when none could, or when too many could not."""
    ok = [bool(r["ok"]) for r in results]
    skipped = [
        {"file": path, "error": r["error"]}
        for path, r in zip(frame[IMAGE_PATH].to_list(), results, strict=True)
        if not r["ok"]
    ]
    if not skipped:
        return ok, skipped
    listing = ", ".join(f"{s['file']} ({s['error']})" for s in skipped[:5])
    more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    if len(skipped) == len(results):
        raise DataError(
            f"none of the {len(results)} images could be read: {listing}{more}",
            hint="check the files are PNG, JPEG, BMP, TIFF or WebP images",
        )
    fraction = len(skipped) / len(results)
    if max_bad_fraction is not None and fraction > max_bad_fraction:
        raise DataError(
            f"{len(skipped)} of {len(results)} images ({fraction:.1%}) could not be read, "
            f"more than max_bad_fraction {max_bad_fraction}: {listing}{more}",
            hint="fix or remove the broken files, or raise max_bad_fraction",
        )
    ctx.warn(f"skipped {len(skipped)} unreadable image(s): {listing}{more}")
    return ok, skipped
