"""Reading and writing tables: CSV, TSV, Parquet, JSON, NDJSON, Arrow IPC/Feather and stdin/stdout.

Writes are atomic: data goes to a temporary file beside the target, which is renamed over it only
when complete, so a failed run never leaves a partial file or clobbers a previous output.
"""

from __future__ import annotations

import io
import re
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from prepkit.errors import DataError, RecipeError, suggest
from prepkit.images import IMAGE_PATH, ROOT
from prepkit.io.atomic import atomic_path
from prepkit.io.parts import is_many, parts_format, scan_error, scan_parts

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
TABLE_FORMATS = FORMATS[:-1]
FORMAT_ALIASES = {"feather": "arrow", "ipc": "arrow", "jsonl": "ndjson"}
SPREADSHEETS = ("excel", "xlsx", "xls", "xlsm", "ods")
# The steps that work on image data sets (prepkit.steps.augment_image). A recipe with one of them
# reads a folder of class folders and writes a folder; any other recipe reads and writes tables.
IMAGE_STEPS = frozenset({"prepare_images", "dedupe_images", "augment_images"})

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


def uses_images(steps: Any) -> bool:
    """Whether a recipe's (or fitted recipe's) steps work on an image data set."""
    return any(step.name in IMAGE_STEPS for step in steps)


def normalize_format(given: str, option: str = "format") -> str:
    """The canonical name of a format given by the user (`feather` -> `arrow`), or a RecipeError."""
    fmt = FORMAT_ALIASES.get(given.lower(), given.lower())
    if fmt in FORMATS:
        return fmt
    close = suggest(given, [*FORMATS, *FORMAT_ALIASES])
    spreadsheet = not close and (suggest(given, SPREADSHEETS) or given.lower() in SPREADSHEETS)
    raise RecipeError(
        f"unknown {option} '{given}'{close}; use one of {', '.join(FORMATS)}",
        hint="spreadsheets are not read directly: save the sheet as CSV or Parquet"
        if spreadsheet
        else None,
    )


def _from_extension(path: Path) -> str | None:
    for suffix in reversed([s.lower() for s in path.suffixes]):
        if suffix in EXTENSIONS:
            return EXTENSIONS[suffix]
    return None


def detect_format(
    path: str | Path,
    given: str | None = None,
    *,
    images: bool | None = None,
    writing: bool = False,
) -> str:
    """The format named by `given`, or guessed from the file extension.

    `images` says whether the recipe works on an image data set (see `uses_images`); None (not
    known) guesses an image data set for a folder or a path without an extension. With
    `images=False`, a folder or a path without an extension is an error, as is a table output for
    an image recipe with `images=True`; `writing` says whether `path` is an output.
    """
    what = "output" if writing else "input"
    if given:
        fmt = normalize_format(given)
        if images and writing and fmt != "images":
            raise _table_output_for_images(path)
        return fmt
    if str(path) == "-":
        if images and writing:
            raise _table_output_for_images(path)
        return "csv"
    p = Path(path)
    parts = parts_format(p) if p.is_dir() and not writing and not images else None
    if parts is not None:
        return parts  # a folder of table parts (hive-partitioned, say)
    if images is None:
        if p.is_dir() or not p.suffix:
            return "images"  # a folder of class folders, or a manifest (prepkit.io.images)
    elif images:
        if p.is_dir() or not p.suffix:
            return "images"
        if writing and _from_extension(p):
            raise _table_output_for_images(path)
    elif p.is_dir():
        if writing:
            raise DataError(
                f"output {p} is a folder; this recipe writes a table, to one file",
                hint=f"give a file path, e.g. {p / 'clean.parquet'}",
            )
        raise DataError(
            f"input {p} is a folder with no table files in it, but this recipe has no image "
            f"steps: it reads a table ({', '.join(TABLE_FORMATS)}), or a folder of its parts",
            hint="give the path of a file, a glob such as 'data/part-*.parquet', or a folder "
            "of Parquet/CSV parts",
        )
    elif not p.suffix:
        option = "--output-format" if writing else "--format"
        raise RecipeError(
            f"cannot tell the format of {what} '{p}': it has no extension",
            hint=f"add an extension such as .csv or .parquet, or give {option} "
            f"({', '.join(TABLE_FORMATS)})",
        )
    fmt = _from_extension(p)
    if fmt is not None:
        return fmt
    spreadsheet = p.suffix.lower().lstrip(".") in SPREADSHEETS
    option = "--output-format" if writing else "--format"
    name_it = f"give `format:` in the recipe or {option} ({', '.join(FORMATS)})"
    raise RecipeError(
        f"cannot tell the format of {'' if images is None else what + ' '}'{path}' "
        "from its extension",
        hint="spreadsheets are not read directly: save the sheet as CSV or Parquet; "
        f"if the file already holds one of those, {name_it}"
        if spreadsheet
        else name_it,
    )


def _table_output_for_images(path: str | Path) -> RecipeError:
    where = "standard output" if str(path) == "-" else f"a table file ({path})"
    return RecipeError(
        f"this recipe makes an image data set, which cannot be written to {where}",
        hint="give -o a folder, e.g. -o out/images (images plus a manifest.csv are written there)",
    )


def check_stream(path: str | Path, writing: bool = False) -> None:
    """For `-`: raise a DataError now when standard input/output is closed (`<&-`, `>&-`)."""
    if str(path) != "-":
        return
    if writing and sys.stdout is None:
        raise DataError(
            "cannot write to standard output: it is closed",
            hint="give -o PATH, or redirect standard output to a file or a pipe",
        )
    if not writing and sys.stdin is None:
        raise DataError(
            "cannot read standard input: it is closed",
            hint="pipe data in (`cat data.csv | prepkit ...`) or give the input's path",
        )


def check_paths(
    *,
    images: bool,
    input: str | Path | None = None,
    input_format: str | None = None,
    output: str | Path | None = None,
    output_format: str | None = None,
) -> None:
    """Check, before any data is read, that the input and output fit the recipe's kind of data.

    A table recipe (`images=False`) needs an input file and an output file whose formats are
    known; an image recipe writes a folder, never a table or standard output. Closed standard
    streams are refused too. Raises RecipeError or DataError.
    """
    if input is not None:
        check_stream(input)
        detect_format(input, input_format, images=images)
    if output is not None:
        detect_format(output, output_format, images=images, writing=True)
        check_stream(output, writing=True)


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


def _read_error(name: str, exc: OSError) -> DataError:
    if isinstance(exc, PermissionError):
        return DataError(
            f"cannot read {name}: permission denied",
            hint="check the file's permissions and those of its folders (ls -l)",
        )
    return DataError(f"cannot read {name}: {exc.strerror or type(exc).__name__}")


def _open_source(path: str | Path, fmt: str) -> Any:
    """A path polars can read, or the bytes of standard input, a pipe or a device."""
    if str(path) == "-":
        check_stream(path)
        try:
            data = sys.stdin.buffer.read()
        except OSError as exc:
            raise _read_error("standard input", exc) from None
        if not data:
            raise DataError(
                "standard input is empty",
                hint="pipe data in, e.g. `cat data.csv | prepkit run ...`",
            )
        return io.BytesIO(data)
    p = Path(path)
    try:
        info = p.stat()
    except FileNotFoundError:
        raise DataError(
            f"input file not found: {p}",
            hint="check the path (recipe paths are relative to the recipe file)",
        ) from None
    except OSError as exc:
        raise _read_error(str(p), exc) from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError(f"input {p} is a folder, not a {fmt} file", hint="give a file path")
    try:
        if stat.S_ISREG(info.st_mode):
            if info.st_size == 0:
                raise DataError(
                    f"input file is empty: {p}", hint="the file has no header and no rows"
                )
            with open(p, "rb"):  # fails here, with the file's name, when it cannot be read
                return p
        data = p.read_bytes()  # a named pipe, `<(...)` or a device: read it once, like stdin
    except OSError as exc:
        raise _read_error(str(p), exc) from None
    if not data:
        raise DataError(f"input is empty: {p}", hint="nothing was written to the pipe or device")
    return io.BytesIO(data)


def _check_json_records(source: Any, name: str) -> None:
    """prepkit's JSON is an array of records; polars would read a bare object as one odd row."""
    if isinstance(source, io.BytesIO):
        head = source.getvalue()[:4096]
    else:
        with open(source, "rb") as fh:
            head = fh.read(4096)
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if head[:1] != b"[":
        shape = "a JSON object" if head[:1] == b"{" else "a single JSON value"
        raise DataError(
            f"cannot read {name}: it holds {shape}, but JSON input must be an array of records",
            hint='expected one object per row: [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]; '
            "for one object per line use .ndjson (--format ndjson)",
        )


def _check_csv_header(frame: pl.DataFrame, source: Any, options: dict[str, Any], sep: str,
                      name: str) -> None:  # fmt: skip
    """polars renames a repeated header (`a`, `a_duplicated_0`); prepkit refuses it instead."""
    if not options.get("has_header", True):
        return
    renamed = re.compile(r"(.*)_duplicated_\d+")
    if not any((m := renamed.fullmatch(c)) and m.group(1) in frame.columns for c in frame.columns):
        return
    if isinstance(source, io.BytesIO):
        source.seek(0)
    header = pl.read_csv(
        source, has_header=False, n_rows=1, infer_schema=False,
        separator=options.get("separator", sep), skip_rows=options.get("skip_rows", 0),
        encoding=options.get("encoding", "utf8"), quote_char=options.get("quote_char", '"'),
    ).row(0)  # fmt: skip
    check_unique_header(list(header), name)


def check_unique_header(header: list[Any], name: str) -> None:
    """Raise a DataError naming the first repeated column name of a file's header."""
    seen: dict[Any, int] = {}
    for i, column in enumerate(header, 1):
        if column in seen:
            raise DataError(
                f"{name}: column name '{column}' appears twice in the header "
                f"(columns {seen[column]} and {i})",
                hint="give every column its own name in the file's header line; "
                "prepkit does not rename columns, as recipes select them by name",
            )
        seen[column] = i


def source_name(path: str | Path) -> str:
    """How messages name an input: its path, or "standard input" for `-`."""
    return "standard input" if str(path) == "-" else str(path)


SEPARATORS = {";": "semicolon", "|": "pipe", "\t": "tab"}


def separator_hint(columns: list[str]) -> str | None:
    """A hint when a CSV read as one column looks separated by another character (`a;b;c`)."""
    if len(columns) != 1:
        return None
    for sep, what in SEPARATORS.items():
        if sep in columns[0]:
            shown = columns[0].replace("\t", "\\t")
            fix = (
                "read it as TSV: --format tsv, or `format: tsv` in the recipe's `input:`"
                if sep == "\t"
                else f"set `separator: '{sep}'` in the recipe's input options "
                f"(`input: {{path: ..., options: {{separator: '{sep}'}}}}`; or "
                f"--set \"input.options.separator='{sep}'\" when the recipe has an `input:`)"
            )
            return f"the file was read as one column '{shown}', which looks {what}-separated: {fix}"
    return None


def read_table(
    path: str | Path, fmt: str | None = None, options: dict[str, Any] | None = None
) -> pl.DataFrame:
    """Read a table from a path or `-` (stdin). Errors name the file and what to do."""
    fmt = detect_format(path, fmt)
    options = options or {}
    if fmt == "images":
        from prepkit.io.images import read_images

        return read_images(Path(path), options)
    name = source_name(path)
    if is_many(path):
        try:
            return scan_parts(path, fmt, options).collect()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise scan_error(name, fmt, exc) from None
    source = _open_source(path, fmt)
    if fmt == "json":
        _check_json_records(source, name)
    try:
        frame = READERS[fmt](source, options)
        if fmt in ("csv", "tsv"):
            _check_csv_header(frame, source, options, "\t" if fmt == "tsv" else ",", name)
    except (RecipeError, DataError):
        raise
    except pl.exceptions.NoDataError:
        raise DataError(f"input is empty: {name}") from None
    except OSError as exc:
        raise _read_error(name, exc) from None
    except (pl.exceptions.PolarsError, ValueError, TypeError, UnicodeDecodeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if fmt == "json" and "json objects" in detail:
            raise DataError(
                f"cannot read {name}: JSON input must be an array of records (objects)",
                hint='expected one object per row: [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]',
            ) from None
        if fmt in ("csv", "tsv") and "more fields than defined" in detail:
            raise DataError(
                f"cannot read {name}: a row has more fields than the header",
                hint="fix the file, or drop the extra fields with `truncate_ragged_lines: true` "
                "under the recipe's `input.options` "
                "(--set input.options.truncate_ragged_lines=true)",
            ) from None
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
        check_stream(path, writing=True)
        if IMAGE_PATH in frame.columns and ROOT in frame.columns:
            raise _table_output_for_images(path)  # the paths of staged files deleted on exit
        buffer = io.BytesIO()
        _write_to(frame, buffer, fmt, options)
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
        return
    with atomic_path(Path(path)) as tmp:
        _write_to(frame, tmp, fmt, options)
