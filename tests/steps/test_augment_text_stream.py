"""augment_text on `--engine stream`: the rows, texts, `source_row` values, fitted state, report
counts and warnings of `--engine memory`, with the augmented rows made batch by batch."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import prepkit
from prepkit.engines import blocking_steps
from prepkit.engines.partials import compute_batches
from prepkit.errors import DataError, RecipeError
from prepkit.pipeline import context_for
from prepkit.steps.base import plain_state

WORDS = "the delivery was late and box arrived badly damaged great product works refund".split()
KEYBOARD = [{"name": "keyboard", "aug_char_p": 0.2}]
COUNTED = ("augmented", "identical_to_source", "classes_before", "classes_after")


def reviews(rows: int = 150, seed: int = 0, missing: bool = True) -> pl.DataFrame:
    """Imbalanced labels (a: 60%, b: 30%, c: 10%), a numeric column with gaps, some repeated
    texts and, when `missing`, null texts and null labels scattered over the batches."""
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, 6)) for _ in range(rows)]
    texts[5::17] = [texts[0]] * len(texts[5::17])  # exact repeats for drop_duplicates
    labels = rng.choice(["a", "b", "c"], rows, p=[0.6, 0.3, 0.1]).tolist()
    score = rng.normal(10, 2, rows).tolist()
    score[::9] = [None] * len(score[::9])
    frame = pl.DataFrame({"text": texts, "label": labels, "score": score, "id": range(rows)})
    if missing:
        frame = frame.with_columns(
            pl.when(pl.col("id") % 11 == 3).then(None).otherwise(pl.col("text")).alias("text"),
            pl.when(pl.col("id") % 13 == 7).then(None).otherwise(pl.col("label")).alias("label"),
        )
    return frame


def recipe(after: list[dict] | None = None, **options) -> prepkit.Recipe:
    step = {"step": "augment_text", "augmenters": KEYBOARD, "workers": 1, **options}
    steps = [step, *(after or [])]
    return prepkit.load_recipe({"target": "label", "seed": 5, "steps": steps})


def assert_same_run(recipe: prepkit.Recipe, frame: pl.DataFrame, batch_size: int):
    """Both engines: equal output rows and fitted states, the counts of every step's report
    equal, the same warnings; returns the two runs (memory, stream)."""
    memory = recipe.run(frame, write=False, engine="memory")
    stream = recipe.run(frame, write=False, engine="stream", batch_size=batch_size)
    assert stream.report.engine["name"] == "stream"
    assert_frame_equal(stream.outputs["train"], memory.outputs["train"])
    a, b = memory.fitted.to_dict(), stream.fitted.to_dict()
    assert [s["state"] for s in a["steps"]] == [s["state"] for s in b["steps"]]
    for ra, rb in zip(memory.fitted.report.steps, stream.fitted.report.steps, strict=True):
        assert (ra.rows_in, ra.rows_out) == (rb.rows_in, rb.rows_out), ra.id
        assert ra.warnings == rb.warnings, ra.id
        if ra.step == "augment_text":
            assert {k: rb.changes[k] for k in COUNTED} == {k: ra.changes[k] for k in COUNTED}
            assert rb.changes["examples"] == ra.changes["examples"]
        else:
            assert rb.changes == ra.changes, ra.id
    return memory, stream


CASES = {
    "copies": ({"copies": 2, "mark_augmented": True, "source_row": True}, []),
    "balance": ({"balance": True, "mark_augmented": True, "source_row": True}, []),
    "balance_target_count": ({"balance": True, "target_count": 70, "source_row": True}, []),
    "copies_then_drop_duplicates": (
        {"copies": 1, "source_row": True},
        [{"step": "drop_duplicates", "subset": ["text"]}],
    ),
    "balance_then_impute": (
        {"balance": True, "mark_augmented": True},
        [{"step": "impute", "columns": ["score"], "strategy": "median"}],
    ),
}


@pytest.mark.parametrize("batch_size", [7, 64])
@pytest.mark.parametrize("case", list(CASES))
def test_stream_equals_memory(case, batch_size):
    options, after = CASES[case]
    _, stream = assert_same_run(recipe(after, **options), reviews(), batch_size)
    out = stream.outputs["train"]
    added = stream.fitted.report.steps[0].changes["augmented"]
    assert added > 0
    if options.get("source_row") and not after:  # originals numbered 0.., then copies by source
        assert out.height == 150 + added
        assert out["source_row"].head(150).to_list() == list(range(150))
        assert out["source_row"].tail(added).is_sorted()
        assert out["source_row"].tail(added).max() >= 2 * batch_size  # made from later batches
    if options.get("balance") and "target_count" not in options:
        labelled = out.filter(pl.col("text").is_not_null()).drop_nulls("label")
        assert labelled["label"].value_counts()["count"].n_unique() == 1  # classes balanced


def test_balance_without_missing_texts_fits_from_statistics_alone():
    """With every text present the labels' counts tell the plan: `fit_from` over batches gives
    `fit`'s state and warning (the null labels left out), and no pass of its own is needed."""
    frame = reviews(missing=False).with_columns(
        pl.when(pl.col("id") % 13 == 7).then(None).otherwise(pl.col("label")).alias("label")
    )
    rec = recipe(balance=True)
    step = rec.steps[0]
    ctx = replace(context_for(rec), step_id=step.id, fitting=True, warnings=[])
    memory = step.fit(frame, ctx)
    assert memory["generate"]["a"] == 0 and memory["generate"]["c"] > 0
    assert ctx.warnings == ["11 row(s) without a label or text are not augmented"]
    for rows in (1, 7, 64):
        warnings: list[str] = []
        fitted = replace(ctx, warnings=warnings)
        requests = step.statistics(frame.head(rows), fitted)
        answers = compute_batches(lambda rows=rows: frame.iter_slices(rows), requests)
        state = plain_state(step.fit_from(frame.head(rows), answers, fitted), step.id)
        assert state == plain_state(memory, step.id)
        assert warnings == ctx.warnings
    assert_same_run(rec, frame, 7)


def test_balance_with_missing_texts_completes_the_plan_in_one_pass():
    """Null texts in labelled rows: the counts per class of rows with a text come from a pass
    of `streamed`; the state, and the warning counting rows without a label or text, as `fit`."""
    frame = reviews()
    rec = recipe(balance=True)
    step = rec.steps[0]
    ctx = replace(context_for(rec), step_id=step.id, fitting=True, warnings=[])
    memory = plain_state(step.fit(frame, ctx), step.id)
    left_out = frame.filter(pl.col("text").is_null() | pl.col("label").is_null()).height
    assert ctx.warnings == [f"{left_out} row(s) without a label or text are not augmented"]
    streamed = replace(ctx, warnings=[])
    answers = compute_batches(
        lambda: frame.iter_slices(7), step.statistics(frame.head(7), streamed)
    )
    partial = plain_state(step.fit_from(frame.head(7), answers, streamed), step.id)
    assert partial["generate"] is None
    state, _ = step.streamed(lambda: frame.iter_slices(7), partial, streamed)
    assert plain_state(state, step.id) == memory
    assert streamed.warnings == ctx.warnings


def test_augmented_rows_come_batch_by_batch():
    """`finish` reads the input again and yields each batch's augmented rows: no frame holds
    more than a batch's copies, and together they are the memory engine's augmented rows."""
    frame = reviews(missing=False)
    rec = recipe(copies=2, source_row=True)
    step = rec.steps[0]
    ctx = replace(context_for(rec), step_id=step.id, fitting=True)
    state = step.fit(frame, ctx)
    passes = lambda: frame.iter_slices(20)  # noqa: E731
    _, make = step.streamed(passes, state, ctx)
    stage = make()
    originals = pl.concat([stage(batch) for batch in passes()])
    added = list(stage.finish())
    assert [part.height for part in added] == [40] * 7 + [20]
    whole = rec.fit_transform(frame)
    assert_frame_equal(pl.concat([originals, *added]), whole)


def test_identical_texts_are_counted_and_warned_once_as_in_memory():
    """Texts too short to change: the count over every batch, and one warning with the total
    (not one per batch)."""
    frame = pl.DataFrame(
        {"text": ["ab", "cd", "ef", "gh", "ij"] * 3, "label": ["x", "y"] * 7 + ["x"]}
    )
    rec = recipe(copies=1, augmenters=[{"name": "split_word"}], retries=1)
    memory, stream = assert_same_run(rec, frame, 4)
    report = stream.fitted.report.steps[0]
    assert report.changes["identical_to_source"] == 15
    assert report.warnings == [
        "15 augmented text(s) stayed identical to their source after 1 retries "
        "(short texts, or augmenter options too weak)"
    ]


def test_report_timings_and_examples_are_those_of_the_whole_run():
    """seconds and rows_per_second are recorded once, for the whole run (per-batch rates would
    add up to nonsense over 22 batches); examples are the first three augmented rows, whichever
    batches made them."""
    # the first batch of 7 rows has one text: one example from it, two from the next
    frame = reviews(missing=False).with_columns(
        pl.when((pl.col("id") < 7) & (pl.col("id") != 4)).then(None).otherwise("text").alias("text")
    )
    _, stream = assert_same_run(recipe(copies=1, source_row=True), frame, 7)
    changes = stream.fitted.report.steps[0].changes
    assert changes["augmented"] == 144
    assert changes["seconds"] >= 0.01  # rounded to 3 decimals: the rate below is read to 10%
    assert 0.9 <= changes["rows_per_second"] * changes["seconds"] / changes["augmented"] <= 1.1
    first = stream.outputs["train"].tail(144).head(3)
    assert first["source_row"].to_list() == [4, 7, 8]
    assert changes["examples"] == [
        {"source": frame["text"][row], "augmented": text}
        for row, text in zip(first["source_row"], first["text"], strict=True)
    ]


def test_nothing_to_augment_reports_zero_on_both_engines():
    frame = reviews(missing=False).filter(pl.col("label") == "a")  # one class: nothing to grow
    _, stream = assert_same_run(recipe(balance=True, mark_augmented=True), frame, 16)
    changes = stream.fitted.report.steps[0].changes
    assert (changes["augmented"], changes["examples"], changes["rows_per_second"]) == (0, [], None)
    assert not stream.outputs["train"]["augmented"].any()


def test_pool_per_batch_gives_the_same_rows():
    """Batches of 250 rows go over two worker processes (200 jobs or more), as in memory."""
    frame = reviews(450, seed=3, missing=False)
    assert_same_run(recipe(copies=1, workers=2, source_row=True), frame, 250)


def test_not_blocking_and_same_errors_on_both_engines():
    frame = reviews(missing=False)
    assert blocking_steps(recipe(copies=1).steps) == []
    assert blocking_steps(recipe(balance=True).steps) == []
    bad = [
        (recipe(copies=1, column="txt"), frame, DataError, "did you mean 'text'"),
        (recipe(copies=1, column="score"), frame, DataError, "holds Float64, not text"),
        (recipe(balance=True), frame.drop("label"), DataError, "target column 'label'"),
        (recipe(balance=True, sampling_strategy={"z": 9}), frame, DataError, "not in the data"),
    ]
    no_target = prepkit.load_recipe(
        {"steps": [{"step": "augment_text", "augmenters": KEYBOARD, "balance": True}]}
    )
    bad.append((no_target, frame, RecipeError, "needs a target"))
    for rec, data, error, match in bad:
        raised = []
        for engine in ("memory", "stream"):
            with pytest.raises(error, match=match) as info:
                rec.run(data, write=False, engine=engine, batch_size=7)
            raised.append((info.value.message, info.value.hint))
        assert raised[0] == raised[1], raised


def test_cli_stream_run_writes_what_memory_writes(tmp_path):
    from prepkit.cli import app

    data = tmp_path / "in.csv"
    reviews(120, seed=4).write_csv(data)
    yaml = tmp_path / "recipe.yaml"
    yaml.write_text(
        "target: label\nseed: 2\nsteps:\n"
        "  - step: augment_text\n    balance: true\n    workers: 1\n"
        "    augmenters: [{name: keyboard}, {name: random_char, action: swap}]\n"
        "    mark_augmented: true\n    source_row: true\n"
        "  - {step: impute, columns: [score], strategy: mean}\n"
    )
    outs = {}
    for engine in ("memory", "stream"):
        out = tmp_path / f"{engine}.parquet"
        result = CliRunner().invoke(
            app,
            ["run", str(yaml), "-i", str(data), "-o", str(out), "--engine", engine,
             "--batch-size", "50", "--json", "--quiet"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        outs[engine] = pl.read_parquet(out)
    assert outs["stream"]["augmented"].sum() > 0
    assert_frame_equal(outs["stream"], outs["memory"], rel_tol=1e-12, abs_tol=1e-12)
