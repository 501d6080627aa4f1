"""Per-image work run in worker processes (top-level functions: safe under the "spawn" method).

Each task takes the settings shared by a whole step (`shared`) and one job, and returns a small
dict; pixels never travel between processes, only paths.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np

from prepkit.images.codec import ImageReadError, read_image, write_image


def augment(shared: dict[str, Any], job: tuple[str, list[tuple[int, int, str]]]) -> dict[str, Any]:
    """Read one source image and write its augmented copies `(copy, seed, out_path)`."""
    from prepkit.images.transforms import compose_from

    source, outputs = job
    try:
        image = read_image(source)
    except ImageReadError as exc:
        return {"ok": False, "error": str(exc)}
    compose = compose_from(shared["pipeline"])
    for _copy, seed, out_path in outputs:
        # one generator per image, shared by all transforms: same seed, same pixels, any worker
        compose.set_random_state(np.random.default_rng(seed), random.Random(seed))
        write_image(out_path, compose(image=image)["image"])
    return {"ok": True}


def check(shared: Any, source: str) -> dict[str, Any]:
    """Whether `source` decodes (balancing plans from the images that load)."""
    try:
        read_image(source)
    except ImageReadError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True}


def convert(image: np.ndarray, shared: dict[str, Any]) -> np.ndarray:
    """Colour conversion and resize of `prepare_images`."""
    import cv2

    if shared.get("to_grayscale") and image.ndim == 3:
        code = cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
        image = cv2.cvtColor(image, code)
    elif shared.get("to_rgb") and (image.ndim == 2 or image.shape[2] != 3):
        code = cv2.COLOR_GRAY2RGB if image.ndim == 2 else cv2.COLOR_RGBA2RGB
        image = cv2.cvtColor(image, code)
    size = shared.get("resize")
    if size and tuple(image.shape[:2]) != (size[0], size[1]):
        shrink = size[0] * size[1] < image.shape[0] * image.shape[1]
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        image = cv2.resize(image, (size[1], size[0]), interpolation=interpolation)
    return image


def prepare(shared: dict[str, Any], job: tuple[str, str]) -> dict[str, Any]:
    """Convert one image; an image that needs no change keeps its file (bytes untouched)."""
    source, target = job
    try:
        image = read_image(source)
    except ImageReadError as exc:
        return {"ok": False, "error": str(exc)}
    out = convert(image, shared)
    same_format = Path(source).suffix.lower() == Path(target).suffix.lower()
    if out is image and same_format:
        return {"ok": True, "path": source}
    write_image(target, out)
    return {"ok": True, "path": target}


def fingerprint(shared: dict[str, Any], source: str) -> dict[str, Any]:
    """Content hash of the pixels (shape included) and, if asked, a 64-bit perceptual hash."""
    try:
        image = read_image(source)
    except ImageReadError as exc:
        return {"ok": False, "error": str(exc)}
    digest = hashlib.sha256(str(image.shape).encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    result: dict[str, Any] = {"ok": True, "sha": digest.hexdigest(), "phash": None}
    if shared.get("perceptual"):
        import imagehash
        from PIL import Image

        result["phash"] = int(str(imagehash.phash(Image.fromarray(image))), 16)
    return result
