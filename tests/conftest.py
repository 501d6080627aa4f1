"""Shared fixtures. `backend` runs a test on pandas (numpy dtypes), pandas (nullable) and polars."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


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
