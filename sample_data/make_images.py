"""Generate sample_data/images: a tiny imbalanced image classification set (3 classes of shapes).

circle: 24 images, square: 10, triangle: 5. Mostly 64x64 RGB PNG, with some JPEG, a BMP, a TIFF
and a WebP, a few grayscale images, one RGBA image, and a few 80x80 images (so that `resize` has work to do).
Deterministic (seeded); run from the repository root:

    python sample_data/make_images.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

COUNTS = {"circle": 24, "square": 10, "triangle": 5}
GRAY = {"circle": (3, 7, 11), "square": (2,), "triangle": (4,)}
LARGE = {"circle": (5, 17), "square": (6,), "triangle": (1,)}
FORMATS = {
    "circle": {1: ".jpg", 2: ".jpg", 9: ".bmp", 13: ".tiff", 19: ".webp"},
    "square": {3: ".jpg"},
}


def draw(shape: str, size: int, rng: np.random.Generator) -> np.ndarray:
    background = rng.integers(170, 256, 3).tolist()
    color = rng.integers(0, 140, 3).tolist()
    image = np.full((size, size, 3), background, dtype=np.uint8)
    cx, cy = (int(v) for v in rng.integers(size * 3 // 8, size * 5 // 8, 2))
    r = int(rng.integers(size // 6, size // 3))
    if shape == "circle":
        cv2.circle(image, (cx, cy), r, color, -1, lineType=cv2.LINE_AA)
    elif shape == "square":
        cv2.rectangle(image, (cx - r, cy - r), (cx + r, cy + r), color, -1)
    else:
        points = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], dtype=np.int32)
        cv2.fillPoly(image, [points], color, lineType=cv2.LINE_AA)
    noise = rng.normal(0, 6, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def main(root: Path = Path(__file__).parent / "images") -> None:
    if root.exists():
        shutil.rmtree(root)
    rng = np.random.default_rng(7)
    for shape, count in COUNTS.items():
        (root / shape).mkdir(parents=True)
        for i in range(count):
            size = 80 if i in LARGE.get(shape, ()) else 64
            image = draw(shape, size, rng)  # RGB order
            if i in GRAY.get(shape, ()):
                image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
            elif shape == "triangle" and i == 2:  # one RGBA image with a transparent border
                alpha = np.full(image.shape[:2], 255, dtype=np.uint8)
                alpha[:4, :] = alpha[-4:, :] = 0
                image = np.dstack([cv2.cvtColor(image, cv2.COLOR_RGB2BGR), alpha])
            else:
                image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            suffix = FORMATS.get(shape, {}).get(i, ".png")
            params = [cv2.IMWRITE_JPEG_QUALITY, 90] if suffix == ".jpg" else []
            cv2.imwrite(str(root / shape / f"{shape}_{i:02d}{suffix}"), image, params)


if __name__ == "__main__":
    main()
