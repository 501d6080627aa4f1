"""The `prepkit` command line: parse arguments, call the library, render. No data logic here."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from rich.console import Console
from rich.markup import escape

from prepkit.errors import CheckFailed, PrepkitError, RecipeError


class _PlainHelp:
    """typer's help without its placeholders: no `<bool>` after a flag, and `RECIPE` / `[NAME]`
    in the usage line rather than `{RECIPE}` / `[[NAME]]`. (typer carries its own copy of click,
    so parameters are told apart by their attributes.)"""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []  # type: ignore[attr-defined]
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or (param.name or "").upper()
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        if hasattr(self, "subcommand_metavar"):  # the group: `COMMAND [ARGS]...`
            pieces.append(self.subcommand_metavar)
        return pieces


class _Command(_PlainHelp, typer.core.TyperCommand):
    pass


class _Group(_PlainHelp, typer.core.TyperGroup):
    pass


app = typer.Typer(
    name="prepkit",
    help="Data preprocessing and class-imbalance handling from YAML recipes.",
    cls=_Group,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
BROKEN_PIPE = 141  # what shells report for a tool killed by SIGPIPE (128 + 13), e.g. `cat`


def _complete_format(incomplete: str) -> list[str]:
    from prepkit.io import FORMATS

    return [f for f in FORMATS if f.startswith(incomplete)]


def _complete_step(incomplete: str) -> list[str]:
    from prepkit.steps.base import all_steps

    return sorted(name for name in all_steps() if name.startswith(incomplete))


# Shared options, defined once. `metavar=""` keeps typer from printing `<bool>` for flags; the
# value options name what they take (PATH, FORMAT, ...) and say what happens when left out.
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.", metavar="")]
Json = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print the run report as JSON on stdout (unless data goes there).",
        metavar="",
    ),
]
JsonResult = Annotated[
    bool, typer.Option("--json", metavar="", help="Print the result as JSON on stdout.")
]
Debug = Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.", metavar="")]
Format = Annotated[
    str | None,
    typer.Option(
        "--format", "-f", metavar="FORMAT", autocompletion=_complete_format,
        help="Data format for - (stdin/stdout) or to override the input's extension: csv, tsv, parquet, json, ndjson, arrow.",
        show_default="csv for -, else from the extension",
    ),
]  # fmt: skip
ReportPath = Annotated[
    Path | None,
    typer.Option(
        "--report", metavar="PATH",
        help="Write the report to this path: JSON, or HTML with charts for .html/.htm.",
        show_default="none",
    ),
]  # fmt: skip
PageReport = Annotated[
    Path | None,
    typer.Option(
        "--report", metavar="PATH",
        help="Write a self-contained HTML page with the figures and charts (.html).",
        show_default="none",
    ),
]  # fmt: skip
OutputFormat = Annotated[
    str | None,
    typer.Option(
        "--output-format", metavar="FORMAT", autocompletion=_complete_format,
        help="Output format, if not given by the extension (images for an image folder).",
        show_default="from the extension",
    ),
]  # fmt: skip
Overrides = Annotated[
    list[str] | None,
    typer.Option(
        "--set", metavar="KEY=VALUE",
        help="Override a recipe value, e.g. steps.2.strategy=mean (steps count from 1); repeatable.",
    ),
]  # fmt: skip
RecipeFile = Annotated[Path, typer.Argument(metavar="RECIPE", help="Recipe YAML file.")]
Engine = Annotated[
    str | None,
    typer.Option(
        "--engine", metavar="ENGINE",
        autocompletion=lambda incomplete: [e for e in ("auto", "memory", "stream", "spark")
                                           if e.startswith(incomplete)],
        help="memory: the whole input in memory; stream: batch by batch in bounded memory; "
        "spark: on Apache Spark (pip install \"prepkit[spark]\"); "
        "auto: memory when the input fits comfortably, else stream.",
        show_default="the recipe's engine:, else auto",
    ),
]  # fmt: skip
SparkMaster = Annotated[
    str | None,
    typer.Option(
        "--spark-master", metavar="URL",
        help="Spark master for --engine spark, e.g. local[4] or spark://host:7077.",
        show_default="the recipe's spark.master, else local[*] (or spark-submit's)",
    ),
]  # fmt: skip
SparkConf = Annotated[
    list[str] | None,
    typer.Option(
        "--spark-conf", metavar="KEY=VALUE",
        help="A Spark setting for --engine spark, e.g. spark.driver.memory=4g; repeatable.",
    ),
]  # fmt: skip


def _spark_options(master: str | None, conf: list[str] | None) -> dict[str, Any] | None:
    """--spark-master and --spark-conf as the settings `run_recipe`/`apply_fitted` take."""
    if master is None and not conf:
        return None
    settings: dict[str, Any] = {"master": master, "conf": {}}
    for item in conf or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RecipeError(
                f"--spark-conf {item!r} is not KEY=VALUE",
                hint="e.g. --spark-conf spark.driver.memory=4g",
            )
        settings["conf"][key.strip()] = value
    return settings


BatchSize = Annotated[
    int | None,
    typer.Option(
        "--batch-size", min=1, metavar="N",
        help="Rows per batch on the streaming engine (peak memory grows with it).",
        show_default="250,000",
    ),
]  # fmt: skip


def _version(value: bool) -> None:
    if value:
        from prepkit import __version__

        typer.echo(f"prepkit {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Data preprocessing and class-imbalance handling from YAML recipes."""


def _fail(exc: Exception, debug: bool) -> typer.Exit:
    if _is_broken_pipe(exc) and _stdout_broken():
        return _broken_pipe()
    if debug:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, PrepkitError):
        err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        if exc.hint:
            err.print(f"  hint: {exc.hint}", highlight=False, markup=False, soft_wrap=True)
        return typer.Exit(exc.exit_code)
    err.print(
        f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}", highlight=False
    )
    err.print(
        "  this is a bug in prepkit; rerun with --debug and report the traceback", markup=False
    )
    return typer.Exit(1)


def _interrupted(exc) -> typer.Exit:
    """SIGINT/SIGTERM: outputs were rolled back; say so and exit 130 / 143 as shells expect."""
    err.print("interrupted", markup=False, highlight=False)
    return typer.Exit(exc.exit_code)


def _stdout_broken() -> bool:
    """Whether standard output is a pipe whose reader has gone (`| head -1`, `| false`)."""
    import select

    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poll.poll(0))
    except (AttributeError, OSError, ValueError):  # no real file descriptor (a test runner)
        return True


def _is_broken_pipe(exc: Exception) -> bool:
    # polars' writers raise a plain OSError "Broken pipe (os error 32)" without an errno
    return isinstance(exc, BrokenPipeError) or (
        isinstance(exc, OSError)
        and (exc.errno == errno.EPIPE or f"os error {errno.EPIPE})" in str(exc))
    )


def _broken_pipe() -> typer.Exit:
    """Stop quietly, as Unix tools do when their reader goes away: `cat` dies of SIGPIPE and the
    shell reports 141 (128 + 13); prepkit exits 141 without a message."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        # later writes and Python's final flush go to /dev/null instead of failing again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return typer.Exit(BROKEN_PIPE)


def _emit(
    report, quiet: bool, as_json: bool, data_on_stdout: bool, report_file: Path | None = None
) -> None:
    from prepkit.report.terminal import render

    try:
        if as_json and not data_on_stdout:
            sys.stdout.write(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
            sys.stdout.flush()
    except BrokenPipeError:
        raise _broken_pipe() from None
    if not quiet:
        render(report, report_file=report_file)


def _write_page(path: Path, page: Any, quiet: bool) -> None:
    """An HTML page (`page()` makes it) or, for any other extension, the JSON data, atomically."""
    from prepkit.io.atomic import write_text_atomic

    if path.suffix.lower() not in (".html", ".htm"):
        raise RecipeError(
            f"--report {path}: this report is an HTML page (name it .html); --json prints the data"
        )
    write_text_atomic(path, page())
    if not quiet:
        err.print(f"wrote {path} (report)", markup=False, highlight=False)


def _key_values(items: list[str] | None, option: str) -> dict[str, Any]:
    """`KEY=VALUE` options (YAML values) as a dict; a `RecipeError` names a malformed one."""
    from prepkit.yamlsource import load_value

    values = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise RecipeError(f"{option} expects KEY=VALUE, got '{item}'")
        values[key.strip()] = load_value(text, f"{option} {item}")
    return values


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    sys.stdout.flush()


def _check_run_paths(
    recipe, input: str | None, output: str | None, fmt: str | None, output_format: str | None
) -> None:
    """Before any data is read: the formats named on the command line exist, the input and output
    suit the recipe (a table file, or an image folder for a recipe with image steps), and a `-`
    stream is open. The paths are chosen as `run_recipe` chooses them."""
    from prepkit.io import check_paths, normalize_format, uses_images
    from prepkit.runner import part_names, part_path

    for option, given in (("--format", fmt), ("--output-format", output_format)):
        if given:
            normalize_format(given, f"{option} value")
    spec = recipe.spec
    source = source_fmt = target = target_fmt = None
    if input is not None:
        source, source_fmt = input, fmt
    elif spec.input is not None:
        source, source_fmt = recipe.resolve(spec.input.path), spec.input.format
    if output is not None:
        target, target_fmt = output, output_format or (fmt if output == "-" else None)
    elif spec.output is not None:
        target, target_fmt = recipe.resolve(spec.output.path), output_format or spec.output.format
    images = uses_images(recipe.steps)
    check_paths(images=images, input=source, input_format=source_fmt)
    if target is not None:
        parts = part_names(recipe)
        for part in parts:
            check_paths(
                images=images, output=part_path(target, part, len(parts) > 1),
                output_format=target_fmt,
            )  # fmt: skip


@app.command(cls=_Command)
def run(
    recipe: RecipeFile,
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            metavar="PATH",
            show_default="the recipe's input",
            help="Input path (overrides the recipe); - for stdin.",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            show_default="the recipe's output",
            help="Output path (overrides the recipe); - for stdout.",
        ),
    ] = None,
    fitted: Annotated[
        Path | None,
        typer.Option(
            "--fitted",
            metavar="PATH",
            show_default="next to the output, <stem>.prepkit.json",
            help="Where to write the fitted artifact.",
        ),
    ] = None,
    report: ReportPath = None,
    set_: Overrides = None,
    fmt: Format = None,
    output_format: OutputFormat = None,
    engine: Engine = None,
    batch_size: BatchSize = None,
    spark_master: SparkMaster = None,
    spark_conf: SparkConf = None,
    quiet: Quiet = False,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """Fit the recipe on its (training) data, apply it, and write output, fitted artifact and report."""
    from prepkit.io.atomic import Interrupted, handle_interrupts
    from prepkit.recipe import load_recipe
    from prepkit.runner import run_recipe

    try:
        with handle_interrupts():
            loaded = load_recipe(recipe, overrides=set_ or [])
            _check_run_paths(loaded, input, output, fmt, output_format)
            result = run_recipe(
                loaded, input=input, output=output, fmt=fmt, output_format=output_format,
                fitted_path=fitted, report_path=report, quiet=quiet, engine=engine,
                batch_size=batch_size, spark=_spark_options(spark_master, spark_conf),
            )  # fmt: skip
    except Interrupted as exc:
        raise _interrupted(exc) from None
    except CheckFailed as exc:
        if exc.report is not None:
            _emit(exc.report, quiet, as_json, False, _report_file(loaded, report))
        raise _fail(exc, debug) from None
    except Exception as exc:
        raise _fail(exc, debug) from None
    data_on_stdout = "-" in result.paths.values()
    _emit(result.report, quiet, as_json, data_on_stdout, _report_file(loaded, report))


def _report_file(recipe, given: Path | None) -> Path | None:
    """Where `run_recipe` wrote the report: --report, else the recipe's `report:`."""
    if given is not None:
        return given
    return recipe.resolve(recipe.spec.report) if recipe.spec.report else None


@app.command(cls=_Command)
def apply(
    fitted: Annotated[
        Path,
        typer.Argument(
            metavar="FITTED", help="Fitted artifact (*.prepkit.json) from `prepkit run`."
        ),
    ],
    input: Annotated[str, typer.Argument(metavar="INPUT", help="New data; - for stdin.")],
    output: Annotated[
        str,
        typer.Option("--output", "-o", metavar="PATH", help="Output path; - for stdout."),
    ],
    report: ReportPath = None,
    engine: Engine = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            metavar="N",
            show_default="the whole file at once",
            help="Apply N rows at a time, in bounded memory; implies --engine stream "
            "(which alone means 250,000).",
        ),
    ] = None,
    spark_master: SparkMaster = None,
    spark_conf: SparkConf = None,
    checks: Annotated[
        Path | None,
        typer.Option(
            "--checks",
            metavar="FILE",
            show_default="the recipe's apply_checks:",
            help="YAML file with `apply_checks:` (drift and output checks) to use instead of "
            "the recipe's; a failed check exits 3 and writes no output.",
        ),
    ] = None,
    fmt: Format = None,
    output_format: OutputFormat = None,
    quiet: Quiet = False,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """Apply a fitted recipe to new data using only learned state; train-only steps are skipped.

    The new data is compared with the training data (drift figures in the report, warnings for
    unseen categories and values outside the training range) and checked by `apply_checks:`.
    """
    from prepkit.fitted import load_fitted
    from prepkit.io.atomic import Interrupted, handle_interrupts
    from prepkit.recipe import read_apply_checks
    from prepkit.runner import apply_fitted

    try:
        with handle_interrupts():
            loaded = load_fitted(fitted)
            given = None if checks is None else read_apply_checks(checks)
            _check_apply_paths(loaded, input, output, fmt, output_format)
            result = apply_fitted(
                loaded, input, output, fmt, output_format, batch_size,
                report_path=report, fitted_file=fitted, engine=engine,
                spark=_spark_options(spark_master, spark_conf), checks=given,
            )  # fmt: skip
    except Interrupted as exc:
        raise _interrupted(exc) from None
    except CheckFailed as exc:
        if exc.report is not None:
            _emit(exc.report, quiet, as_json, output == "-", report)
        raise _fail(exc, debug) from None
    except Exception as exc:
        raise _fail(exc, debug) from None
    _emit(result, quiet, as_json, output == "-", report)


def _check_apply_paths(
    fitted, input: str, output: str, fmt: str | None, output_format: str | None
) -> None:
    """As `_check_run_paths`, for `prepkit apply`."""
    from prepkit.io import check_paths, normalize_format, uses_images

    for option, given in (("--format", fmt), ("--output-format", output_format)):
        if given:
            normalize_format(given, f"{option} value")
    check_paths(
        images=uses_images(fitted.steps), input=input, input_format=fmt, output=output,
        output_format=output_format or (fmt if output == "-" else None),
    )  # fmt: skip


@app.command(cls=_Command)
def evaluate(
    recipe: RecipeFile,
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            metavar="PATH",
            show_default="the recipe's input",
            help="Data to cross-validate on (overrides the recipe's input).",
        ),
    ] = None,
    cv: Annotated[int, typer.Option("--cv", metavar="K", help="Folds per repeat.")] = 5,
    repeats: Annotated[
        int, typer.Option("--repeats", metavar="R", help="Repeats of the K-fold, reshuffled.")
    ] = 1,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            metavar="N",
            show_default="the recipe's seed",
            help="Seed of the folds and the model.",
        ),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            metavar="MODEL",
            help="logistic, random_forest, hist_gradient_boosting or knn (scikit-learn).",
        ),
    ] = "logistic",
    model_param: Annotated[
        list[str] | None,
        typer.Option(
            "--model-param",
            metavar="KEY=VALUE",
            help="A parameter of the model, e.g. C=0.5; repeatable.",
        ),
    ] = None,
    baseline: Annotated[
        str,
        typer.Option(
            "--baseline",
            metavar="BASELINE",
            help="default: the recipe without its train-only steps; none: impute + "
            "one-hot only; or another recipe file.",
        ),
    ] = "default",
    ablate: Annotated[
        bool,
        typer.Option(
            "--ablate",
            metavar="",
            help="Also score the recipe with each train-only step removed in turn.",
        ),
    ] = False,
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore",
            metavar="COLUMN",
            help="A column the model does not use (an id); repeatable.",
        ),
    ] = None,
    fail_if_worse: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-if-worse",
            metavar="METRIC",
            help="Exit 3 when the recipe is significantly worse than the baseline on "
            "METRIC (e.g. balanced_accuracy); repeatable.",
        ),
    ] = None,
    confidence: Annotated[
        float,
        typer.Option("--confidence", metavar="LEVEL", help="Confidence level of the intervals."),
    ] = 0.95,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            metavar="N",
            show_default="the recipe's workers, else all cores",
            help="Processes for the splits (the result is the same for any number).",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            metavar="PATH",
            help="Write an HTML report with PR and ROC curves (JSON for other extensions).",
            show_default="none",
        ),
    ] = None,
    set_: Overrides = None,
    quiet: Quiet = False,
    as_json: JsonResult = False,
    debug: Debug = False,
) -> None:
    """Cross-validate the recipe without leakage and compare it with a baseline, metric by metric."""
    from prepkit.evaluation import check_metrics
    from prepkit.evaluation import evaluate as run_evaluation
    from prepkit.evaluation import fail_if_worse as check_worse
    from prepkit.evaluation.render import print_tables
    from prepkit.recipe import load_recipe

    try:
        loaded = load_recipe(recipe, overrides=set_ or [])
        check_metrics(fail_if_worse or [])
        params = _key_values(model_param, "--model-param")
        if report is not None:
            from prepkit.io.atomic import check_writable

            check_writable(report, "report", False)
        result = run_evaluation(
            loaded, input=input, cv=cv, repeats=repeats, seed=seed, model=model,
            model_params=params, baseline=baseline, ablate=ablate, ignore=ignore or [],
            workers=workers, confidence=confidence, quiet=quiet,
        )  # fmt: skip
        if report is not None:
            result.write_report(report)
        if as_json:
            _print_json(result.to_dict())
        if not quiet:
            print_tables(result)
        check_worse(result, fail_if_worse or [])
    except BrokenPipeError:
        raise _broken_pipe() from None
    except Exception as exc:
        raise _fail(exc, debug) from None


@app.command(cls=_Command)
def inspect(
    data: Annotated[str, typer.Argument(metavar="DATA", help="Data file to profile; - for stdin.")],
    target: Annotated[
        str | None,
        typer.Option("--target", metavar="COLUMN", help="The class column (imbalance, leakage)."),
    ] = None,
    label_issues: Annotated[
        bool,
        typer.Option(
            "--label-issues",
            metavar="",
            help="Also estimate the share of mislabelled rows (cleanlab).",
        ),
    ] = False,
    engine: Engine = None,
    batch_size: BatchSize = None,
    spark_master: SparkMaster = None,
    spark_conf: SparkConf = None,
    report: PageReport = None,
    fmt: Format = None,
    quiet: Quiet = False,
    as_json: JsonResult = False,
    debug: Debug = False,
) -> None:
    """Profile a data set: per column missing values, distinct and top values, numbers' spread; and the problems a recipe should fix."""
    from prepkit.inspection import print_profile
    from prepkit.inspection_scan import inspect_file
    from prepkit.report.inspect_html import inspect_html

    try:
        profile = inspect_file(
            data, target, fmt=fmt, label_issues=label_issues, engine=engine or "auto",
            batch_size=batch_size, spark=_spark_options(spark_master, spark_conf),
        )  # fmt: skip
        if report is not None:
            _write_page(report, lambda: inspect_html(profile.to_dict(), data), quiet)
        if as_json:
            _print_json(profile.to_dict())
        if not quiet:
            print_profile(profile)
    except BrokenPipeError:
        raise _broken_pipe() from None
    except Exception as exc:
        raise _fail(exc, debug) from None


@app.command(cls=_Command)
def init(
    data: Annotated[str, typer.Argument(metavar="DATA", help="Data file the recipe is for.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="PATH", help="Where to write the recipe.")
    ],
    target: Annotated[
        str | None,
        typer.Option("--target", metavar="COLUMN", help="The column a model will predict."),
    ] = None,
    fmt: Format = None,
    force: Annotated[
        bool, typer.Option("--force", metavar="", help="Replace an existing recipe file.")
    ] = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Write a commented recipe for DATA from what `prepkit inspect` finds in it."""
    from prepkit.suggest import write_recipe

    try:
        text, profile = write_recipe(data, target, str(output), fmt=fmt, force=force)
    except Exception as exc:
        raise _fail(exc, debug) from None
    if not quiet:
        steps = sum(1 for line in text.splitlines() if line.startswith("  - step:"))
        err.print(
            f"wrote {output} ({steps} steps, {len(profile.problems)} problems addressed or noted)",
            markup=False, highlight=False,
        )  # fmt: skip


@app.command(cls=_Command)
def drift(
    reference: Annotated[
        str,
        typer.Argument(
            metavar="REFERENCE",
            help="The training data: a data file, or a fitted artifact (*.prepkit.json).",
        ),
    ],
    new: Annotated[str, typer.Argument(metavar="NEW", help="The new data file.")],
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            metavar="FIGURE=VALUE",
            help="Largest value that is not drift, e.g. psi=0.1; repeatable.",
        ),
    ] = None,
    report: PageReport = None,
    fmt: Format = None,
    quiet: Quiet = False,
    as_json: JsonResult = False,
    debug: Debug = False,
) -> None:
    """Compare new data with the training data column by column; exit 3 when a column drifts."""
    from prepkit.drifts import drift_files, print_drift
    from prepkit.errors import CheckFailed as Drifted

    try:
        limits = _key_values(threshold, "--threshold")
        for key, value in limits.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise RecipeError(f"--threshold expects FIGURE=NUMBER, got '{key}={value}'")
        result = drift_files(reference, new, fmt=fmt, thresholds=limits)
        if report is not None:
            from prepkit.report.drift_html import drift_html

            _write_page(report, lambda: drift_html(result.to_dict(), reference, new), quiet)
        if as_json:
            _print_json(result.to_dict())
        if not quiet:
            print_drift(result)
        if result.drifted:
            raise Drifted(
                f"{len(result.drifted)} columns drift: {', '.join(result.drifted[:10])}",
                hint="see the figures over their thresholds; --threshold FIGURE=VALUE to change one",
            )
    except BrokenPipeError:
        raise _broken_pipe() from None
    except Exception as exc:
        raise _fail(exc, debug) from None


@app.command(cls=_Command)
def validate(
    recipe: RecipeFile,
    set_: Overrides = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Check a recipe (keys, steps, options, values; target and split columns against the input's header) without reading rows."""
    from prepkit.recipe import load_recipe
    from prepkit.runner import validate_recipe

    try:
        loaded = load_recipe(recipe, overrides=set_ or [])
        checked = validate_recipe(loaded)
    except Exception as exc:
        raise _fail(exc, debug) from None
    if not quiet:
        err.print(
            f"{recipe}: ok ({len(loaded.steps)} steps: {', '.join(s.id for s in loaded.steps)})",
            markup=False,
            soft_wrap=True,
        )
        err.print(f"  {checked}", markup=False, highlight=False, soft_wrap=True)


@app.command(cls=_Command)
def steps(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            show_default=False,
            autocompletion=_complete_step,
            help="A step name, to show its parameters.",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", metavar="", help="Print the steps (or the step) and their parameters as JSON."
        ),
    ] = False,
) -> None:
    """List the steps, or show one step's parameters with types, defaults and docs."""
    from prepkit.docs import step_help, steps_table
    from prepkit.errors import RecipeError, suggest
    from prepkit.steps.base import all_steps

    registry = all_steps()
    if name is not None and name not in registry:
        raise _fail(
            RecipeError(
                f"unknown step '{name}'{suggest(name, registry)}", hint="`prepkit steps` lists them"
            ),
            False,
        )
    console = Console()
    try:
        if as_json:
            from prepkit.docs import steps_json

            sys.stdout.write(json.dumps(steps_json(name), indent=2) + "\n")
        elif name is None:
            console.print(steps_table())
        else:
            console.print(step_help(name))
        sys.stdout.flush()
    except BrokenPipeError:
        raise _broken_pipe() from None


def main() -> None:
    try:
        app(prog_name="prepkit")  # also under `python -m prepkit`, so completion finds it
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    try:  # flush here, so that a reader gone away is handled here, not by Python's exit
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        code = _broken_pipe().exit_code
    sys.exit(code)
