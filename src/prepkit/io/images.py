"""Image data sets as frames: read a folder of class folders or a manifest; write a new data set.

Reading gives one row per image (columns in `prepkit.images`); pixels stay in their files.

- a folder: every sub-folder is a class (`root/cat/*.jpg`, nested folders included); image files
  directly in the root are unlabelled (label null). Hidden files and non-image files are ignored.
- a manifest (CSV, TSV or Parquet, `format: images`): `path_column` (default `path`) holds paths
  relative to the manifest's folder, `label_column` (default `label`) the class. Absolute paths
  and paths leaving the manifest's folder are refused. Other manifest columns are carried along.

Writing copies every image (input files byte for byte, staged files as encoded) into a new folder, atomically, with a
`manifest.csv` listing each image's path, label, source, origin (original/augmented), copy number
and seed. The output may not be, contain or lie inside an input folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl

from prepkit.errors import DataError, RecipeError, suggest
from prepkit.images import (
    COPY,
    IMAGE_PATH,
    IMAGE_SUFFIXES,
    LABEL,
    ORIGIN,
    ORIGINAL,
    ROOT,
    SEED,
    SOURCE,
)
from prepkit.io import check_options
from prepkit.io.atomic import atomic_dir

READ_OPTIONS = {"path_column", "label_column"}
WRITE_OPTIONS = {"layout", "manifest"}
LAYOUTS = ("folders", "manifest")
MANIFEST = "manifest.csv"


def _frame(root: Path, sources: list[str], labels: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            IMAGE_PATH: [str(root / s) for s in sources],
            SOURCE: sources,
            LABEL: pl.Series(LABEL, labels, dtype=pl.String),
            ORIGIN: [ORIGINAL] * len(sources),
            SEED: pl.Series(SEED, [None] * len(sources), dtype=pl.Int64),
            COPY: pl.Series(COPY, [0] * len(sources), dtype=pl.Int32),
            ROOT: [str(root)] * len(sources),
        }
    )


def _read_folder(root: Path) -> pl.DataFrame:
    sources: list[str] = []
    labels: list[str | None] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            rel = (rel_dir / name).as_posix()
            sources.append(rel)
            labels.append(rel_dir.parts[0] if rel_dir.parts else None)
    if not sources:
        raise DataError(
            f"no images found in {root}",
            hint=f"expected class folders with {', '.join(IMAGE_SUFFIXES)} files (root/cat/1.png)",
        )
    order = sorted(range(len(sources)), key=lambda i: sources[i])
    return _frame(root, [sources[i] for i in order], [labels[i] for i in order])


def _outside(relative: str) -> bool:
    path = PurePosixPath(relative.replace("\\", "/"))
    return (
        relative.startswith(("/", "\\"))
        or path.is_absolute()
        or ".." in path.parts
        or (len(relative) > 1 and relative[1] == ":")  # C:\... on Windows
    )


def _read_manifest(path: Path, options: dict[str, Any]) -> pl.DataFrame:
    from prepkit.io import read_table

    path_column = options.get("path_column", "path")
    label_column = options.get("label_column", "label")
    suffix = path.suffix.lower()
    fmt = {".parquet": "parquet", ".pq": "parquet", ".tsv": "tsv"}.get(suffix, "csv")
    table = read_table(path, fmt)
    for option, column in (("path_column", path_column), ("label_column", label_column)):
        if column not in table.columns and (option == "path_column" or option in options):
            raise DataError(
                f"manifest {path}: no column '{column}'{suggest(column, table.columns)}",
                hint=f"set `options: {{{option}: ...}}`; columns: {', '.join(table.columns)}",
            )
    root = path.resolve().parent
    sources = table[path_column].cast(pl.String)
    if sources.null_count():
        raise DataError(f"manifest {path}: column '{path_column}' has empty paths")
    bad = [s for s in sources.unique(maintain_order=True).to_list() if _outside(s)]
    if not bad:  # symbolic links may still lead out of the root
        resolved = [(s, (root / s).resolve()) for s in sources.unique(maintain_order=True)]
        bad = [s for s, r in resolved if not r.is_relative_to(root)]
    if bad:
        raise DataError(
            f"manifest {path}: {len(bad)} path(s) point outside the manifest's folder: "
            + ", ".join(repr(b) for b in bad[:5]),
            hint="paths must be relative to the manifest's folder, without '..' or absolute parts",
        )
    labels = (
        table[label_column].cast(pl.String)
        if label_column in table.columns
        else pl.Series(LABEL, [None] * table.height, dtype=pl.String)
    )
    base = _frame(
        root, [PurePosixPath(s.replace("\\", "/")).as_posix() for s in sources], labels.to_list()
    )
    extra = table.drop(
        [c for c in table.columns if c in (path_column, label_column, *base.columns, "path")]
    )
    return pl.concat([base, extra], how="horizontal")


def read_images(path: Path, options: dict[str, Any]) -> pl.DataFrame:
    """One row per image of a folder of class folders, or of a manifest table."""
    check_options(options, READ_OPTIONS, "image read")
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"input not found: {path}",
            hint="give a folder of class folders, or a manifest CSV/Parquet with `format: images`",
        )
    if path.is_dir():
        if options:
            raise RecipeError(
                f"options {', '.join(options)} apply to manifests, but {path} is a folder"
            )
        return _read_folder(path.resolve())
    return _read_manifest(path, options)


# -- writing ----------------------------------------------------------------------------------------
def _names(frame: pl.DataFrame, layout: str) -> pl.Series:
    """Output paths (relative, posix): `label/stem[__augK].ext` or `images/source[__augK].ext`."""
    source = pl.col(SOURCE)
    if layout == "folders":
        inside = source.str.strip_prefix(pl.col(LABEL).fill_null("") + "/").str.replace_all(
            "/", "__"
        )
        folder = (
            pl.when(pl.col(LABEL).is_null())
            .then(pl.lit(""))
            .otherwise(
                pl.col(LABEL).str.replace_all(r"[/\\]", "_").str.replace(r"^(\.*)$", "_$1") + "/"
            )
        )
    else:
        inside = source
        folder = pl.lit("images/")
    stem = inside.str.replace(r"\.[^./]*$", "")
    ext = pl.col(IMAGE_PATH).str.extract(r"(\.[^./\\]*)$").fill_null("").str.to_lowercase()
    tag = pl.when(pl.col(COPY) > 0).then(pl.lit("__aug") + pl.col(COPY).cast(pl.String))
    names = frame.select(
        (folder + stem + tag.otherwise(pl.lit("")) + ext).alias("name"),
        (
            folder
            + stem
            + tag.otherwise(pl.lit(""))
            + "__"
            + pl.int_range(pl.len()).cast(pl.String)
            + ext
        ).alias("unique"),
    )
    dup = names["name"].str.to_lowercase().is_duplicated()  # case-insensitive file systems too
    return names.select(
        pl.when(dup).then(pl.col("unique")).otherwise(pl.col("name")).alias("name")
    )["name"]


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def _check_target(frame: pl.DataFrame, target: Path, manifest: str) -> None:
    roots = [Path(r).resolve() for r in frame[ROOT].drop_nulls().unique().to_list()]
    for root in roots:
        if _inside(target, root) or _inside(root, target):
            raise DataError(
                f"output {target} would overwrite the input data set {root}",
                hint="write the output to a new folder outside the input",
            )
    paths = frame[IMAGE_PATH].unique().to_list()
    if any(_inside(Path(p).resolve(), target) for p in paths):
        raise DataError(
            f"output {target} holds input images", hint="write the output to a new folder"
        )
    if target.exists() and not target.is_dir():
        raise DataError(f"output {target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / manifest).is_file():
        raise DataError(
            f"output folder {target} exists and is not a prepkit image output (no {manifest})",
            hint="choose a new folder, or delete it first",
        )


def write_images(frame: pl.DataFrame, path: Path, options: dict[str, Any]) -> None:
    """Write every image of `frame` into a new folder `path`, with `manifest.csv`, atomically."""
    check_options(options, WRITE_OPTIONS, "image write")
    if str(path) == "-":
        raise RecipeError("an image data set cannot be written to standard output")
    layout = options.get("layout", "folders")
    if layout not in LAYOUTS:
        raise RecipeError(
            f"unknown image layout '{layout}'{suggest(layout, LAYOUTS)}; use folders or manifest"
        )
    manifest_name = str(options.get("manifest", MANIFEST))
    missing = [c for c in (IMAGE_PATH, SOURCE) if c not in frame.columns]
    if missing:
        raise DataError(
            f"cannot write images: column(s) {', '.join(missing)} missing",
            hint="the image columns were dropped by an earlier step",
        )
    frame = frame.with_columns(
        *(pl.lit(None, pl.String).alias(c) for c in (LABEL, ROOT) if c not in frame.columns),
        *(pl.lit(v).alias(c) for c, v in ((ORIGIN, ORIGINAL), (COPY, 0)) if c not in frame.columns),
        *(pl.lit(None, pl.Int64).alias(c) for c in (SEED,) if c not in frame.columns),
    ).with_columns(pl.col(LABEL).cast(pl.String), pl.col(COPY).cast(pl.Int32))
    target = Path(path).resolve()
    _check_target(frame, target, manifest_name)
    names = _names(frame, layout)
    escaping = names.str.contains(r"(^|/)\.\.(/|$)") | names.str.starts_with("/")
    if escaping.any():
        raise DataError(
            f"cannot write images: output path {names.filter(escaping)[0]!r} leaves the folder",
            hint="image sources must be relative paths without '..'",
        )
    absent = [p for p in frame[IMAGE_PATH].to_list() if not Path(p).is_file()]
    if absent:
        raise DataError(
            f"{len(absent)} image file(s) not found: {', '.join(absent[:5])}",
            hint="add a prepare_images step to skip unreadable files, or fix the paths",
        )
    manifest = frame.select(
        names.alias("path"),
        LABEL,
        SOURCE,
        ORIGIN,
        COPY,
        SEED,
        *(
            c
            for c in frame.columns
            if c not in (IMAGE_PATH, ROOT, LABEL, SOURCE, ORIGIN, COPY, SEED)
        ),
    )
    with atomic_dir(target) as tmp:
        folders = {str(PurePosixPath(n).parent) for n in names.to_list()}
        for folder in sorted(folders):
            (tmp / folder).mkdir(parents=True, exist_ok=True)
        for source, name in zip(frame[IMAGE_PATH].to_list(), names.to_list(), strict=True):
            shutil.copyfile(source, tmp / name)
        manifest.write_csv(tmp / manifest_name)
