"""The README stays true: CI runs its Quickstart commands, and every command and step is documented."""

import re
from pathlib import Path

from prepkit.cli import app
from prepkit.steps.base import all_steps

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_quickstart_commands():
    ci = (ROOT / ".ci/run").read_text()
    commands = [line for line in ci.splitlines() if line.startswith("pip install")]
    assert len(commands) == 2
    for command in commands:
        assert command in README, f"README Quickstart must show: {command}"


def test_every_command_is_documented():
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    for name in names:
        assert f"prepkit {name}" in README


def test_every_step_and_option_is_documented():
    for name, cls in all_steps().items():
        match = re.search(rf"^### `?{name}`?\b.*?(?=^### |\Z)", README, re.S | re.M)
        assert match, f"README needs a '### {name}' section"
        for option in cls.Params.model_fields:
            if option != "id":
                assert f"`{option}`" in match.group(0), (
                    f"README section for {name} must document `{option}`"
                )


def test_every_recipe_is_tested():
    tests = "".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    for recipe in (ROOT / "recipes").glob("*.yaml"):
        assert f"recipes/{recipe.name}" in tests, f"{recipe.name} has no test that runs it"
