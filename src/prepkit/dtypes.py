"""Dtype names as users write them in recipes (`int64`, `category`) and as artifacts store them."""

from __future__ import annotations

import re

import polars as pl

from prepkit.errors import RecipeError, suggest

NAMES: dict[str, pl.DataType] = {
    "int8": pl.Int8(), "int16": pl.Int16(), "int32": pl.Int32(), "int64": pl.Int64(), "int": pl.Int64(),
    "uint8": pl.UInt8(), "uint16": pl.UInt16(), "uint32": pl.UInt32(), "uint64": pl.UInt64(),
    "float32": pl.Float32(), "float64": pl.Float64(), "float": pl.Float64(),
    "str": pl.String(), "string": pl.String(), "utf8": pl.String(),
    "bool": pl.Boolean(), "boolean": pl.Boolean(),
    "category": pl.Categorical(), "categorical": pl.Categorical(),
    "date": pl.Date(), "datetime": pl.Datetime("us"), "time": pl.Time(), "duration": pl.Duration("us"),
    "null": pl.Null(),
}  # fmt: skip


def parse_dtype(text: str) -> pl.DataType:
    """`int64`, `Int64`, `category`, `Datetime(time_unit='ms', time_zone='UTC')` -> a polars dtype."""
    key = text.strip().lower()
    if key in NAMES:
        return NAMES[key]
    match = re.fullmatch(
        r"datetime\(time_unit='(\w+)', time_zone=(?:'([^']*)'|None)\)", text.strip(), re.I
    )
    if match:
        return pl.Datetime(match.group(1), match.group(2))  # type: ignore[arg-type]
    match = re.fullmatch(r"duration\(time_unit='(\w+)'\)", key)
    if match:
        return pl.Duration(match.group(1))  # type: ignore[arg-type]
    if key.startswith(("categorical", "enum")):
        return pl.Categorical()
    raise RecipeError(
        f"unknown dtype '{text}'{suggest(key, NAMES)}", hint=f"use one of {', '.join(NAMES)}"
    )
