"""The step contract and the registry of steps by their YAML name.

A step is one class in its family's module::

    @register("impute")
    class Impute(Step):
        '''Fill missing values ... (docstring with a YAML example)'''

        class Params(StepParams):
            columns: Selector = "numeric"
            strategy: Literal["mean", "median"] = "median"

        def fit(self, frame, ctx) -> dict: ...            # learned state, plain JSON data
        def apply(self, frame, state, ctx) -> frame: ...  # uses only the state
        def describe(self, before, after, state) -> dict: # counts for the report

`phase` is "transform" (fit on train, apply everywhere) or "train_only" (changes training rows;
skipped by `prepkit apply` and on valid/test parts unless the step says `runs_at_apply`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

Phase = Literal["transform", "train_only"]


class StepParams(BaseModel):
    """Base for every step's parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        None, description="Stable id for reports and artifacts (default NAME_N)."
    )


@dataclass
class StepContext:
    """What a step may know besides its own parameters and the frame."""

    target: str | None = None
    seed: int = 0
    step_id: str = ""
    base_dir: Path = field(default_factory=Path.cwd)
    workdir: Path | None = None  # staging folder for steps that write files (images)
    workers: int | None = None
    quiet: bool = True
    fitting: bool = False  # True while the pipeline fits the step and applies it to training data
    warnings: list[str] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

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
    # apply treats each row on its own, so new data may be applied in batches (--batch-size)
    row_wise: ClassVar[bool] = True

    def __init__(self, params: StepParams, step_id: str) -> None:
        self.params = params
        self.id = step_id

    @property
    def runs_at_apply(self) -> bool:
        """Whether `apply` runs this step on new data (train-only steps are skipped)."""
        return self.phase == "transform"

    def required_columns(self, state: dict[str, Any]) -> list[str]:
        """Input columns this step reads at apply time (new data must have them).

        By default the `columns` list of the state; steps that keep columns elsewhere override it,
        and steps that only remove columns return [] (absent columns need no dropping).
        """
        columns = state.get("columns")
        return [c for c in columns if isinstance(c, str)] if isinstance(columns, list) else []

    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        return {}

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
