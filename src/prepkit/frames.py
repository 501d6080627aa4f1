"""Conversion at the edges: any supported frame in, polars inside, the caller's type out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import narwhals.stable.v2 as nw
import polars as pl

from prepkit.errors import DataError


def to_polars(data: Any) -> tuple[pl.DataFrame, Callable[[pl.DataFrame], Any]]:
    """Return `data` as a polars DataFrame and a function that converts results back.

    pandas in -> pandas out; polars DataFrame/LazyFrame in -> the same kind out. Float NaN in
    pandas input becomes null, so NaN and null are one notion of "missing" inside prepkit.
    """
    if isinstance(data, pl.DataFrame):
        return data, lambda out: out
    if isinstance(data, pl.LazyFrame):
        return data.collect(), lambda out: out.lazy()
    try:
        native = nw.from_native(data, eager_only=True)
    except TypeError:
        raise DataError(
            f"expected a pandas or polars data frame, got {type(data).__name__}"
        ) from None
    if native.implementation.is_pandas():
        import pandas as pd

        frame = pl.from_pandas(data, nan_to_null=True)
        index = data.index

        def back(out: pl.DataFrame) -> Any:
            result = out.to_pandas()
            if len(result) == len(index) and not isinstance(index, pd.RangeIndex):
                result.index = index  # row-preserving steps keep the caller's index
            return result

        return frame, back
    return native.to_polars(), lambda out: nw.from_native(out).to_native()
