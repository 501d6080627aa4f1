"""The step contract and the registry of steps by their YAML name.

A step is one class in its family's module::

    @register("impute")
    class Impute(Step):
        '''Fill missing values ... (docstring with a YAML example)'''

        class Params(StepParams):
            columns: Selector = "numeric"
            strategy: Literal["mean", "median"] = "median"

        class State(StepState):                           # what `fit` returns, checked on load
            columns: list[Column]
            fill: dict[Column, Scalar]

        def fit(self, frame, ctx) -> dict: ...            # learned state, plain JSON data
        def apply(self, frame, state, ctx) -> frame: ...  # uses only the state
        def describe(self, before, after, state) -> dict: # counts for the report

`phase` is "transform" (fit on train, apply everywhere) or "train_only" (changes training rows;
skipped by `prepkit apply` and on valid/test parts unless the step says `runs_at_apply`).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

Phase = Literal["transform", "train_only"]


class StepParams(BaseModel):
    """Base for every step's parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        None, description="Stable id for reports and artifacts (default NAME_N)."
    )


def _known(name: str, info: ValidationInfo) -> str:
    columns = (info.context or {}).get("columns")
    if columns is not None and name not in columns:
        raise ValueError(f"column '{name}' is not a column of the data at this step")
    return name


# A column name in a learned state that the data must have at this step. Checked when an artifact
# is loaded: the context's `columns` (name -> kind) are the columns known before the step.
Column = Annotated[str, AfterValidator(_known)]


def _scalar(value: Any) -> Any:
    finite = not isinstance(value, float) or math.isfinite(value)
    if value is None or (isinstance(value, (bool, int, float, str)) and finite):
        return value
    raise ValueError(f"expected a finite number, text, true/false or null, got {value!r}")


# A value learned from the data (a fill value, a category): one JSON scalar, numbers finite.
Scalar = Annotated[Any, AfterValidator(_scalar)]


class StepState(BaseModel):
    """Base of a step's learned-state schema (`Step.State`), checked when an artifact is loaded.

    Strict: JSON types as `fit` writes them (no "1" for 1), no unknown keys; use `FiniteFloat`
    for numbers that must be finite, `Scalar` for learned values and `Column` for the columns
    the step reads. A check of the whole model starts its message with the field
    (`"fill.age: ..."`), so load errors name it.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    def made(self, step: Step, columns: dict[str, str]) -> dict[str, str]:
        """The columns (name -> kind, see `column_kind`) this step adds or changes the kind of,
        given the `columns` known before it; the steps after it may read them."""
        return {}

    @staticmethod
    def entry_for_each(columns: list[str], mapping: dict[str, Any], field: str, what: str) -> None:
        """A check that `mapping` (the state's `field`) has an entry for each of `columns`."""
        for c in columns:
            if c not in mapping:
                raise ValueError(f"{field}: no {what} for column '{c}'")


def column_kind(dtype: str | pl.DataType) -> str:
    """The kind of a dtype (or its name in an artifact's schema) a learned state is checked
    against: numeric, string (text and categories), boolean, datetime, null or other."""
    from prepkit.columns import dtype_kind
    from prepkit.dtypes import parse_dtype
    from prepkit.errors import RecipeError

    if isinstance(dtype, str):
        try:
            dtype = parse_dtype(dtype)
        except RecipeError:
            return "other"
    kind = dtype_kind(dtype)
    return "string" if kind == "categorical" else kind


def context_kind(info: ValidationInfo, column: str) -> str | None:
    """The kind of a column known at this step (None when unknown, or checked without context)."""
    return ((info.context or {}).get("columns") or {}).get(column)


@dataclass
class StepContext:
    """What a step may know besides its own parameters and the frame."""

    target: str | None = None
    seed: int = 0
    step_id: str = ""
    fold_column: str | None = None  # the K-fold split's column, when the recipe adds one
    base_dir: Path = field(default_factory=Path.cwd)
    workdir: Path | None = None  # staging folder for steps that write files (images)
    workers: int | None = None
    quiet: bool = True
    fitting: bool = False  # True while the pipeline fits the step and applies it to training data
    warnings: list[str] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)
    # which input rows a row-dropping step's output holds (a mask or ascending positions)
    rows_kept: pl.Series | np.ndarray | None = None

    @property
    def protected(self) -> tuple[str, ...]:
        """Columns a dtype group or regex never selects (only naming them does): the target and
        the K-fold split's fold column."""
        return tuple(c for c in (self.target, self.fold_column) if c is not None)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def filter_rows(self, frame: pl.DataFrame, keep: pl.Series | pl.Expr) -> pl.DataFrame:
        """`frame.filter(keep)` for a step that drops rows, remembering which rows it kept.

        The pipeline uses that to give pandas callers the index labels of the rows that remain.
        """
        if isinstance(keep, pl.Expr):  # one value per row, also for a literal
            keep = frame.select(pl.repeat(True, pl.len()) & keep).to_series()
        self.keep_rows(keep)
        return frame.filter(keep)

    def keep_rows(self, kept: pl.Series | np.ndarray) -> None:
        """Say which input rows the output holds, in order: a boolean mask or ascending positions."""
        self.rows_kept = kept

    def record(self, **changes: Any) -> None:
        """Counts for the report known only while applying (merged over `describe`'s output)."""
        self.changes.update(changes)

    def rng(self) -> random.Random:
        """A generator seeded from the recipe seed and this step's id: stable across runs."""
        return random.Random(f"{self.seed}:{self.step_id}")

    def require_target(self, frame: pl.DataFrame, step: str) -> str:
        from prepkit.errors import DataError, RecipeError

        if not self.target:
            raise RecipeError(
                f"{step} needs a target column", hint="add `target: <label column>` to the recipe"
            )
        if self.target not in frame.columns:
            raise DataError(
                f"target column '{self.target}' is not in the data",
                hint=f"available columns: {', '.join(frame.columns)}",
            )
        return self.target


class PhaseByParams:
    """A `phase` that depends on the step's parameters.

    Read from the class (registry listings, `prepkit steps`) it is the default phase; read from a
    step it is what that step's parameters make it.
    """

    def __init__(self, default: Phase, rule: Any) -> None:
        self.default = default
        self.rule = rule

    def __get__(self, step: Step | None, owner: type | None = None) -> Phase:
        return self.default if step is None else self.rule(step)


class Step:
    """Base class of all steps. Subclasses set `name` (via @register), `Params` and `phase`."""

    name: ClassVar[str] = ""
    phase: ClassVar[Phase] = "transform"
    Params: ClassVar[type[StepParams]] = StepParams
    State: ClassVar[type[StepState]] = StepState  # the schema of what `fit` returns
    # apply treats each row on its own, so new data may be applied in batches (--batch-size)
    row_wise: ClassVar[bool] = True

    def __init__(self, params: StepParams, step_id: str) -> None:
        self.params = params
        self.id = step_id

    @property
    def runs_at_apply(self) -> bool:
        """Whether `apply` runs this step on new data (train-only steps are skipped)."""
        return self.phase == "transform"

    @property
    def keeps_rows(self) -> bool:
        """Whether the output holds exactly the input's rows, in order (none added, dropped, moved).

        Only then do pandas callers get their index back unchanged. Default: transform steps do,
        train-only steps do not. A step that only drops rows says `False` and reports the rows it
        kept (`ctx.filter_rows`), so the rows that remain keep their index labels; a step that
        adds or reorders rows says `False` and reports nothing (the output gets a fresh index).
        """
        return self.phase == "transform"

    def required_columns(self, state: dict[str, Any]) -> list[str]:
        """Input columns this step reads at apply time (new data must have them).

        By default the `columns` list of the state; steps that keep columns elsewhere override it,
        and steps that only remove columns return [] (absent columns need no dropping).
        """
        columns = state.get("columns")
        return [c for c in columns if isinstance(c, str)] if isinstance(columns, list) else []

    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        """The learned state. Steps that say what they learn from (`statistics`) need not
        override this: their state is `fit_from` the answers, computed here in memory."""
        requests = self.statistics(frame, ctx)
        if requests is None:
            return {}
        from prepkit.engines.statistics import compute

        return self.fit_from(frame, compute(frame, requests), ctx)

    # -- fitting on any engine -------------------------------------------------------------------
    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Any] | None:
        """What the step learns from, as requests any engine answers (`Moments`, `Missing`,
        `Counts`, `Quantiles`, `Rows` from `prepkit.engines.statistics`), or None when the step
        needs all training rows at once (only the in-memory engine fits it then, with `fit`).

        `frame` gives the columns and dtypes to select and check: with the streaming engine it is
        the first batch only, so never learn values from it, only from the answers.
        """
        return None

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        """The state from the answers to `statistics`' requests (`frame` as there)."""
        raise NotImplementedError(f"{type(self).__name__} defines statistics but not fit_from")

    def streamed(
        self, passes: Callable[[], Iterator[pl.DataFrame]], state: dict[str, Any], ctx: StepContext
    ) -> tuple[dict[str, Any], Callable[[], Any]] | None:
        """For a train-only step whose rows depend on all training rows at once (a sampler):
        how the streaming engine runs it. `passes()` starts a pass over the step's input, batch
        by batch; the answer is the state (completed from what the passes found) and a factory
        of `prepkit.engines.stages.Stage`s giving the step's output batch by batch, the same rows
        `apply` gives on the whole frame. None (the default): `apply` maps each batch."""
        return None

    def fit_transform(
        self, frame: pl.DataFrame, ctx: StepContext
    ) -> tuple[dict[str, Any], pl.DataFrame]:
        """Fit on the training frame and apply to it; returns (state, output).

        The state goes through JSON before `apply`, so training output is computed from exactly
        what a saved artifact holds. Override when fitting already yields the training output
        (work that must not run twice, such as cross-validated predictions).
        """
        state = plain_state(self.fit(frame, ctx) or {}, self.id)
        return state, self.apply(frame, state, ctx)

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        raise NotImplementedError

    def describe(
        self, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any]
    ) -> dict[str, Any]:
        """Counts of what this application changed (cells imputed, rows dropped...), for the report.

        Only counts that add up over batches of rows; what was learned goes in `learned`.
        Rows and columns in/out are counted by the pipeline.
        """
        return {}

    def learned(self, state: dict[str, Any]) -> dict[str, Any]:
        """What the step learned, in a readable form for the report (e.g. the fill values)."""
        return {}


def plain_state(state: dict[str, Any], step_id: str) -> dict[str, Any]:
    """The state as plain JSON data (what a saved artifact holds); an error if it is not JSON."""
    try:
        return json.loads(json.dumps(state, allow_nan=True))
    except TypeError as exc:
        raise TypeError(f"step '{step_id}' produced state that is not JSON data: {exc}") from None


REGISTRY: dict[str, type[Step]] = {}


def register(name: str):
    """Class decorator: make a step available in recipes as `- step: NAME`."""

    def decorate(cls: type[Step]) -> type[Step]:
        if name in REGISTRY:
            raise ValueError(f"step '{name}' registered twice")
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return decorate


def get_step_class(name: str) -> type[Step]:
    from prepkit.steps import load_all

    load_all()
    return REGISTRY[name]


def all_steps() -> dict[str, type[Step]]:
    from prepkit.steps import load_all

    load_all()
    return dict(sorted(REGISTRY.items()))
