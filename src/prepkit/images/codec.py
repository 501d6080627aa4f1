"""Decoding and encoding image files with OpenCV, in RGB(A) channel order.

Files are read with `cv2.IMREAD_UNCHANGED`, so grayscale stays 2-D, RGB has 3 channels and RGBA 4;
OpenCV's BGR(A) order is turned into the RGB(A) order albumentations expects, and back on writing.
Encoding parameters are fixed, so the same pixels always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


class ImageReadError(Exception):
    """A file that is not a readable 8-bit image (corrupt, truncated, missing, unsupported)."""


@contextmanager
def _opencv_silenced(cv2: Any) -> Iterator[None]:
    """OpenCV's own log lines (`[ WARN:0@...]`, `[ERROR:0@...]`) off while decoding.

    They go straight to the process's stderr, past `--quiet`, and only repeat what prepkit
    reports itself: the file that could not be read. The caller's log level is restored.
    """
    logging = cv2.utils.logging
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


def read_image(path: str | Path) -> np.ndarray:
    """The pixels of `path` as uint8, HxW (gray), HxWx3 (RGB) or HxWx4 (RGBA)."""
    import cv2

    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(exc.strerror or type(exc).__name__) from None
    if data.size == 0:
        raise ImageReadError("empty file")
    with _opencv_silenced(cv2):
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageReadError("not a readable image")
    if image.dtype != np.uint8:
        raise ImageReadError(f"{image.dtype} pixels are not supported (8-bit images only)")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def _params(suffix: str) -> list[int]:
    import cv2

    if suffix in (".jpg", ".jpeg"):
        return [cv2.IMWRITE_JPEG_QUALITY, 95]
    if suffix == ".png":
        return [cv2.IMWRITE_PNG_COMPRESSION, 3]
    if suffix == ".webp":
        return [cv2.IMWRITE_WEBP_QUALITY, 95]
    return []


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    """Encode RGB(A)/gray pixels in the format named by `suffix` (`.png`, `.jpg`, ...)."""
    import cv2

    suffix = suffix.lower()
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        if suffix in (".jpg", ".jpeg"):
            image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGR)  # JPEG has no alpha channel
        else:
            image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    ok, buffer = cv2.imencode(suffix, np.ascontiguousarray(image), _params(suffix))
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as {suffix}")
    return buffer.tobytes()


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Encode `image` in the format of `path`'s suffix and write it."""
    Path(path).write_bytes(encode_image(image, Path(path).suffix))


def mode_of(image: np.ndarray) -> str:
    """`L`, `RGB` or `RGBA`, as Pillow names the modes."""
    if image.ndim == 2:
        return "L"
    return {3: "RGB", 4: "RGBA"}.get(image.shape[2], f"{image.shape[2]}-channel")
