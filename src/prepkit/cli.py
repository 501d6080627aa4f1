"""The `prepkit` command line: parse arguments, call the library, render. No data logic here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from prepkit.errors import CheckFailed, PrepkitError

app = typer.Typer(
    name="prepkit",
    help="Data preprocessing and class-imbalance handling from YAML recipes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
Json = Annotated[bool, typer.Option("--json", help="Print the run report as JSON on stdout.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")]
Format = Annotated[
    str | None,
    typer.Option("--format", "-f", help="Data format for - (stdin/stdout) or to override the input's extension: csv, tsv, parquet, json, ndjson, arrow."),
]  # fmt: skip
ReportPath = Annotated[
    Path | None,
    typer.Option(
        "--report", help="Write the report to this path: JSON, or HTML with charts for .html."
    ),
]
OutputFormat = Annotated[
    str | None,
    typer.Option("--output-format", help="Output format, if not given by the extension."),
]


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


def _emit(report, quiet: bool, as_json: bool, data_on_stdout: bool) -> None:
    from prepkit.report.terminal import render

    if as_json and not data_on_stdout:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    if not quiet:
        render(report)


@app.command()
def run(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML file.")],
    input: Annotated[
        str | None,
        typer.Option("--input", "-i", help="Input path (overrides the recipe); - for stdin."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Output path (overrides the recipe); - for stdout."),
    ] = None,
    fitted: Annotated[
        Path | None,
        typer.Option(
            "--fitted",
            help="Where to write the fitted artifact (default: next to the output, *.prepkit.json).",
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the JSON report to this path.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a recipe value: key=value, e.g. steps.2.strategy=mean (steps count from 1).",
        ),
    ] = None,
    fmt: Format = None,
    output_format: OutputFormat = None,
    quiet: Quiet = False,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """Fit the recipe on its (training) data, apply it, and write output, fitted artifact and report."""
    from prepkit.recipe import load_recipe
    from prepkit.runner import run_recipe

    try:
        loaded = load_recipe(recipe, overrides=set_ or [])
        result = run_recipe(
            loaded, input=input, output=output, fmt=fmt, output_format=output_format,
            fitted_path=fitted, report_path=report, quiet=quiet,
        )  # fmt: skip
    except CheckFailed as exc:
        if exc.report is not None:
            _emit(exc.report, quiet, as_json, data_on_stdout=False)
        raise _fail(exc, debug) from None
    except Exception as exc:
        raise _fail(exc, debug) from None
    data_on_stdout = "-" in result.paths.values()
    _emit(result.report, quiet, as_json, data_on_stdout)


@app.command()
def apply(
    fitted: Annotated[
        Path, typer.Argument(help="Fitted artifact (*.prepkit.json) from `prepkit run`.")
    ],
    input: Annotated[str, typer.Argument(help="New data; - for stdin.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Output path; - for stdout.")],
    report: ReportPath = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", min=1, help="Apply N rows at a time (bounded memory for big files)."
        ),
    ] = None,
    fmt: Format = None,
    output_format: OutputFormat = None,
    quiet: Quiet = False,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """Apply a fitted recipe to new data using only learned state; train-only steps are skipped."""
    from prepkit.fitted import load_fitted
    from prepkit.runner import apply_fitted, write_report

    try:
        result = apply_fitted(load_fitted(fitted), input, output, fmt, output_format, batch_size)
        if report is not None:
            write_report(result, report)
    except Exception as exc:
        raise _fail(exc, debug) from None
    _emit(result, quiet, as_json, data_on_stdout=output == "-")


@app.command()
def validate(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML file.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a recipe value: key=value.")
    ] = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Check a recipe (keys, step names, options, values) without reading any data."""
    from prepkit.recipe import load_recipe

    try:
        loaded = load_recipe(recipe, overrides=set_ or [])
    except Exception as exc:
        raise _fail(exc, debug) from None
    if not quiet:
        err.print(
            f"{recipe}: ok ({len(loaded.steps)} steps: {', '.join(s.id for s in loaded.steps)})",
            markup=False,
            soft_wrap=True,
        )


@app.command()
def steps(
    name: Annotated[str | None, typer.Argument(help="A step name, to show its parameters.")] = None,
    as_json: Json = False,
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
    if as_json:
        from prepkit.docs import steps_json

        sys.stdout.write(json.dumps(steps_json(name), indent=2) + "\n")
    elif name is None:
        console.print(steps_table())
    else:
        console.print(step_help(name))


def main() -> None:
    app()
