"""Reading and writing tables: CSV, TSV, Parquet, JSON, NDJSON, Arrow IPC/Feather and stdin/stdout.

Writes are atomic: data goes to a temporary file beside the target, which is renamed over it only
when complete, so a failed run never leaves a partial file or clobbers a previous output.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from prepkit.errors import DataError, RecipeError, suggest
from prepkit.io.atomic import atomic_path

EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
FORMATS = ("csv", "tsv", "parquet", "json", "ndjson", "arrow", "images")
FORMAT_ALIASES = {"feather": "arrow", "ipc": "arrow", "jsonl": "ndjson"}

# Options users may set in a recipe's `options:` for each format (passed to polars).
CSV_READ_OPTIONS = {
    "separator", "encoding", "null_values", "has_header", "quote_char", "skip_rows",
    "comment_prefix", "infer_schema_length", "try_parse_dates", "decimal_comma",
    "schema_overrides", "columns", "n_rows", "truncate_ragged_lines", "missing_utf8_is_empty_string",
}  # fmt: skip
CSV_WRITE_OPTIONS = {
    "separator", "include_header", "quote_char", "null_value", "float_precision",
    "datetime_format", "date_format", "line_terminator", "include_bom", "quote_style",
}  # fmt: skip
PARQUET_WRITE_OPTIONS = {"compression", "compression_level", "statistics", "row_group_size"}


def detect_format(path: str | Path, given: str | None = None) -> str:
    """The format named by `given`, or guessed from the file extension."""
    if given:
        fmt = FORMAT_ALIASES.get(given.lower(), given.lower())
        if fmt not in FORMATS:
            raise RecipeError(
                f"unknown format '{given}'{suggest(given, FORMATS)}; use one of {', '.join(FORMATS)}"
            )
        return fmt
    if str(path) == "-":
        return "csv"
    if Path(path).is_dir() or not Path(path).suffix:
        return "images"  # an image data set: a folder of class folders, or a manifest (prepkit.io.images)
    suffixes = [s.lower() for s in Path(path).suffixes]
    for suffix in reversed(suffixes):
        if suffix in EXTENSIONS:
            return EXTENSIONS[suffix]
    raise RecipeError(
        f"cannot tell the format of '{path}' from its extension",
        hint=f"give `format:` in the recipe or --format ({', '.join(FORMATS)})",
    )


def check_options(options: dict[str, Any], allowed: set[str], what: str) -> dict[str, Any]:
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise RecipeError(
            f"unknown {what} option '{unknown[0]}'{suggest(unknown[0], allowed)}",
            hint=f"valid options: {', '.join(sorted(allowed))}",
        )
    return dict(options)


def _read_csv(source: Any, options: dict[str, Any], separator: str) -> pl.DataFrame:
    opts = check_options(options, CSV_READ_OPTIONS, "CSV read")
    opts.setdefault("separator", separator)
    opts.setdefault("infer_schema_length", 10_000)
    opts.setdefault("raise_if_empty", True)
    return pl.read_csv(source, **opts)


READERS: dict[str, Callable[[Any, dict[str, Any]], pl.DataFrame]] = {
    "csv": lambda src, o: _read_csv(src, o, ","),
    "tsv": lambda src, o: _read_csv(src, o, "\t"),
    "parquet": lambda src, o: pl.read_parquet(src, **o),
    "json": lambda src, o: pl.read_json(src, **o),
    "ndjson": lambda src, o: pl.read_ndjson(src, **o),
    "arrow": lambda src, o: pl.read_ipc(src, **o),
}


def read_table(
    path: str | Path, fmt: str | None = None, options: dict[str, Any] | None = None
) -> pl.DataFrame:
    """Read a table from a path or `-` (stdin). Errors name the file and what to do."""
    fmt = detect_format(path, fmt)
    options = options or {}
    if fmt == "images":
        from prepkit.io.images import read_images

        return read_images(Path(path), options)
    name = "standard input" if str(path) == "-" else str(path)
    if str(path) == "-":
        source: Any = io.BytesIO(sys.stdin.buffer.read())
        if source.getbuffer().nbytes == 0:
            raise DataError(
                "standard input is empty",
                hint="pipe data in, e.g. `cat data.csv | prepkit run ...`",
            )
    else:
        p = Path(path)
        if not p.exists():
            raise DataError(
                f"input file not found: {p}",
                hint="check the path (recipe paths are relative to the recipe file)",
            )
        if p.is_dir():
            raise DataError(f"input {p} is a folder, not a {fmt} file")
        if p.stat().st_size == 0:
            raise DataError(f"input file is empty: {p}", hint="the file has no header and no rows")
        source = p
    try:
        frame = READERS[fmt](source, options)
    except (RecipeError, DataError):
        raise
    except PermissionError:
        raise DataError(f"cannot read {name}: permission denied") from None
    except pl.exceptions.NoDataError:
        raise DataError(f"input is empty: {name}") from None
    except (pl.exceptions.PolarsError, OSError, ValueError, TypeError, UnicodeDecodeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"cannot read {name} as {fmt}: {detail}",
            hint="check the file format (--format / recipe `format:`) and CSV options such as separator or encoding",
        ) from None
    return frame


def _write_to(frame: pl.DataFrame, target: Any, fmt: str, options: dict[str, Any]) -> None:
    if fmt in ("csv", "tsv"):
        opts = check_options(options, CSV_WRITE_OPTIONS, "CSV write")
        opts.setdefault("separator", "\t" if fmt == "tsv" else ",")
        frame.write_csv(target, **opts)
    elif fmt == "parquet":
        frame.write_parquet(
            target, **check_options(options, PARQUET_WRITE_OPTIONS, "Parquet write")
        )
    elif fmt == "json":
        frame.write_json(target)
    elif fmt == "ndjson":
        frame.write_ndjson(target)
    elif fmt == "arrow":
        frame.write_ipc(target, **check_options(options, {"compression"}, "Arrow write"))


def write_table(
    frame: pl.DataFrame,
    path: str | Path,
    fmt: str | None = None,
    options: dict[str, Any] | None = None,
) -> None:
    """Write atomically to `path`, or to stdout for `-`."""
    fmt = detect_format(path, fmt)
    options = options or {}
    if fmt == "images":
        from prepkit.io.images import write_images

        write_images(frame, Path(path), options)
        return
    if str(path) == "-":
        buffer = io.BytesIO()
        _write_to(frame, buffer, fmt, options)
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
        return
    with atomic_path(Path(path)) as tmp:
        _write_to(frame, tmp, fmt, options)
