"""Encoding: turn categorical columns into numbers (one-hot or ordinal codes)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from prepkit.columns import Selector, select_columns
from prepkit.engines.statistics import Counts
from prepkit.errors import DataError, RecipeError
from prepkit.report import CountedWarning
from prepkit.steps.base import (
    Column,
    Scalar,
    Step,
    StepContext,
    StepParams,
    StepState,
    register,
)

Category = str | int | float | bool | None

INFREQUENT = "infrequent_sklearn"  # the name scikit-learn gives the bucket of infrequent categories
SHOWN_UNKNOWN = 5  # unseen values listed in an error message


def _label(value: Category) -> str:
    """A category as it appears in an output column name (null is `null`; True is `True`)."""
    return "null" if value is None else str(value)


# The helpers take the frame's schema (or a column's dtype), looked up once per step:
# `frame.schema` builds a new object on every call, so one lookup per column would make wide
# frames quadratic.


def _base(schema: pl.Schema, column: str) -> pl.Expr:
    """The column with float NaN read as missing, like null."""
    col = pl.col(column)
    return col.fill_nan(None) if schema[column].is_float() else col


def _check_dtypes(frame: pl.DataFrame, columns: list[str]) -> None:
    schema = frame.schema
    bad = [
        c
        for c in columns
        if not (
            schema[c] in (pl.String, pl.Boolean, pl.Null)
            or isinstance(schema[c], (pl.Categorical, pl.Enum))
            or schema[c].is_integer()
            or schema[c].is_float()
        )
    ]
    if bad:
        kinds = ", ".join(f"'{c}' ({schema[c]})" for c in bad)
        raise DataError(
            f"encode needs text, categorical, integer, float or boolean columns, but got {kinds}",
            hint="leave these columns out of `columns:`, or cast them first",
        )


def _members(dtype: pl.DataType, values: list[Category]) -> pl.Series:
    """Categories as one list value for `is_in`, comparable with a column of `dtype`."""
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        dtype = pl.String()
    return pl.Series(values, dtype=dtype, strict=False).implode()


def _key(value: Category) -> tuple[str, Category]:
    """A dict key that keeps True and 1 apart."""
    return (type(value).__name__, value)


def _code_expr(schema: pl.Schema, column: str, categories: list[Category]) -> pl.Expr:
    """Codes 0..k-1 for the non-null categories, k for unseen values, k + 1 for null.

    An expression only (no look at the data), so a batch gets the codes of the same rows of the
    whole frame."""
    values = [v for v in categories if v is not None]
    unseen, missing = len(values), len(values) + 1
    dtype = schema[column]
    base = _base(schema, column)
    if values and (dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))):
        # an Enum cast is the fastest text -> index lookup; values not in it become null
        codes = base.cast(pl.Enum(values), strict=False).to_physical().cast(pl.UInt32)
        return (
            pl.when(base.is_null())
            .then(missing)
            .otherwise(codes.fill_null(unseen))
            .cast(pl.UInt32)
            .alias(column)
        )
    mapping: dict[Any, int] = {v: i for i, v in enumerate(values)}
    mapping[None] = missing
    return base.replace_strict(mapping, default=unseen, return_dtype=pl.UInt32).alias(column)


def _has_unseen(encoding: dict[str, Any], codes: np.ndarray) -> bool:
    """Whether codes from `_code_expr` hold a value not seen at fit time (null included)."""
    unseen = sum(v is not None for v in encoding["categories"])
    if None in encoding["categories"]:
        return bool((codes == unseen).any())
    return bool((codes >= unseen).any())


def _count_unseen(encoding: dict[str, Any], codes: np.ndarray) -> int:
    """How many codes from `_code_expr` are values not seen at fit time (see `_has_unseen`)."""
    unseen = sum(v is not None for v in encoding["categories"])
    if None in encoding["categories"]:
        return int(np.count_nonzero(codes == unseen))
    return int(np.count_nonzero(codes >= unseen))


def _seen(counts: dict[Category, int]) -> dict[Category, int]:
    """Category counts from a `Counts` answer, float NaN counted as null (missing)."""
    seen: dict[Category, int] = {}
    for value, n in counts.items():
        key = None if isinstance(value, float) and value != value else value
        seen[key] = seen.get(key, 0) + n
    return seen


def _sort_key(value: Category) -> tuple[int, Any]:
    return (1, 0) if value is None else (0, value)


def _unseen_values(
    frame: pl.DataFrame, schema: pl.Schema, column: str, known: list[Category]
) -> pl.Series:
    """The distinct values of a column that are not in `known`, in order of first appearance."""
    base = _base(schema, column)
    outside = ~base.is_in(_members(schema[column], known), nulls_equal=True)
    return frame.select(base.filter(outside)).to_series().unique(maintain_order=True)


def _example(value: Category) -> str:
    """A value as a message shows it: `'x'`, `5`, `null`."""
    return _label(value) if value is None else repr(value)


def _shown(values: pl.Series) -> str:
    """Up to SHOWN_UNKNOWN values for a message: `'x', 'y' and 3 more`."""
    shown = ", ".join(_example(v) for v in values.head(SHOWN_UNKNOWN).to_list())
    more = values.len() - SHOWN_UNKNOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _report_unknown(
    frame: pl.DataFrame,
    counts: dict[str, int],
    known: dict[str, list[Category]],
    became: dict[str, str],
    ctx: StepContext,
) -> None:
    """Count values not seen at fit time per column in the report (`unknown`: counts that add
    over batches) and warn once per column with the count, examples and what they became (a
    warning that adds over batches too: applied in batches, the report warns once, in total)."""
    counts = {c: n for c, n in counts.items() if n}
    ctx.record(unknown=counts)
    schema = frame.schema
    for c, n in counts.items():
        values = _unseen_values(frame, schema, c, known[c])
        head, tail = _literal(f"encode: column '{c}' has "), _literal(became[c])
        ctx.warn(
            CountedWarning(
                f"unknown:{c}",
                f"{head}{{count}} value{{s}} not seen at fit time ({{examples}}); {tail}",
                n,
                [_example(v) for v in values.head(CountedWarning.KEPT).to_list()],
                values.len(),
            )
        )


def _literal(text: str) -> str:
    """`text` as a literal part of a `str.format` template (a column name may hold braces)."""
    return text.replace("{", "{{").replace("}", "}}")


def _seen_unknown(frame: pl.DataFrame, known: dict[str, list[Category]], step: str) -> None:
    """Raise a DataError naming each column's values that were not seen at fit time."""
    if not known or frame.height == 0:
        return
    schema = frame.schema
    flags = frame.select(
        (~_base(schema, c).is_in(_members(schema[c], values), nulls_equal=True)).any().alias(c)
        for c, values in known.items()
    ).row(0, named=True)
    problems = [
        f"'{c}': {_shown(_unseen_values(frame, schema, c, values))}"
        for c, values in known.items()
        if flags[c]
    ]
    if problems:
        raise DataError(
            f"{step}: categories not seen at fit time in column {'; '.join(problems)}",
            hint="set handle_unknown to map unseen categories instead of failing, or refit on data "
            "that has them",
        )


class Encoding(StepState):
    """What encode learned for one column; the keys after `categories` are onehot's."""

    categories: list[Scalar]
    infrequent: list[Scalar] | None = None
    drop_index: int | None = None
    dropped: Scalar = None
    outputs: list[str] | None = None

    def check(self, column: str, method: str) -> None:
        """Raise a ValueError naming the column where the encoding does not fit `method`."""
        where = f"encodings.{column}"
        if len({_key(v) for v in self.categories}) != len(self.categories):
            raise ValueError(f"{where}.categories: a category is listed twice")
        onehot = {"infrequent", "drop_index", "dropped", "outputs"}
        given = sorted(onehot & self.model_fields_set)
        if method == "ordinal":
            if given:
                raise ValueError(f"{where}: {', '.join(given)} belong to method onehot")
            if None in self.categories:
                raise ValueError(f"{where}.categories: null is not an ordinal category")
            return
        if len(given) < len(onehot):
            raise ValueError(f"{where}: missing {', '.join(sorted(onehot.difference(given)))}")
        infrequent = {_key(v) for v in self.infrequent or []}
        if not infrequent <= {_key(v) for v in self.categories}:
            raise ValueError(f"{where}.infrequent: not all of them are categories")
        frequent = sum(_key(v) not in infrequent for v in self.categories)
        expected = frequent + bool(infrequent) - (self.drop_index is not None)
        if self.drop_index not in (None, 0) or len(self.outputs or []) != expected:
            raise ValueError(
                f"{where}: outputs and drop_index do not match the categories "
                f"({expected} output columns expected)"
            )


@register("encode")
class Encode(Step):
    """Encode categorical columns as numbers: one-hot indicator columns or ordinal codes.

    Matches scikit-learn's `OneHotEncoder` (`sparse_output=False`) and `OrdinalEncoder`.
    Categories are learned at fit time and sorted (text by code point, numbers by value, null
    last) unless given in `categories:`.

    `onehot` replaces each column by one indicator column per category, inserted where the
    column was, named `<column>_<category>` (null: `<column>_null`, the bucket of infrequent
    categories: `<column>_infrequent_sklearn`). Null is a category of its own. Categories
    rarer than `min_frequency`, or beyond `max_categories`, share the infrequent column.

    `ordinal` replaces each column by integer codes 0, 1, 2... in category order. Null stays
    null (or becomes `encoded_missing_value`); unseen categories become `unknown_value`.

    ```yaml
    - step: encode
      columns: [city, plan]
      method: onehot
      min_frequency: 0.01        # categories in fewer than 1% of rows -> city_infrequent_sklearn
      handle_unknown: infrequent
      drop: if_binary
    - step: encode
      columns: size
      method: ordinal
      categories: {size: [small, medium, large]}
    ```
    """

    class Params(StepParams):
        columns: Selector = Field("categorical", description="Columns to encode (selector).")
        method: Literal["onehot", "ordinal"] = Field(
            "onehot",
            description="onehot: one indicator column per category; ordinal: integer codes.",
        )
        categories: dict[str, list[Category]] | None = Field(
            None,
            description="Explicit categories per column, in order ({col: [a, b, c]}); other "
            "columns learn theirs from the data, sorted.",
        )
        handle_unknown: Literal["ignore", "error", "infrequent", "use_encoded_value"] | None = (
            Field(
                None,
                description="Categories not seen at fit time. onehot: ignore (all zeros, default), "
                "error, or infrequent (into the infrequent column if there is one, else all zeros); "
                "ordinal: use_encoded_value (unknown_value, default) or error.",
            )
        )
        min_frequency: int | float | None = Field(
            None,
            description="onehot: categories seen fewer times (int count) or in a smaller fraction "
            "of rows (float in (0, 1)) share one infrequent column.",
        )
        max_categories: int | None = Field(
            None,
            description="onehot: at most this many output columns per column before dropping, "
            "the infrequent column included.",
        )
        drop: Literal["first", "if_binary", "none"] = Field(
            "none",
            description="onehot: drop the first output column of each column (first), or only "
            "when a column has exactly two (if_binary).",
        )
        dtype: Literal["uint8", "int8", "int32", "int64", "boolean", "float64"] = Field(
            "uint8", description="onehot: dtype of the indicator columns."
        )
        unknown_value: int | float = Field(
            -1, description="ordinal: code for unseen categories (.nan gives float output)."
        )
        encoded_missing_value: int | float | None = Field(
            None, description="ordinal: code for null (default: null stays null)."
        )
        keep_original: bool = Field(
            False,
            description="Keep the original column too (onehot columns follow it; ordinal codes "
            "go to <column>_ordinal).",
        )

        @model_validator(mode="after")
        def _check(self) -> Encode.Params:
            allowed = {
                "onehot": ("ignore", "error", "infrequent"),
                "ordinal": ("use_encoded_value", "error"),
            }[self.method]
            if self.handle_unknown is not None and self.handle_unknown not in allowed:
                raise ValueError(
                    f"handle_unknown '{self.handle_unknown}' does not apply to method "
                    f"{self.method}; choose one of {', '.join(allowed)}"
                )
            if self.method == "ordinal":
                onehot_only = {
                    "min_frequency": self.min_frequency is not None,
                    "max_categories": self.max_categories is not None,
                    "drop": self.drop != "none",
                    "dtype": self.dtype != "uint8",
                }
                used = [name for name, is_set in onehot_only.items() if is_set]
                if used:
                    raise ValueError(f"{', '.join(used)} only apply to method: onehot")
            frequency = self.min_frequency
            if (
                isinstance(frequency, bool)
                or (isinstance(frequency, int) and frequency < 1)
                or (isinstance(frequency, float) and not 0 < frequency < 1)
            ):
                raise ValueError(
                    "min_frequency must be a count >= 1 or a fraction strictly between 0 and 1, "
                    f"got {frequency}"
                )
            if self.max_categories is not None and self.max_categories < 1:
                raise ValueError(f"max_categories must be at least 1, got {self.max_categories}")
            return self

    @property
    def unknown_policy(self) -> str:
        if self.params.handle_unknown:
            return self.params.handle_unknown
        return "ignore" if self.params.method == "onehot" else "use_encoded_value"

    # -- fitting ----------------------------------------------------------------------------------
    def _columns(self, frame: pl.DataFrame, ctx: StepContext) -> list[str]:
        """The encoded columns, their dtypes and the explicit categories' columns checked."""
        columns = select_columns(frame, self.params.columns, ctx.protected)
        _check_dtypes(frame, columns)
        stray = [c for c in self.params.categories or {} if c not in columns]
        if stray:
            raise RecipeError(
                f"encode: categories given for column(s) that are not encoded: {', '.join(stray)}",
                hint=f"encoded columns: {', '.join(columns) or '(none)'}",
            )
        return columns

    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Counts]:
        return [Counts(c) for c in self._columns(frame, ctx)]

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        p = self.params
        columns = self._columns(frame, ctx)
        explicit = p.categories or {}
        state: dict[str, Any] = {"method": p.method, "columns": columns, "encodings": {}}
        if not columns:
            return state
        for c in columns:
            seen = _seen(answers[Counts(c)])
            if c in explicit:
                categories = self._explicit(frame, c, explicit[c], seen)
            else:
                categories = sorted(seen, key=_sort_key)
            if p.method == "ordinal":
                categories = [v for v in categories if v is not None]
                state["encodings"][c] = {"categories": categories}
            else:
                rows = sum(seen.values())
                state["encodings"][c] = self._fit_onehot(c, categories, seen, rows)
        if p.method == "ordinal":
            state["dtype"] = self._check_codes(state["encodings"])
        else:
            self._check_names(frame, state["encodings"])
        return state

    def _explicit(
        self, frame: pl.DataFrame, column: str, given: list[Category], seen: dict[Category, int]
    ) -> list[Category]:
        dtype = frame.schema[column]
        try:
            pl.Series(given, strict=False).cast(
                pl.String if isinstance(dtype, (pl.Categorical, pl.Enum)) else dtype, strict=True
            )
        except Exception:
            raise RecipeError(
                f"encode: categories for '{column}' do not match its type {dtype}: {given}",
                hint="list values of the column's type",
            ) from None
        if len(set(given)) != len(given):
            raise RecipeError(f"encode: categories for '{column}' repeat a value: {given}")
        if self.params.method == "ordinal" and None in given:
            raise RecipeError(
                f"encode: null cannot be an ordinal category ('{column}')",
                hint="null is missing: set encoded_missing_value to give it a code",
            )
        if self.unknown_policy == "error":
            known = set(given) | ({None} if self.params.method == "ordinal" else set())
            unseen = [v for v in seen if v not in known]
            if unseen:
                shown = ", ".join(_label(v) for v in sorted(unseen, key=_sort_key)[:SHOWN_UNKNOWN])
                raise DataError(
                    f"encode: column '{column}' has values missing from its categories: {shown}",
                    hint="add them to `categories:` or set handle_unknown to map them",
                )
        return list(given)

    def _fit_onehot(
        self, column: str, categories: list[Category], seen: dict[Category, int], n_rows: int
    ) -> dict[str, Any]:
        counts = [seen.get(v, 0) for v in categories]
        infrequent = self._infrequent(counts, n_rows)
        frequent = [v for i, v in enumerate(categories) if i not in infrequent]
        outputs: list[Category] = list(frequent)
        has_bucket = bool(infrequent)
        drop_index = None
        n_out = len(frequent) + has_bucket
        if self.params.drop == "first" and n_out or self.params.drop == "if_binary" and n_out == 2:
            drop_index = 0
        names = [f"{column}_{_label(v)}" for v in outputs] + (
            [f"{column}_{INFREQUENT}"] * has_bucket
        )
        dropped: Any = None
        if drop_index is not None:
            dropped = INFREQUENT if not frequent else frequent[0]
            names = names[1:]
        return {
            "categories": categories,
            "infrequent": [categories[i] for i in sorted(infrequent)],
            "drop_index": drop_index,
            "dropped": dropped,
            "outputs": names,
        }

    def _infrequent(self, counts: list[int], n_rows: int) -> set[int]:
        """Indices of infrequent categories, by scikit-learn's `_identify_infrequent` rule."""
        p = self.params
        if p.min_frequency is None and p.max_categories is None:
            return set()
        threshold: float | None = p.min_frequency
        if isinstance(p.min_frequency, float):
            threshold = p.min_frequency * n_rows  # a fraction of all rows, nulls included
        infrequent = {i for i, n in enumerate(counts) if threshold is not None and n < threshold}
        n_current = len(counts) - len(infrequent) + 1
        if p.max_categories is not None and p.max_categories < n_current:
            keep = p.max_categories - 1
            if keep == 0:
                return set(range(len(counts)))
            by_count = sorted(range(len(counts)), key=lambda i: counts[i])  # stable, like mergesort
            infrequent |= set(by_count[:-keep])
        return infrequent

    def _check_codes(self, encodings: dict[str, Any]) -> str:
        """Codes for unknown/missing must not collide with category codes; pick the output dtype."""
        p = self.params
        special = {
            "unknown_value": p.unknown_value,
            "encoded_missing_value": p.encoded_missing_value,
        }
        if self.unknown_policy != "use_encoded_value":
            del special["unknown_value"]
        is_float = False
        for name, value in special.items():
            if value is None:
                continue
            if isinstance(value, float) and not value.is_integer():
                is_float = True
                continue
            for column, encoding in encodings.items():
                if 0 <= value < len(encoding["categories"]):
                    raise RecipeError(
                        f"encode: {name} {value} is already the code of category "
                        f"{encoding['categories'][int(value)]!r} in '{column}'",
                        hint=f"use a negative {name} such as -1",
                    )
        return "float64" if is_float else "int64"

    def _check_names(self, frame: pl.DataFrame, encodings: dict[str, Any]) -> None:
        kept = set(frame.columns) - (set() if self.params.keep_original else set(encodings))
        seen: set[str] = set()
        for column, encoding in encodings.items():
            for name in encoding["outputs"]:
                if name in kept or name in seen:
                    raise DataError(
                        f"encode: output column '{name}' (from '{column}') would clash with "
                        "another column of the same name",
                        hint="rename the column first, or leave it out of `columns:`",
                    )
                seen.add(name)

    class State(StepState):
        method: Literal["onehot", "ordinal"]
        columns: list[Column]
        encodings: dict[Column, Encoding]
        dtype: Literal["int64", "float64"] | None = None  # ordinal: the codes' dtype

        @model_validator(mode="after")
        def _consistent(self) -> Encode.State:
            if set(self.encodings) != set(self.columns):
                raise ValueError("encodings: not one per encoded column")
            if (self.method == "ordinal") != (self.dtype is not None):
                raise ValueError("dtype: given for, and only for, method ordinal")
            for column, encoding in self.encodings.items():
                encoding.check(column, self.method)
            return self

        def made(self, step: Step, columns: dict[str, str]) -> dict[str, str]:
            if self.method == "ordinal":
                suffix = "_ordinal" if step.params.keep_original else ""
                return {f"{c}{suffix}": "numeric" for c in self.columns}
            kind = "boolean" if step.params.dtype == "boolean" else "numeric"
            return {name: kind for e in self.encodings.values() for name in e.outputs or []}

    # -- applying ---------------------------------------------------------------------------------
    def required_columns(self, state: dict[str, Any]) -> list[str]:
        return list(state["encodings"])

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        columns = state["columns"]
        if not columns:
            return frame
        _check_dtypes(frame, columns)
        if state["method"] == "ordinal":
            return self._apply_ordinal(frame, state, ctx)
        encodings = state["encodings"]
        # one pass over each column maps its values to small integer codes; numpy then lays out
        # the indicator columns (bool -> uint8 is a free view there, a full copy in polars)
        schema = frame.schema
        codes = frame.select(_code_expr(schema, c, encodings[c]["categories"]) for c in columns)
        indicators: dict[str, list[pl.Series]] = {}
        unknown: dict[str, list[Category]] = {}
        seen: dict[str, int] = {}
        for c in columns:
            values = codes[c].to_numpy()
            if self.unknown_policy == "error" and _has_unseen(encodings[c], values):
                unknown[c] = encodings[c]["categories"]
            elif self.unknown_policy != "error":
                seen[c] = _count_unseen(encodings[c], values)
            indicators[c] = self._indicators(encodings[c], values)
        if unknown:
            _seen_unknown(frame, unknown, "encode")
        if seen:
            _report_unknown(
                frame,
                seen,
                {c: encodings[c]["categories"] for c in seen},
                {c: self._unknown_becomes(c, encodings[c]) for c in seen},
                ctx,
            )
        out: list[pl.Series] = []
        for c in frame.columns:
            if c not in encodings or self.params.keep_original:
                out.append(frame.get_column(c))
            out.extend(indicators.get(c, []))
        return pl.DataFrame(out)

    def _unknown_becomes(self, column: str, encoding: dict[str, Any]) -> str:
        """What an unseen category turns into, in words, for the warning."""
        if self.unknown_policy == "infrequent" and encoding["infrequent"]:
            if encoding["drop_index"] is not None and encoding["dropped"] == INFREQUENT:
                return f"they went to the dropped '{column}_{INFREQUENT}' (all zeros)"
            return f"they went to '{column}_{INFREQUENT}'"
        return f"their '{column}_*' indicator columns are all zero"

    def _indicators(self, encoding: dict[str, Any], codes: np.ndarray) -> list[pl.Series]:
        """The indicator columns of one column, from its codes (see `_code_expr`)."""
        lut = self._output_of_code(encoding)
        outputs = encoding["outputs"]
        hot = np.equal.outer(np.arange(len(outputs), dtype=np.uint32), lut[codes])
        kind = self.params.dtype
        if kind == "boolean":
            return [pl.Series(name, hot[i]) for i, name in enumerate(outputs)]
        if kind in ("uint8", "int8"):
            hot = hot.view(np.dtype(kind))
        else:
            hot = hot.astype(np.dtype(kind))
        return [pl.Series(name, hot[i]) for i, name in enumerate(outputs)]

    def _output_of_code(self, encoding: dict[str, Any]) -> np.ndarray:
        """For each code, the index of the output column it sets (len(outputs): none)."""
        categories, infrequent = encoding["categories"], encoding["infrequent"]
        frequent = [v for v in categories if v not in infrequent]
        bucket = len(frequent) if infrequent else None
        none = len(encoding["outputs"])

        def output(index: int | None) -> int:
            drop = encoding["drop_index"]
            if index is None or index == drop:
                return none
            return index - 1 if drop is not None and index > drop else index

        position = {_key(v): i for i, v in enumerate(frequent)}
        values = [v for v in categories if v is not None]
        lut = [output(position.get(_key(v), bucket)) for v in values]
        unseen = output(bucket if self.unknown_policy == "infrequent" else None)
        missing = output(position.get(_key(None), bucket)) if None in categories else unseen
        return np.array([*lut, unseen, missing], dtype=np.uint32)

    def _apply_ordinal(
        self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext
    ) -> pl.DataFrame:
        p = self.params
        dtype = pl.Float64 if state["dtype"] == "float64" else pl.Int64
        use_encoded = self.unknown_policy == "use_encoded_value"
        exprs = []
        counts = []
        schema = frame.schema
        for c in state["columns"]:
            categories = state["encodings"][c]["categories"]
            # the codes as a Series of the output dtype: a NaN or fractional code for null does
            # not fit the int64 Series polars would infer from a mapping
            codes = pl.Series([*range(len(categories)), p.encoded_missing_value], dtype=dtype)
            name = f"{c}_ordinal" if p.keep_original else c
            base = _base(schema, c)
            if use_encoded:
                unknown = pl.lit(p.unknown_value).cast(dtype)
                expr = base.replace_strict([*categories, None], codes, default=unknown)
                members = _members(schema[c], categories)
                counts.append((base.is_not_null() & ~base.is_in(members)).sum().alias(c))
            else:
                expr = base.replace_strict([*categories, None], codes)
            exprs.append(expr.alias(name))
        if counts and frame.height:
            found = frame.select(counts).row(0, named=True)
            _report_unknown(
                frame,
                found,
                {c: [*state["encodings"][c]["categories"], None] for c in found},
                dict.fromkeys(found, f"coded as {p.unknown_value}"),
                ctx,
            )
        try:
            out = frame.with_columns(exprs)
        except pl.exceptions.InvalidOperationError:
            # only unseen categories make the strict mapping fail: name them
            _seen_unknown(
                frame,
                {c: [*state["encodings"][c]["categories"], None] for c in state["columns"]},
                "encode",
            )
            raise
        if p.keep_original:
            order = []
            for c in frame.columns:
                order.append(c)
                if c in state["encodings"]:
                    order.append(f"{c}_ordinal")
            out = out.select(order)
        return out

    def learned(self, state: dict[str, Any]) -> dict[str, Any]:
        encodings = state["encodings"]
        if state["method"] == "ordinal":
            return {
                "method": "ordinal",
                "categories": {c: len(e["categories"]) for c, e in encodings.items()},
            }
        return {
            "method": "onehot",
            "columns_out": {c: len(e["outputs"]) for c, e in encodings.items()},
            "infrequent": {c: e["infrequent"] for c, e in encodings.items() if e["infrequent"]},
            "dropped": {
                c: e["dropped"] for c, e in encodings.items() if e["drop_index"] is not None
            },
        }
