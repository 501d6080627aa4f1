"""Conversion at the edges: any supported frame in, polars inside, the caller's type out.

pandas callers get back their index and their dtypes. Which of the caller's rows a frame holds
is known explicitly, never guessed from its length: `to_polars` marks the frame it returns as
holding all of the caller's rows, the pipeline carries that mark through the steps
(`carry_rows`: every row kept in order, or the positions a row-dropping step kept) and `back`
restores the caller's index labels only for a frame so marked. Any other frame (rows added,
reordered or of unknown origin) comes back with a fresh RangeIndex. The mark lives in a table
beside the frame, not in a column, so steps never see it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl

from prepkit.errors import DataError


@dataclass(frozen=True)
class _CallerRows:
    """The caller's rows a frame holds: `positions` in the caller's frame (None: all, in order)."""

    caller: object  # one conversion's token: rows of one caller are never taken for another's
    positions: np.ndarray | None = None


_MARKS: dict[int, tuple[weakref.ref, _CallerRows]] = {}


def _mark(frame: pl.DataFrame, rows: _CallerRows) -> None:
    key = id(frame)
    _MARKS[key] = (weakref.ref(frame, lambda _ref, key=key: _MARKS.pop(key, None)), rows)


def _rows_of(frame: pl.DataFrame) -> _CallerRows | None:
    entry = _MARKS.get(id(frame))
    return entry[1] if entry is not None and entry[0]() is frame else None


def forget_rows(frame: pl.DataFrame) -> None:
    """`frame` no longer holds rows of a caller's frame one for one (rows added or reordered)."""
    entry = _MARKS.get(id(frame))
    if entry is not None and entry[0]() is frame:
        del _MARKS[id(frame)]


def carry_rows(
    source: pl.DataFrame, result: pl.DataFrame, kept: pl.Series | np.ndarray | None = None
) -> pl.DataFrame:
    """Mark `result` as holding `source`'s rows: all in order, or those `kept` (mask or positions).

    Does nothing when `source` holds no caller's rows; forgets `result`'s rows when the counts
    do not agree (a wrong mark would give rows another row's index label). Returns `result`.
    """
    rows = _rows_of(source)
    if result is source and kept is None:
        return result
    if rows is None:
        forget_rows(result)
        return result
    if kept is None:
        if result.height != source.height:
            forget_rows(result)
        else:
            _mark(result, rows)
        return result
    positions = _positions(kept, source.height)
    if positions is None or len(positions) != result.height:
        forget_rows(result)
        return result
    if rows.positions is not None:
        positions = rows.positions[positions]
    _mark(result, _CallerRows(rows.caller, positions))
    return result


def _positions(kept: pl.Series | np.ndarray, height: int) -> np.ndarray | None:
    """Ascending row positions from a boolean mask (null: dropped) or from positions.

    None when `kept` does not describe a subset of `height` rows in their order.
    """
    if isinstance(kept, pl.Series):
        kept = kept.fill_null(False).to_numpy() if kept.dtype == pl.Boolean else kept.to_numpy()
    kept = np.asarray(kept)
    if kept.dtype == bool:
        return np.flatnonzero(kept) if len(kept) == height else None
    if kept.dtype.kind not in "iu":
        return None
    positions = kept.astype(np.int64, copy=False)
    if len(positions) and (positions[0] < 0 or positions[-1] >= height):
        return None
    if np.any(positions[1:] <= positions[:-1]):
        return None  # reordered or repeated: not the caller's rows one for one
    return positions


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
        return _from_pandas(data)
    return native.to_polars(), lambda out: nw.from_native(out).to_native()


# -- pandas ------------------------------------------------------------------------------------------
def _from_pandas(data: Any) -> tuple[pl.DataFrame, Callable[[pl.DataFrame], Any]]:
    import pandas as pd

    frame = pl.from_pandas(data, nan_to_null=True)
    caller = object()
    _mark(frame, _CallerRows(caller))
    index = data.index
    # what each column was, to give it back as it came (Int64 stays Int64, category stays category)
    dtypes = {str(name): dtype for name, dtype in data.dtypes.items()}
    polars_dtypes = dict(frame.schema)
    nullable = any(_is_nullable(dtype) for dtype in dtypes.values())

    def back(out: pl.DataFrame) -> Any:
        columns: dict[str, Any] = {}
        default: list[str] = []
        for name, dtype in out.schema.items():
            if polars_dtypes.get(name) == dtype:
                target = dtypes[name]  # the column kept its kind: give back the caller's dtype
            else:
                target = _nullable_dtype(dtype, pd) if nullable else None
            converted = _convert(out[name], target, pd) if target is not None else None
            if converted is None:
                default.append(name)
            else:
                columns[name] = converted
        if not columns:
            result = out.to_pandas()
        else:
            plain = out.select(default).to_pandas() if default else {}
            result = pd.DataFrame(
                {n: columns[n] if n in columns else plain[n] for n in out.columns}, copy=False
            )
        rows = _rows_of(out)
        if rows is not None and rows.caller is caller:
            result.index = index if rows.positions is None else index.take(rows.positions)
        return result

    return frame, back


def _is_nullable(dtype: Any) -> bool:
    """A pandas dtype that holds missing values as pd.NA (Int64, Float64, boolean, string...)."""
    import pandas as pd

    return isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.na_value is pd.NA


def _nullable_dtype(dtype: pl.DataType, pd: Any) -> Any:
    """The pandas nullable dtype for a new or changed column, when the caller used nullable dtypes."""
    if dtype.is_integer():
        return pd.api.types.pandas_dtype(str(dtype))  # Int8..Int64, UInt8..UInt64
    if dtype == pl.Float32:
        return pd.Float32Dtype()
    if dtype.is_float():
        return pd.Float64Dtype()
    if dtype == pl.Boolean:
        return pd.BooleanDtype()
    if dtype == pl.String:
        return pd.StringDtype()
    return None  # dates, categories, nested: polars' own conversion


def _convert(series: pl.Series, target: Any, pd: Any) -> Any:
    """`series` as a pandas array of dtype `target`; None when polars' own conversion is right.

    Values go through Arrow, never through float64, so an Int64 id above 2**53 stays exact.
    """
    if isinstance(target, pd.CategoricalDtype):
        # polars keeps neither unused categories nor their order: give back the caller's, plus
        # any value a step added (a fill value), so no value becomes missing
        known = set(target.categories)
        extra = [v for v in series.cast(pl.String).unique(maintain_order=True).drop_nulls()
                 if v not in known] if series.dtype == pl.Categorical else []  # fmt: skip
        if extra:
            target = pd.CategoricalDtype([*target.categories, *extra], ordered=target.ordered)
        values = series.to_pandas()
        if isinstance(values.dtype, pd.CategoricalDtype):  # astype would ignore the order
            values = values.cat.set_categories(target.categories, ordered=target.ordered)
        else:
            values = values.astype(target)
        return values.array if values.isna().sum() == series.null_count() else None
    if isinstance(target, pd.api.extensions.ExtensionDtype):
        if not hasattr(target, "__from_arrow__"):
            return None
        if series.dtype.is_float() and _is_nullable(target):
            series = series.fill_nan(None)  # missing is pd.NA, never NaN, in a nullable column
        arrow = series.to_arrow(compat_level=pl.CompatLevel.oldest())
        if isinstance(target, pd.ArrowDtype):
            arrow = arrow.cast(target.pyarrow_dtype)
        return target.__from_arrow__(arrow)
    if np.dtype(target) == object:  # a Series: a bare object array would be inferred as str
        return pd.Series(series.to_list(), dtype=object)
    return None  # other numpy dtypes: polars gives them (float64 where nulls appear in ints)
