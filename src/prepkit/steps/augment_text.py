"""Text augmentation with nlpaug: new training rows from a text column, fully offline."""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from prepkit.columns import require_columns
from prepkit.errors import DataError
from prepkit.steps.balance import BalanceParams, plan_balance
from prepkit.steps.base import Column, Step, StepContext, StepState, register

AUGMENTED = "augmented"
SOURCE_ROW = "source_row"
EXAMPLES = 3


def class_counts(frame: pl.DataFrame, column: str | None) -> dict[str, int]:
    """Rows per class, sorted by class (null labels left out)."""
    if column is None or column not in frame.columns:
        return {}
    counts = frame.select(pl.col(column).cast(pl.String)).drop_nulls().to_series().value_counts()
    counts = counts.sort(column)
    return dict(zip(counts[column].to_list(), counts["count"].to_list(), strict=True))


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

    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
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
        state: dict[str, Any] = {
            "column": p.column,
            "augmenters": augmenters,
            "mode": p.mode,
            "probability": p.probability,
            "copies": p.copies,
            "target": ctx.target,
            "generate": None,
            "wordnet": wordnet,
        }
        if p.balance:
            target = ctx.require_target(frame, "augment_text with balance: true")
            usable = frame.filter(pl.col(target).is_not_null() & pl.col(p.column).is_not_null())
            if usable.height < frame.height:
                ctx.warn(
                    f"{frame.height - usable.height} row(s) without a label or text are not "
                    "augmented"
                )
            state["generate"] = plan_balance(
                class_counts(usable, target), p.target_count, p.sampling_strategy
            )
        return state

    def _copies_per_row(self, frame: pl.DataFrame, state: dict[str, Any]) -> np.ndarray:
        """Augmented copies to make of each row (null texts get none)."""
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
        wanted = pl.DataFrame(
            {"_class": list(state["generate"]), "_n": list(state["generate"].values())},
            schema={"_class": pl.String, "_n": pl.Int64},
        )
        usable = text.is_not_null() & pl.col(target).is_not_null()
        spread = (
            frame.select(
                pl.when(usable).then(pl.col(target).cast(pl.String)).alias("_class"),
                (usable.cast(pl.Int64).cum_sum().over(target) - 1).alias("_j"),
                usable.cast(pl.Int64).sum().over(target).alias("_k"),
                usable.alias("_usable"),
            )
            .join(wanted, on="_class", how="left", maintain_order="left")
            .select(
                pl.when(pl.col("_usable") & (pl.col("_k") > 0))
                .then(
                    pl.col("_n").fill_null(0) // pl.col("_k")
                    + (pl.col("_j") < pl.col("_n").fill_null(0) % pl.col("_k")).cast(pl.Int64)
                )
                .otherwise(0)
                .alias("n")
            )
        )
        return spread["n"].to_numpy()

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        from prepkit.parallel import default_workers
        from prepkit.textaug.worker import run_jobs

        start = time.perf_counter()
        column = state["column"]
        copies = self._copies_per_row(frame, state) if frame.height else np.zeros(0, dtype=int)
        texts = frame[column].to_list()
        jobs = [(int(i), texts[i], 1, int(copies[i])) for i in np.flatnonzero(copies)]
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
        results = (
            run_jobs(config, jobs, workers=workers, quiet=ctx.quiet, label=ctx.step_id)
            if jobs
            else []
        )
        rows = np.repeat(np.arange(frame.height), copies)
        new_texts = [text for result in results for text, _ in result]
        identical = sum(same for result in results for _, same in result)
        augmented = frame[rows.tolist()].with_columns(pl.Series(column, new_texts, dtype=pl.String))
        originals = frame
        if self.params.mark_augmented:
            originals = originals.with_columns(pl.lit(False).alias(AUGMENTED))
            augmented = augmented.with_columns(pl.lit(True).alias(AUGMENTED))
        if self.params.source_row:
            originals = originals.with_columns(
                pl.int_range(pl.len(), dtype=pl.Int64).alias(SOURCE_ROW)
            )
            augmented = augmented.with_columns(pl.Series(SOURCE_ROW, rows, dtype=pl.Int64))
        out = pl.concat([originals, augmented])
        if identical:
            ctx.warn(
                f"{identical} augmented text(s) stayed identical to their source after "
                f"{self.params.retries} retries (short texts, or augmenter options too weak)"
            )
        seconds = time.perf_counter() - start
        examples = [
            {"source": texts[int(r)], "augmented": t}
            for r, t in zip(rows[:EXAMPLES], new_texts[:EXAMPLES], strict=False)
        ]
        ctx.record(
            augmented=len(new_texts),
            identical_to_source=int(identical),
            seconds=round(seconds, 3),
            rows_per_second=round(len(new_texts) / seconds, 1) if seconds and new_texts else None,
            examples=examples,
        )
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
