"""Errors users can act on. Each class carries the exit code the CLI returns for it."""

from __future__ import annotations


class PrepkitError(Exception):
    """Base class: a problem the user can fix, reported as one line without a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class DataError(PrepkitError):
    """Bad or unreadable data, a missing column, an impossible step (exit code 1)."""

    exit_code = 1


class RecipeError(PrepkitError):
    """An invalid recipe or command line: fix the YAML or the arguments (exit code 2)."""

    exit_code = 2


class CheckFailed(PrepkitError):
    """A quality gate from the recipe's `checks:` failed (exit code 3). Carries the run report."""

    exit_code = 3
    report: object = None


def suggest(word: str, choices: object) -> str:
    """`" (did you mean 'median'?)"` when a close match exists, else an empty string."""
    import difflib

    names = [str(c) for c in choices]  # type: ignore[attr-defined]
    match = difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
