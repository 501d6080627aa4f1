"""FittedRecipe: the learned state of every step, saved as one versioned, plain JSON file."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prepkit.columns import dtype_kind
from prepkit.dtypes import parse_dtype
from prepkit.errors import DataError, RecipeError, suggest
from prepkit.frames import to_polars
from prepkit.io.atomic import write_text_atomic
from prepkit.pipeline import apply_steps, context_for, fit_steps, require_rows, require_target
from prepkit.reference import ColumnProfile, profile_frame
from prepkit.report import RunReport
from prepkit.steps.base import Step, StepContext, all_steps, column_kind

if TYPE_CHECKING:
    from prepkit.recipe import Recipe

FORMAT = "prepkit.fitted"
VERSION = 1
_SHOWN = 3  # problems a load error lists
_FILE_HINT = "give the .prepkit.json file that `prepkit run RECIPE --fitted FILE` writes"


def schema_of(frame: pl.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.schema.items()}


def _kind(dtype: pl.DataType) -> str:
    """Dtypes of one kind are compatible between training and new data (text and categories too)."""
    kind = dtype_kind(dtype)
    return "string" if kind == "categorical" else kind


def _cast_expr(name: str, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """Cast a column of new data to its training dtype; text dates are parsed."""
    col = pl.col(name)
    if source == pl.String and target == pl.Date:
        return col.str.to_date().alias(name)
    if source == pl.String and isinstance(target, pl.Datetime):
        return col.str.to_datetime(time_unit=target.time_unit, time_zone=target.time_zone).alias(
            name
        )
    return col.cast(target, strict=True)


class FittedRecipe:
    """A recipe whose steps have learned their state. Apply it with `transform`; save it as JSON."""

    def __init__(
        self,
        recipe: dict[str, Any],
        steps: list[Step],
        states: list[dict[str, Any]],
        input_schema: dict[str, str],
        output_schema: dict[str, str],
        report: RunReport | None = None,
        created: str | None = None,
        prepkit_version: str | None = None,
        approximations: list[dict[str, Any]] | None = None,
        reference_profile: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        from prepkit import __version__

        self.recipe = recipe
        self.steps = steps
        self.states = states
        self.input_schema = input_schema
        self.output_schema = output_schema
        self.report = report or RunReport(recipe=recipe.get("name", "recipe"))
        self.created = created or datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.prepkit_version = prepkit_version or __version__
        # statistics learned approximately (Spark's percentile_approx), with their error bounds
        self.approximations = approximations or []
        # per input column, statistics of the training data that new data is compared with
        # (`prepkit.reference`); None in artifacts written before prepkit kept it
        self.reference_profile = reference_profile

    def __repr__(self) -> str:
        return f"FittedRecipe({self.recipe.get('name')!r}, steps={[s.id for s in self.steps]})"

    def _repr_html_(self) -> str:
        from prepkit.report.notebook import steps_table

        rows = [
            [s.id, s.phase, "skipped" if not s.runs_at_apply else "applied", s.learned(state)]
            for s, state in zip(self.steps, self.states, strict=True)
        ]
        title = (
            f"fitted recipe {self.recipe.get('name')}: {len(self.input_schema)} columns in, "
            f"{len(self.output_schema)} out"
        )
        return steps_table(title, rows, ["step", "phase", "at apply", "learned"])

    @property
    def target(self) -> str | None:
        return self.recipe.get("target")

    def state(self, step_id: str) -> dict[str, Any]:
        """The learned state of one step, by id (e.g. `impute_2`)."""
        for step, state in zip(self.steps, self.states, strict=True):
            if step.id == step_id:
                return state
        raise KeyError(f"no step '{step_id}'; steps: {[s.id for s in self.steps]}")

    # -- applying -------------------------------------------------------------------------------
    def required_columns(self) -> list[str]:
        """Training columns new data must have: those kept in the output, and those steps read.

        The target is never required (new data usually has no labels).
        """
        needed = {c for c in self.input_schema if c in self.output_schema}
        for step, state in zip(self.steps, self.states, strict=True):
            if step.runs_at_apply:
                needed.update(step.required_columns(state))
        return [c for c in self.input_schema if c in needed and c != self.target]

    def check_schema(self, frame: pl.DataFrame, source: str = "input") -> pl.DataFrame:
        """Check new data against the training schema; cast compatible columns to the train dtype."""
        missing = [c for c in self.required_columns() if c not in frame.columns]
        if missing:
            raise DataError(
                f"{source} is missing column(s) the recipe was fitted with: {', '.join(missing)}",
                hint=f"columns present: {', '.join(frame.columns)}",
            )
        casts = []
        for name, train_text in self.input_schema.items():
            if name not in frame.columns:
                continue
            try:
                train_dtype = parse_dtype(train_text)
            except RecipeError:
                continue  # nested or exotic dtypes: let the steps judge
            new_dtype = frame.schema[name]
            if _kind(new_dtype) == _kind(train_dtype) or new_dtype == train_dtype:
                continue
            cast = _cast_expr(name, new_dtype, train_dtype)
            try:
                frame.select(cast)
            except Exception:
                raise DataError(
                    f"{source}: column '{name}' has type {new_dtype}, "
                    f"but the recipe was fitted on {train_text}",
                    hint="fix the column's values or cast it before applying",
                ) from None
            casts.append(cast)
        return frame.with_columns(casts) if casts else frame

    def transform_frame(
        self,
        frame: pl.DataFrame,
        part: str = "new",
        workdir: Path | None = None,
        quiet: bool = True,
        source: str = "input",
    ) -> tuple[pl.DataFrame, RunReport]:
        """Apply to a polars frame; return it and the report of this application.

        `workdir` is a staging folder for steps that write files (image steps); `source` names
        the data in error messages (its path, "standard input").
        """
        frame = self.check_schema(frame, source)
        ctx = StepContext(
            target=self.target,
            seed=int(self.recipe.get("seed", 0)),
            workdir=workdir,
            workers=self.recipe.get("workers"),
            quiet=quiet,
        )
        out, reports = apply_steps(self.steps, self.states, frame, ctx, part=part)
        return out, RunReport(recipe=self.recipe.get("name", "recipe"), steps=reports)

    def transform(self, data: Any) -> Any:
        """Apply the learned state to new data (pandas or polars; same type out).

        Train-only steps (resampling, dropping label issues, augmentation) are skipped.
        """
        frame, back = to_polars(data)
        out, _ = self.transform_frame(frame)
        return back(out)

    # -- saving ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "prepkit_version": self.prepkit_version,
            "created": self.created,
            "recipe": self.recipe,
            "input_schema": self.input_schema,
            "steps": [
                {
                    "step": step.name,
                    "id": step.id,
                    "phase": step.phase,
                    "runs_at_apply": step.runs_at_apply,
                    "params": step.params.model_dump(mode="json", exclude={"id"}),
                    "state": state,
                }
                for step, state in zip(self.steps, self.states, strict=True)
            ],
            "output_schema": self.output_schema,
            **({"approximations": self.approximations} if self.approximations else {}),
            **({"reference_profile": self.reference_profile} if self.reference_profile else {}),
        }

    def save(self, path: str | Path) -> Path:
        """Write the artifact atomically as indented JSON. Returns the path."""
        path = Path(path)
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2, allow_nan=True) + "\n")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<fitted>") -> FittedRecipe:
        """Rebuild from `to_dict` data, checking every step's params and learned state.

        `source` names the artifact in errors. Anything that does not hold what fitting writes is
        a `DataError` naming the step and the field, never an error while applying.
        """
        hint = (
            "the file was changed or damaged after fitting: refit it with "
            f"`prepkit run RECIPE --fitted {source}`"
        )
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(
                f'{source} is not a prepkit fitted recipe (no "format": "{FORMAT}")',
                hint=_FILE_HINT,
            )
        if data.get("version") != VERSION:
            raise DataError(
                f"{source} has artifact version {data.get('version')}, this prepkit reads version {VERSION}",
                hint="refit with `prepkit run` using this prepkit version",
            )
        try:
            artifact = _Artifact.model_validate(data)
        except ValidationError as exc:
            raise DataError(f"{source}: {_problems(exc)}", hint=hint) from None
        registry = all_steps()
        # the columns (name -> kind) a step may read: those of the training input, those it
        # outputs and those earlier steps make
        columns = {name: column_kind(dtype) for name, dtype in artifact.output_schema.items()}
        columns.update((name, column_kind(dtype)) for name, dtype in artifact.input_schema.items())
        steps, states = [], []
        for i, entry in enumerate(artifact.steps, 1):
            where = f"{source}: step {i}"
            if not isinstance(entry, dict):
                raise DataError(
                    f'{where} is {entry!r}, not a step (an object with a "step" name)', hint=hint
                )
            try:
                _Entry.model_validate(entry)
            except ValidationError as exc:
                raise DataError(f"{where}: {_problems(exc)}", hint=hint) from None
            name = entry["step"]
            if name not in registry:
                raise DataError(
                    f"{where} '{name}' is not known to this prepkit version"
                    f"{suggest(name, registry)}",
                    hint=hint,
                )
            step_id = entry.get("id") or f"{name}_{i}"
            where += f" '{step_id}'" + ("" if step_id.startswith(name) else f" ({name})")
            step_cls = registry[name]
            try:
                params = step_cls.Params.model_validate({**entry.get("params", {}), "id": step_id})
            except ValidationError as exc:
                raise DataError(f"{where}: {_problems(exc)}", hint=hint) from None
            step = step_cls(params, step_id)
            state = entry.get("state")
            try:
                checked = step_cls.State.model_validate(state, context={"columns": columns})
            except ValidationError as exc:
                raise DataError(
                    f"{where} has an invalid learned state: {_problems(exc, 'state')}", hint=hint
                ) from None
            columns.update(checked.made(step, columns))
            steps.append(step)
            states.append(state)
        return cls(
            recipe=data["recipe"],
            steps=steps,
            states=states,
            input_schema=artifact.input_schema,
            output_schema=artifact.output_schema,
            created=artifact.created,
            prepkit_version=artifact.prepkit_version,
            approximations=artifact.approximations,
            reference_profile=(
                None
                if artifact.reference_profile is None
                else {
                    c: p.model_dump(exclude_none=True)
                    for c, p in artifact.reference_profile.items()
                }
            ),
        )


def fit_frame(
    recipe: Recipe,
    frame: pl.DataFrame,
    ctx: StepContext | None = None,
    source: str | None = None,
    profile: bool = True,
) -> tuple[FittedRecipe, pl.DataFrame]:
    """Fit on a polars frame; return the fitted recipe and the transformed training frame.

    `source` names where the training data came from, for error messages; `profile`: keep the
    reference profile of the frame's columns (`prepkit.reference`; evaluation's folds do not).
    """
    require_rows(frame, source)
    ctx = ctx or context_for(recipe)
    require_target(frame, ctx.target, source)
    out, states, reports = fit_steps(recipe.steps, frame, ctx)
    fitted = FittedRecipe(
        reference_profile=profile_frame(frame) if profile else None,
        recipe=recipe.to_dict(),
        steps=recipe.steps,
        states=states,
        input_schema=schema_of(frame),
        output_schema=schema_of(out),
        report=RunReport(recipe=recipe.name, steps=reports),
    )
    return fitted, out


class _Recipe(BaseModel):
    """What applying reads from the artifact's copy of the recipe."""

    name: str = "recipe"
    target: str | None = None
    seed: int = 0
    workers: int | None = Field(None, ge=1)


class _Entry(BaseModel):
    """One step of an artifact; its params and state are checked by the step's models."""

    model_config = ConfigDict(extra="forbid")

    step: str
    id: str | None = None
    phase: str | None = None
    runs_at_apply: bool | None = None
    params: dict[str, Any] = {}
    state: Any = None


class _Artifact(BaseModel):
    """The top level of an artifact (`FittedRecipe.to_dict`); steps are checked one by one."""

    recipe: _Recipe
    input_schema: dict[str, str]
    output_schema: dict[str, str]
    steps: list[Any]
    created: str | None = None
    prepkit_version: str | None = None
    approximations: list[dict[str, Any]] = []
    reference_profile: dict[str, ColumnProfile] | None = None


def _problems(exc: ValidationError, prefix: str = "") -> str:
    """pydantic's errors as `field.path: message (got value)`, the first few of them."""
    shown = []
    for error in exc.errors()[:_SHOWN]:
        path = ".".join(str(part) for part in (prefix, *error["loc"]) if part not in ("", "[key]"))
        message = error["msg"].removeprefix("Value error, ").splitlines()[0]
        value = error.get("input")
        if error["type"] not in ("missing", "value_error") and not isinstance(value, (dict, list)):
            message += f" (got {value!r})"
        if path and not error["loc"] and error["type"] == "value_error":
            shown.append(f"{path}.{message}")  # a check of the whole model names its field first
        else:
            shown.append(f"{path}: {message}" if path else message)
    more = len(exc.errors()) - _SHOWN
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def load_fitted(path: str | Path) -> FittedRecipe:
    """Load a fitted recipe saved by `prepkit run` or `FittedRecipe.save`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"fitted recipe not found: {path}", hint="create one with `prepkit run RECIPE`"
        )
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = "empty, not JSON" if not text.strip() else f"not valid JSON: {exc.msg}"
        raise DataError(f"{path}:{exc.lineno}: {problem}", hint=_FILE_HINT) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read fitted recipe {path}: {exc}", hint=_FILE_HINT) from None
    return FittedRecipe.from_dict(data, str(path))
