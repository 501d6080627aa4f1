"""Text augmentation with nlpaug: new training rows from a text column, fully offline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from prepkit.columns import require_columns
from prepkit.engines.stages import Stage
from prepkit.engines.statistics import Counts, Missing
from prepkit.errors import DataError
from prepkit.steps.balance import BalanceParams, plan_balance
from prepkit.steps.base import Column, Step, StepContext, StepState, register

AUGMENTED = "augmented"
SOURCE_ROW = "source_row"
EXAMPLES = 3  # original -> augmented pairs the report shows
EXAMPLE_CHARS = 300  # each text of them cut to this many characters

Job = tuple[int, str, int, int]  # (source row, text, first copy, copies): see textaug.worker
Runner = Callable[[list[Job]], list[list[tuple[str, bool]]]]


def class_counts(frame: pl.DataFrame, column: str | None) -> dict[str, int]:
    """Rows per class, sorted by class (null labels left out)."""
    if column is None or column not in frame.columns:
        return {}
    counts = frame.select(pl.col(column).cast(pl.String)).drop_nulls().to_series().value_counts()
    counts = counts.sort(column)
    return dict(zip(counts[column].to_list(), counts["count"].to_list(), strict=True))


def usable_counts(frame: pl.DataFrame, target: str, column: str) -> tuple[dict[str, int], int]:
    """The rows with a label and a text per class (sorted), and the number of the others."""
    usable = frame.filter(pl.col(target).is_not_null() & pl.col(column).is_not_null())
    return class_counts(usable, target), frame.height - usable.height


def add_counts(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    """Counts per class of two sets of rows, added."""
    return {c: total.get(c, 0) + more.get(c, 0) for c in {**total, **more}}


def labels_as_classes(counts: dict[Any, int], dtype: pl.DataType) -> dict[str, int]:
    """A `Counts` answer for the target as `class_counts` gives it: labels as text (the cast
    polars makes), sorted, null left out."""
    labels = [label for label in counts if label is not None]
    names = pl.Series(labels, dtype=dtype).cast(pl.String).to_list()
    classes: dict[str, int] = {}
    for name, label in zip(names, labels, strict=True):
        classes[name] = classes.get(name, 0) + counts[label]
    return dict(sorted(classes.items()))


def _cut(text: str | None, most: int = EXAMPLE_CHARS) -> str | None:
    """A text for the report: at most `most` characters (the last an ellipsis when cut)."""
    return text if text is None or len(text) <= most else text[: most - 1] + "…"


@dataclass
class Made:
    """Augmented rows made from some input rows, and what the report says of them."""

    rows: pl.DataFrame
    identical: int  # texts still identical to their source after the retries
    examples: list[dict[str, str]]
    seconds: float = 0.0


@register("augment_text")
class AugmentText(Step):
    """Add augmented copies of training rows by rewriting one text column with nlpaug.

    Augmenters (nlpaug underneath, option names as in nlpaug): `keyboard`, `ocr`, `random_char`
    (action insert/substitute/swap/delete), `random_word` (swap/delete/crop/substitute),
    `split_word`, `spelling` (nlpaug's English misspelling list), `synonym` and `antonym`
    (WordNet, read from disk: `wordnet_path` or NLTK_DATA), and, with a local `model_path`,
    `word_embs`, `contextual_word_embs`, `back_translation`. Nothing is ever downloaded.
    Several augmenters run one after another (`mode: sequential`) or each with `probability`
    (`mode: sometimes`).

    Modes: `copies: N` adds N augmented rows per row; `balance: true` adds rows to the smaller
    classes only (needs the recipe's `target`), up to `target_count` or as `sampling_strategy`
    asks (imbalanced-learn's meaning). Copies of a class are spread evenly over its rows. Original
    rows come first, unchanged; augmented rows follow, grouped by source row; other columns are
    copied from the source row. Each augmented row's seed comes from (recipe seed, step id, source
    row, copy), so the output is identical for any `workers`. An augmented text identical to its
    source is retried `retries` times with new seeds; those that stay identical are counted.

    Phase `train_only`: never runs on valid/test parts or at apply time.

    Streams (`--engine stream`): original rows go through batch by batch; after the last batch
    the input is read again and augmented one batch at a time (each batch over the worker
    processes), so memory stays bounded by the batch size, and the rows, texts, `source_row`
    values and report counts are exactly those of `--engine memory`. `balance: true` plans from
    the class counts of every row (one more pass over the labels when some texts are missing).
    Each pass a later step fits from runs the augmenters again.

    ```yaml
    - step: augment_text
      column: text
      balance: true
      augmenters:
        - {name: keyboard, aug_char_p: 0.1, aug_word_p: 0.1}
        - {name: random_word, action: swap, aug_p: 0.2}
      mark_augmented: true     # boolean column `augmented`
      source_row: true         # column `source_row`: the row an augmented row was made from
    ```
    """

    phase = "train_only"
    keeps_rows = False  # adds rows: the output gets a fresh index

    class Params(BalanceParams):
        column: str = Field("text", description="The text column to augment.")
        augmenters: list[dict[str, Any]] = Field(
            ...,
            description="nlpaug augmenters: [{name: keyboard, aug_char_p: 0.1}, ...] "
            "(names: keyboard, ocr, random_char, random_word, split_word, spelling, synonym, "
            "antonym, word_embs, contextual_word_embs, back_translation).",
        )
        mode: Literal["sequential", "sometimes"] = Field(
            "sequential",
            description="sequential: every augmenter in turn; sometimes: each with `probability`.",
        )
        probability: float = Field(
            0.5, gt=0, le=1, description="mode: sometimes — chance each augmenter is applied."
        )
        mark_augmented: bool = Field(
            False, description="Add a boolean `augmented` column (true for added rows)."
        )
        source_row: bool = Field(
            False,
            description="Add an integer `source_row` column: the input row (0-based) each row "
            "comes from (originals point at themselves).",
        )
        retries: int = Field(
            3, ge=0, description="New seeds tried when an augmented text equals its source."
        )
        wordnet_path: str | None = Field(
            None,
            description="synonym/antonym: folder holding corpora/wordnet (default: NLTK_DATA "
            "and NLTK's usual folders); relative to the recipe.",
        )
        workers: int | None = Field(
            None, ge=1, description="Worker processes (default: the recipe's, else all cores)."
        )

        @field_validator("augmenters")
        @classmethod
        def _check(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
            from prepkit.textaug.augmenters import check_spec

            if not value:
                raise ValueError("give at least one augmenter")
            return [check_spec(spec) for spec in value]

    class State(StepState):
        column: Column
        augmenters: list[dict[str, Any]]
        mode: Literal["sequential", "sometimes"]
        probability: float = Field(gt=0, le=1)
        copies: int | None = Field(ge=1)
        target: str | None
        generate: dict[str, int] | None
        wordnet: str | None

        def made(self, step: Step, columns: dict[str, str]) -> dict[str, str]:
            made = {AUGMENTED: "boolean"} if step.params.mark_augmented else {}
            return made | ({SOURCE_ROW: "numeric"} if step.params.source_row else {})

    def required_columns(self, state: dict[str, Any]) -> list[str]:
        return [state["column"]]

    # -- fitting: the settings, and in balance mode how many rows each class gets -----------------
    def _settings(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        """The state but the balance plan, after checking the column and the augmenters' files;
        `frame` gives the columns and dtypes only."""
        from prepkit.textaug.augmenters import WORDNET, resolve_paths
        from prepkit.textaug.wordnet import find_wordnet

        p = self.params
        require_columns(frame, [p.column])
        if frame.schema[p.column] != pl.String:
            raise DataError(
                f"augment_text: column '{p.column}' holds {frame.schema[p.column]}, not text",
                hint="pick a string column (cast it first with the cast step if needed)",
            )
        augmenters = [resolve_paths(spec, ctx.base_dir) for spec in p.augmenters]
        wordnet = None
        if any(spec["name"] in WORDNET for spec in augmenters):
            wordnet = find_wordnet(p.wordnet_path, ctx.base_dir)
        return {
            "column": p.column,
            "augmenters": augmenters,
            "mode": p.mode,
            "probability": p.probability,
            "copies": p.copies,
            "target": ctx.target,
            "generate": None,
            "wordnet": wordnet,
        }

    def _plan(self, usable: dict[str, int], left_out: int, ctx: StepContext) -> dict[str, int]:
        """Balance: rows to add per class, from the usable rows per class (with a label and a
        text) and the number of rows left out."""
        if left_out:
            ctx.warn(f"{left_out} row(s) without a label or text are not augmented")
        p = self.params
        return plan_balance(usable, p.target_count, p.sampling_strategy)

    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        state = self._settings(frame, ctx)
        if self.params.balance:
            target = ctx.require_target(frame, "augment_text with balance: true")
            state["generate"] = self._plan(*usable_counts(frame, target, state["column"]), ctx)
        return state

    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Any]:
        """Nothing from the rows for `copies: N`; for `balance: true` the labels and the number
        of missing texts (what the plan needs, unless texts are missing: see `streamed`)."""
        self._settings(frame, ctx)
        if not self.params.balance:
            return []
        target = ctx.require_target(frame, "augment_text with balance: true")
        return [Counts(target), Missing(self.params.column)]

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        """The state `fit` gives. When some texts are missing, the rows per class with a text
        are not told by the answers: the plan is then left to `streamed` (generate: None)."""
        state = self._settings(frame, ctx)
        if self.params.balance:
            target = ctx.require_target(frame, "augment_text with balance: true")
            if not answers[Missing(state["column"])]["missing"]:
                counts = answers[Counts(target)]
                usable = labels_as_classes(counts, frame.schema[target])
                state["generate"] = self._plan(usable, counts.get(None, 0), ctx)
        return state

    def streamed(
        self, passes: Callable[[], Iterator[pl.DataFrame]], state: dict[str, Any], ctx: StepContext
    ) -> tuple[dict[str, Any], Callable[[], Stage]]:
        """Originals stream through; the augmented rows follow the last batch, made batch by
        batch from another pass over the input (see `Augmenting`). A balance plan `fit_from`
        could not make is made here from one pass counting the usable rows per class."""
        if self.params.balance and state["generate"] is None:
            usable: dict[str, int] = {}
            left_out = 0
            for batch in passes():
                found, missed = usable_counts(batch, state["target"], state["column"])
                usable, left_out = add_counts(usable, found), left_out + missed
            state = {**state, "generate": self._plan(dict(sorted(usable.items())), left_out, ctx)}
        run = self._runner(state, ctx)
        return state, lambda: Augmenting(self, state, passes, run)

    # -- applying ---------------------------------------------------------------------------------
    def _copies_per_row(
        self,
        frame: pl.DataFrame,
        state: dict[str, Any],
        totals: dict[str, int] | None = None,
        seen: dict[str, int] | None = None,
    ) -> np.ndarray:
        """Augmented copies to make of each row (null texts get none).

        Balance: a class's copies are spread evenly over its usable rows by their rank in the
        class; `totals` are its usable rows in the whole input (default: in `frame`), `seen` those
        before `frame` (a batch), so ranks continue across batches.
        """
        text = pl.col(state["column"])
        if state["generate"] is None:
            return (
                frame.select(pl.when(text.is_null()).then(0).otherwise(state["copies"]))
                .to_series()
                .to_numpy()
            )
        target = state["target"]
        if target not in frame.columns:
            raise DataError(f"augment_text: target column '{target}' is not in the data")
        if totals is None:
            totals = usable_counts(frame, target, state["column"])[0]
        seen = seen or {}
        classes = list(state["generate"])
        wanted = pl.DataFrame(
            {
                "_class": classes,
                "_n": list(state["generate"].values()),
                "_k": [totals.get(c, 0) for c in classes],
                "_seen": [seen.get(c, 0) for c in classes],
            },
            schema={"_class": pl.String, "_n": pl.Int64, "_k": pl.Int64, "_seen": pl.Int64},
        )
        usable = text.is_not_null() & pl.col(target).is_not_null()
        rank = pl.col("_seen") + pl.col("_usable").cast(pl.Int64).cum_sum().over("_class") - 1
        spread = (
            frame.select(
                pl.when(usable).then(pl.col(target).cast(pl.String)).alias("_class"),
                usable.alias("_usable"),
            )
            .join(wanted, on="_class", how="left", maintain_order="left")
            .select(
                pl.when(pl.col("_usable") & (pl.col("_k") > 0))
                .then(
                    pl.col("_n") // pl.col("_k")
                    + (rank < pl.col("_n") % pl.col("_k")).cast(pl.Int64)
                )
                .otherwise(0)
                .alias("n")
            )
        )
        return spread["n"].to_numpy()

    def _runner(self, state: dict[str, Any], ctx: StepContext) -> Runner:
        """`run(jobs)`: the augmented texts of jobs (row, text, first copy, copies), in order,
        over the step's worker processes when they are many."""
        from prepkit.parallel import default_workers
        from prepkit.textaug.worker import run_jobs

        config = {
            "augmenters": state["augmenters"],
            "mode": state["mode"],
            "probability": state["probability"],
            "wordnet": state["wordnet"],
            "retries": self.params.retries,
            "seed": ctx.seed,
            "step_id": ctx.step_id,
        }
        workers = default_workers(self.params.workers, ctx.workers)
        quiet, label = ctx.quiet, ctx.step_id

        def run(jobs: list[Job]) -> list[list[tuple[str, bool]]]:
            if not jobs:
                return []
            return run_jobs(config, jobs, workers=workers, quiet=quiet, label=label)

        return run

    def originals(self, frame: pl.DataFrame, start: int) -> pl.DataFrame:
        """The input rows as they come out: unchanged, marked and numbered when asked (`start`:
        the position of the first one in the step's input)."""
        if self.params.mark_augmented:
            frame = frame.with_columns(pl.lit(False).alias(AUGMENTED))
        if self.params.source_row:
            frame = frame.with_columns(
                pl.int_range(start, start + pl.len(), dtype=pl.Int64).alias(SOURCE_ROW)
            )
        return frame

    def augment(
        self, frame: pl.DataFrame, copies: np.ndarray, start: int, run: Runner, column: str
    ) -> Made:
        """The augmented rows of `frame`, `copies[i]` of row i, grouped by source row; rows are
        numbered (seeds, `source_row`) from `start`, their position in the step's input."""
        texts = frame[column].to_list()
        jobs = [(start + int(i), texts[i], 1, int(copies[i])) for i in np.flatnonzero(copies)]
        results = run(jobs)
        rows = np.repeat(np.arange(frame.height), copies)
        new_texts = [text for result in results for text, _ in result]
        identical = sum(same for result in results for _, same in result)
        augmented = frame[rows.tolist()].with_columns(pl.Series(column, new_texts, dtype=pl.String))
        if self.params.mark_augmented:
            augmented = augmented.with_columns(pl.lit(True).alias(AUGMENTED))
        if self.params.source_row:
            augmented = augmented.with_columns(pl.Series(SOURCE_ROW, rows + start, dtype=pl.Int64))
        examples = [
            {"source": _cut(texts[int(r)]), "augmented": _cut(t)}
            for r, t in zip(rows[:EXAMPLES], new_texts[:EXAMPLES], strict=False)
        ]
        return Made(augmented, int(identical), examples)

    def record_totals(self, ctx: StepContext, made: int, identical: int, seconds: float,
                      examples: list[dict[str, str]]) -> None:  # fmt: skip
        """What the report says of the whole run, once: time, rate, examples, identical texts."""
        if identical:
            ctx.warn(
                f"{identical} augmented text(s) stayed identical to their source after "
                f"{self.params.retries} retries (short texts, or augmenter options too weak)"
            )
        ctx.record(
            seconds=round(seconds, 3),
            rows_per_second=round(made / seconds, 1) if seconds and made else None,
            examples=examples,
        )

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        start = time.perf_counter()
        copies = self._copies_per_row(frame, state) if frame.height else np.zeros(0, dtype=int)
        made = self.augment(frame, copies, 0, self._runner(state, ctx), state["column"])
        out = pl.concat([self.originals(frame, 0), made.rows])
        ctx.record(augmented=made.rows.height, identical_to_source=made.identical)
        seconds = time.perf_counter() - start
        self.record_totals(ctx, made.rows.height, made.identical, seconds, made.examples)
        return out

    def describe(
        self, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any]
    ) -> dict[str, Any]:
        target = state.get("target")  # augmented rows, examples and timings are recorded by apply
        if not target:
            return {}
        return {
            "classes_before": class_counts(before, target),
            "classes_after": class_counts(after, target),
        }


class Augmenting(Stage):
    """augment_text on one pass of the streaming engine.

    Each batch goes through as its original rows (marked, and numbered by their position in the
    step's input), while the usable rows per class are counted. After the last batch, `finish`
    reads the input again and augments it batch by batch, each batch's rows numbered from its
    offset and, for `balance`, ranked in their class from the rows of the class before it: the
    same texts, seeds and order as `apply` on the whole input, one batch in memory at a time.
    The report gets the counts of each batch added, and the time, rate, examples and the
    identical-texts warning of the whole run with the last batch.
    """

    def __init__(
        self,
        step: AugmentText,
        state: dict[str, Any],
        passes: Callable[[], Iterator[pl.DataFrame]],
        run: Runner,
    ) -> None:
        self.step, self.state, self.passes, self.run = step, state, passes, run
        self.rows = 0  # input rows seen by this pass
        self.totals: dict[str, int] = {}  # usable rows per class seen by this pass (balance)

    def __call__(self, batch: pl.DataFrame, ctx: Any = None) -> pl.DataFrame:
        out = self.step.originals(batch, self.rows)
        self.rows += batch.height
        if self.state["generate"] is not None:
            found = usable_counts(batch, self.state["target"], self.state["column"])[0]
            self.totals = add_counts(self.totals, found)
        return out

    def made(self) -> Iterator[Made]:
        """The augmented rows of each batch of another pass over the input, in order."""
        state, start, seen = self.state, 0, {}
        balance = state["generate"] is not None
        for batch in self.passes():
            began = time.perf_counter()
            copies = (
                self.step._copies_per_row(batch, state, self.totals, seen)
                if batch.height
                else np.zeros(0, dtype=int)
            )
            made = self.step.augment(batch, copies, start, self.run, state["column"])
            made.seconds = time.perf_counter() - began
            start += batch.height
            if balance:
                seen = add_counts(seen, usable_counts(batch, state["target"], state["column"])[0])
            yield made

    def finish(self, ctx: Any = None) -> Iterable[pl.DataFrame]:
        """The augmented rows, batch by batch (batches with none skipped, but one is given when
        all are empty, to carry the report). The last batch is held back until the one after it
        is made, so the report's totals go with it."""
        held: Made | None = None
        made = identical = 0
        seconds = 0.0
        examples: list[dict[str, str]] = []
        for part in self.made():
            made, identical = made + part.rows.height, identical + part.identical
            seconds += part.seconds
            examples += part.examples[: EXAMPLES - len(examples)]
            if held is not None and not part.rows.height:
                continue
            if held is not None and held.rows.height:
                yield self._counted(held, ctx)
            held = part
        if held is None:  # no input rows
            return
        if ctx is not None:
            self.step.record_totals(ctx, made, identical, seconds, examples)
        yield self._counted(held, ctx)

    @staticmethod
    def _counted(part: Made, ctx: Any) -> pl.DataFrame:
        if ctx is not None:
            ctx.record(augmented=part.rows.height, identical_to_source=part.identical)
        return part.rows
