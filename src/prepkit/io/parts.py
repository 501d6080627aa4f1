"""Tables in many files: a glob (`data/part-*.parquet`) or a folder of parts (hive-partitioned
folders give their partition columns), scanned lazily by polars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from prepkit.errors import DataError

SCANNERS = {
    "csv": lambda path, o: pl.scan_csv(path, **{"separator": ",", **o}),
    "tsv": lambda path, o: pl.scan_csv(path, **{"separator": "\t", **o}),
    "parquet": lambda path, o: pl.scan_parquet(path, **o),
    "arrow": lambda path, o: pl.scan_ipc(path, **o),
    "ndjson": lambda path, o: pl.scan_ndjson(path, **o),
}
_SUFFIXES = {".parquet": "parquet", ".csv": "csv", ".tsv": "tsv", ".arrow": "arrow",
             ".ipc": "arrow", ".feather": "arrow", ".ndjson": "ndjson", ".jsonl": "ndjson"}  # fmt: skip


def is_glob(path: str | Path) -> bool:
    text = str(path)
    return text != "-" and any(ch in text for ch in "*?[") and not Path(text).exists()


def is_many(path: str | Path) -> bool:
    """Whether `path` names a table in many files: a glob or a folder (never standard input)."""
    return str(path) != "-" and (is_glob(path) or Path(path).is_dir())


def parts_format(folder: Path) -> str | None:
    """The one table format of the files below `folder`; None when it holds no table files.

    Several formats in one folder are an error (say which with --format)."""
    found = {
        _SUFFIXES[f.suffix] for f in folder.rglob("*") if f.is_file() and f.suffix in _SUFFIXES
    }
    if len(found) > 1:
        raise DataError(
            f"the folder {folder} holds parts of several formats: {', '.join(sorted(found))}",
            hint="keep one format per folder, or give --format (recipe `format:`)",
        )
    return found.pop() if found else None


def scan_parts(path: str | Path, fmt: str, options: dict[str, Any]) -> pl.LazyFrame:
    """A lazy scan of a file, a glob or a folder of parts, with the reader `options`
    (CSV options as for one file; `columns` selects columns)."""
    from prepkit.io import CSV_READ_OPTIONS, check_options, source_name

    if fmt not in SCANNERS:
        raise DataError(
            f"{source_name(path)}: {fmt} cannot be read from many files",
            hint="use Parquet, CSV, TSV, NDJSON or Arrow parts",
        )
    text = str(path)
    folder = Path(text).is_dir()
    opts = dict(options)
    columns = None
    if fmt in ("csv", "tsv"):
        opts = check_options(opts, CSV_READ_OPTIONS, "CSV read")
        opts.setdefault("infer_schema_length", 10_000)
        columns = opts.pop("columns", None)
        opts.pop("raise_if_empty", None)
    if is_many(text) and fmt == "parquet":
        opts.setdefault("hive_partitioning", True)
    try:
        lazy = SCANNERS[fmt](f"{text}/**/*" if folder and fmt != "parquet" else text, opts)
        if columns is not None:
            lazy = lazy.select(columns)
        lazy.collect_schema()
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise scan_error(source_name(path), fmt, exc) from None
    return lazy


def scan_error(name: str, fmt: str, exc: BaseException) -> DataError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "no such file" in detail.lower() or "expanded paths were empty" in detail.lower():
        return DataError(
            f"no input files match {name}",
            hint="check the pattern or folder (recipe paths are relative to the recipe file)",
        )
    if Path(name).is_dir() or is_glob(name):
        what = "the folder" if Path(name).is_dir() else "the files of"
        return DataError(
            f"cannot read {what} {name} as the parts of one {fmt} table: {detail}",
            hint="a folder or glob is read as the parts of one table: give one file, or parts "
            "that share their columns and format",
        )
    return DataError(
        f"cannot read {name} as {fmt}: {detail}",
        hint="check the path, the format (--format / recipe `format:`) and the reader options",
    )
