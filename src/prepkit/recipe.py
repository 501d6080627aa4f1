"""The recipe: YAML (or a dict) validated into steps, with errors that point at the YAML line."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prepkit.checks import APPLY_METRICS, METRICS, CheckSpec
from prepkit.columns import DTYPE_GROUPS, Selector
from prepkit.engines.spark import SparkSpec
from prepkit.errors import DataError, RecipeError, suggest
from prepkit.split import SplitSpec
from prepkit.steps.base import Step, all_steps
from prepkit.yamlsource import check_data, line_of, load_value, load_yaml


class DataSpec(BaseModel):
    """Where data is read from or written to: a path (or `-`), a format and reader/writer options."""

    model_config = ConfigDict(extra="forbid")

    path: str
    format: str | None = None
    options: dict[str, Any] = {}


class RecipeSpec(BaseModel):
    """The top level of a recipe file."""

    model_config = ConfigDict(extra="forbid")

    name: str = "recipe"
    description: str | None = None
    input: DataSpec | None = None
    output: DataSpec | None = None
    target: str | None = None
    seed: int = 0
    split: SplitSpec | None = None
    steps: list[Any] = []  # each validated against its step's parameter model
    checks: list[CheckSpec] = []
    apply_checks: list[CheckSpec] = Field(
        [], description="checks `prepkit apply` makes of new data: drift and the applied output"
    )
    report: str | None = Field(None, description="write the JSON report to this path")
    engine: Literal["auto", "memory", "stream", "spark"] = Field(
        "auto", description="where the data lives while the recipe runs (see Engines)"
    )
    batch_size: int | None = Field(
        None, ge=1, description="rows per batch on the streaming engine (default 250,000)"
    )
    spark: SparkSpec | None = Field(None, description="Spark session and quantile settings")
    fitted: str | None = Field(None, description="where to write the fitted artifact")
    workers: int | None = Field(None, ge=1, description="processes for parallel steps")

    @field_validator("input", "output", mode="before")
    @classmethod
    def _path_shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @field_validator("steps", mode="before")
    @classmethod
    def _steps_are_mappings(cls, value: Any) -> Any:
        if value is None:
            return []
        return value


def _field_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _describe_error(err: dict[str, Any], model: type[BaseModel] | None) -> str:
    kind = err["type"]
    field = str(err["loc"][-1]) if err["loc"] else ""
    if kind == "extra_forbidden":
        names = _field_names(model) if model is not None else []
        return f"unknown option '{field}'{suggest(field, names)}" + (
            f"; valid options: {', '.join(names)}" if names else ""
        )
    if kind != "missing" and model is not None and model.model_fields.get(field) is not None:
        if model.model_fields[field].annotation == Selector:
            return (
                f"'{field}': {err['input']!r} is not a column selector; give a dtype group "
                f"({', '.join(DTYPE_GROUPS)}), a column name, a list of names, or "
                "{regex: ..., dtype: ..., names: [...], exclude: [...]}"
            )
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        choices = [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",")]
        return f"'{err['input']}' is not valid for '{field}'{suggest(err['input'], choices)}; " + (
            f"choose one of {expected}"
        )
    if kind == "missing":
        return f"'{field}' is required"
    message = err["msg"].removeprefix("Value error, ")
    return f"'{field}': {message}" if field else message


def _real_path(data: Any, loc: tuple[Any, ...], kind: str) -> tuple[Any, ...]:
    """The keys of a pydantic error location that exist in the raw data.

    Union member tags (`literal[...]`, `str`, `SelectorSpec`) are skipped; a key that is not in
    the data is kept only as the last part of a `missing` error (it names the missing key).
    """
    path: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            path.append(part)
        elif kind == "missing" and i == len(loc) - 1 and isinstance(node, dict):
            path.append(part)
    return tuple(path)


_MAX_PROBLEMS = 20


class _Problems:
    """Collects validation problems with their YAML lines, raised together as one RecipeError."""

    def __init__(
        self, source: str, lines: dict[tuple[Any, ...], int], what: str = "recipe"
    ) -> None:
        self.source, self.what = source, what
        self.lines = lines
        self.items: list[tuple[int, str]] = []

    def add(self, path: tuple[Any, ...], message: str, where: str = "") -> None:
        line = line_of(self.lines, path)
        prefix = f"{self.source}:{line}" if line else self.source
        self.items.append((line or 0, f"{prefix}: {where}{message}"))

    def add_validation(
        self,
        exc: ValidationError,
        data: Any,
        base: tuple[Any, ...],
        model: type[BaseModel],
        where: str = "",
    ) -> None:
        found = [(_real_path(data, tuple(e["loc"]), e["type"]), e) for e in exc.errors()]
        # of a union's alternatives, report the one that got furthest into the data
        deepest = {p for p, _ in found}
        seen: set[tuple[Any, ...]] = set()
        for path, err in found:
            if path in seen or any(len(q) > len(path) and q[: len(path)] == path for q in deepest):
                continue
            seen.add(path)
            loc = tuple(err["loc"])
            sub = model
            # find the nested model for extra-key suggestions
            for part in path[:-1]:
                field = sub.model_fields.get(part) if isinstance(part, str) else None
                ann = getattr(field, "annotation", None) if field else None
                candidates = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type)]
                nested = [a for a in candidates if issubclass(a, BaseModel)]
                sub = nested[0] if nested else None
                if sub is None:
                    break
            err = dict(err)
            err["loc"] = path or loc
            self.add((*base, *path), _describe_error(err, sub), where)

    def raise_if_any(self) -> None:
        if self.items:
            texts = [text for _, text in sorted(self.items, key=lambda item: item[0])]
            if len(texts) > _MAX_PROBLEMS:  # a generated recipe can have thousands
                more = len(texts) - _MAX_PROBLEMS
                texts = [*texts[:_MAX_PROBLEMS], f"... and {more} more problems"]
            message = (
                texts[0] if len(texts) == 1 else f"invalid {self.what}:\n  " + "\n  ".join(texts)
            )
            raise RecipeError(message)


def _build_steps(raw_steps: list[Any], problems: _Problems) -> list[Step]:
    registry = all_steps()
    steps: list[Step] = []
    used_ids: set[str] = set()
    for i, raw in enumerate(raw_steps):
        path = ("steps", i)
        if not isinstance(raw, dict) or "step" not in raw:
            problems.add(path, f"step {i + 1}: each step is a mapping with a `step:` name")
            continue
        name = str(raw["step"])
        where = f"step {i + 1} '{name}': "
        if name not in registry:
            problems.add(
                (*path, "step"),
                f"unknown step '{name}'{suggest(name, registry)}; run `prepkit steps` to list them",
                f"step {i + 1}: ",
            )
            continue
        cls = registry[name]
        params_raw = {k: v for k, v in raw.items() if k != "step"}
        try:
            params = cls.Params.model_validate(params_raw)
        except ValidationError as exc:
            problems.add_validation(exc, params_raw, path, cls.Params, where)
            continue
        step_id = params.id or f"{name}_{i + 1}"
        if step_id in used_ids:
            problems.add((*path, "id"), f"duplicate step id '{step_id}'", where)
        used_ids.add(step_id)
        steps.append(cls(params, step_id))
    return steps


def _own(value: Any) -> Any:
    """A shallow copy of a mapping or list about to be changed by `--set`.

    A YAML alias (`- *imp`) is the same object as its anchor: without the copy, setting
    `steps.2.strategy` would change step 1 too.
    """
    return copy.copy(value) if isinstance(value, (dict, list)) else value


def _set_override(data: dict[str, Any], assignment: str) -> None:
    """Apply `key.sub.2.option=value` (step numbers are 1-based, or a step id)."""
    if "=" not in assignment:
        raise RecipeError(
            f"--set expects key=value, got '{assignment}'",
            hint="give the key and its value, e.g. --set seed=7 or --set steps.2.strategy=mean",
        )
    key, _, text = assignment.partition("=")
    value = load_value(text, f"--set {assignment}") if text else ""
    set_value(data, key, value)


def set_value(data: dict[str, Any], key: str, value: Any) -> None:
    """Set `key.sub.2.option` of raw recipe data to `value`, as `--set` does.

    Step numbers are 1-based, or a step id; missing mappings on the way are created, and shared
    (YAML alias) mappings and lists on the way are copied first. Raises `RecipeError` for a key
    that names no item, or that walks through a value that is not a mapping or list.
    """
    parts = key.strip().split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            index = None
            if part.isdigit() and 1 <= int(part) <= len(node):
                index = int(part) - 1
            else:
                ids = [
                    s.get("id") or f"{s.get('step')}_{n + 1}" if isinstance(s, dict) else None
                    for n, s in enumerate(node)
                ]
                if part in ids:
                    index = ids.index(part)
            if index is None:
                where = ".".join(parts[:depth])
                noun = "steps" if where == "steps" else "items"
                known = [i for i in ids if i]
                raise RecipeError(
                    f"--set {key}: no item '{part}' in '{where}'",
                    hint=f"'{where}' has {len(node)} {noun}, numbered from 1"
                    + (f"; or use a step id: {', '.join(known)}" if known else ""),
                )
            if last:
                node[index] = value
            else:
                node[index] = _own(node[index])
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                elif isinstance(node[part], str) and part in ("input", "output"):
                    node[part] = {"path": node[part]}
                node[part] = _own(node[part])
                node = node[part]
        else:
            raise RecipeError(f"--set {key}: '{'.'.join(parts[:depth])}' is not a mapping or list")


def _check_checks(spec: RecipeSpec, problems: _Problems) -> None:
    _check_metrics(spec.checks, "checks", METRICS, problems, ("apply_checks", APPLY_METRICS))
    _check_metrics(spec.apply_checks, "apply_checks", APPLY_METRICS, problems, ("checks", METRICS))


def _check_metrics(
    checks: list[CheckSpec], key: str, metrics: Any, problems: _Problems,
    other: tuple[str, Any] | None = None,
) -> None:  # fmt: skip
    """Known metrics with a bound; a metric of the other list (`other`: its key and metrics)
    is named as such."""
    for i, check in enumerate(checks):
        if check.metric not in metrics:
            moved = f" (a metric of `{other[0]}:`)" if other and check.metric in other[1] else ""
            problems.add(
                (key, i, "metric"),
                f"unknown {'check' if key == 'checks' else 'apply check'} metric '{check.metric}'{moved}"
                f"{'' if moved else suggest(check.metric, metrics)}; metrics: {', '.join(metrics)}",
            )
        elif check.min is None and check.max is None:
            problems.add((key, i), f"check '{check.metric}' needs `min:` or `max:`")


def read_apply_checks(path: str | Path) -> list[CheckSpec]:
    """The checks of `prepkit apply --checks FILE`: a YAML file with `apply_checks:` (or
    `checks:`), a list of checks as in a recipe's `apply_checks:`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read checks file {path}: {exc}") from None
    data, lines = load_yaml(text, str(path))
    key = next((k for k in ("apply_checks", "checks") if isinstance(data, dict) and k in data), "")
    if not key or not isinstance(data[key], list) or len(data) != 1:
        raise RecipeError(
            f"{path}: a checks file is a YAML mapping with one key, `apply_checks:` (a list)",
            hint="e.g. apply_checks: [{metric: psi, column: income, max: 0.2}]",
        )
    return validate_apply_checks(data[key], str(path), lines, key)


def validate_apply_checks(
    items: list[Any], source: str = "checks", lines: dict[tuple[Any, ...], int] | None = None,
    key: str = "apply_checks",
) -> list[CheckSpec]:  # fmt: skip
    """Checks for `prepkit apply` given as data, validated as a recipe's `apply_checks:`."""
    problems = _Problems(source, lines or {}, "checks")
    checks = []
    for i, item in enumerate(items):
        try:
            checks.append(CheckSpec.model_validate(item))
        except ValidationError as exc:
            problems.add_validation(exc, item, (key, i), CheckSpec)
    problems.raise_if_any()  # (so that the positions below are those of the file)
    _check_metrics(checks, key, APPLY_METRICS, problems, ("checks", METRICS))
    problems.raise_if_any()
    return checks


def _check_folds(spec: RecipeSpec, steps: list[Step], problems: _Problems) -> None:
    """A K-fold column beside train-only steps that change rows leaks: they run once over all
    the folds (SMOTE interpolates rows across folds)."""
    if not (spec.split and spec.split.kfold):
        return
    # class weights keep the rows: they may see every fold's class counts
    train_only = [s.id for s in steps if s.phase == "train_only" and not s.keeps_rows]
    if train_only:
        problems.add(
            ("split", "kfold"),
            f"`split: {{kfold: {spec.split.kfold}}}` with train-only steps ({', '.join(train_only)}) "
            "leaks between folds: those steps would run once over every fold's rows; use "
            f"`prepkit evaluate RECIPE --cv {spec.split.kfold}` instead, which fits the recipe "
            "on the training folds of each split only",
        )


class Recipe:
    """A validated recipe: its settings (`spec`), its steps, and the folder paths are relative to.

    Build one with `prepkit.load_recipe(...)`.
    """

    def __init__(self, spec: RecipeSpec, steps: list[Step], base_dir: Path, source: str) -> None:
        self.spec = spec
        self.steps = steps
        self.base_dir = base_dir
        self.source = source

    def __repr__(self) -> str:
        names = ", ".join(s.id for s in self.steps)
        return f"Recipe({self.spec.name!r}, steps=[{names}])"

    def _repr_html_(self) -> str:
        from prepkit.report.notebook import steps_table

        rows = [
            [s.id, s.phase, s.params.model_dump(mode="json", exclude_none=True, exclude={"id"})]
            for s in self.steps
        ]
        title = f"recipe {self.name}: target {self.target}, {len(self.steps)} steps"
        return steps_table(title, rows, ["step", "phase", "options"])

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def target(self) -> str | None:
        return self.spec.target

    def resolve(self, path: str) -> Path | Literal["-"]:
        """A path from the recipe, relative to the recipe file's folder."""
        if path == "-":
            return "-"
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(os.path.normpath(self.base_dir / p))

    def to_dict(self) -> dict[str, Any]:
        """The normalized recipe, as stored in the fitted artifact."""
        data = self.spec.model_dump(mode="json", exclude_none=True, exclude={"steps"})
        data["steps"] = [
            {"step": s.name, **s.params.model_dump(mode="json", exclude_none=True)} | {"id": s.id}
            for s in self.steps
        ]
        return data


def load_recipe(
    source: str | Path | dict[str, Any], overrides: list[str] | tuple[str, ...] = ()
) -> Recipe:
    """Load and validate a recipe from a YAML file path, a YAML string or a dict.

    `overrides` are `key=value` strings as given to `--set` (`steps.2.strategy=mean`).
    Raises `RecipeError` (exit code 2) listing every problem with its YAML line.
    """
    lines: dict[tuple[Any, ...], int] = {}
    if isinstance(source, dict):
        check_data(source, "<recipe>")
        data, name, base_dir = copy.deepcopy(source), "<recipe>", Path.cwd()
    else:
        text_source = isinstance(source, str) and ("\n" in source or ":" in source)
        if not text_source:
            path = Path(source)
            if path.is_dir():
                raise DataError(
                    f"recipe {path} is a folder, not a recipe file",
                    hint="give the path of a recipe YAML file (e.g. recipes/tabular.yaml)",
                )
            if not path.is_file():
                raise DataError(
                    f"recipe file not found: {path}", hint="check the path to the recipe YAML"
                )
            try:
                raw = path.read_bytes()
                text = raw.decode("utf-8")
            except OSError as exc:
                raise DataError(f"cannot read recipe {path}: {exc}") from None
            except UnicodeDecodeError as exc:
                line = raw.count(b"\n", 0, exc.start) + 1
                raise DataError(
                    f"{path}:{line}: the recipe is not UTF-8 text (byte 0x{raw[exc.start]:02x} "
                    "is not valid utf-8)",
                    hint="save the recipe file with UTF-8 encoding",
                ) from None
            name, base_dir = str(path), path.resolve().parent
        else:
            text, name, base_dir = str(source), "<recipe>", Path.cwd()
        data, lines = load_yaml(text, name)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(
            f"{name}: a recipe is a YAML mapping with `steps:`, not a {type(data).__name__}"
        )
    for assignment in overrides:
        _set_override(data, assignment)

    problems = _Problems(name, lines)
    raw_steps = data.get("steps") or []
    if not isinstance(raw_steps, list):
        problems.add(("steps",), "`steps` must be a list of `- step: NAME` items")
        raw_steps = []
    try:
        spec = RecipeSpec.model_validate({**data, "steps": raw_steps})
    except ValidationError as exc:
        problems.add_validation(exc, data, (), RecipeSpec)
        spec = None
    steps = _build_steps(raw_steps, problems)
    if spec is not None:
        _check_checks(spec, problems)
        _check_folds(spec, steps, problems)
    problems.raise_if_any()
    assert spec is not None
    return Recipe(spec, steps, base_dir, name)
