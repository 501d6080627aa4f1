"""The command line as a new user reads it: help texts, placeholders, defaults, shell completion."""

import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from prepkit.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200", "NO_COLOR": "1"}


def help_of(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.stdout


def option_line(text: str, option: str) -> str:
    (line,) = [line for line in text.splitlines() if re.search(rf"\s{option}\s", line)]
    return line


@pytest.mark.parametrize("command", [(), ("run",), ("apply",), ("validate",), ("steps",)])
def test_no_type_placeholders_in_help(command):
    """Before: `<bool>` after every flag, `<list[str]>` for --set, `{recipe}` in the usage line."""
    text = help_of(*command)
    for placeholder in ("<bool>", "<list[str]>", "{", "[[", "<int range>"):
        assert placeholder not in text, f"{placeholder!r} in `prepkit {' '.join(command)} --help`"
    for line in (line for line in text.splitlines() if " --" in line):
        assert "<str>" not in line and "<path>" not in line, line  # options name their value


def test_usage_lines_name_the_arguments():
    assert "Usage: prepkit run [OPTIONS] RECIPE" in help_of("run")
    assert "Usage: prepkit apply [OPTIONS] FITTED INPUT" in help_of("apply")
    assert "Usage: prepkit validate [OPTIONS] RECIPE" in help_of("validate")
    assert "Usage: prepkit steps [OPTIONS] [NAME]" in help_of("steps")
    assert "Usage: prepkit [OPTIONS] COMMAND [ARGS]..." in help_of()


def test_value_options_say_what_they_take_and_their_default():
    text = help_of("run")
    assert "PATH" in option_line(text, "--input") and "[default: (the recipe's input)]" in text
    assert "KEY=VALUE" in option_line(text, "--set")
    assert "FORMAT" in option_line(text, "--format")
    assert "[default: (csv for -, else from the extension)]" in text
    assert "[default: (next to the output, <stem>.prepkit.json)]" in text
    applied = help_of("apply")
    assert re.search(r"--batch-size\s+N \[x>=1\]", applied)
    assert "[default: (the whole file at once)]" in applied


def test_report_option_mentions_html_everywhere():
    """Before: `run --report` said "Write the JSON report to this path"."""
    for command in ("run", "apply"):
        line = option_line(help_of(command), "--report")
        assert "JSON, or HTML with charts for .html/.htm" in line
        assert "JSON report" not in line


def test_steps_json_has_its_own_help():
    line = option_line(help_of("steps"), "--json")
    assert "Print the steps (or the step) and their parameters as JSON" in line
    assert "run report" not in line


def test_completion_options_exist(monkeypatch):
    """Before: `add_completion=False`, so --install-completion did not exist."""
    import typer.completion

    text = help_of()
    assert "--install-completion" in text and "--show-completion" in text
    # typer looks for the shell among the parent processes; a background job may have none
    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    shown = runner.invoke(app, ["--show-completion"], env=WIDE)
    assert shown.exit_code == 0, shown.output
    assert "_PREPKIT_COMPLETE=complete_bash" in shown.stdout
    assert "complete -o default -F _prepkit_completion prepkit" in shown.stdout


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("prepkit ap", "1", ["apply"]),
        ("prepkit steps imp", "2", ["impute"]),
        ("prepkit run r.yaml --format par", "4", ["parquet"]),
        ("prepkit run r.yaml --out", "3", ["--output", "--output-format"]),
    ],
)
def test_bash_completion_answers(words, cword, expected):
    """What bash gets when the user presses TAB, also under `python -m prepkit`."""
    env = {
        **os.environ, "_PREPKIT_COMPLETE": "complete_bash", "COMP_WORDS": words,
        "COMP_CWORD": cword, "NO_ALBUMENTATIONS_UPDATE": "1",
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "prepkit"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == expected
