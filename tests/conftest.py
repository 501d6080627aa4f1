"""Shared fixtures. `backend` runs a test on pandas (numpy dtypes), pandas (nullable) and polars."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
# what tests may leave in the checkout: caches and the environments CI and developers make
_ALLOWED = {".git", ".hypothesis", ".pytest_cache", ".ci-venv", ".venv", "src/prepkit.egg-info"}


def _checkout_files() -> set[str]:
    files = set()
    for folder, subfolders, names in os.walk(ROOT):
        relative = Path(folder).relative_to(ROOT).as_posix()
        subfolders[:] = [
            d for d in subfolders
            if d != "__pycache__" and f"{relative}/{d}".removeprefix("./") not in _ALLOWED
        ]  # fmt: skip
        files.update(f"{relative}/{n}".removeprefix("./") for n in names)
    return files


@pytest.fixture(scope="session", autouse=True)
def _tests_write_nothing_into_the_checkout():
    """Tests write into their tmp_path only: a file that appears in the checkout fails the run."""
    before = _checkout_files()
    yield
    new = sorted(_checkout_files() - before)
    assert not new, f"tests wrote into the checkout: {new[:10]}"


@pytest.fixture(params=["pandas", "pandas-nullable", "polars"])
def backend(request):
    """A function turning a polars frame into the backend's frame type, and `to_polars` back."""
    kind = request.param

    class Backend:
        name = kind

        @staticmethod
        def make(frame: pl.DataFrame):
            if kind == "polars":
                return frame
            out = frame.to_pandas()
            return out.convert_dtypes() if kind == "pandas-nullable" else out

        @staticmethod
        def to_polars(obj) -> pl.DataFrame:
            return pl.from_pandas(obj) if isinstance(obj, pd.DataFrame) else obj

    return Backend()


@pytest.fixture
def churn() -> pl.DataFrame:
    return pl.read_csv(SAMPLE / "churn.csv", infer_schema_length=10_000)


@pytest.fixture
def zero_rows():
    """`zero_rows(recipe, frame)`: the checks every step's 0-row test makes (see below)."""
    return _assert_zero_rows


def _assert_zero_rows(recipe, frame: pl.DataFrame) -> None:
    """Fitting on no rows is refused; a recipe fitted on `frame` applies to 0 rows of it.

    The 0-row output has the columns and dtypes of the output on `frame` (train-only steps
    do not run at apply, so their columns are not expected).
    """
    from prepkit.errors import DataError

    with pytest.raises(DataError, match="has no rows"):
        recipe.fit(frame.head(0))
    fitted = recipe.fit(frame)
    empty = fitted.transform(frame.head(0))
    assert empty.height == 0
    assert empty.schema == fitted.transform(frame).schema
