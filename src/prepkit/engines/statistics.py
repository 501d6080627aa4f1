"""Statistics a step learns from, as requests any engine can answer.

A step says what it needs to know about its columns (`Moments`, `Missing`, `Counts`,
`Quantiles`, `Infinities`, `Distinct`) and builds its state from the answers. The in-memory
engine answers from one polars frame; the streaming engine from partial results per batch that
merge (counts add, moments merge by Chan's formula, minimum and maximum of minima and maxima,
exact quantiles by bracket selection over two or more passes). So one step implementation serves every engine, and the answers, hence
the fitted artifact, are the same whichever engine produced them: exactly for counts, categories,
minima, maxima and quantiles; to rounding (about 1e-15 relative) for means and variances.

Missing means null, or NaN in a float column; infinities are values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from prepkit.stats import quantiles


@dataclass(frozen=True)
class Moments:
    """count (non-missing), mean, var (population, ddof=0), std (its square root), min, max, inf
    (count of +-inf) and neginf (count of -inf).

    No finite values are too large: mean and std are right up to the largest float64 (var is inf
    where it exceeds it). With infinite values, mean is their sign's infinity (NaN if both signs
    occur), var and std NaN.
    """

    column: str


@dataclass(frozen=True)
class Missing:
    """missing (null + NaN) and rows."""

    column: str


@dataclass(frozen=True)
class Counts:
    """{value: count} of every value, null (None) included; categorical columns read as text.

    With `limit`, None when there are more than `limit` distinct values (bounded memory on
    columns of any cardinality: the streaming engine stops counting once past it).
    """

    column: str
    limit: int | None = None


@dataclass(frozen=True)
class Quantiles:
    """Exact, linearly interpolated quantiles (fractions `qs`) of the non-missing values."""

    column: str
    qs: tuple[float, ...]


@dataclass(frozen=True)
class Infinities:
    """{"inf": count of +inf, "-inf": count of -inf} (both 0 for a column that is not float)."""

    column: str


@dataclass(frozen=True)
class Distinct:
    """The distinct values in order of first appearance, as `Counts` reads them (null as None,
    NaN as a value, categorical columns as text), when there are at most `limit`; None when
    there are more. Bounded memory on columns of any cardinality."""

    column: str
    limit: int


@dataclass(frozen=True)
class Sample:
    """A uniform random sample of the non-missing values, sorted (numpy float64): those of the
    rows with the 65,536 smallest hashes of their position (`partials.SAMPLE`), all of them in a
    smaller column. The same rows on the in-memory and streaming engines, which number rows in
    order; Spark numbers them by partition, so its sample has other rows."""

    column: str


Request = Moments | Missing | Counts | Quantiles | Infinities | Distinct | Sample


def value_expr(schema: pl.Schema, column: str) -> pl.Expr:
    """The column as float64 with NaN read as missing."""
    col = pl.col(column)
    if schema[column].is_float():
        col = col.fill_nan(None)
    return col.cast(pl.Float64)


def counted_expr(schema: pl.Schema, column: str) -> pl.Expr:
    """What `Counts` counts: categories as their text labels, other values as they are."""
    dtype = schema[column]
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        return pl.col(column).cast(pl.String)
    return pl.col(column)


def moment_exprs(schema: pl.Schema, column: str, key: str) -> list[pl.Expr]:
    """What `moment_parts` reads. NaN is read as a value here and counted (reading every column
    through `fill_nan` costs three times as much on wide frames): min and max skip it, and the
    mean and variance of the rare columns that hold NaN are computed again without it."""
    x = pl.col(column).cast(pl.Float64)
    exprs = [
        x.count().alias(f"{key}:count"),
        x.mean().alias(f"{key}:mean"),
        x.var(ddof=0).alias(f"{key}:var"),
        x.min().alias(f"{key}:min"),
        x.max().alias(f"{key}:max"),
    ]
    if schema[column].is_float():
        exprs.append(x.is_nan().sum().alias(f"{key}:nan"))
    return exprs


# Values this large (in absolute value) have their mean and variance computed on the values times
# 2**-e, e the frexp exponent of the largest: an exact scaling under which neither sums nor squares
# overflow. Rounding is the same at any power-of-two scale, so the moments are the same numbers,
# only representable.
SCALED_FROM = 2.0**256


def moment_exponent(low: float | None, high: float | None) -> int:
    """The power of two whose multiples the moments of finite values in [low, high] are
    computed in: 0, or the frexp exponent of the largest |value| from SCALED_FROM on."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return 0
    top = max(-low, high)
    return math.frexp(top)[1] if top >= SCALED_FROM else 0


def moment_parts(
    frame: pl.DataFrame, row: dict[str, Any], columns: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Per key of `columns` ({key: column}), the mergeable moments of the column read from `row`
    (the results of `moment_exprs`): mean and var of the values times 2**-exp, 0.0 when there are
    no values. The rare columns that need more are read again, in one select: those with NaN or
    values from SCALED_FROM on (moments without NaN, at their scale) and those with infinite
    values (counted)."""
    parts: dict[str, dict[str, Any]] = {}
    nan: dict[str, int] = {}
    for key in columns:
        nan[key] = int(row.get(f"{key}:nan", 0))
        count = int(row[f"{key}:count"]) - nan[key]
        low, high = (row[f"{key}:min"], row[f"{key}:max"]) if count else (None, None)
        parts[key] = {
            "count": count,
            "mean": row[f"{key}:mean"] if count else 0.0,
            "var": row[f"{key}:var"] if count else 0.0,
            "exp": moment_exponent(low, high),
            "min": low,
            "max": high,
            "inf": 0,
            "neginf": 0,
        }
    schema = frame.schema
    again: list[pl.Expr] = []
    for key, column in columns.items():
        part = parts[key]
        if not part["count"]:
            continue
        if part["exp"] or nan[key]:
            x = value_expr(schema, column) * math.ldexp(1.0, -part["exp"])
            again += [x.mean().alias(f"{key}:mean"), x.var(ddof=0).alias(f"{key}:var")]
        if math.isinf(max(-part["min"], part["max"])):
            x = value_expr(schema, column)
            again += [
                x.is_infinite().sum().alias(f"{key}:inf"),
                (x == -math.inf).sum().alias(f"{key}:neginf"),
            ]
    if again:
        for name, value in frame.select(again).row(0, named=True).items():
            key, stat = name.split(":")
            parts[key][stat] = value
    return parts


def _times_power_of_two(x: float, exponent: int) -> float:
    """`x * 2**exponent`, infinite where that exceeds the largest float64."""
    try:
        return math.ldexp(x, exponent)
    except OverflowError:
        return math.copysign(math.inf, x)


def moment_answer(part: dict[str, Any]) -> dict[str, Any]:
    """The answer to `Moments` from (merged) `moment_parts`, in the values' units."""
    count, low, high = part["count"], part["min"], part["max"]
    answer = {"count": count, "min": low, "max": high, "inf": part["inf"], "neginf": part["neginf"]}
    if not count:
        return {**answer, "mean": None, "var": None, "std": None}
    if part["inf"]:  # the limit, not the arithmetic (where 1e308 + 1e308 - inf would be NaN)
        mean = math.nan if (low, high) == (-math.inf, math.inf) else max(low, high, key=abs)
        return {**answer, "mean": mean, "var": math.nan, "std": math.nan}
    exp, var = part["exp"], part["var"]
    return {
        **answer,
        "mean": _times_power_of_two(part["mean"], exp),
        "var": _times_power_of_two(var, 2 * exp),
        "std": _times_power_of_two(math.sqrt(var), exp),
    }


def missing_expr(schema: pl.Schema, column: str, key: str) -> pl.Expr:
    col = pl.col(column)
    missing = col.is_null() | col.is_nan() if schema[column].is_float() else col.is_null()
    return missing.sum().alias(f"{key}:missing")


def infinity_exprs(schema: pl.Schema, column: str, key: str) -> list[pl.Expr]:
    if not schema[column].is_float():
        return [pl.lit(0).alias(f"{key}:+inf"), pl.lit(0).alias(f"{key}:-inf")]
    col = pl.col(column)
    return [
        (col == math.inf).sum().alias(f"{key}:+inf"),
        (col == -math.inf).sum().alias(f"{key}:-inf"),
    ]


def distinct_expr(schema: pl.Schema, column: str, limit: int, key: str) -> pl.Expr:
    """Up to `limit + 1` distinct values in order of first appearance, as one list."""
    values = counted_expr(schema, column).unique(maintain_order=True).head(limit + 1)
    return values.implode().alias(f"{key}:distinct")


def value_counts(frame: pl.DataFrame, requests: list[Counts]) -> list[pl.DataFrame]:
    """Per request, a frame of each `value` and its count `n`, the group-bys run in parallel."""
    lazy, schema = frame.lazy(), frame.schema
    return pl.collect_all(
        [
            lazy.group_by(counted_expr(schema, r.column).alias("value")).agg(pl.len().alias("n"))
            for r in requests
        ]
    )


def compute(frame: pl.DataFrame, requests: list[Request]) -> dict[Request, Any]:
    """Answer `requests` from one in-memory frame: one parallel select for the single-number
    statistics, parallel group-bys for counts, selection for quantiles."""
    schema = frame.schema
    unique = list(dict.fromkeys(requests))
    exprs: list[pl.Expr] = []
    for i, r in enumerate(unique):
        if isinstance(r, Moments):
            exprs += moment_exprs(schema, r.column, str(i))
        elif isinstance(r, Missing):
            exprs.append(missing_expr(schema, r.column, str(i)))
        elif isinstance(r, Infinities):
            exprs += infinity_exprs(schema, r.column, str(i))
        elif isinstance(r, Distinct):
            exprs.append(distinct_expr(schema, r.column, r.limit, str(i)))
    row = frame.select(exprs).row(0, named=True) if exprs else {}
    out: dict[Request, Any] = {}
    counted = [r for r in unique if isinstance(r, Counts)]
    if counted:
        for r, result in zip(counted, value_counts(frame, counted), strict=True):
            too_many = r.limit is not None and result.height > r.limit
            out[r] = (
                None
                if too_many
                else dict(zip(result["value"].to_list(), result["n"].to_list(), strict=True))
            )
    by_qs: dict[tuple[float, ...], list[str]] = {}
    for r in unique:
        if isinstance(r, Quantiles):
            by_qs.setdefault(r.qs, []).append(r.column)
    for qs, columns in by_qs.items():
        for column, found in quantiles(frame, columns, list(qs)).items():
            out[Quantiles(column, qs)] = found
    sampled = [r.column for r in unique if isinstance(r, Sample)]
    if sampled:
        from prepkit.engines.partials import hashed_samples

        out.update((Sample(c), v) for c, v in hashed_samples(frame, sampled).items())
    moments = {str(i): r.column for i, r in enumerate(unique) if isinstance(r, Moments)}
    parts = moment_parts(frame, row, moments)
    for i, r in enumerate(unique):
        if isinstance(r, Moments):
            out[r] = moment_answer(parts[str(i)])
        elif isinstance(r, Missing):
            out[r] = {"missing": int(row[f"{i}:missing"]), "rows": frame.height}
        elif isinstance(r, Infinities):
            out[r] = {"inf": int(row[f"{i}:+inf"]), "-inf": int(row[f"{i}:-inf"])}
        elif isinstance(r, Distinct):
            values = row[f"{i}:distinct"]
            out[r] = values if len(values) <= r.limit else None
    return out
