"""Image data sets: one row per image in a polars frame, pixels in files.

An image data set travels through a recipe as a frame with these columns (see `prepkit.io.images`):

- `image_path`: absolute path of the file that holds the pixels now (the input file, or a file a
  step staged under the run's working folder);
- `source`: the original image's path relative to the input root (posix), for the manifest;
- `label`: the class (text; null for unlabelled images);
- `origin`: `original` or `augmented`;
- `seed`: the seed an augmented copy was made with (null for originals);
- `copy`: 0 for originals, 1.. for augmented copies of the same source;
- `root`: the input data set's folder, so that outputs never overwrite it.

Heavy libraries (OpenCV, albumentations, imagehash) are imported inside the functions using them.
"""

from __future__ import annotations

IMAGE_PATH = "image_path"
SOURCE = "source"
LABEL = "label"
ORIGIN = "origin"
SEED = "seed"
COPY = "copy"
ROOT = "root"
COLUMNS = (IMAGE_PATH, SOURCE, LABEL, ORIGIN, SEED, COPY, ROOT)

ORIGINAL = "original"
AUGMENTED = "augmented"

# Suffixes read as images; writing keeps the suffix of the file holding the pixels.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
