"""Resampling for imbalanced classes: over-, under- and combined sampling with imbalanced-learn.

Every step here is `train_only`: it changes the training rows and is skipped by `prepkit apply`
and on the valid/test parts of a split, so nothing synthetic leaks into evaluation data.

How rows come out, for every sampler:

- original rows that are kept come first, in their original order; added rows follow, in the
  order imbalanced-learn generates them (class by class);
- feature columns of synthetic rows hold the sampler's values: integer columns are rounded back to
  integers, categorical/boolean columns (SMOTENC/SMOTEN) keep their levels and dtype;
- columns that are not features (ids, dates, free text) are null in synthetic rows; rows that are
  whole copies of an original row (`oversample` without `shrinkage`) copy every column;
- `mark_synthetic: true` adds a boolean `synthetic` column (true for added rows).

Feature values are handed to imbalanced-learn as numpy arrays at the step edge, so for numeric
data the rows out are exactly imbalanced-learn's own `fit_resample` output for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field

from prepkit.columns import Selector, dtype_group, select_columns
from prepkit.engines.stages import appending, by_position
from prepkit.engines.statistics import Counts, Missing
from prepkit.errors import DataError, suggest
from prepkit.steps.base import Column, Step, StepContext, StepParams, StepState, register

if TYPE_CHECKING:
    from prepkit.steps.neighbours import StreamedNeighbours

Strategy = (
    Literal["auto", "minority", "majority", "not majority", "not minority", "all"]
    | float
    | dict[int | str, int]
)
MARK = "synthetic"


# -- shared parameters ----------------------------------------------------------------------------
class ResampleParams(StepParams):
    columns: Selector = Field(
        "all",
        description="Feature columns the sampler looks at (default: all but the target). "
        "Other columns are carried along (null in synthetic rows).",
    )
    sampling_strategy: Strategy = Field(
        "auto",
        description="Which classes to resample: auto, minority, majority, 'not majority', "
        "'not minority', all, a float ratio minority/majority (binary targets), or a mapping "
        "{class: number of rows wanted}.",
    )
    mark_synthetic: bool = Field(
        False, description="Add a boolean `synthetic` column (true for added rows)."
    )


class KNeighborsParams(ResampleParams):
    k_neighbors: int = Field(
        5,
        ge=1,
        description="Neighbours used to interpolate; lowered (with a warning) for small classes.",
    )


# -- conversions at the numpy edge ------------------------------------------------------------------
def _key(value: Any) -> str:
    """A class label as text, the same way for YAML keys, numpy values and polars' String cast."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _labels(series: pl.Series) -> np.ndarray:
    if isinstance(series.dtype, (pl.Categorical, pl.Enum)):
        series = series.cast(pl.String)
    return series.to_numpy()


def _class_counts(series: pl.Series) -> dict[str, int]:
    counts = series.value_counts(name="n").sort(series.name)
    return {
        _key(v): int(n)
        for v, n in zip(counts[series.name].to_list(), counts["n"].to_list(), strict=True)
    }


def _matrix(frame: pl.DataFrame, features: list[str], categorical: list[str]) -> np.ndarray:
    """Features as numpy: float64 when all numeric, else an object array (str/bool levels)."""
    if not categorical:
        # row-major, the layout imbalanced-learn's own callers usually hand it
        return frame.select(features).cast(pl.Float64).to_numpy(order="c")
    X = np.empty((frame.height, len(features)), dtype=object)
    for j, name in enumerate(features):
        s = frame[name]
        if name in categorical:
            X[:, j] = (
                s.cast(pl.String) if isinstance(s.dtype, (pl.Categorical, pl.Enum)) else s
            ).to_numpy()
        else:
            X[:, j] = s.cast(pl.Float64).to_numpy()
    return X


def _distances_matrix(X: np.ndarray, positions: list[int]) -> np.ndarray:
    """A numeric matrix for neighbour searches: categorical columns one-hot encoded."""
    if not positions:
        return X.astype(np.float64, copy=False)
    blocks = []
    for j in range(X.shape[1]):
        if j in positions:
            _, inverse = np.unique(X[:, j].astype(str), return_inverse=True)
            blocks.append(np.eye(int(inverse.max()) + 1 if len(inverse) else 0)[inverse])
        else:
            blocks.append(X[:, j].astype(np.float64)[:, None])
    return np.hstack(blocks)


def _series(name: str, values: np.ndarray, dtype: pl.DataType) -> pl.Series:
    """Sampler output back to the column's dtype: integers rounded, categories as categories."""
    if dtype.is_integer():
        info = np.iinfo(str(dtype).lower())  # Int8 -> int8, UInt32 -> uint32
        numbers = np.clip(np.rint(values.astype(np.float64)), info.min, info.max)
        return pl.Series(name, numbers).cast(dtype)
    if dtype.is_float():
        return pl.Series(name, values.astype(np.float64)).cast(dtype)
    if dtype == pl.Boolean:
        return pl.Series(name, values.astype(bool))
    if dtype.is_numeric():
        return pl.Series(name, values.astype(np.float64)).cast(dtype)
    return pl.Series(name, values.tolist(), dtype=pl.String).cast(dtype)


@dataclass
class Resampled:
    """What a sampler did, in row terms.

    `kept`: original rows kept (sorted; None = all); `copies`: original rows added again as whole
    copies; `X_new`/`y_new`: synthetic rows (features and label only).
    """

    kept: np.ndarray | None = None
    copies: np.ndarray | None = None
    X_new: np.ndarray | None = None
    y_new: np.ndarray | None = None


def _split_combined(X_res: np.ndarray, y_res: np.ndarray, indices: np.ndarray, n: int) -> Resampled:
    """Rows kept by a cleaning sampler run after SMOTE: originals (< n) and synthetic (>= n)."""
    indices = np.sort(indices)
    new = indices[indices >= n]
    return Resampled(kept=indices[indices < n], X_new=X_res[new], y_new=y_res[new])


def _lower(name: str, requested: int, allowed: int, cls: str, size: int, ctx: StepContext) -> int:
    if requested <= allowed:
        return requested
    ctx.warn(f"class '{cls}' has only {size} rows: {name} lowered from {requested} to {allowed}")
    return allowed


# -- the family base ------------------------------------------------------------------------------
class Resampler(Step):
    """Shared fit/apply/describe of the resampling steps; subclasses build the imblearn sampler."""

    phase = "train_only"
    keeps_rows = False  # adds rows (fresh index) or drops them (and reports the rows kept)
    Params: ClassVar[type[StepParams]] = ResampleParams
    sampling_type: ClassVar[str] = "over-sampling"  # how imblearn reads sampling_strategy
    # categorical features: "smotenc" (SMOTENC/SMOTEN), "encode" (one-hot for distances only), "none"
    categorical_support: ClassVar[str] = "encode"

    # -- fit: validate and decide everything the resampling needs -------------------------------
    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        target = ctx.require_target(frame, self.name)
        features, categorical = self._features(frame, ctx, target)
        state: dict[str, Any] = {
            "target": target,
            "features": features,
            "categorical": categorical,
            "sampler": None,
            "neighbours": {},
        }
        if not features:
            return state
        if frame.height == 0:
            ctx.warn("no training rows: nothing to resample")
            return state
        self._check_missing(frame, features, target)
        return self._decide(state, _labels(frame[target]), ctx)

    def _decide(self, state: dict[str, Any], y: np.ndarray, ctx: StepContext) -> dict[str, Any]:
        """The sampler and its settings, from the training labels `y` (no missing labels)."""
        target = state["target"]
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise DataError(
                f"target '{target}' has a single class ({_key(classes[0])}): "
                f"{self.name} needs at least two classes",
                hint="check the target column, or resample after a split that keeps every class (stratify: true)",
            )
        strategy = self._strategy(y)
        targets = self._targets(strategy, y)
        sizes = {_key(c): int(n) for c, n in zip(classes, counts, strict=True)}
        resampled = {_key(c): sizes[_key(c)] for c, n in targets.items() if n > 0}
        state["neighbours"] = self._neighbours(resampled, sizes, ctx)
        state["sampler"] = self._sampler_name(state["features"], state["categorical"])
        return state

    def _features(
        self, frame: pl.DataFrame, ctx: StepContext, target: str
    ) -> tuple[list[str], list[str]]:
        chosen = [c for c in select_columns(frame, self.params.columns, target) if c != target]
        if MARK in frame.columns and frame.schema[MARK] == pl.Boolean:
            chosen = [c for c in chosen if c != MARK]  # the mark of an earlier resampling step
        schema = frame.schema  # once: `frame.schema` builds a new object on every call
        groups = {c: dtype_group(frame, c, schema[c]) for c in chosen}
        unusable = [c for c, g in groups.items() if g not in ("numeric", "categorical", "boolean")]
        if unusable:
            kinds = ", ".join(f"'{c}' ({groups[c]})" for c in unusable)
            if self.params.columns != "all":
                raise DataError(
                    f"{self.name} cannot use {kinds} as features",
                    hint="select numeric, categorical or boolean columns (columns: {exclude: [...]})",
                )
            ctx.warn(f"not used as features (null in synthetic rows): {kinds}")
        features = [c for c in chosen if c not in unusable]
        categorical = [c for c in features if groups[c] != "numeric"]
        if categorical and self.categorical_support == "none":
            raise DataError(
                f"{self.name} needs numeric features, but {', '.join(categorical)} are categorical",
                hint="use `smote` (SMOTENC handles categorical columns), encode them first, "
                "or leave them out with columns: {exclude: [...]}",
            )
        return features, categorical

    def _check_missing(self, frame: pl.DataFrame, features: list[str], target: str) -> None:
        schema = frame.schema

        def missing(c: str) -> pl.Expr:
            col = pl.col(c)
            return (col.is_null() | col.is_nan()) if schema[c].is_float() else col.is_null()

        counts = frame.select(missing(c).sum().alias(c) for c in features).row(0, named=True)
        self._refuse_missing(counts, target, frame[target].null_count())

    def _refuse_missing(self, counts: dict[str, int], target: str, n_missing: int) -> None:
        bad = {c: n for c, n in counts.items() if n}
        if bad:
            listed = ", ".join(f"{c} ({n})" for c, n in bad.items())
            raise DataError(
                f"missing values in feature columns: {listed}; {self.name} cannot resample rows with gaps",
                hint="impute first (add an `impute` step before this one), or leave those columns out",
            )
        if n_missing:
            raise DataError(
                f"target '{target}' has {n_missing} missing labels",
                hint="drop the rows without a label before resampling",
            )

    def _strategy(self, y: np.ndarray) -> Any:
        """The sampling_strategy with mapping keys turned into the target's own class values."""
        value = self.params.sampling_strategy
        if not isinstance(value, dict):
            return value
        lookup = {_key(c): c for c in np.unique(y)}
        out = {}
        for cls, count in value.items():
            if _key(cls) not in lookup:
                raise DataError(
                    f"sampling_strategy names class '{cls}', which is not in the target"
                    f"{suggest(_key(cls), lookup)}",
                    hint=f"classes: {', '.join(lookup)}",
                )
            out[lookup[_key(cls)]] = int(count)
        return out

    def _targets(self, strategy: Any, y: np.ndarray) -> dict[Any, int]:
        from imblearn.utils import check_sampling_strategy

        try:
            return dict(check_sampling_strategy(strategy, y, self.sampling_type))
        except ValueError as exc:
            raise DataError(
                f"sampling_strategy {self.params.sampling_strategy!r}: {exc}",
                hint="use auto, minority, 'not majority', 'not minority', all, a float (binary "
                "targets) or {class: rows}",
            ) from None

    def _neighbours(
        self, resampled: dict[str, int], sizes: dict[str, int], ctx: StepContext
    ) -> dict[str, int]:
        """Neighbour counts actually used (lowered for small classes)."""
        return {}

    def _sampler_name(self, features: list[str], categorical: list[str]) -> str:
        return self.sampler_class

    sampler_class: ClassVar[str] = ""

    class State(StepState):
        target: Column
        features: list[Column]
        categorical: list[Column]
        sampler: str | None  # None: nothing to resample
        neighbours: dict[str, int]

        def made(self, step: Step, columns: dict[str, str]) -> dict[str, str]:
            return {MARK: "boolean"} if step.params.mark_synthetic else {}

    # -- apply: resample with the decided settings ----------------------------------------------
    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        if state.get("sampler") is None:
            return frame
        features, categorical = state["features"], state["categorical"]
        X = _matrix(frame, features, categorical)
        positions = [j for j, c in enumerate(features) if c in categorical]
        y = _labels(frame[state["target"]])
        result = self.resample(X, y, self._strategy(y), state, positions, ctx.seed)
        del X  # the sampler output holds its own copy: free ours before building the frame
        out = self._assemble(frame, state, result)
        added = any(len(a) for a in (result.copies, result.X_new) if a is not None)
        if not added:  # only rows dropped: the rows kept keep their index labels
            ctx.keep_rows(np.arange(frame.height) if result.kept is None else result.kept)
        kept = frame.height if result.kept is None else len(result.kept)
        ctx.record(
            rows_synthesized=0 if result.X_new is None else len(result.X_new),
            rows_copied=0 if result.copies is None else len(result.copies),
            rows_removed=frame.height - kept,
        )
        return out

    def resample(
        self,
        X: np.ndarray,
        y: np.ndarray,
        strategy: Any,
        state: dict[str, Any],
        positions: list[int],
        seed: int,
    ) -> Resampled:
        raise NotImplementedError

    def _assemble(
        self, frame: pl.DataFrame, state: dict[str, Any], result: Resampled
    ) -> pl.DataFrame:
        mark = self._marks(frame)
        base = frame if result.kept is None else frame[result.kept]
        if mark and MARK not in frame.columns:
            base = base.with_columns(pl.lit(False).alias(MARK))
        added = self._added(frame, state, result, mark)
        return pl.concat([base, added], how="vertical") if added is not None else base

    def _marks(self, frame: pl.DataFrame) -> bool:
        """Whether rows come out with the `synthetic` mark (asked for, or made by a step before)."""
        return self.params.mark_synthetic or (
            MARK in frame.columns and frame.schema[MARK] == pl.Boolean
        )

    def _added(
        self, frame: pl.DataFrame, state: dict[str, Any], result: Resampled, mark: bool
    ) -> pl.DataFrame | None:
        """The rows a sampler adds (copies, then synthetic rows), None when it adds none."""
        parts = []
        if result.copies is not None and len(result.copies):
            copies = frame[result.copies]
            parts.append(copies.with_columns(pl.lit(True).alias(MARK)) if mark else copies)
        if result.X_new is not None and len(result.X_new):
            parts.append(self._synthetic(frame, state, result.X_new, result.y_new, mark))
        return pl.concat(parts, how="vertical") if parts else None

    @staticmethod
    def _synthetic(
        frame: pl.DataFrame, state: dict[str, Any], X_new: np.ndarray, y_new: Any, mark: bool
    ) -> pl.DataFrame:
        m = len(X_new)
        position = {c: j for j, c in enumerate(state["features"])}
        columns = []
        for name, dtype in frame.schema.items():
            if name in position:
                columns.append(_series(name, X_new[:, position[name]], dtype))
            elif name == state["target"]:
                columns.append(_series(name, np.asarray(y_new), dtype))
            else:
                columns.append(pl.Series(name, dtype=dtype).extend_constant(None, m))
        out = pl.DataFrame(columns)
        if mark:
            out = out.with_columns(pl.lit(True).alias(MARK))
        return out

    # -- report -------------------------------------------------------------------------------------
    def describe(
        self, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any]
    ) -> dict[str, Any]:
        target = state.get("target")
        out: dict[str, Any] = {}
        if target in before.columns and target in after.columns:
            out["class_counts_before"] = _class_counts(before[target])
            out["class_counts_after"] = _class_counts(after[target])
        # estimates from the row counts; apply records the exact numbers when it resamples
        out["rows_synthesized"] = max(after.height - before.height, 0)
        out["rows_copied"] = 0
        out["rows_removed"] = max(before.height - after.height, 0)
        return out

    def learned(self, state: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"sampler": state.get("sampler")}
        if state.get("neighbours"):
            out["neighbours_used"] = state["neighbours"]
        if state.get("categorical"):
            out["categorical_features"] = state["categorical"]
        return out


def _smallest(resampled: dict[str, int]) -> tuple[str, int] | None:
    if not resampled:
        return None
    cls = min(resampled, key=lambda c: resampled[c])
    return cls, resampled[cls]


class SmoteFamily(Resampler):
    """Over-samplers that interpolate between a row and its `k_neighbors` nearest same-class rows."""

    Params = KNeighborsParams
    k_param: ClassVar[str] = "k_neighbors"
    categorical_support = "none"

    def _neighbours(
        self, resampled: dict[str, int], sizes: dict[str, int], ctx: StepContext
    ) -> dict[str, int]:
        k = getattr(self.params, self.k_param)
        small = _smallest(resampled)
        if small is None:
            return {self.k_param: k}
        cls, size = small
        if size < 2:
            raise DataError(
                f"class '{cls}' has a single row: {self.name} needs at least 2 rows of a class to "
                "interpolate new ones",
                hint="use `oversample` (random copies), collect more rows, or leave this class "
                "out with sampling_strategy: {class: rows}",
            )
        return {self.k_param: _lower(self.k_param, k, size - 1, cls, size, ctx)}

    def _over(self, X: np.ndarray, y: np.ndarray, sampler: Any) -> Resampled:
        n = len(X)
        X_res, y_res = sampler.fit_resample(X, y)
        return Resampled(X_new=X_res[n:], y_new=y_res[n:])


def _smote_sampler(strategy: Any, seed: int, k: int, positions: list[int], n_features: int) -> Any:
    """SMOTE for numeric features, SMOTENC for mixed, SMOTEN when all features are categorical."""
    from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC

    common = {"sampling_strategy": strategy, "random_state": seed, "k_neighbors": k}
    if not positions:
        return SMOTE(**common)
    if len(positions) == n_features:
        return SMOTEN(**common)
    return SMOTENC(categorical_features=positions, **common)


def _smote_name(features: list[str], categorical: list[str]) -> str:
    if not categorical:
        return "SMOTE"
    return "SMOTEN" if len(categorical) == len(features) else "SMOTENC"


# -- samplers the streaming engine runs -----------------------------------------------------------
class FitsFromCounts:
    """A sampler whose settings depend only on the class counts and the features' dtypes: it
    fits from statistics, so the streaming engine runs it (with its own `streamed`)."""

    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Any]:
        target = ctx.require_target(frame, self.name)
        features, _ = self._features(frame, ctx, target)
        return [Counts(target), *(Missing(c) for c in features)]

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        target = ctx.require_target(frame, self.name)
        features, categorical = self._features(frame, ctx, target)
        state: dict[str, Any] = {"target": target, "features": features,
                                 "categorical": categorical, "sampler": None, "neighbours": {}}  # fmt: skip
        counts = answers[Counts(target)]
        if not features:
            return state
        if not counts:
            ctx.warn("no training rows: nothing to resample")
            return state
        missing = {c: answers[Missing(c)]["missing"] for c in features}
        self._refuse_missing(missing, target, counts.get(None, 0))
        labels = pl.Series(target, list(counts), dtype=frame.schema[target])
        repeats = np.repeat(np.arange(len(counts)), list(counts.values()))
        return self._decide(state, _labels(labels.gather(repeats)), ctx)


_SIZED_ROWS = 10_000  # rows whose size estimates a row's, before collecting


def _target_labels(passes: Any, target: str) -> np.ndarray:
    """The labels of every row, in order: the only column read (a pass of its own)."""
    return _labels(pl.concat(passes(lambda batch: batch.select(target))).to_series())


class StreamsOver(FitsFromCounts):
    """An over-sampler on the streaming engine: the rows of the classes it grows are collected
    (they must fit in memory; the error says how much they need), resampled as in memory, and
    the rows added follow the last batch; every other row streams through. The rows out are
    those of the memory engine, in the same order."""

    def streamed(self, passes, state, ctx):  # noqa: ANN001, ANN201
        if not state.get("sampler"):
            return None
        target = state["target"]
        adding, sizes, classes = self._plan(passes, state)
        if not adding:
            return self._unchanged(passes, state)
        self._check_fits(passes, state, {c: sizes[c] for c in adding}, sum(adding.values()))
        rows = self._collect(passes, target, np.array(list(adding), dtype=classes.dtype))
        features, categorical = state["features"], state["categorical"]
        positions = [j for j, c in enumerate(features) if c in categorical]
        # the same draws as on all rows: imbalanced-learn grows each class from its own rows
        wanted = {c: sizes[c] + n for c, n in adding.items()}
        result = self.resample_part(
            _matrix(rows, features, categorical), _labels(rows[target]), wanted, state,
            positions, ctx.seed, sum(sizes.values()),
        )  # fmt: skip
        return state, self._appended(rows, state, result)

    def _unchanged(self, passes: Any, state: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """Every class as large as asked already: the rows pass as they are (marked original)."""
        first = next(iter(passes(lambda batch: batch.head(1))))
        return state, self._appended(first, state, Resampled())

    def _plan(
        self, passes: Any, state: dict[str, Any]
    ) -> tuple[dict[Any, int], dict[Any, int], np.ndarray]:
        """From the labels of every row (the only column read): the rows to add to each class
        grown, every class's size, and the classes (sorted)."""
        y = _target_labels(passes, state["target"])
        adding = {c: n for c, n in self._targets(self._strategy(y), y).items() if n > 0}
        classes, counts = np.unique(y, return_counts=True)
        return adding, dict(zip(classes.tolist(), counts.tolist(), strict=True)), classes

    def _appended(self, rows: pl.DataFrame, state: dict[str, Any], result: Resampled) -> Any:
        """The stage: every batch passes (marked as original when rows are marked), the rows
        `result` adds to `rows` follow the last batch."""
        mark = self._marks(rows)
        added = self._added(rows, state, result, mark)
        changes = {
            "rows_synthesized": 0 if result.X_new is None else len(result.X_new),
            "rows_copied": 0 if result.copies is None else len(result.copies),
        }

        def through(batch: pl.DataFrame) -> pl.DataFrame:
            return batch.with_columns(pl.lit(False).alias(MARK)) if mark else batch

        return appending(through, added, changes)

    def resample_part(self, X, y, strategy, state, positions, seed, total):  # noqa: ANN001, ANN201
        """`resample` on the rows of the classes grown only, `total` rows in all."""
        return self.resample(X, y, strategy, state, positions, seed)

    @staticmethod
    def _collect(passes: Any, target: str, grown: np.ndarray) -> pl.DataFrame:
        """The rows of the `grown` classes, in order, and when that is one class a row of
        another after them (imbalanced-learn wants two classes; a class it does not grow is
        left as it is)."""

        def grown_rows(batch: pl.DataFrame, keep: bool = True) -> pl.DataFrame:
            return batch.filter(pl.Series(np.isin(_labels(batch[target]), grown) == keep))

        parts = list(passes(grown_rows))
        if len(grown) == 1 and parts:  # the first row of another class
            others = passes(lambda batch: grown_rows(batch, keep=False).head(1))
            parts += [next((b for b in others if b.height), parts[0].clear())]
        return pl.concat(parts, how="vertical")

    def _search_bytes(self, n: int, state: dict[str, Any]) -> int:
        """Memory held besides the `n` rows collected and their matrices (none here)."""
        return 0

    def _check_fits(
        self, passes: Any, state: dict[str, Any], collected: dict[Any, int], new: int
    ) -> None:
        """Refuse before collecting when the rows of the grown classes cannot fit in memory."""
        from prepkit.engines import available_memory, describe_bytes

        first = next(iter(passes(lambda batch: batch.head(_SIZED_ROWS))), None)
        if first is None or not first.height:
            return
        per_row = first.estimated_size() / first.height
        n = sum(collected.values())
        # the rows, their feature matrix and imbalanced-learn's copy of it with the new rows
        width = len(state["features"]) * 8
        need = int(n * per_row + new * per_row + (2 * n + new) * width)
        need += self._search_bytes(n, state)
        available = available_memory()
        if available is not None and need > available * 0.8:
            grown = ", ".join(f"'{_key(c)}' ({k:,} rows)" for c, k in collected.items())
            raise DataError(
                f"{self.name} on a batch-by-batch engine (stream, spark) holds the classes it grows in memory: "
                f"{grown} and {new:,} new rows need about {describe_bytes(need)}, but only "
                f"{describe_bytes(available)} is available",
                hint="grow fewer rows (sampling_strategy: a float or {class: rows}), use fewer "
                "feature columns (columns:), or run on a machine with more memory",
            )


@dataclass
class _Near:
    """The rows a neighbour-based over-sampler runs on in the streaming engine, and the
    neighbours of the grown-class rows among every row.

    `rows`: the rows of the classes grown (stream order), then one row of each other class (a
    stand-in for that class where only a neighbour's label is read), then `extra` rows of other
    classes whose features are read too (borderline-2). `positions`: stream positions of the
    grown-class rows; `codes`: class code (index in the sorted classes) of each row;
    `proxy[code]`: index of that class's stand-in row (-1 for a grown class); `found[param]`:
    the search for that sampler parameter (shared by parameters searched alike), its queries
    the grown-class rows in order, with at least one neighbour more than the `used[param]` the
    sampler reads (to see ties at the edge).
    """

    rows: pl.DataFrame
    positions: np.ndarray
    codes: np.ndarray
    grown: np.ndarray
    proxy: np.ndarray
    found: dict[str, StreamedNeighbours]
    used: dict[str, int]
    extra: np.ndarray  # stream positions of the rows after the stand-ins

    def indices(self, param: str, features_read: bool) -> np.ndarray:
        """The neighbours found for `param` as indices into `rows`: a grown-class row is itself,
        a row of another class its class's stand-in, or (`features_read`) its own extra row."""
        positions, values = self.neighbours(param)
        out = np.empty_like(positions)
        inside = self.grown[values]
        out[inside] = np.searchsorted(self.positions, positions[inside])
        if features_read:
            first = len(self.positions) + int((self.proxy >= 0).sum())
            out[~inside] = first + np.searchsorted(self.extra, positions[~inside])
        else:
            out[~inside] = self.proxy[values[~inside]]
        return out

    def neighbours(self, param: str) -> tuple[np.ndarray, np.ndarray]:
        """Stream positions and class codes of the neighbours the sampler reads for `param`."""
        used = self.used[param]
        return self.found[param].positions[:, :used], self.found[param].values[:, :used]

    def label_ties(self, features_read: Any) -> np.ndarray:
        """Per grown-class row: whether a tie can change the classes of the neighbours read for
        their labels only (the searches not in `features_read`)."""
        tied = np.zeros(len(self.positions), dtype=bool)
        for param, used in self.used.items():
            if param not in features_read:
                tied |= self.found[param].label_ties(used)
        return tied

    def class_rows(self) -> dict[int, np.ndarray]:
        """For each grown class (code): its rows, indices into `rows`."""
        return {int(c): np.flatnonzero(self.codes == c) for c in np.flatnonzero(self.grown)}


class StreamsNeighbours(StreamsOver):
    """An over-sampler that also reads the nearest neighbours, among ALL rows of every class, of
    each row of a class it grows (ADASYN's share of other-class neighbours, BorderlineSMOTE's
    rows in danger), on the streaming engine.

    The grown-class rows are collected (as `StreamsOver` does) with one row of each other class;
    a further pass finds each grown-class row's nearest rows among all rows batch by batch
    (`StreamedNeighbours`, the same neighbours as scikit-learn's search on all rows); then
    imbalanced-learn runs on the collected rows with, for its all-row searches, `KnownNeighbours`
    answering with those neighbours. A neighbour of another class is that class's stand-in row
    where only labels are read; where the sampler interpolates toward it (borderline-2), its own
    row, fetched by position in one more pass. The draws are imbalanced-learn's own, from the
    same rows of each grown class, so the rows added are the memory engine's.
    """

    def _searches(self, state: dict[str, Any]) -> dict[str, int]:
        """Sampler parameters whose neighbours are searched among all rows, and how many
        (imbalanced-learn asks for one more than the setting: the row itself)."""
        raise NotImplementedError

    def _toward_others(self, near: _Near, state: dict[str, Any]) -> dict[str, dict[int, Any]]:
        """Searches whose neighbours of other classes the sampler interpolates toward: for
        each, the rows it asks about per class (none here: only labels are read)."""
        return {}

    def _sampler(self, strategy: Any, seed: int, neighbours: dict[str, Any]) -> Any:
        """The imbalanced-learn sampler, neighbour settings (counts or estimators) as given."""
        raise NotImplementedError

    def resample(self, X, y, strategy, state, positions, seed):  # noqa: ANN001, ANN201
        return self._over(X, y, self._sampler(strategy, seed, state["neighbours"]))

    def _search_bytes(self, n: int, state: dict[str, Any]) -> int:
        # per neighbour: distance, position and class while merging (twice), the index handed
        # to the sampler and imbalanced-learn's copy of it
        return sum(n * k * 8 * 8 for k in self._searches(state).values())

    def streamed(self, passes, state, ctx):  # noqa: ANN001, ANN201
        if not state.get("sampler"):
            return None
        adding, sizes, classes = self._plan(passes, state)
        if not adding:
            return self._unchanged(passes, state)
        self._check_fits(passes, state, {c: sizes[c] for c in adding}, sum(adding.values()))
        near = self._near(passes, state, classes, np.isin(classes, list(adding)))
        toward = self._toward_others(near, state)
        tied = self._fetch_extra(passes, state, near, toward) | near.label_ties(toward)
        estimators = self._estimators(near, toward)
        del near.found  # the estimators hold what the sampler reads
        if tied.any():
            ctx.warn(
                f"{int(tied.sum()):,} rows of the classes grown have rows at exactly the same "
                "distance among their nearest (such as copies of rows with another label, or "
                "whole-number features): "
                "scikit-learn orders those as its search meets them, --engine stream by row "
                "order, so the rows added may differ from --engine memory's"
            )
        target = state["target"]
        wanted = {c: sizes[c] + n for c, n in adding.items()}
        X = _matrix(near.rows, state["features"], [])
        sampler = self._sampler(wanted, ctx.seed, {**state["neighbours"], **estimators})
        result = self._over(X, _labels(near.rows[target]), sampler)
        return state, self._appended(near.rows, state, result)

    @staticmethod
    def _estimators(near: _Near, toward: dict[str, dict[int, Any]]) -> dict[str, Any]:
        """For each all-row search, a `KnownNeighbours` answering the sampler's queries (the
        rows of each grown class, or those `toward` lists) with the neighbours found."""
        from prepkit.steps.neighbours import KnownNeighbours

        out = {}
        for param, used in near.used.items():
            asked = toward.get(param) or near.class_rows()
            index = near.indices(param, param in toward)
            known = [(rows, index[rows]) for rows in asked.values()]
            out[param] = KnownNeighbours(used, rows=near.rows.height, known=known)
        return out

    def _near(
        self, passes: Any, state: dict[str, Any], classes: np.ndarray, grown: np.ndarray
    ) -> _Near:
        """Collect the grown-class rows and a stand-in of each other class (one pass), then
        search their neighbours among all rows (another)."""
        from prepkit.steps.neighbours import StreamedNeighbours, search_algorithm

        target, features = state["target"], state["features"]
        parts, positions, proxies, seen = [], [], {}, 0
        for batch in passes():
            codes = np.searchsorted(classes, _labels(batch[target]))
            inside = grown[codes]
            parts.append(batch.filter(pl.Series(inside)))
            positions.append(seen + np.flatnonzero(inside))
            for code in np.unique(codes[~inside]):
                proxies.setdefault(int(code), batch[int(np.argmax(codes == code))])
            seen += batch.height
        order = sorted(proxies)
        rows = pl.concat([*parts, *(proxies[c] for c in order)], how="vertical")
        codes = np.searchsorted(classes, _labels(rows[target]))
        proxy = np.full(len(classes), -1, dtype=np.int64)
        proxy[order] = rows.height - len(order) + np.arange(len(order))
        positions = np.concatenate(positions)
        queries = _matrix(rows.head(len(positions)), features, [])
        used = self._searches(state)
        # the algorithm scikit-learn picks for all rows (it computes distances the same way); one
        # search per algorithm, for the most neighbours asked (the others read its first ones)
        algorithms = {param: search_algorithm(seen, len(features), k) for param, k in used.items()}
        searches = {
            algorithm: StreamedNeighbours(
                queries,
                min(max(used[p] for p in used if algorithms[p] == algorithm) + 1, seen),
                algorithm,
            )  # fmt: skip
            for algorithm in set(algorithms.values())
        }
        for batch in passes():
            X = _matrix(batch, features, [])
            codes_b = np.searchsorted(classes, _labels(batch[target]))
            for search in searches.values():
                search.add(X, codes_b)
        found = {param: searches[algorithm] for param, algorithm in algorithms.items()}
        return _Near(rows, positions, codes, grown, proxy, found, used, np.empty(0, dtype=np.int64))

    def _fetch_extra(
        self, passes: Any, state: dict[str, Any], near: _Near, toward: dict[str, dict[int, Any]]
    ) -> np.ndarray:
        """Add to `near.rows` the rows of other classes the sampler interpolates toward (the
        neighbours of the rows it asks about), read by position in one more pass (none when
        `toward` is empty). Returns, per grown-class row, whether a tie between two different
        rows (features or class) makes the order of its neighbours scikit-learn's to choose."""
        tied = np.zeros(len(near.positions), dtype=bool)
        if not toward:
            return tied
        wanted, pairs = [], []
        for param, asked in toward.items():
            positions, classes = near.neighbours(param)
            search = near.found[param]
            equal = search.equal_pairs(near.used[param])
            for rows in asked.values():
                wanted.append(positions[rows][~near.grown[classes[rows]]])
                query, j = np.nonzero(equal[rows])
                query = rows[query]
                pairs.append((query, search.positions[query, j], search.positions[query, j + 1]))
        extra = np.unique(np.concatenate(wanted))
        query, first, second = (np.concatenate(p) for p in zip(*pairs, strict=True))
        self._check_extra_fits(near.rows, len(extra), state)
        looked = np.unique(np.concatenate([first, second]))
        identity = np.empty(len(looked), dtype=np.uint64)  # a row's features and label
        parts, seen = [], 0
        for batch in passes():
            lo, hi = np.searchsorted(extra, [seen, seen + batch.height])
            parts.append(batch[extra[lo:hi] - seen])
            lo, hi = np.searchsorted(looked, [seen, seen + batch.height])
            rows = batch[looked[lo:hi] - seen].select(*state["features"], state["target"])
            identity[lo:hi] = rows.hash_rows().to_numpy()
            seen += batch.height
        near.rows = pl.concat([near.rows, *parts], how="vertical")
        near.extra = extra
        differ = (
            identity[np.searchsorted(looked, first)] != identity[np.searchsorted(looked, second)]
        )
        tied[query[differ]] = True
        return tied

    def _check_extra_fits(self, rows: pl.DataFrame, n: int, state: dict[str, Any]) -> None:
        """Refuse before fetching when the other-class rows interpolated toward cannot fit."""
        from prepkit.engines import available_memory, describe_bytes

        need = int(
            n * (rows.estimated_size() / max(rows.height, 1) + 2 * 8 * len(state["features"]))
        )
        available = available_memory()
        if available is not None and need > available * 0.8:
            raise DataError(
                f"{self.name} on a batch-by-batch engine (stream, spark) also holds the {n:,} rows of other classes "
                f"it interpolates toward: they need about {describe_bytes(need)}, but only "
                f"{describe_bytes(available)} is available",
                hint="use kind: borderline-1 (it reads only their labels), grow fewer rows, "
                "or run this recipe with --engine memory on a machine with more memory",
            )


# -- over-sampling ---------------------------------------------------------------------------------
@register("oversample")
class Oversample(StreamsOver, Resampler):
    """Random over-sampling: add copies of rows of the classes to grow (RandomOverSampler).

    Without `shrinkage` the added rows are whole copies of original rows (every column copied).
    With `shrinkage` (a smoothed bootstrap) numeric features get Gaussian noise scaled by
    `shrinkage`, so the added rows are synthetic: non-feature columns are null. Shrinkage needs
    numeric features.

    ```yaml
    - step: oversample
      sampling_strategy: minority
      shrinkage: 0.5          # optional smoothed bootstrap
      mark_synthetic: true
    ```
    """

    class Params(ResampleParams):
        shrinkage: float | None = Field(
            None,
            ge=0,
            description="Smoothed bootstrap: noise factor for added rows (numeric features only).",
        )

    sampler_class = "RandomOverSampler"

    def _features(
        self, frame: pl.DataFrame, ctx: StepContext, target: str
    ) -> tuple[list[str], list[str]]:
        features, categorical = super()._features(frame, ctx, target)
        if categorical and self.params.shrinkage is not None:
            raise DataError(
                f"oversample with shrinkage needs numeric features, but {', '.join(categorical)} are categorical",
                hint="drop `shrinkage`, encode those columns, or leave them out with columns: {exclude: [...]}",
            )
        return features, categorical

    def resample(self, X, y, strategy, state, positions, seed):  # noqa: ANN001, ANN201
        from imblearn.over_sampling import RandomOverSampler

        n = len(X)
        shrinkage = self.params.shrinkage
        sampler = RandomOverSampler(
            sampling_strategy=strategy, random_state=seed, shrinkage=shrinkage
        )
        if shrinkage is None:
            # the choice depends on y only: row numbers stand in for the features
            sampler.fit_resample(np.arange(n).reshape(-1, 1), y)
            return Resampled(copies=sampler.sample_indices_[n:])
        X_res, y_res = sampler.fit_resample(X, y)
        return Resampled(X_new=X_res[n:], y_new=y_res[n:])

    def resample_part(self, X, y, strategy, state, positions, seed, total):  # noqa: ANN001, ANN201
        if self.params.shrinkage is None:
            return self.resample(X, y, strategy, state, positions, seed)
        # imbalanced-learn's noise is shrinkage * (4 / ((d + 2) n)) ** (1 / (d + 4)) * std, n the
        # rows it is given: scaled so that n counts every training row, the noise is the same
        d = X.shape[1]
        factor = self.params.shrinkage * (len(X) / total) ** (1 / (d + 4))
        copy = type(self)(self.params.model_copy(update={"shrinkage": factor}), self.id)
        return copy.resample(X, y, strategy, state, positions, seed)


@register("smote")
class Smote(StreamsOver, SmoteFamily):
    """SMOTE: synthesize rows on the line between a row and one of its nearest same-class rows.

    When the features include categorical or boolean columns it uses SMOTENC automatically (SMOTEN
    when every feature is categorical): categorical values of a new row are the most frequent
    among its neighbours, and come back with the column's own dtype and levels. Numeric columns
    should be on comparable scales (scale first) for the neighbour search to be meaningful.

    ```yaml
    - step: smote
      columns: {exclude: [customer_id, signup_date]}
      sampling_strategy: auto     # grow every class to the majority's size
      k_neighbors: 5
      mark_synthetic: true
    ```
    """

    categorical_support = "smotenc"

    def _sampler_name(self, features: list[str], categorical: list[str]) -> str:
        return _smote_name(features, categorical)

    def streamed(self, passes, state, ctx):  # noqa: ANN001, ANN201
        if state.get("sampler") == "SMOTEN":
            raise DataError(
                "smote with categorical features only (SMOTEN) measures distances from category "
                "frequencies in every class, which needs all training rows at once; "
                "--engine stream does not do that",
                hint="run this recipe with --engine memory, or add a numeric feature (SMOTENC)",
            )
        return super().streamed(passes, state, ctx)

    def resample(self, X, y, strategy, state, positions, seed):  # noqa: ANN001, ANN201
        k = state["neighbours"]["k_neighbors"]
        return self._over(X, y, _smote_sampler(strategy, seed, k, positions, X.shape[1]))


class BorderSmoteFamily(SmoteFamily):
    """SMOTE variants that also look at `m_neighbors` to find rows near the class border."""

    def _neighbours(self, resampled, sizes, ctx):  # noqa: ANN001, ANN201
        out = super()._neighbours(resampled, sizes, ctx)
        out["m_neighbors"] = min(self.params.m_neighbors, sum(sizes.values()) - 1)
        return out


@register("borderline_smote")
class BorderlineSmote(StreamsNeighbours, BorderSmoteFamily):
    """Borderline-SMOTE: SMOTE only from minority rows near the class border (numeric features).

    A row of a grown class is "in danger" when at least half, but not all, of its `m_neighbors`
    nearest rows (among all rows, every class) belong to other classes; new rows are made from
    those rows only. borderline-1 interpolates toward `k_neighbors` nearest rows of the same
    class, borderline-2 toward the nearest rows of any class (a step of at most half the way
    toward a row of another class).

    Streams (`--engine stream`), with the rows of the memory engine: it holds the rows of the
    classes it grows and their new rows (as `smote` does), one row of each other class, and for
    each grown-class row its `m_neighbors + 1` nearest rows (position and class; with
    borderline-2 also its `k_neighbors + 1` nearest, and the rows of other classes among those
    of the rows in danger), found over every row batch by batch. Where rows lie at exactly the
    same distance (copies of a row with another label, whole-number features) scikit-learn's
    order among them is its search's, the stream engine's the row order: it then warns that
    the rows added may differ from the memory engine's.

    ```yaml
    - step: borderline_smote
      kind: borderline-1
      k_neighbors: 5
      m_neighbors: 10
    ```
    """

    class Params(KNeighborsParams):
        m_neighbors: int = Field(
            10, ge=1, description="Neighbours used to decide whether a row is in danger."
        )
        kind: Literal["borderline-1", "borderline-2"] = Field(
            "borderline-1", description="Borderline variant."
        )

    sampler_class = "BorderlineSMOTE"

    def _searches(self, state: dict[str, Any]) -> dict[str, int]:
        nb = state["neighbours"]
        out = {"m_neighbors": nb["m_neighbors"] + 1}
        if self.params.kind == "borderline-2":  # interpolates toward neighbours among all rows
            out["k_neighbors"] = nb["k_neighbors"] + 1
        return out

    def _toward_others(self, near: _Near, state: dict[str, Any]) -> dict[str, dict[int, Any]]:
        """borderline-2 asks for the all-row neighbours of the rows in danger of each class:
        imbalanced-learn's rule (`_in_danger_noise`) on the labels of their m-neighbours."""
        if self.params.kind != "borderline-2":
            return {}
        _, classes = near.neighbours("m_neighbors")
        m = state["neighbours"]["m_neighbors"]
        asked = {}
        for code, rows in near.class_rows().items():
            others = (classes[rows, 1:] != code).sum(axis=1)
            asked[code] = rows[(others >= m / 2) & (others < m)]
        return {"k_neighbors": asked}

    def _sampler(self, strategy: Any, seed: int, neighbours: dict[str, Any]) -> Any:
        from imblearn.over_sampling import BorderlineSMOTE

        return BorderlineSMOTE(
            sampling_strategy=strategy, random_state=seed, k_neighbors=neighbours["k_neighbors"],
            m_neighbors=neighbours["m_neighbors"], kind=self.params.kind,
        )  # fmt: skip


@register("svm_smote")
class SvmSmote(BorderSmoteFamily):
    """SVM-SMOTE: SMOTE around the support vectors of a linear-kernel SVM (numeric features).

    ```yaml
    - step: svm_smote
      k_neighbors: 5
      m_neighbors: 10
      out_step: 0.5
    ```
    """

    class Params(KNeighborsParams):
        m_neighbors: int = Field(
            10, ge=1, description="Neighbours used to decide whether a support vector is in danger."
        )
        out_step: float = Field(
            0.5, gt=0, description="Step size when extrapolating away from the border."
        )

    sampler_class = "SVMSMOTE"

    def resample(self, X, y, strategy, state, positions, seed):  # noqa: ANN001, ANN201
        from imblearn.over_sampling import SVMSMOTE

        nb = state["neighbours"]
        sampler = SVMSMOTE(
            sampling_strategy=strategy, random_state=seed, k_neighbors=nb["k_neighbors"],
            m_neighbors=nb["m_neighbors"], out_step=self.params.out_step,
        )  # fmt: skip
        return self._over(X, y, sampler)


@register("adasyn")
class Adasyn(StreamsNeighbours, SmoteFamily):
    """ADASYN: like SMOTE, but more synthetic rows where the minority is harder to learn.

    Each row of a grown class gets a share of the new rows proportional to how many of its
    `n_neighbors` nearest rows (among all rows, every class) belong to other classes; new rows
    are interpolated toward its `n_neighbors` nearest rows of the same class.

    Streams (`--engine stream`), with the rows of the memory engine: it holds the rows of the
    classes it grows and their new rows (as `smote` does), one row of each other class, and for
    each grown-class row the position and class of its `n_neighbors + 1` nearest rows, found
    over every row batch by batch. Where rows lie at exactly the same distance (copies of a row
    with another label, whole-number features) scikit-learn's order among them is its
    search's, the stream engine's the row order: it then warns that the rows added may differ
    from the memory engine's.

    ```yaml
    - step: adasyn
      n_neighbors: 5
    ```
    """

    class Params(ResampleParams):
        n_neighbors: int = Field(
            5,
            ge=1,
            description="Neighbours used to interpolate; lowered (with a warning) for small classes.",
        )

    k_param = "n_neighbors"
    sampler_class = "ADASYN"

    def _searches(self, state: dict[str, Any]) -> dict[str, int]:
        return {"n_neighbors": state["neighbours"]["n_neighbors"] + 1}

    def _sampler(self, strategy: Any, seed: int, neighbours: dict[str, Any]) -> Any:
        from imblearn.over_sampling import ADASYN

        return ADASYN(
            sampling_strategy=strategy, random_state=seed, n_neighbors=neighbours["n_neighbors"]
        )


# -- under-sampling --------------------------------------------------------------------------------
class Undersampler(Resampler):
    """Under-samplers keep a subset of the original rows (every column as it was)."""

    sampling_type = "under-sampling"

    def _kept(self, sampler: Any, X: np.ndarray, y: np.ndarray) -> Resampled:
        sampler.fit_resample(X, y)
        return Resampled(kept=np.sort(sampler.sample_indices_))


@register("undersample")
class Undersample(FitsFromCounts, Undersampler):
    """Random under-sampling: keep a random subset of the classes to shrink (RandomUnderSampler).

    Kept rows are original rows in their original order, with every column.

    ```yaml
    - step: undersample
      sampling_strategy: 0.5     # binary: minority/majority ratio after sampling
    ```
    """

    class Params(ResampleParams):
        replacement: bool = Field(False, description="Draw rows with replacement.")

    sampler_class = "RandomUnderSampler"

    def streamed(self, passes, state, ctx):  # noqa: ANN001, ANN201
        """The rows kept, chosen from the labels of every training row (the only column read)."""
        if not state.get("sampler"):
            return None
        y = _target_labels(passes, state["target"])
        kept = self.resample(np.empty((len(y), 0)), y, self._strategy(y), state, [], ctx.seed).kept
        return state, by_position(kept, keep=True)

    def resample(self, X, y, strategy, state, positions, seed):  # noqa: ANN001, ANN201
        from imblearn.under_sampling import RandomUnderSampler

        n = len(X)
        sampler = RandomUnderSampler(
            sampling_strategy=strategy, random_state=seed, replacement=self.params.replacement
        )
        sampler.fit_resample(np.arange(n).reshape(-1, 1), y)  # the choice depends on y only
        return Resampled(kept=np.sort(sampler.sample_indices_))


@register("near_miss")
class NearMiss(Undersampler):
    """NearMiss: keep the majority rows closest to the minority (version 1, 2 or 3).

    Categorical features are one-hot encoded internally for the distance computation.

    ```yaml
    - step: near_miss
      version: 1
      n_neighbors: 3
    ```
    """

    class Params(ResampleParams):
        version: Literal[1, 2, 3] = Field(1, description="NearMiss heuristic (1, 2 or 3).")
        n_neighbors: int = Field(
            3, ge=1, description="Neighbours averaged for distances; lowered for small classes."
        )
        n_neighbors_ver3: int = Field(
            3, ge=1, description="Version 3: neighbours used to pre-select majority rows."
        )

    sampler_class = "NearMiss"

    def _neighbours(self, resampled, sizes, ctx):  # noqa: ANN001, ANN201
        cls = min(sizes, key=lambda c: sizes[c])
        size = sizes[cls]
        return {
            "n_neighbors": _lower("n_neighbors", self.params.n_neighbors, size, cls, size, ctx),
            "n_neighbors_ver3": self.params.n_neighbors_ver3,
        }

    def resample(self, X, y, strategy, state, positions, seed):  # noqa: ANN001, ANN201
        from imblearn.under_sampling import NearMiss as Sampler

        nb = state["neighbours"]
        sampler = Sampler(
            sampling_strategy=strategy, version=self.params.version,
            n_neighbors=nb["n_neighbors"], n_neighbors_ver3=nb["n_neighbors_ver3"],
        )  # fmt: skip
        return self._kept(sampler, _distances_matrix(X, positions), y)


@register("tomek_links")
class TomekLinksStep(Undersampler):
    """Tomek links: remove rows that form a cross-class nearest-neighbour pair (cleaning).

    The default `auto` removes only the majority row of each link. Categorical features are
    one-hot encoded internally for the distance computation.

    ```yaml
    - step: tomek_links
      sampling_strategy: all     # remove both rows of each link
    ```
    """

    sampling_type = "clean-sampling"
    sampler_class = "TomekLinks"

    def resample(self, X, y, strategy, state, positions, seed):  # noqa: ANN001, ANN201
        from imblearn.under_sampling import TomekLinks

        return self._kept(
            TomekLinks(sampling_strategy=strategy), _distances_matrix(X, positions), y
        )


@register("edited_nearest_neighbours")
class EditedNearestNeighboursStep(Undersampler):
    """Edited nearest neighbours: remove rows whose neighbours mostly disagree with their class.

    ```yaml
    - step: edited_nearest_neighbours
      n_neighbors: 3
      kind_sel: all      # all: every neighbour must agree; mode: the majority must
    ```
    """

    class Params(ResampleParams):
        n_neighbors: int = Field(3, ge=1, description="Neighbours looked at for each row.")
        kind_sel: Literal["all", "mode"] = Field(
            "all", description="all: remove unless every neighbour agrees; mode: unless most do."
        )

    sampling_type = "clean-sampling"
    sampler_class = "EditedNearestNeighbours"

    def _neighbours(self, resampled, sizes, ctx):  # noqa: ANN001, ANN201
        total, k = sum(sizes.values()), self.params.n_neighbors
        if k > total - 1:
            ctx.warn(f"only {total} rows: n_neighbors lowered from {k} to {total - 1}")
        return {"n_neighbors": min(k, total - 1)}

    def resample(self, X, y, strategy, state, positions, seed):  # noqa: ANN001, ANN201
        from imblearn.under_sampling import EditedNearestNeighbours

        sampler = EditedNearestNeighbours(
            sampling_strategy=strategy,
            n_neighbors=state["neighbours"]["n_neighbors"],
            kind_sel=self.params.kind_sel,
        )
        return self._kept(sampler, _distances_matrix(X, positions), y)


# -- combined --------------------------------------------------------------------------------------
class CombinedSampler(SmoteFamily):
    """SMOTE (SMOTENC for mixed features), then a cleaning pass over all classes.

    Equals imbalanced-learn's SMOTETomek / SMOTEENN with `smote=SMOTE(k_neighbors=k)`.
    """

    categorical_support = "smotenc"

    def _sampler_name(self, features: list[str], categorical: list[str]) -> str:
        return f"{_smote_name(features, categorical)}+{self.cleaner}"

    cleaner: ClassVar[str] = ""

    def _clean(self, state: dict[str, Any]) -> Any:
        raise NotImplementedError

    def resample(self, X, y, strategy, state, positions, seed):  # noqa: ANN001, ANN201
        n = len(X)
        smote = _smote_sampler(
            strategy, seed, state["neighbours"]["k_neighbors"], positions, X.shape[1]
        )
        X_res, y_res = smote.fit_resample(X, y)
        cleaner = self._clean(state)
        cleaner.fit_resample(_distances_matrix(X_res, positions), y_res)
        return _split_combined(X_res, y_res, cleaner.sample_indices_, n)


@register("smote_tomek")
class SmoteTomek(CombinedSampler):
    """SMOTE then Tomek-link cleaning on every class (imbalanced-learn's SMOTETomek).

    ```yaml
    - step: smote_tomek
      k_neighbors: 5
    ```
    """

    cleaner = "TomekLinks"

    def _clean(self, state: dict[str, Any]) -> Any:
        from imblearn.under_sampling import TomekLinks

        return TomekLinks(sampling_strategy="all")


@register("smote_enn")
class SmoteEnn(CombinedSampler):
    """SMOTE then edited-nearest-neighbours cleaning on every class (imbalanced-learn's SMOTEENN).

    ```yaml
    - step: smote_enn
      k_neighbors: 5
      n_neighbors: 3
    ```
    """

    class Params(KNeighborsParams):
        n_neighbors: int = Field(
            3, ge=1, description="Neighbours looked at by the cleaning pass (ENN)."
        )

    cleaner = "EditedNearestNeighbours"

    def _clean(self, state: dict[str, Any]) -> Any:
        from imblearn.under_sampling import EditedNearestNeighbours

        return EditedNearestNeighbours(sampling_strategy="all", n_neighbors=self.params.n_neighbors)
