"""The streaming engine: fit and apply a recipe batch by batch, in memory bounded by the batch size.

The input is read in batches (pyarrow's streaming CSV reader, Parquet row groups, Arrow record
batches, NDJSON lines; see `prepkit.io.stream`). Each pass over the data reads the input again and
applies, batch by batch, the steps fitted so far. A step is fitted from the answers to its
statistics requests (`Step.statistics`), computed over the batches by `prepkit.engines.partials`;
`drop_duplicates` is exact over the whole data set: the rows' hashes are collected (8 bytes a row),
rows whose hash repeats are compared exactly, and the rows to drop are then filtered out by
position. The last pass applies every step to the training rows, collects the per-step report
(counts that add over batches) and writes the output.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from prepkit.engines.partials import compute_batches
from prepkit.engines.stages import (
    Mapped,
    Stage,
    StageFactory,
    Transform,
    by_position,
    run_stages,
)
from prepkit.errors import DataError
from prepkit.reference import build_profile, profile_requests
from prepkit.report import StepReport, merge_step_reports
from prepkit.steps.base import Step, StepContext, plain_state

DEFAULT_BATCH_SIZE = 250_000


def scan_input(
    path: str | Path, fmt: str | None, options: dict[str, Any], batch_size: int
) -> Callable[[], Iterator[pl.DataFrame]]:
    """Passes over an input, batch by batch: a file, a glob (`data/part-*.parquet`) or a folder
    of parts (hive partitions become columns). Each call of the returned function starts a pass.

    One CSV, Parquet or Arrow file goes through pyarrow's readers, which hold one block or row
    group at a time (polars' `collect_batches` reads ahead: 870 vs 420 MiB on a 20M-row Parquet
    file), with the dtypes polars infers for the whole file, as the memory engine reads it; globs,
    folders and NDJSON through polars' streaming engine. Standard input and formats that cannot
    be scanned (JSON arrays) are read once, whole, and sliced.
    """
    from prepkit.io import detect_format, read_table, source_name
    from prepkit.io.parts import SCANNERS, is_many, scan_error, scan_parts
    from prepkit.io.stream import read_batches

    text = str(path)
    fmt = detect_format(path, fmt, images=False)
    if text == "-" or fmt not in SCANNERS:
        frame = read_table(path, fmt, options)
        return lambda: frame.iter_slices(batch_size)
    if not is_many(path):
        if not Path(text).is_file():
            read_table(path, fmt, options)  # the reader's own clear error for a missing file
        if fmt != "ndjson":
            schema = dict(scan_parts(path, fmt, options).collect_schema())
            return lambda: read_batches(path, fmt, options, batch_size, schema)
    lazy = scan_parts(path, fmt, options)
    name = source_name(path)

    def passes() -> Iterator[pl.DataFrame]:
        try:
            yield from lazy.collect_batches(chunk_size=batch_size)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise scan_error(name, fmt, exc) from None

    return passes


@dataclass(frozen=True)
class StreamedTable:
    """A table read batch by batch, each batch sent through the stages of the steps fitted so far
    (`prepkit.engines.stages`); rows a stage adds at the end follow the last batch.

    `read` starts a new pass over the input; each stage factory is called once per pass, so a
    stage may keep state within a pass (a row position, for a filter by position).
    """

    read: Callable[[], Iterator[pl.DataFrame]]
    stages: tuple[StageFactory, ...] = ()

    def batches(self, map: Transform | None = None) -> Iterator[pl.DataFrame]:
        """A pass over the rows out of the stages; each batch then through `map`, if given (on
        Spark, that runs where the rows are: a step's filter or projection)."""
        out = run_stages([make() for make in self.stages], self.read())
        return out if map is None else (map(batch) for batch in out)

    def then(self, make: StageFactory) -> StreamedTable:
        return StreamedTable(self.read, (*self.stages, make))

    def compute(self, requests: list[Any]) -> dict[Any, Any]:
        """Answers to statistics requests over the table's rows (`prepkit.engines.partials`)."""
        return compute_batches(self.batches, requests)

    def repeated_hashes(self, subset: list[str]) -> np.ndarray:
        """Positions (ascending) of the rows whose hash of `subset` another row shares."""
        from prepkit.steps.duplicates import duplicate_keys

        # 8 bytes a row, twice at the peak (the hashes per batch, then one sorted copy)
        chunks = [duplicate_keys(b, subset).hash_rows().to_numpy() for b in self.batches()]
        ordered = np.concatenate(chunks or [np.empty(0, dtype=np.uint64)])
        ordered.sort()
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        del ordered
        if not len(repeated):
            return np.empty(0, dtype=np.int64)
        found, start = [], 0
        for chunk in chunks:  # a batch at a time (no row-sized temporaries)
            at = np.minimum(np.searchsorted(repeated, chunk), len(repeated) - 1)
            found.append(np.flatnonzero(repeated[at] == chunk) + start)
            start += len(chunk)
        return np.concatenate(found).astype(np.int64)

    def sample(self) -> pl.DataFrame:
        """The first batch with rows (or an empty batch with the schema): what column selection
        and dtype checks look at."""
        first = None
        for batch in self.batches():
            if batch.height:
                return batch
            first = batch if first is None else first
        if first is None:
            raise DataError("the training data has no rows")
        return first


def _step_context(base: StepContext, step: Step) -> StepContext:
    """A fresh context for `step` fitting or applied to training rows (its own warnings and
    counts)."""
    return replace(base, step_id=step.id, warnings=[], changes={}, fitting=True)


def _applied(step: Step, number: int, state: dict[str, Any], base: StepContext) -> StageFactory:
    """Stages applying a fitted step to each batch (with the batch's context when reporting)."""
    from prepkit.pipeline import guard_step

    def apply(batch: pl.DataFrame, ctx: StepContext | None) -> pl.DataFrame:
        ctx = ctx or _step_context(base, step)
        return guard_step(step, number, "applying", step.apply, batch, state, ctx)

    return lambda: Mapped(apply)


def _duplicates_to_drop(table: Any, step: Step, state: dict[str, Any]) -> np.ndarray:
    """Positions of the rows `drop_duplicates` removes, exactly, over every batch: the rows whose
    hash repeats are compared exactly."""
    from prepkit.steps.duplicates import duplicate_keys, keep_exact

    subset = state["subset"]
    if not subset:
        return np.empty(0, dtype=np.int64)
    candidates = table.repeated_hashes(subset)
    if not len(candidates):
        return candidates
    rows = pl.concat(
        [b.select(subset) for b in table.then(by_position(candidates, keep=True)).batches()]
    )
    kept = keep_exact(duplicate_keys(rows, subset), step.params.keep).to_numpy()
    return candidates[~kept]


@dataclass
class StreamFit:
    """What fitting produced: per step its state, the stage that runs it on a pass, the warnings
    it raised and the seconds it took; and the input schema."""

    states: list[dict[str, Any]]
    stages: list[StageFactory]
    warnings: list[list[str]]
    seconds: list[float]
    input_schema: pl.Schema
    table: Any = None  # the training table with every fitted step's stage
    profile: dict[str, Any] | None = None  # of the training input (`prepkit.reference`)


@dataclass
class _Ahead:
    """Answers computed for a later step in the pass of an earlier one (`origin`), from the
    requests that step made on the sample as it was before the origin step."""

    origin: int
    requests: set[Any]
    answers: dict[Any, Any]
    sample: pl.DataFrame


def _request_columns(requests: list[Any]) -> set[str]:
    return {r.column for r in requests}


def _keeps_every_row(step: Step) -> bool:
    """A transform that keeps every row: the steps after it see the rows the steps before it saw."""
    return step.phase == "transform" and step.keeps_rows


def _fusable(step: Step, requests: list[Any] | None) -> bool:
    """Whether a step may share a pass with the steps before it: it keeps every row and learns
    from a few columns."""
    return bool(requests) and _keeps_every_row(step)


def _look_ahead(
    steps: list[Step], index: int, requests: list[Any], sample: pl.DataFrame, base: StepContext
) -> dict[int, list[Any]]:
    """Requests of the steps after `index` that can share its passes: consecutive transforms
    whose requests (made on the same sample) name none of the columns the steps before them
    in the group learn from. Checked again when each is fitted (`_use_ahead`)."""
    ahead: dict[int, list[Any]] = {}
    if not _fusable(steps[index], requests):
        return ahead
    seen = _request_columns(requests)
    for later in range(index + 1, len(steps)):
        if not _keeps_every_row(steps[later]):
            break
        try:
            found = steps[later].statistics(sample, _step_context(base, steps[later]))
        except Exception:  # fitted in its turn, where the error is reported
            break
        if not _fusable(steps[later], found) or _request_columns(found) & seen:
            break
        ahead[later] = found
        seen |= _request_columns(found)
    return ahead


def _use_ahead(
    ahead: _Ahead | None, requests: list[Any], index: int, steps: list[Step],
    states: list[dict[str, Any]], sample: pl.DataFrame,
) -> dict[Any, Any] | None:  # fmt: skip
    """The answers computed ahead for this step, if they are what it would learn now: the same
    requests on the sample as it is now, and the steps fitted since changed none of their
    columns (they do not read them, and the sample's values of them are unchanged)."""
    if ahead is None or set(requests) != ahead.requests:
        return None
    columns = _request_columns(requests)
    for between in range(ahead.origin, index):
        step, state = steps[between], states[between]
        if not _keeps_every_row(step) or columns & set(step.required_columns(state)):
            return None
    for c in columns:
        before = ahead.sample.get_column(c) if c in ahead.sample.columns else None
        if before is None or c not in sample.columns or not before.equals(sample[c]):
            return None
    return ahead.answers


def fit_streamed(steps: list[Step], table: Any, base: StepContext) -> StreamFit:
    """Fit each step on the output of the steps before it, pass by pass over the batches.

    Consecutive transforms that learn from different columns share passes: the statistics of
    the later ones are computed with those of the first (see `_look_ahead`), and used when they
    are fitted if nothing the steps between did changed those columns.
    """
    from prepkit.engines import blocking_steps
    from prepkit.pipeline import guard_step

    blocking = blocking_steps(steps)
    sample = table.sample()  # the first batch through the steps fitted so far
    fit = StreamFit([], [], [], [], sample.schema)
    # the reference profile of the training input: in the first step's passes when it has any
    profiled, profiling = table, profile_requests(sample.schema)
    ahead: dict[int, _Ahead] = {}
    for index, step in enumerate(steps):
        number = index + 1
        ctx = _step_context(base, step)
        start = time.perf_counter()
        if step in blocking:
            raise DataError(
                f"step {number} '{step.id}': {step.name} needs all training rows at once, "
                "which --engine stream and --engine spark do not do",
                hint="run this recipe with --engine memory (or --engine auto)",
            )
        requests = guard_step(step, number, "fitting", step.statistics, sample, ctx)
        stage = None
        if requests is None:  # learns nothing from rows (drop_duplicates: only its columns)
            state = plain_state(guard_step(step, number, "fitting", step.fit, sample, ctx), step.id)
            if step.name == "drop_duplicates":  # exact over all batches, dropped by position
                stage = by_position(_duplicates_to_drop(table, step, state), keep=False)
        else:
            known = _use_ahead(ahead.get(index), requests, index, steps, fit.states, sample)
            if known is not None:
                answers = {r: known[r] for r in requests}
            else:
                later = _look_ahead(steps, index, requests, sample, base)
                wanted = [*requests, *(r for rs in later.values() for r in rs)]
                if index == 0:
                    wanted += profiling
                answers = guard_step(step, number, "fitting", table.compute, wanted)
                if index == 0:
                    fit.profile = build_profile(fit.input_schema, answers)
                for k, rs in later.items():
                    ahead[k] = _Ahead(index, set(rs), {r: answers[r] for r in rs}, sample)
            state = guard_step(step, number, "fitting", step.fit_from, sample, answers, ctx)
            state = plain_state(state, step.id)
            found = guard_step(step, number, "fitting", step.streamed, table.batches, state, ctx)
            if found is not None:  # a sampler: its rows from passes of its own
                state, stage = plain_state(found[0], step.id), found[1]
        if fit.profile is None:  # the first step learned nothing from rows
            fit.profile = build_profile(fit.input_schema, profiled.compute(profiling))
        stage = stage or _applied(step, number, state, base)
        table = table.then(stage)
        fit.states.append(state)
        fit.stages.append(stage)
        fit.warnings.append(list(ctx.warnings))
        fit.seconds.append(time.perf_counter() - start)
        if number < len(steps):
            sample = table.sample()
    if fit.profile is None:  # no steps
        fit.profile = build_profile(fit.input_schema, profiled.compute(profiling))
    fit.table = table
    return fit


class TrainingApplier:
    """The training rows through every fitted step, batch by batch, in one pass: each call
    returns the batch's output and its step reports (train-only steps included, as when fitting
    in memory); `finish` then gives the rows steps add at the end (over-samplers) and theirs."""

    def __init__(self, steps: list[Step], fit: StreamFit, base: StepContext) -> None:
        self.steps, self.fit, self.base = steps, fit, base
        self.stages = [make() for make in fit.stages]
        self.empty: list[pl.DataFrame] = []  # each step's input schema, for rows added at the end

    def __call__(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, list[StepReport]]:
        return self._through(0, batch)

    def finish(self) -> Iterator[tuple[pl.DataFrame, list[StepReport | None]]]:
        """The rows steps add after the last batch, in step order, each through the steps after
        the one adding them, with the reports of those steps (None for the steps before)."""
        from prepkit.pipeline import record_step

        for first, stage in enumerate(self.stages):
            step, state = self.steps[first], self.fit.states[first]
            ctx = _step_context(self.base, step)
            for added in stage.finish(ctx):
                reports: list[StepReport | None] = [None] * first
                before = self.empty[first]
                reports.append(
                    record_step(step, "train", before, added, state, ctx, 0.0, first + 1)
                )
                ctx.changes.clear()  # what the stage recorded counts once
                ctx.warnings.clear()
                batch, later = self._through(first + 1, added)
                yield batch, [*reports, *later]

    def _through(self, first: int, batch: pl.DataFrame) -> tuple[pl.DataFrame, list[StepReport]]:
        """`batch` through the steps from index `first` on, with their reports."""
        from prepkit.pipeline import record_step

        reports = []
        for index in range(first, len(self.stages)):
            if len(self.empty) <= index:
                self.empty.append(batch.clear())
            step, state = self.steps[index], self.fit.states[index]
            ctx = _step_context(self.base, step)
            start = time.perf_counter()
            out = self.stages[index](batch, ctx)
            seconds = time.perf_counter() - start
            reports.append(record_step(step, "train", batch, out, state, ctx, seconds, index + 1))
            batch = out
        return batch, reports


def merge_reports(
    total: list[StepReport] | None, more: list[StepReport] | list[StepReport | None]
) -> list[StepReport]:
    """Reports of the same steps over two batches, counts summed (None: the step saw no rows)."""
    if total is None:
        return more
    return [a if b is None else merge_step_reports(a, b) for a, b in zip(total, more, strict=True)]


@dataclass
class StreamedRun:
    """What a streamed run produced: the fitted recipe, every step's report (train, then
    valid/test), rows and columns per part, and the summary the checks look at."""

    fitted: Any  # FittedRecipe
    steps: list[StepReport]
    parts: dict[str, dict[str, int]]
    summary: Any  # checks.OutputSummary
    frames: dict[str, pl.DataFrame]


class SplitStage(Stage):
    """A hash split in a pass: keep the rows of one part (`code`), or add the fold column."""

    positional = True

    def __init__(self, split: Any, code: int | None) -> None:
        from prepkit.split import HashSplit

        self.splitter, self.code, self.spec = HashSplit(*split), code, split[0]

    def __call__(self, batch: pl.DataFrame, ctx: Any = None) -> pl.DataFrame:
        parts = self.splitter.parts(batch)
        if self.code is None:
            return batch.with_columns(pl.Series(self.spec.fold_column, parts, pl.Int64))
        return batch.filter(pl.Series(parts == self.code))

    def summarize(self, batch: pl.DataFrame) -> dict[str, Any]:
        return self.splitter.summarize(batch)

    def begin(self, before: dict[str, Any]) -> None:
        self.splitter.begin(before)


def _part_filter(split: Any, code: int) -> StageFactory:
    """Keep the rows of one part of a hash split; a new splitter per pass (positions restart)."""
    return lambda: SplitStage(split, code)


def _add_folds(split: Any) -> StageFactory:
    return lambda: SplitStage(split, None)


def run_streamed(
    recipe: Any,
    read: Callable[[], Iterator[pl.DataFrame]],
    base: StepContext,
    *,
    source: str | None,
    writers: dict[str, Any] | None,
    class_columns: list[str],
    keep_frames: bool = False,
    split: bool = True,
) -> StreamedRun:
    """Fit `recipe` on the training rows of the input read by `read` (one call per pass), then
    apply it in one last pass: the training rows through every step, valid/test rows through
    the transform steps, each batch written to `writers[part]` (a `BatchWriter`, opened) and
    summarised for the checks. `keep_frames` also keeps the outputs (for `write=False`)."""
    from prepkit.checks import summarize
    from prepkit.fitted import FittedRecipe, schema_of
    from prepkit.pipeline import require_rows, require_target
    from prepkit.split import HashSplit

    spec = recipe.spec
    table = StreamedTable(read)
    first = table.sample()
    require_rows(first, source)
    require_target(first, spec.target, source)
    train = table
    hashing = None
    if split and spec.split is not None:
        hashing = (spec.split, spec.target, spec.seed)
        HashSplit(*hashing)  # option errors before any pass
        train = table.then(_add_folds(hashing) if spec.split.kfold else _part_filter(hashing, 0))
    fit = fit_streamed(recipe.steps, train, base)

    applier = TrainingApplier(recipe.steps, fit, base)
    splitter = HashSplit(*hashing) if hashing and not spec.split.kfold else None
    folds = _add_folds(hashing)() if hashing and spec.split.kfold else None
    fitted: Any = None
    totals: dict[str, list[StepReport] | None] = {"train": None, "valid": None, "test": None}
    parts: dict[str, dict[str, int]] = {"input": {"rows": 0, "columns": first.width}}
    summary = None
    frames: dict[str, list[pl.DataFrame]] = {}

    def emit(name: str, frame: pl.DataFrame) -> None:
        nonlocal summary
        if writers is not None:
            writers[name].write(frame)
        if keep_frames:
            frames.setdefault(name, []).append(frame)
        shape = parts.setdefault(name, {"rows": 0, "columns": frame.width})
        shape["rows"] += frame.height
        if name == "train":
            piece = summarize(frame, class_columns)
            summary = piece if summary is None else summary + piece

    for batch in table.batches():
        parts["input"]["rows"] += batch.height
        codes = splitter.parts(batch) if splitter is not None else None
        pieces = {"train": batch if codes is None else batch.filter(pl.Series(codes == 0))}
        if folds is not None:
            pieces["train"] = folds(pieces["train"])
        if codes is not None:
            for code, name in ((1, "valid"), (2, "test")):
                if getattr(spec.split, name) > 0:
                    pieces[name] = batch.filter(pl.Series(codes == code))
        out, reports = applier(pieces["train"])
        if fitted is None:
            fitted = FittedRecipe(
                recipe=recipe.to_dict(),
                steps=recipe.steps,
                states=fit.states,
                input_schema={k: str(v) for k, v in fit.input_schema.items()},
                output_schema=schema_of(out),
                reference_profile=fit.profile,
            )
        outputs = {"train": out}
        totals["train"] = merge_reports(totals["train"], reports)
        for name in ("valid", "test"):
            if name in pieces:
                applied, report = fitted.transform_frame(
                    pieces[name], part=name, workdir=base.workdir, quiet=base.quiet, source=source
                )
                outputs[name] = applied
                totals[name] = merge_reports(totals[name], report.steps)
        for name, frame in outputs.items():
            emit(name, frame)
    for out, reports in applier.finish():  # rows steps add after the last batch
        totals["train"] = merge_reports(totals["train"], reports)
        emit("train", out)
    # the training reports also carry what fitting warned and the time it took
    for report, warnings, seconds in zip(
        totals["train"] or [], fit.warnings, fit.seconds, strict=True
    ):
        report.warnings = list(dict.fromkeys([*warnings, *report.warnings]))
        report.seconds = round(report.seconds + seconds, 4)
    steps = [r for name in ("train", "valid", "test") for r in totals[name] or []]
    fitted.report.steps = steps
    return StreamedRun(fitted, steps, parts, summary, {k: pl.concat(v) for k, v in frames.items()})
