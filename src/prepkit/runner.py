"""`prepkit run` as a library call: read, split, fit on train, apply to the rest, check, write."""

from __future__ import annotations

import contextlib
import difflib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from prepkit import checks as quality
from prepkit.drifts import DriftResult, check_thresholds, drift_warnings, judge
from prepkit.dtypes import parse_dtype
from prepkit.engines import EngineChoice, check_engine, choose_engine
from prepkit.engines.spark import SparkSpec
from prepkit.engines.stream import DEFAULT_BATCH_SIZE, run_streamed, scan_input
from prepkit.errors import CheckFailed, DataError, PrepkitError, RecipeError
from prepkit.fitted import FittedRecipe, fit_frame
from prepkit.frames import to_polars
from prepkit.io import detect_format, read_table, separator_hint, source_name, write_table
from prepkit.io.atomic import all_or_nothing, check_writable, same_file, write_text_atomic
from prepkit.io.parts import is_many
from prepkit.io.stream import BatchWriter, read_batches
from prepkit.pipeline import context_for, require_rows
from prepkit.recipe import Recipe
from prepkit.reference import ReferenceDrift
from prepkit.report import RunReport, merge_step_reports
from prepkit.report.figures import collecting
from prepkit.split import add_folds, hash_split_frame, split_frame


@dataclass
class RunResult:
    """What a run produced: frames per part (train/valid/test), the fitted recipe and the report."""

    outputs: dict[str, Any]
    fitted: FittedRecipe
    report: RunReport
    paths: dict[str, str] = field(default_factory=dict)


def write_report(report: RunReport, path: Path) -> None:
    """The report as HTML (`.html`/`.htm`, with charts) or JSON (any other extension)."""
    if path.suffix.lower() in (".html", ".htm"):
        from prepkit.report.html import render_html

        write_text_atomic(path, render_html(report))
    else:
        write_text_atomic(path, json.dumps(report.to_dict(), indent=2, default=str) + "\n")


def part_path(output: str | Path, part: str, split: bool) -> str | Path:
    """`out/churn.parquet` -> `out/churn_train.parquet` when the recipe splits."""
    if not split or str(output) == "-":
        return output
    p = Path(output)
    suffix = "".join(p.suffixes)
    stem = p.name[: len(p.name) - len(suffix)] if suffix else p.name
    return p.with_name(f"{stem}_{part}{suffix}")


def default_fitted_path(output: str | Path) -> Path | None:
    if str(output) == "-":
        return None
    p = Path(output)
    suffix = "".join(p.suffixes)
    stem = p.name[: len(p.name) - len(suffix)] if suffix else p.name
    return p.with_name(f"{stem}.prepkit.json")


def part_names(recipe: Recipe) -> list[str]:
    """The parts a run writes: train, plus valid/test when the recipe holds them out."""
    split = recipe.spec.split
    if split is None or split.kfold:
        return ["train"]
    return ["train"] + [n for n in ("valid", "test") if getattr(split, n)]


def check_destinations(
    outputs: list[tuple[str, str | Path | None, bool]], inputs: list[str | Path | None]
) -> None:
    """Refuse, before any data is read, outputs that would clobber an input or each other.

    `outputs` are (what, path, is_folder); `-` (stdout) and None are skipped. An output equal to
    an input, also through symlinks, hard links, `./` or `..`, is a `RecipeError`; two outputs on
    one path too. An output that cannot be written (a folder where a file goes, an unwritable or
    read-only folder) is a `DataError`.
    """
    sources = [Path(p) for p in inputs if p is not None and str(p) != "-" and Path(p).is_file()]
    files = [(w, Path(p), f) for w, p, f in outputs if p is not None and str(p) != "-"]
    for i, (what, path, _) in enumerate(files):
        for source in sources:
            if same_file(path, source):
                raise RecipeError(
                    f"{what} {path} is the input file {source}: prepkit never overwrites its input",
                    hint="write the output to a new path",
                )
        for other_what, other, _ in files[:i]:
            if same_file(path, other):
                raise RecipeError(
                    f"{other_what} and {what} are the same file: {path}",
                    hint="give each output its own path",
                )
    for what, path, folder in files:
        check_writable(path, what, folder)


def _is_folder_output(path: str | Path, fmt: str | None) -> bool:
    if str(path) == "-":
        return False
    try:
        return detect_format(path, fmt) == "images"
    except PrepkitError:  # an unknown format is reported when the output is written
        return False


def run_recipe(
    recipe: Recipe,
    data: Any = None,
    *,
    input: str | Path | None = None,
    output: str | Path | None = None,
    fmt: str | None = None,
    output_format: str | None = None,
    fitted_path: str | Path | None = None,
    report_path: str | Path | None = None,
    write: bool = True,
    quiet: bool = True,
    engine: str | None = None,
    batch_size: int | None = None,
    spark: dict[str, Any] | None = None,
) -> RunResult:
    """Run a recipe end to end.

    `data` (a pandas/polars frame) replaces the recipe's `input`; `input`/`output` paths given
    here are taken as they are (relative to the current folder), recipe paths are relative to the
    recipe file. With `write=False` nothing is written and the frames are only returned.
    `engine` (memory, stream, auto; default: the recipe's `engine:`) and `batch_size` choose
    where the frames live (see `prepkit.engines`); `spark` ({"master": ..., "conf": {...}})
    overrides the recipe's `spark:` settings.
    """
    start = time.perf_counter()
    spec = recipe.spec
    source: str | Path | None = None  # the input file (None for a frame given as `data`)
    in_fmt, in_options = fmt, {}
    if data is None and input is not None:
        source = input
        in_options = recipe_read_options(spec.input and spec.input.model_dump(), input, fmt)
    elif data is None and spec.input is not None:
        source = recipe.resolve(spec.input.path)
        in_fmt, in_options = spec.input.format, spec.input.options
    elif data is None:
        raise RecipeError("no input: give `input:` in the recipe or -i PATH")

    if output is not None:
        out_fmt = output_format or (fmt if str(output) == "-" else None)
        out_path, out_options = output, {}
    elif spec.output is not None:
        out_path = recipe.resolve(spec.output.path)
        out_fmt, out_options = output_format or spec.output.format, spec.output.options
    else:
        out_path, out_fmt, out_options = None, output_format, {}
    parts_written = part_names(recipe)
    split = len(parts_written) > 1
    fitted_target = report_target = None
    if write:
        if out_path is None:
            raise RecipeError(
                "no output: give `output:` in the recipe or -o PATH (use - for stdout)"
            )
        if split and str(out_path) == "-":
            raise RecipeError(
                "a split writes one output per part (train/valid/test), not one stream",
                hint="give -o a file path; the parts are written as <stem>_train, <stem>_valid, <stem>_test",
            )
        fitted_target = fitted_path or (
            recipe.resolve(spec.fitted) if spec.fitted else default_fitted_path(out_path)
        )
        report_target = report_path or (recipe.resolve(spec.report) if spec.report else None)
        folder = _is_folder_output(out_path, out_fmt)
        check_destinations(
            [
                *((f"{name} output" if split else "output", part_path(out_path, name, split),
                   folder) for name in parts_written),
                ("fitted artifact", fitted_target, False),
                ("report", report_target, False),
            ],
            inputs=[source, recipe.source],
        )  # fmt: skip

    choice = choose_engine(
        engine or spec.engine, recipe.steps, source if data is None else None, in_fmt,
        batch_size or spec.batch_size,
    )  # fmt: skip
    if choice.name == "stream":
        return _run_streamed(
            recipe, data, choice, source, in_fmt, in_options, start=start, write=write,
            quiet=quiet, out_path=out_path, out_fmt=out_fmt, out_options=out_options,
            fitted_target=fitted_target, report_target=report_target,
        )  # fmt: skip
    if choice.name == "spark":
        return _run_spark(
            recipe, data, choice, source, in_fmt, in_options, start=start, write=write,
            quiet=quiet, out_path=out_path, out_fmt=out_fmt, out_options=out_options,
            fitted_target=fitted_target, report_target=report_target,
            settings=spark_settings(spec.spark, spark),
        )  # fmt: skip
    back = None
    name = None if source is None else source_name(source)
    if data is not None:
        frame, back = to_polars(data)
    else:
        assert source is not None
        frame = read_table(source, in_fmt, in_options)
    require_rows(frame, name)  # before splitting, so that an empty input is named as such

    report = RunReport(recipe=recipe.name, engine=choice.as_dict())
    report.parts["input"] = {"rows": frame.height, "columns": frame.width}

    with tempfile.TemporaryDirectory(prefix="prepkit-") as workdir, figures_for(report_target):
        ctx = context_for(recipe, workdir=Path(workdir), quiet=quiet)
        if spec.split and spec.split.method == "hash":
            parts = hash_split_frame(frame, spec.split, spec.target, spec.seed)
        elif spec.split and spec.split.kfold:
            parts = {"train": add_folds(frame, spec.split, spec.target, spec.seed)}
        elif spec.split and (spec.split.valid or spec.split.test):
            parts = split_frame(frame, spec.split, spec.target, spec.seed)
        else:
            parts = {"train": frame}
        fitted, train_out = fit_frame(recipe, parts["train"], ctx, source=name)
        report.steps.extend(fitted.report.steps)
        outputs = {"train": train_out}
        for name in ("valid", "test"):
            if name in parts:
                out, part_report = fitted.transform_frame(
                    parts[name], part=name, workdir=Path(workdir), quiet=quiet
                )
                report.steps.extend(part_report.steps)
                outputs[name] = out
        for name, out in outputs.items():
            report.parts[name] = {"rows": out.height, "columns": out.width}
        report.checks = quality.evaluate(spec.checks, train_out, report, spec.target)
        fitted.report = report

        paths: dict[str, str] = {}
        failed = report.failed_checks
        if failed:
            report.status = "failed_checks"
        # every output is staged, then all are renamed into place together (or none are)
        with all_or_nothing():
            if write and not failed:
                assert out_path is not None
                for name, out in outputs.items():
                    target = part_path(out_path, name, split)
                    write_table(out, target, out_fmt, out_options)
                    paths[name] = str(target)
            _finish(report, fitted, paths, start, write and not failed, fitted_target,
                    report_target if write else None)  # fmt: skip
        if failed:
            raise _checks_failed(report)

    frames: dict[str, Any] = outputs if back is None else {k: back(v) for k, v in outputs.items()}
    return RunResult(outputs=frames, fitted=fitted, report=report, paths=paths)


def figures_for(
    report: str | Path | None, distributions: bool = True
) -> contextlib.AbstractContextManager[Any]:
    """Collect what the HTML report draws (missing values, class balance, distributions: about a
    third more time for the steps) only when an HTML report is asked for."""
    if report is None or Path(report).suffix.lower() not in (".html", ".htm"):
        return contextlib.nullcontext()
    return collecting(distributions=distributions)


def _finish(
    report: RunReport, fitted: FittedRecipe, paths: dict[str, str], start: float,
    save: bool, fitted_target: str | Path | None, report_target: str | Path | None,
) -> None:  # fmt: skip
    """The artifact (when the run succeeded) and the report, staged with the data outputs."""
    if save and fitted_target is not None:
        fitted.save(fitted_target)
        report.fitted = str(fitted_target)
    report.outputs = paths
    report.seconds = round(time.perf_counter() - start, 4)
    if report_target is not None:
        write_report(report, Path(report_target))


def _checks_failed(report: RunReport) -> CheckFailed:
    names = "; ".join(c.message for c in report.failed_checks)
    error = CheckFailed(f"quality check failed: {names}", hint="no data output was written")
    error.report = report
    return error


def _run_streamed(
    recipe: Recipe, data: Any, choice: EngineChoice, source: str | Path | None,
    in_fmt: str | None, in_options: dict[str, Any], *, start: float, write: bool, quiet: bool,
    out_path: str | Path | None, out_fmt: str | None, out_options: dict[str, Any],
    fitted_target: str | Path | None, report_target: str | Path | None,
) -> RunResult:  # fmt: skip
    """`run_recipe` on the streaming engine: the input is read batch by batch, one pass per
    statistic (see `prepkit.engines.stream`), and the outputs written batch by batch, all
    staged and committed together as on the memory engine."""
    spec = recipe.spec
    size = choice.batch_size or DEFAULT_BATCH_SIZE
    back = None
    if data is not None:
        frame, back = to_polars(data)
        read = lambda: frame.iter_slices(size)  # noqa: E731
        name = None
    else:
        assert source is not None
        read = scan_input(source, in_fmt, in_options, size)
        name = source_name(source)
    names = part_names(recipe)
    split = len(names) > 1
    report = RunReport(recipe=recipe.name, engine=choice.as_dict())
    paths: dict[str, str] = {}
    with (
        tempfile.TemporaryDirectory(prefix="prepkit-") as workdir,
        figures_for(report_target, distributions=False),
    ):
        ctx = context_for(recipe, workdir=Path(workdir), quiet=quiet)
        with all_or_nothing() as transaction:
            with contextlib.ExitStack() as writing:
                writers = None
                if write:
                    assert out_path is not None
                    writers = {
                        part: writing.enter_context(
                            BatchWriter(part_path(out_path, part, split), out_fmt, out_options).open()
                        )
                        for part in names
                    }  # fmt: skip
                run = run_streamed(
                    recipe, read, ctx, source=name, writers=writers,
                    class_columns=quality.class_columns(spec.checks, spec.target),
                    keep_frames=not write,
                )  # fmt: skip
            fitted = run.fitted
            report.steps = run.steps
            report.parts = run.parts
            report.checks = quality.evaluate(spec.checks, run.summary, report, spec.target)
            fitted.report = report
            failed = report.failed_checks
            if failed:
                report.status = "failed_checks"
                transaction.discard()  # the data staged so far; the report is still written
            elif write:
                paths = {part: str(part_path(out_path, part, split)) for part in names}
            _finish(report, fitted, paths, start, write and not failed, fitted_target,
                    report_target if write else None)  # fmt: skip
    if failed:
        raise _checks_failed(report)
    outputs: dict[str, Any] = run.frames
    if back is not None:
        outputs = {k: back(v) for k, v in outputs.items()}
    return RunResult(outputs=outputs, fitted=fitted, report=report, paths=paths)


def spark_settings(recipe: SparkSpec | None, given: dict[str, Any] | None) -> SparkSpec:
    """The recipe's `spark:` settings with those given on the command line (or in Python) over
    them: a master replaces the recipe's, conf entries are added to its."""
    settings = recipe or SparkSpec()
    if not given:
        return settings
    conf = {**settings.conf, **(given.get("conf") or {})}
    extra = {k: v for k, v in given.items() if k != "conf" and v is not None}
    try:
        return SparkSpec.model_validate({**settings.model_dump(), **extra, "conf": conf})
    except ValidationError as exc:
        raise RecipeError(f"spark settings: {exc.errors()[0]['msg']}") from None


def _spark_input(data: Any, workdir: Path) -> tuple[Any, Any]:
    """A frame given in Python as the Spark engine's input: a Spark DataFrame as it is, a polars
    or pandas frame written to a Parquet file in `workdir` first; and how to give outputs back
    (None: as polars frames)."""
    if type(data).__module__.startswith("pyspark."):
        return data, None
    frame, back = to_polars(data)
    path = workdir / "input.parquet"
    frame.write_parquet(path)
    return path, back


def _run_spark(
    recipe: Recipe, data: Any, choice: EngineChoice, source: str | Path | None,
    in_fmt: str | None, in_options: dict[str, Any], *, start: float, write: bool, quiet: bool,
    out_path: str | Path | None, out_fmt: str | None, out_options: dict[str, Any],
    fitted_target: str | Path | None, report_target: str | Path | None, settings: SparkSpec,
) -> RunResult:  # fmt: skip
    """`run_recipe` on Spark (`prepkit.engines.spark`): Spark reads the input and writes every
    part; the artifact and report are committed with them, all or nothing. With `write=False`
    the parts go to a temporary folder and are returned as frames."""
    from prepkit.engines.spark import run_on_spark
    from prepkit.io.parts import scan_parts

    spec = recipe.spec
    names = part_names(recipe)
    split = len(names) > 1
    report = RunReport(recipe=recipe.name, engine=choice.as_dict())
    paths: dict[str, str] = {}
    back = None
    with tempfile.TemporaryDirectory(prefix="prepkit-") as workdir:
        scratch = Path(workdir)
        if data is not None:
            source, back = _spark_input(data, scratch)
            in_fmt, in_options = "parquet", {}
        assert source is not None
        if write:
            assert out_path is not None
            targets = {part: part_path(out_path, part, split) for part in names}
        else:
            targets = {part: scratch / f"{part}.parquet" for part in names}
            out_fmt, out_options = "parquet", {}
        ctx = context_for(recipe, workdir=scratch, quiet=quiet)
        with all_or_nothing() as transaction:
            run = run_on_spark(
                recipe, settings, source, in_fmt, in_options, ctx,
                batch_size=choice.batch_size or DEFAULT_BATCH_SIZE, outputs=targets,
                out_fmt=out_fmt, out_options=out_options,
                class_columns=quality.class_columns(spec.checks, spec.target),
            )  # fmt: skip
            fitted = run.fitted
            report.steps, report.parts = run.steps, run.parts
            report.engine.update(run.where)
            report.checks = quality.evaluate(spec.checks, run.summary, report, spec.target)
            fitted.report = report
            failed = report.failed_checks
            if failed:
                report.status = "failed_checks"
                transaction.discard()
            elif write:
                paths = {part: str(target) for part, target in targets.items()}
            _finish(report, fitted, paths, start, write and not failed, fitted_target,
                    report_target if write else None)  # fmt: skip
        if failed:
            raise _checks_failed(report)
        outputs: dict[str, Any] = {}
        if not write:  # the parts the tasks wrote (in polars' types) to the scratch folder
            outputs = {p: scan_parts(t, "parquet", {}).collect() for p, t in targets.items()}
            if back is not None:
                outputs = {k: back(v) for k, v in outputs.items()}
    return RunResult(outputs=outputs, fitted=fitted, report=report, paths=paths)


# CSV options that change which columns a header names; the rest only change values
_SCHEMA_CSV_OPTIONS = (
    "separator", "has_header", "skip_rows", "quote_char", "comment_prefix", "encoding",
    "truncate_ragged_lines", "decimal_comma",
)  # fmt: skip


def input_columns(path: str | Path, fmt: str | None, options: dict[str, Any]) -> list[str]:
    """The column names of a tabular file, from its header or schema alone (no rows are read).

    Raises `LookupError` when that cannot be told without reading the data (standard input,
    a JSON array, an image data set) and `OSError`/polars errors when the file cannot be read.
    """
    import polars as pl

    fmt = detect_format(path, fmt)
    if str(path) == "-":
        raise LookupError("standard input is read only by `prepkit run`")
    if fmt in ("json", "images"):
        what = "an image data set" if fmt == "images" else "a JSON array file"
        raise LookupError(f"the columns of {what} are known only once it is read")
    if fmt in ("csv", "tsv"):
        opts = {k: v for k, v in options.items() if k in _SCHEMA_CSV_OPTIONS}
        opts.setdefault("separator", "\t" if fmt == "tsv" else ",")
        scan = pl.scan_csv(path, infer_schema_length=0, **opts)
    elif fmt == "parquet":
        scan = pl.scan_parquet(path)
    elif fmt == "arrow":
        scan = pl.scan_ipc(path)
    else:
        scan = pl.scan_ndjson(path, infer_schema_length=options.get("infer_schema_length", 10_000))
    names = scan.collect_schema().names()
    chosen = options.get("columns")
    return [c for c in names if c in chosen] if chosen else names


def validate_recipe(recipe: Recipe) -> str:
    """What `prepkit validate` checks beyond the recipe itself: its columns against the input.

    When `input:` is a readable tabular file, `target` and `split.group` must be columns of it
    (read from the header or schema only); otherwise only the recipe was checked. Returns a
    sentence saying which, or raises a `RecipeError` naming the missing column and close names.
    """
    import polars as pl

    spec = recipe.spec
    if spec.input is None:
        return "checked the recipe only (it names no input)"
    path = recipe.resolve(spec.input.path)
    if str(path) != "-" and not Path(path).exists():
        return f"checked the recipe only (input {path} not found)"
    try:
        columns = input_columns(path, spec.input.format, spec.input.options)
    except LookupError as exc:
        return f"checked the recipe only ({exc})"
    except (OSError, pl.exceptions.PolarsError, ValueError, TypeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"checked the recipe only (cannot read the columns of {path}: {detail})"
    named = [("target", spec.target)]
    if spec.split is not None:
        named.append(("split.group", spec.split.group))
    for key, column in named:
        if column is not None and column not in columns:
            close = difflib.get_close_matches(column, columns, n=3, cutoff=0.6)
            maybe = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            shown = ", ".join(columns[:30]) + (
                f", ... ({len(columns)} in all)" if len(columns) > 30 else ""
            )
            raise RecipeError(
                f"{recipe.source}: {key} '{column}' is not a column of {path}{maybe}",
                hint=separator_hint(columns) or f"columns: {shown}",
            )
    return f"checked against the {len(columns)} columns of {path} (header only)"


def recipe_read_options(
    spec: dict[str, Any] | None, path: str | Path, fmt: str | None
) -> dict[str, Any]:
    """Data in the format of the recipe's `input:` (`spec`) is read with that input's options.

    So `-i` and `prepkit apply` read other files as the recipe reads its own.
    """
    spec = spec or {}
    if not spec.get("options"):
        return {}
    try:
        same = detect_format(path, fmt) == detect_format(spec["path"], spec.get("format"))
    except RecipeError:
        return {}
    return dict(spec["options"]) if same else {}


def apply_fitted(
    fitted: FittedRecipe,
    input: str | Path,
    output: str | Path,
    fmt: str | None = None,
    output_format: str | None = None,
    batch_size: int | None = None,
    *,
    report_path: str | Path | None = None,
    fitted_file: str | Path | None = None,
    engine: str | None = None,
    spark: dict[str, Any] | None = None,
    checks: list[quality.CheckSpec] | None = None,
) -> RunReport:
    """`prepkit apply`: read new data, apply the learned state, write atomically.

    With `batch_size`, the input is scanned and applied `batch_size` rows at a time and the output
    written batch by batch, so memory stays bounded whatever the file size; the report then sums
    the counts of all batches. With `report_path` the report is written too, together with the
    data (both or neither). Neither may be the input or `fitted_file` (the artifact read).
    `engine="spark"` reads and writes through Spark (`spark`: settings over the recipe's).

    The new data is compared with the artifact's reference profile of the training data (the
    drift figures go into the report, with warnings for unseen categories and values outside the
    training range); `checks` (default: the recipe's `apply_checks:`) are evaluated on those
    figures and on the applied output: when one fails, no output is written (the report is)
    and `CheckFailed` is raised.
    """
    start = time.perf_counter()
    if checks is None:
        checks = [
            quality.CheckSpec.model_validate(c) for c in fitted.recipe.get("apply_checks") or []
        ]
    drifting = _reference_drift(fitted, checks)
    out_fmt = output_format or (fmt if str(output) == "-" else None)
    check_destinations(
        [("output", output, _is_folder_output(output, out_fmt)), ("report", report_path, False)],
        inputs=[input, fitted_file],
    )
    options = recipe_read_options(fitted.recipe.get("input"), input, fmt)
    name = source_name(input)
    choice = _apply_engine(fitted, engine, input, fmt, batch_size)
    batch_size = choice.batch_size if choice.name == "stream" else None
    unwritten = None  # the one-frame output, until the checks have passed
    with (
        tempfile.TemporaryDirectory(prefix="prepkit-") as workdir,
        figures_for(report_path, distributions=choice.name == "memory"),
        all_or_nothing() as transaction,
    ):
        if choice.name == "spark":
            from prepkit.engines.spark import apply_on_spark

            recipe_spark = fitted.recipe.get("spark")
            settings = spark_settings(
                recipe_spark and SparkSpec.model_validate(recipe_spark), spark
            )
            report, shape_in, shape_out, summary = apply_on_spark(
                fitted, settings, input, output, fmt, out_fmt, options,
                choice.batch_size or DEFAULT_BATCH_SIZE, Path(workdir), drifting,
            )  # fmt: skip
        elif batch_size is None:
            frame = read_table(input, fmt, options)
            if drifting is not None:
                drifting.add(frame)
            out, report = fitted.transform_frame(frame, workdir=Path(workdir), source=name)
            summary = quality.summarize(out)
            unwritten = out  # written once the checks pass (stdout cannot be staged)
            shape_in, shape_out = (frame.height, frame.width), (out.height, out.width)
        else:
            report, shape_in, shape_out, summary = _apply_in_batches(
                fitted, input, output, fmt, out_fmt, options, batch_size, Path(workdir), drifting
            )
        report.parts = {
            "input": {"rows": shape_in[0], "columns": shape_in[1]},
            "new": {"rows": shape_out[0], "columns": shape_out[1]},
        }
        report.engine = {**choice.as_dict(), **report.engine}
        result = None if drifting is None else drift_result(drifting, fitted)
        if result is not None:
            warnings = drift_warnings(result, fitted.reference_profile or {})
            report.drift = {**result.to_dict(), "warnings": warnings}
        report.checks = quality.evaluate_apply(checks, summary, result)
        failed = report.failed_checks
        if failed:
            report.status = "failed_checks"
            transaction.discard()  # the data staged so far; the report is still written
        else:
            if unwritten is not None:
                write_table(unwritten, output, out_fmt)
            report.outputs = {"new": str(output)}
        report.seconds = round(time.perf_counter() - start, 4)
        if report_path is not None:
            write_report(report, Path(report_path))
    if failed:
        raise _checks_failed(report)
    return report


def _reference_drift(
    fitted: FittedRecipe, checks: list[quality.CheckSpec]
) -> ReferenceDrift | None:
    """Counts of the new data against the artifact's reference profile; None when the artifact
    has none (fitted by an older prepkit), which drift checks refuse."""
    if fitted.reference_profile is None:
        needing = [
            c.metric for c in checks if c.metric in (*quality.DRIFT_METRICS, "drifted_columns")
        ]
        if needing:
            raise DataError(
                f"apply checks {', '.join(needing)} compare new data with the training data, "
                "but this fitted recipe keeps no reference profile of it "
                f"(fitted by prepkit {fitted.prepkit_version})",
                hint="refit it with `prepkit run RECIPE`",
            )
        return None
    return ReferenceDrift(fitted.reference_profile)


def drift_result(drifting: ReferenceDrift, fitted: FittedRecipe) -> DriftResult:
    """The drift figures of the counted new data, judged by the default thresholds."""
    profile = fitted.reference_profile or {}
    missing = [c for c in profile if c not in drifting.seen and c != fitted.target]
    return judge(drifting.columns(), check_thresholds(None), missing)


def _apply_engine(
    fitted: FittedRecipe, engine: str | None, input: str | Path, fmt: str | None,
    batch_size: int | None,
) -> EngineChoice:  # fmt: skip
    """`prepkit apply` runs in memory, or batch by batch (`--batch-size`, `--engine stream`)."""
    requested = check_engine(engine or ("stream" if batch_size else "auto"))
    whole = [s.id for s in fitted.steps if s.runs_at_apply and not s.row_wise]
    if requested == "spark":
        if whole:
            raise RecipeError(
                f"--engine spark: step(s) {', '.join(whole)} compare rows across the whole data set",
                hint="apply with --engine memory",
            )
        return EngineChoice("spark", "asked for (--engine spark)", batch_size)
    if requested == "memory":
        if batch_size:
            raise RecipeError("--batch-size applies in batches: drop --engine memory")
        return EngineChoice("memory", "asked for (--engine memory)")
    if requested == "auto" and not whole and str(input) != "-":
        applied = [s for s in fitted.steps if s.runs_at_apply]
        choice = choose_engine("auto", applied, input, fmt, batch_size)
        if choice.name == "stream":
            return choice
        return EngineChoice("memory", choice.reason)
    if requested == "auto":
        return EngineChoice("memory", "a step compares rows across the whole data set"
                            if whole else "standard input is read whole")  # fmt: skip
    reason = "asked for (--batch-size)" if engine is None else "asked for (--engine stream)"
    return EngineChoice("stream", reason, batch_size or DEFAULT_BATCH_SIZE)


def _apply_in_batches(
    fitted: FittedRecipe, input: str | Path, output: str | Path, fmt: str | None,
    out_fmt: str | None, options: dict[str, Any], batch_size: int, workdir: Path,
    drifting: ReferenceDrift | None,
) -> tuple[RunReport, tuple[int, int], tuple[int, int], quality.OutputSummary]:  # fmt: skip
    whole = [s.id for s in fitted.steps if s.runs_at_apply and not s.row_wise]
    if whole:
        raise RecipeError(
            f"--batch-size: step(s) {', '.join(whole)} compare rows across the whole data set",
            hint="apply without --batch-size",
        )
    schema = {}
    for column, text in fitted.input_schema.items():
        with contextlib.suppress(RecipeError):
            schema[column] = parse_dtype(text)
    source = source_name(input)
    report: RunReport | None = None
    rows_in = rows_out = width_in = width_out = 0
    with BatchWriter(output, out_fmt).open() as writer:
        batches = (
            scan_input(input, fmt, options, batch_size)() if is_many(input)
            else read_batches(input, fmt, options, batch_size, schema)
        )  # fmt: skip
        summary = None
        for batch in batches:
            if drifting is not None:
                drifting.add(batch)
            out, batch_report = fitted.transform_frame(batch, workdir=workdir, source=source)
            writer.write(out)
            summary = (
                quality.summarize(out) if summary is None else summary + quality.summarize(out)
            )
            if report is None:
                report = batch_report
            else:
                report.steps = [
                    merge_step_reports(a, b)
                    for a, b in zip(report.steps, batch_report.steps, strict=True)
                ]
            rows_in, rows_out = rows_in + batch.height, rows_out + out.height
            width_in, width_out = batch.width, out.width
        if report is None:  # a file with a header and no rows
            frame = read_table(input, fmt, options)
            out, report = fitted.transform_frame(frame, workdir=workdir, source=source)
            writer.write(out)
            summary = quality.summarize(out)
            width_in, width_out = len(fitted.input_schema), out.width
    assert summary is not None
    return report, (rows_in, width_in), (rows_out, width_out), summary
