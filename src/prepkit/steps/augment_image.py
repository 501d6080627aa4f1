"""Image data sets: prepare (resize, colour mode), remove duplicates, augment with albumentations.

The frame holds one row per image (see `prepkit.images`); these steps read the pixels from
`image_path`, write new pixels under the run's working folder and point `image_path` at them.
Work is spread over `workers` processes; every random choice is seeded per image, so the output is
byte-identical whatever the number of workers. Unreadable files are skipped and listed in the
report; a step fails only when no image can be read or `max_bad_fraction` is exceeded.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, PositiveInt, field_validator, model_validator

from prepkit.images import AUGMENTED, COPY, IMAGE_PATH, ORIGIN, SEED, SOURCE
from prepkit.images.dataset import (
    class_counts,
    default_label,
    image_seed,
    label_column,
    require_images,
    skip_unreadable,
    staging_dir,
    suffix_for,
)
from prepkit.steps.balance import BalanceParams, plan_balance
from prepkit.steps.base import Step, StepContext, StepParams, StepState, plain_state, register

SKIPPED_LISTED = 20  # skipped files named in the report (all are counted)
EXAMPLE_PAIRS = 8  # original / augmented pairs the report shows


def _examples(
    frame: pl.DataFrame, rows: list[tuple[int, int, int, str]], label: str | None,
    most: int = EXAMPLE_PAIRS,
) -> list[dict[str, Any]]:  # fmt: skip
    """A few original / augmented pairs for the report, one per source image, taking the
    classes in turn: the image's class, its `source` and the copy's number (which name it in
    the output's manifest: `source`, `copy`), and the files holding their pixels during the run
    (`original`, `augmented`: staged files, gone after the run unless written out)."""
    first: dict[int, tuple[int, str]] = {}
    for i, k, _, path in rows:
        first.setdefault(i, (k, path))
    labels = frame[label].cast(pl.String).to_list() if label else [None] * frame.height
    by_class: dict[Any, list[int]] = {}
    for i in first:
        by_class.setdefault(labels[i], []).append(i)
    chosen: list[int] = []
    queues = [list(q) for q in by_class.values()]
    while len(chosen) < most and any(queues):
        for q in queues:
            if q and len(chosen) < most:
                chosen.append(q.pop(0))
    paths, sources = frame[IMAGE_PATH].to_list(), frame[SOURCE].to_list()
    return [
        {"label": labels[i], "source": sources[i], "copy": first[i][0], "original": paths[i],
         "augmented": first[i][1]}
        for i in chosen
    ]  # fmt: skip


class ImageParams(StepParams):
    workers: int | None = Field(
        None, ge=1, description="Worker processes (default: the recipe's workers, else all cores)."
    )
    max_bad_fraction: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Fail when more than this fraction of images cannot be read "
        "(default: fail only when none can be read).",
    )


def _run(step: Step, fn: Any, shared: Any, jobs: list[Any], ctx: StepContext) -> list[Any]:
    from prepkit.images.parallel import run_tasks
    from prepkit.parallel import default_workers

    workers = default_workers(step.params.workers, ctx.workers)
    return run_tasks(fn, shared, jobs, workers=workers, quiet=ctx.quiet, label=step.id)


def _skipped_report(skipped: list[dict[str, str]]) -> dict[str, Any]:
    return {"count": len(skipped), "files": [s["file"] for s in skipped[:SKIPPED_LISTED]]}


def _speed(seconds: float, images: int) -> dict[str, Any]:
    """Timing counts for the report: seconds and images per second (None when not measurable)."""
    return {
        "seconds": round(seconds, 3),
        "images_per_second": round(images / seconds, 1) if seconds and images else None,
    }


# -- prepare_images -----------------------------------------------------------------------------------
@register("prepare_images")
class PrepareImages(Step):
    """Resize and convert every image (training data and new data alike); skip unreadable files.

    Phase `transform`: it also runs at apply time and on valid/test parts, so every image the
    model sees has the same size and colour mode. An image that already has the requested size,
    mode and format keeps its file untouched (byte-identical in the output). With no option set,
    the step only checks that every image can be read.

    ```yaml
    - step: prepare_images
      resize: [224, 224]      # height, width
      to_rgb: true            # gray and RGBA become RGB
      format: png             # re-encode (default: keep each file's format)
    ```
    """

    keeps_rows = False  # skips unreadable images (and reports the rows it kept)

    class Params(ImageParams):
        resize: list[int] | None = Field(
            None, description="[height, width] to resize every image to (default: keep sizes)."
        )
        to_rgb: bool = Field(False, description="Convert grayscale and RGBA images to RGB.")
        to_grayscale: bool = Field(False, description="Convert every image to grayscale.")
        format: Literal["same", "png", "jpg", "bmp", "tiff", "webp"] = Field(
            "same", description="File format of the prepared images (default: as each input)."
        )

        @field_validator("resize")
        @classmethod
        def _size(cls, value: list[int] | None) -> list[int] | None:
            if value is not None and (len(value) != 2 or min(value) < 1):
                raise ValueError(
                    f"resize takes [height, width], two positive integers; got {value}"
                )
            return value

        @model_validator(mode="after")
        def _one_mode(self) -> PrepareImages.Params:
            if self.to_rgb and self.to_grayscale:
                raise ValueError("choose either to_rgb or to_grayscale, not both")
            return self

    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        require_images(frame, self.name)
        p = self.params
        return {
            "resize": list(p.resize) if p.resize else None,
            "to_rgb": p.to_rgb,
            "to_grayscale": p.to_grayscale,
            "format": p.format,
        }

    class State(StepState):
        resize: Annotated[list[PositiveInt], Field(min_length=2, max_length=2)] | None
        to_rgb: bool
        to_grayscale: bool
        format: Literal["same", "png", "jpg", "bmp", "tiff", "webp"]

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        from prepkit.images import tasks

        start = time.perf_counter()
        frame = require_images(frame, self.name)
        if frame.height == 0:
            ctx.record(converted=0, skipped=_skipped_report([]), **_speed(0.0, 0))
            return frame
        stage = staging_dir(ctx)
        paths = frame[IMAGE_PATH].to_list()
        jobs = [
            (path, str(stage / f"{i}{suffix_for(path, state['format'])}"))
            for i, path in enumerate(paths)
        ]
        results = _run(self, tasks.prepare, state, jobs, ctx)
        ok, skipped = skip_unreadable(frame, results, ctx, self.params.max_bad_fraction)
        new_paths = [r.get("path") for r in results]
        out = ctx.filter_rows(
            frame.with_columns(pl.Series(IMAGE_PATH, new_paths, dtype=pl.String)), pl.Series(ok)
        )
        changed = sum(
            1 for r, old in zip(results, paths, strict=True) if r["ok"] and r["path"] != old
        )
        ctx.record(
            converted=changed,
            skipped=_skipped_report(skipped),
            **_speed(time.perf_counter() - start, frame.height),
        )
        return out

    def describe(
        self, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any]
    ) -> dict[str, Any]:
        return {"images": before.height}  # the rest is recorded by apply


# -- dedupe_images ------------------------------------------------------------------------------------
@register("dedupe_images")
class DedupeImages(Step):
    """Drop duplicate training images: identical pixels, or near-identical by perceptual hash.

    `exact` compares a SHA-256 of the decoded pixels (the same picture saved twice, even in two
    formats losslessly, is one image); `perceptual` also drops images whose 64-bit pHash differs
    from an earlier kept image's by at most `max_distance` bits. The first image (in data set
    order) of each group is kept. Duplicates with different labels are counted and warned about.
    Phase `train_only`: valid/test parts and new data are not deduplicated.

    ```yaml
    - step: dedupe_images
      method: perceptual
      max_distance: 4
    ```
    """

    phase = "train_only"
    keeps_rows = False  # drops rows (and reports which it kept)

    class Params(ImageParams):
        method: Literal["exact", "perceptual"] = Field(
            "exact", description="exact: identical pixels; perceptual: pHash within max_distance."
        )
        max_distance: int = Field(
            4, ge=0, le=64, description="Largest pHash Hamming distance counted as a duplicate."
        )

    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        require_images(frame, self.name)
        p = self.params
        label = default_label(frame, ctx)
        return {"method": p.method, "max_distance": p.max_distance, "label": label}

    class State(StepState):
        method: Literal["exact", "perceptual"]
        max_distance: int = Field(ge=0, le=64)
        label: str | None

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        from prepkit.images import tasks

        start = time.perf_counter()
        frame = require_images(frame, self.name)
        if frame.height == 0:
            ctx.record(
                duplicates_removed=0,
                duplicates=[],
                conflicting_labels=0,
                skipped=_skipped_report([]),
                seconds=0.0,
            )
            return frame
        shared = {"perceptual": state["method"] == "perceptual"}
        results = _run(self, tasks.fingerprint, shared, frame[IMAGE_PATH].to_list(), ctx)
        ok, skipped = skip_unreadable(frame, results, ctx, self.params.max_bad_fraction)
        readable = [i for i, good in enumerate(ok) if good]
        keeper = self._keepers(results, readable, state)
        labels = (
            frame[state["label"]].cast(pl.String).to_list()
            if state["label"] in frame.columns
            else None
        )
        removed = [i for i in readable if keeper[i] != i]
        conflicts = sorted(
            {keeper[i] for i in removed if labels is not None and labels[i] != labels[keeper[i]]}
        )
        if conflicts:
            ctx.warn(
                f"{len(conflicts)} duplicate group(s) carry different labels, e.g. "
                f"{frame[SOURCE][conflicts[0]]}; the first image's label was kept"
            )
        keep = np.zeros(frame.height, dtype=bool)
        keep[[i for i in readable if keeper[i] == i]] = True
        out = ctx.filter_rows(frame, pl.Series(keep))
        sources = frame[SOURCE].to_list()
        ctx.record(
            duplicates_removed=len(removed),
            duplicates=[f"{sources[i]} = {sources[keeper[i]]}" for i in removed[:SKIPPED_LISTED]],
            conflicting_labels=len(conflicts),
            skipped=_skipped_report(skipped),
            seconds=round(time.perf_counter() - start, 3),
        )
        return out

    @staticmethod
    def _keepers(
        results: list[dict[str, Any]], readable: list[int], state: dict[str, Any]
    ) -> dict[int, int]:
        """For each readable row, the row it duplicates (itself when kept)."""
        keeper: dict[int, int] = {}
        first: dict[str, int] = {}
        for i in readable:
            keeper[i] = first.setdefault(results[i]["sha"], i)
        if state["method"] != "perceptual":
            return keeper
        kept = [i for i in readable if keeper[i] == i]
        hashes = np.array([results[i]["phash"] for i in kept], dtype=np.uint64)
        alive = np.ones(len(kept), dtype=bool)
        # greedy in data set order: a kept image removes every later image close to it
        for a in range(len(kept)):
            if not alive[a]:
                continue
            near = np.bitwise_count(hashes[a + 1 :] ^ hashes[a]) <= state["max_distance"]
            near &= alive[a + 1 :]
            for b in np.flatnonzero(near) + a + 1:
                alive[b] = False
                keeper[kept[b]] = kept[a]
        for i in readable:  # exact copies of a removed image follow it to its keeper
            keeper[i] = keeper[keeper[i]]
        return keeper


# -- augment_images -----------------------------------------------------------------------------------
@register("augment_images")
class AugmentImages(Step):
    """Add augmented copies of training images made with an albumentations pipeline.

    Give the pipeline as `transforms:` (albumentations class names with their parameters; groups
    OneOf / SomeOf / Sequential / OneOrOther / RandomOrder take nested `transforms:`) or as
    `pipeline:` (albumentations' `A.to_dict` form). Names and parameters are checked when the
    recipe is loaded (`prepkit validate`), with a suggestion for misspelled names.

    Modes: `copies: N` makes N copies of every image; `balance: true` makes copies of the smaller
    classes only until they reach `target_count`, or the counts `sampling_strategy` asks for (as
    in imbalanced-learn: auto = not majority, minority, not minority, all, a ratio for two
    classes, or a mapping {class: images wanted}). Copies of a class are spread evenly over its
    images, in data set order. Originals are kept unless `keep_originals: false`, in which case
    every class is made of augmented images only (its full target count in balance mode).

    Each copy's seed comes from (recipe seed, step id, source path, copy number) and is listed in
    the output manifest. Phase `train_only`: never runs on valid/test parts or at apply time.

    ```yaml
    - step: augment_images
      balance: true
      transforms:
        - {name: HorizontalFlip, p: 0.5}
        - {name: Rotate, limit: 15}
        - {name: RandomBrightnessContrast}
        - name: OneOf
          transforms:
            - {name: GaussNoise}
            - {name: GaussianBlur}
    ```
    """

    phase = "train_only"
    keeps_rows = False  # adds rows: the output gets a fresh index

    class Params(ImageParams, BalanceParams):
        transforms: list[dict[str, Any]] | None = Field(
            None,
            description="Albumentations transforms: [{name: HorizontalFlip, p: 0.5}, ...]; "
            "groups (OneOf, SomeOf, ...) take nested `transforms`.",
        )
        pipeline: dict[str, Any] | None = Field(
            None, description="A serialized albumentations pipeline (A.to_dict form) instead."
        )
        keep_originals: bool = Field(
            True, description="Keep the original images (false: augmented images only)."
        )

        @field_validator("transforms")
        @classmethod
        def _check_transforms(cls, value: list[dict[str, Any]] | None) -> Any:
            from prepkit.images.transforms import build_pipeline

            if value is not None:
                build_pipeline(transforms=value)
            return value

        @field_validator("pipeline")
        @classmethod
        def _check_pipeline(cls, value: dict[str, Any] | None) -> Any:
            from prepkit.images.transforms import build_pipeline

            if value is not None:
                build_pipeline(pipeline=value)
            return value

        @model_validator(mode="after")
        def _one_mode(self) -> AugmentImages.Params:
            if (self.transforms is None) == (self.pipeline is None):
                raise ValueError("give either `transforms:` or `pipeline:` (exactly one)")
            self.check_balance_mode()  # after the pipeline check: replaces BalanceParams._one_mode
            return self

    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        from prepkit.images.transforms import build_pipeline

        frame = require_images(frame, self.name)
        p = self.params
        state: dict[str, Any] = {
            "pipeline": build_pipeline(p.transforms, p.pipeline),
            "copies": p.copies,
            "keep_originals": p.keep_originals,
            "target": default_label(frame, ctx),
            "generate": None,
        }
        if p.balance:
            target = label_column(frame, ctx, "augment_images with balance: true")
            state["target"] = target
            nulls = frame[target].null_count()
            if nulls:
                ctx.warn(f"{nulls} image(s) without a label are not augmented")
            counts = class_counts(frame.filter(pl.col(target).is_not_null()), target)
            generate = plan_balance(counts, p.target_count, p.sampling_strategy)
            if not p.keep_originals:  # only augmented images remain: each class gets its full count
                generate = {c: counts[c] + n for c, n in generate.items()}
            state["generate"] = generate
        return state

    def fit_transform(
        self, frame: pl.DataFrame, ctx: StepContext
    ) -> tuple[dict[str, Any], pl.DataFrame]:
        """With `balance: true`, plan from the images that load: unreadable files are left out
        before the classes are counted (a class with a corrupt file still reaches its target)."""
        frame = require_images(frame, self.name)
        skipped: list[dict[str, str]] = []
        if self.params.balance and frame.height:
            from prepkit.images import tasks

            results = _run(self, tasks.check, None, frame[IMAGE_PATH].to_list(), ctx)
            ok, skipped = skip_unreadable(frame, results, ctx, self.params.max_bad_fraction)
            frame = frame.filter(pl.Series(ok)) if skipped else frame
        state = plain_state(self.fit(frame, ctx) or {}, self.id)
        out = self.apply(frame, state, ctx)
        if skipped:
            later = ctx.changes.get("skipped") or {"count": 0, "files": []}
            files = [s["file"] for s in skipped] + later["files"]
            ctx.record(
                skipped={"count": len(skipped) + later["count"], "files": files[:SKIPPED_LISTED]}
            )
        return state, out

    def _copies_per_row(self, rows: pl.DataFrame, state: dict[str, Any]) -> list[int]:
        if state["generate"] is None:
            return [int(state["copies"])] * rows.height
        target = state["target"]
        wanted = pl.DataFrame(
            {"_class": list(state["generate"]), "_n": list(state["generate"].values())},
            schema={"_class": pl.String, "_n": pl.Int64},
        )
        spread = (
            rows.select(
                pl.col(target).cast(pl.String).alias("_class"),
                pl.int_range(pl.len()).over(target).alias("_j"),
                pl.len().over(target).alias("_k"),
            )
            .join(wanted, on="_class", how="left", maintain_order="left")
            .select(
                (
                    pl.col("_n").fill_null(0) // pl.col("_k")
                    + (pl.col("_j") < pl.col("_n").fill_null(0) % pl.col("_k")).cast(pl.Int64)
                ).alias("n")
            )
        )
        return spread["n"].to_list()

    class State(StepState):
        pipeline: dict[str, Any]
        copies: int | None = Field(ge=1)
        keep_originals: bool
        target: str | None
        generate: dict[str, int] | None

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        import json

        from prepkit.images import tasks

        start = time.perf_counter()
        frame = require_images(frame, self.name)
        if frame.height == 0:
            ctx.record(augmented=0, skipped=_skipped_report([]), **_speed(0.0, 0))
            return frame
        stage = staging_dir(ctx)
        shared = {"pipeline": json.dumps(state["pipeline"], sort_keys=True)}
        paths, sources = frame[IMAGE_PATH].to_list(), frame[SOURCE].to_list()
        made: dict[int, list[tuple[int, int, str]]] = {}

        def outputs(i: int, first: int, count: int) -> list[tuple[int, int, str]]:
            suffix = suffix_for(paths[i])
            return [
                (
                    k,
                    image_seed(ctx.seed, ctx.step_id, sources[i], k),
                    str(stage / f"{i}_{k}{suffix}"),
                )
                for k in range(first, first + count)
            ]

        copies = self._copies_per_row(frame, state)
        jobs = [(paths[i], outputs(i, 1, n)) for i, n in enumerate(copies)]
        results = _run(self, tasks.augment, shared, jobs, ctx)
        ok, skipped = skip_unreadable(frame, results, ctx, self.params.max_bad_fraction)
        for i, (_, outs) in enumerate(jobs):
            if ok[i]:
                made[i] = outs
        if state["generate"] is not None and not all(ok):
            self._make_up(frame, state, ok, copies, made, outputs, shared, ctx)

        rows = [(i, k, seed, path) for i in sorted(made) for k, seed, path in made[i]]
        augmented_rows = pl.DataFrame(
            {
                "_row": [r[0] for r in rows],
                COPY: [r[1] for r in rows],
                SEED: [r[2] for r in rows],
                IMAGE_PATH: [r[3] for r in rows],
            },
            schema={"_row": pl.UInt32, COPY: pl.Int32, SEED: pl.Int64, IMAGE_PATH: pl.String},
        )
        indexed = frame.with_row_index("_row")
        augmented = (
            augmented_rows.join(
                indexed.drop(IMAGE_PATH, COPY, SEED, ORIGIN), on="_row", how="left",
                maintain_order="left",
            )
            .with_columns(pl.lit(AUGMENTED).alias(ORIGIN))
            .select(frame.columns)
            .cast(frame.schema)
        )  # fmt: skip
        keep = pl.Series(ok) if state["keep_originals"] else pl.Series([False] * frame.height)
        out = pl.concat([frame.filter(keep), augmented])
        ctx.record(
            augmented=augmented.height,
            skipped=_skipped_report(skipped),
            **_speed(time.perf_counter() - start, augmented.height),
            examples=_examples(frame, rows, default_label(frame, ctx)),
        )
        return out

    def _make_up(
        self,
        frame: pl.DataFrame,
        state: dict[str, Any],
        ok: list[bool],
        copies: list[int],
        made: dict[int, list[tuple[int, int, str]]],
        outputs: Any,
        shared: dict[str, Any],
        ctx: StepContext,
    ) -> None:
        """Copies planned for unreadable images go to the readable images of the same class."""
        from prepkit.images import tasks

        labels = frame[state["target"]].cast(pl.String).to_list()
        extra: dict[int, int] = {}
        for label in sorted({labels[i] for i, good in enumerate(ok) if not good and copies[i]}):
            lost = sum(copies[i] for i, good in enumerate(ok) if not good and labels[i] == label)
            readable = [i for i, good in enumerate(ok) if good and labels[i] == label]
            if not readable:
                ctx.warn(f"class '{label}' has no readable image: {lost} copies not made")
                continue
            for j, i in enumerate(readable):
                extra[i] = lost // len(readable) + (j < lost % len(readable))
        items = [(i, outputs(i, copies[i] + 1, n)) for i, n in extra.items() if n]
        paths = frame[IMAGE_PATH].to_list()
        results = _run(self, tasks.augment, shared, [(paths[i], outs) for i, outs in items], ctx)
        for (i, outs), result in zip(items, results, strict=True):
            if result["ok"]:
                made[i] = made.get(i, []) + outs

    def describe(
        self, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any]
    ) -> dict[str, Any]:
        label = state.get("target")
        return {  # augmented images, skipped files and timings are recorded by apply
            "classes_before": class_counts(before, label),
            "classes_after": class_counts(after, label),
        }
