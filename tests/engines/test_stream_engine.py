"""`--engine stream` fits the same artifact as the in-memory engine and writes the same rows.

Counts, categories, minima, maxima, medians and quantiles must be equal exactly; means and standard
deviations (and what is computed from them) to 1e-12 relative.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app

RUNNER = CliRunner()


def same_state(a, b, path="state") -> None:
    """Plain JSON data equal, floats to 1e-12 relative (integers and text exactly)."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), (path, a, b)
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(a) and math.isnan(b), (path, a, b)
        else:
            assert a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b)), (path, a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), (path, a, b)
        for key in a:
            same_state(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same_state(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def make_frame(rows: int = 30_000, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(50, 10, rows)
    x[rng.random(rows) < 0.05] = np.nan
    x[:7] = [900.0, -800.0, 1e4, np.nan, 3.0, 3.0, 3.0]
    y = rng.exponential(2.0, rows)
    n = rng.integers(0, 100, rows)
    city = rng.choice(
        ["paris", "lyon", "nice", "brest", "caen", "rare1"],
        rows,
        p=[0.4, 0.3, 0.2, 0.0995, 0.0004, 0.0001],
    )
    frame = pl.DataFrame({"x": x, "y": y, "n": n, "city": city, "const": np.ones(rows)})
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 11 == 0).then(None).otherwise(pl.col("n")).alias("n"),
        pl.when(pl.int_range(pl.len()) % 13 == 0)
        .then(None)
        .otherwise(pl.col("city"))
        .alias("city"),
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(None).otherwise(pl.col("y")).alias("mostly"),
        (pl.int_range(pl.len()) % 4 == 0).alias("label"),
    )
    return pl.concat([frame, frame.head(500)])  # 500 duplicate rows, in another batch


STEPS = {
    "impute_median": [{"step": "impute", "columns": "numeric", "strategy": "median"}],
    "impute_mean_indicator": [
        {"step": "impute", "columns": ["x", "n"], "strategy": "mean", "add_indicator": True}
    ],
    "impute_most_frequent": [
        {"step": "impute", "columns": "categorical", "strategy": "most_frequent"}
    ],
    "impute_constant": [
        {"step": "impute", "columns": ["x"], "strategy": "constant", "fill_value": -1}
    ],
    "scale_standard": [{"step": "scale", "columns": ["x", "y", "n"], "method": "standard"}],
    "scale_minmax": [
        {"step": "scale", "columns": ["x", "y"], "method": "minmax", "feature_range": [-1, 1]}
    ],
    "scale_robust": [
        {
            "step": "scale",
            "columns": ["x", "y", "n"],
            "method": "robust",
            "quantile_range": [10, 90],
        }
    ],
    "scale_maxabs": [{"step": "scale", "columns": ["x", "y"], "method": "maxabs"}],
    "outliers_iqr_clip": [{"step": "outliers", "columns": ["x", "y"], "method": "iqr"}],
    "outliers_zscore_flag": [
        {"step": "outliers", "columns": ["x"], "method": "zscore", "action": "flag"}
    ],
    "outliers_percentile_drop": [
        {"step": "outliers", "columns": ["x", "y"], "method": "percentile", "action": "drop"}
    ],
    "encode_onehot": [
        {"step": "encode", "columns": ["city"], "method": "onehot", "min_frequency": 0.001}
    ],
    "encode_onehot_max": [
        {
            "step": "encode",
            "columns": ["city", "n"],
            "method": "onehot",
            "max_categories": 4,
            "drop": "first",
        }
    ],
    "encode_ordinal": [
        {"step": "encode", "columns": ["city"], "method": "ordinal", "encoded_missing_value": -2}
    ],
    "drop_constant": [{"step": "drop_constant"}],
    "drop_missing": [{"step": "drop_missing", "threshold": 0.3}],
    "columns": [
        {"step": "select", "columns": ["x", "y", "city", "label", "mostly"]},
        {"step": "drop", "columns": ["mostly"]},
        {"step": "rename", "mapping": {"y": "why"}},
        {"step": "cast", "dtypes": {"why": "float32"}},
    ],
    "drop_duplicates": [{"step": "drop_duplicates"}],
    "drop_duplicates_subset_last": [
        {"step": "drop_duplicates", "subset": ["city", "n"], "keep": "last"}
    ],
    "class_weights": [{"step": "class_weights"}],
    "undersample": [
        {"step": "impute", "columns": "numeric"},
        {"step": "undersample", "columns": "numeric"},
    ],
    "undersample_ratio_replacement": [
        {"step": "impute", "columns": ["x", "n"]},
        {
            "step": "undersample",
            "columns": ["x", "n"],
            "sampling_strategy": 0.5,
            "replacement": True,
        },
    ],
    "undersample_then_scale": [
        {"step": "impute", "columns": ["x", "y", "n"]},
        {"step": "undersample", "columns": ["x", "y", "n"], "sampling_strategy": {"false": 9000}},
        {"step": "scale", "columns": ["x", "y", "n"]},
    ],
    "oversample": [
        {"step": "impute", "columns": "numeric"},
        {"step": "oversample", "columns": "numeric", "mark_synthetic": True},
    ],
    "oversample_shrinkage_ratio": [
        {"step": "impute", "columns": ["x", "y", "n"]},
        {
            "step": "oversample",
            "columns": ["x", "y", "n"],
            "shrinkage": 0.5,
            "sampling_strategy": 0.5,
        },
    ],
    "smote": [
        {"step": "impute", "columns": ["x", "y", "n"]},
        {"step": "smote", "columns": ["x", "y", "n"], "k_neighbors": 3},
    ],
    # neighbours among every class, found batch by batch; the new rows follow the last batch
    "adasyn_then_scale": [
        {"step": "impute", "columns": ["x", "y", "n"]},
        {"step": "adasyn", "columns": ["x", "y", "n"], "n_neighbors": 4},
        {"step": "scale", "columns": ["x", "y", "n"]},
    ],
    "borderline_smote_1": [
        {"step": "impute", "columns": ["x", "y", "n"]},
        {"step": "borderline_smote", "columns": ["x", "y", "n"], "mark_synthetic": True},
    ],
    "borderline_smote_2": [
        {"step": "impute", "columns": ["x", "y", "n"]},
        {"step": "borderline_smote", "columns": ["x", "y"], "kind": "borderline-2"},
    ],
    # SMOTENC, then steps fitted on the rows it added after the last batch
    "smotenc_then_scale_dedupe": [
        {"step": "impute", "columns": "numeric"},
        {"step": "impute", "columns": "categorical", "strategy": "most_frequent"},
        {"step": "smote", "columns": ["x", "n", "city"], "mark_synthetic": True},
        {"step": "scale", "columns": ["x", "n"], "method": "robust"},
        {"step": "drop_duplicates", "subset": ["x", "city"]},
        {"step": "undersample", "columns": ["x"], "sampling_strategy": {"true": 20000}},
    ],
    # passes shared: the categorical impute is fitted in the numeric impute's passes; scale's
    # requests change once one-hot columns exist, so it gets passes of its own
    "shared_passes": [
        {"step": "impute", "columns": "numeric", "strategy": "median"},
        {"step": "impute", "columns": "categorical", "strategy": "most_frequent"},
        {"step": "encode", "columns": "categorical", "method": "onehot"},
        {"step": "scale", "columns": "numeric"},
    ],
    "chain": [
        {"step": "drop_duplicates"},
        {"step": "outliers", "columns": "numeric", "method": "iqr"},
        {"step": "impute", "columns": "numeric", "strategy": "median"},
        {"step": "scale", "columns": "numeric", "method": "standard"},
        {"step": "impute", "columns": "categorical", "strategy": "most_frequent"},
        {"step": "encode", "columns": "categorical", "method": "onehot", "min_frequency": 0.001},
    ],
}


@pytest.mark.parametrize("name", list(STEPS))
def test_stream_fit_equals_memory_fit(name):
    frame = make_frame()
    recipe = prepkit.load_recipe({"name": name, "target": "label", "steps": STEPS[name]})
    in_memory = recipe.run(frame, write=False, engine="memory")
    streamed = recipe.run(frame, write=False, engine="stream", batch_size=4_096)
    memory, memory_out = in_memory.fitted, in_memory.outputs["train"]
    stream, stream_out = streamed.fitted, streamed.outputs["train"]
    assert streamed.report.engine["name"] == "stream"
    a, b = memory.to_dict(), stream.to_dict()
    assert a["input_schema"] == b["input_schema"]
    assert a["output_schema"] == b["output_schema"]
    for sa, sb in zip(a["steps"], b["steps"], strict=True):
        same_state(sa["state"], sb["state"], sa["id"])
    assert_frame_equal(stream_out, memory_out, rel_tol=1e-12, abs_tol=1e-12)
    # the report counts add up over batches to the in-memory counts
    for ra, rb in zip(memory.report.steps, stream.report.steps, strict=True):
        assert (ra.rows_in, ra.rows_out) == (rb.rows_in, rb.rows_out)
        assert ra.changes == rb.changes, ra.id


def test_cli_stream_on_files_matches_memory(tmp_path: Path):
    frame = make_frame(20_000, seed=3)
    for fmt in ("parquet", "csv", "ndjson", "arrow"):
        data = tmp_path / f"in.{fmt}"
        getattr(
            frame,
            {
                "parquet": "write_parquet",
                "csv": "write_csv",
                "ndjson": "write_ndjson",
                "arrow": "write_ipc",
            }[fmt],
        )(data)
        outs = {}
        for engine in ("memory", "stream"):
            recipe = tmp_path / f"{fmt}_{engine}.yaml"
            recipe.write_text(
                "target: label\nsteps:\n"
                + "".join(f"  - {json.dumps(s)}\n" for s in STEPS["chain"])
            )
            out = tmp_path / f"{fmt}_{engine}.parquet"
            result = RUNNER.invoke(
                app,
                [
                    "run",
                    str(recipe),
                    "-i",
                    str(data),
                    "-o",
                    str(out),
                    "--engine",
                    engine,
                    "--batch-size",
                    "3000",
                    "--quiet",
                    "--json",
                ],
            )
            assert result.exit_code == 0, result.output
            report = json.loads(result.stdout)
            assert report["engine"]["name"] == engine
            outs[engine] = out
        assert_frame_equal(
            pl.read_parquet(outs["stream"]),
            pl.read_parquet(outs["memory"]),
            rel_tol=1e-12,
            abs_tol=1e-12,
        )
        a = json.loads(outs["memory"].with_name(f"{fmt}_memory.prepkit.json").read_text())
        b = json.loads(outs["stream"].with_name(f"{fmt}_stream.prepkit.json").read_text())
        for sa, sb in zip(a["steps"], b["steps"], strict=True):
            same_state(sa["state"], sb["state"], f"{fmt}:{sa['id']}")


def test_stream_refuses_steps_that_need_all_rows(tmp_path: Path):
    data = tmp_path / "in.parquet"
    make_frame(2_000).write_parquet(data)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("target: label\nsteps:\n  - step: impute\n  - step: svm_smote\n")
    result = RUNNER.invoke(
        app,
        [
            "run",
            str(recipe),
            "-i",
            str(data),
            "-o",
            str(tmp_path / "o.parquet"),
            "--engine",
            "stream",
        ],
    )
    assert result.exit_code == 1
    assert "step 2 'svm_smote_2'" in result.output and "--engine memory" in result.output
    assert not (tmp_path / "o.parquet").exists()


def test_undersample_refuses_gaps_and_missing_labels_on_both_engines():
    frame = make_frame(3_000)  # x has NaN
    recipe = prepkit.load_recipe(
        {"target": "label", "steps": [{"step": "undersample", "columns": ["x"]}]}
    )
    for engine in ("memory", "stream"):
        with pytest.raises(prepkit.DataError, match=r"missing values in feature columns: x \("):
            recipe.run(frame, write=False, engine=engine, batch_size=512)
    unlabeled = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("label")).alias("label"),
        pl.col("x").fill_nan(0.0).fill_null(0.0),
    )
    for engine in ("memory", "stream"):
        with pytest.raises(prepkit.DataError, match="target 'label' has 1 missing labels"):
            recipe.run(unlabeled, write=False, engine=engine, batch_size=512)


def test_cli_smote_streams_with_a_split_and_counts_what_it_added(tmp_path: Path):
    """SMOTE on the streaming engine from the CLI: the same rows as in memory, valid rows never
    resampled, the report counting the rows added after the last batch."""
    data = tmp_path / "in.parquet"
    make_frame(12_000, seed=5).write_parquet(data)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "target: label\nsplit: {valid: 0.2, stratify: true, method: hash}\nsteps:\n"
        "  - {step: impute, columns: [x, y, n]}\n"
        "  - {step: smote, columns: [x, y, n], mark_synthetic: true}\n"
        "  - {step: scale, columns: [x, y, n]}\n"
    )
    reports, outs = {}, {}
    for engine in ("memory", "stream"):
        out = tmp_path / engine / "out.parquet"
        result = RUNNER.invoke(
            app,
            ["run", str(recipe), "-i", str(data), "-o", str(out), "--engine", engine,
             "--batch-size", "1000", "--quiet", "--json"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        reports[engine], outs[engine] = json.loads(result.stdout), out
    train = {e: pl.read_parquet(outs[e].with_name("out_train.parquet")) for e in outs}
    assert_frame_equal(train["stream"], train["memory"], rel_tol=1e-12, abs_tol=1e-12)
    added = train["stream"]["synthetic"].sum()
    labels = train["stream"]["label"].value_counts()
    assert added > 0 and labels["count"].n_unique() == 1  # balanced: the minority grown
    assert train["stream"]["synthetic"].tail(added).all()  # the new rows come last
    for engine in outs:
        smote = next(s for s in reports[engine]["steps"] if s["step"] == "smote")
        assert smote["changes"]["rows_synthesized"] == added
        assert smote["rows_out"] - smote["rows_in"] == added
    valid = {e: pl.read_parquet(outs[e].with_name("out_valid.parquet")) for e in outs}
    assert_frame_equal(valid["stream"], valid["memory"], rel_tol=1e-12, abs_tol=1e-12)
    assert "synthetic" not in valid["stream"].columns


def test_stream_oversampler_says_how_much_memory_the_grown_classes_need(monkeypatch):
    frame = make_frame(6_000).with_columns(pl.col("x").fill_nan(0.0).fill_null(0.0))
    recipe = prepkit.load_recipe(
        {"target": "label", "steps": [{"step": "smote", "columns": ["x"]}]}
    )
    monkeypatch.setattr("prepkit.engines.available_memory", lambda: 2**16)
    with pytest.raises(prepkit.DataError) as error:
        recipe.run(frame, write=False, engine="stream", batch_size=1_000)
    minority = int(frame["label"].sum())
    message = str(error.value)
    assert f"holds the classes it grows in memory: 'true' ({minority:,} rows)" in message
    assert f"{frame.height - 2 * minority:,} new rows need about" in message
    assert "grow fewer rows" in error.value.hint
    monkeypatch.undo()
    assert recipe.run(frame, write=False, engine="stream", batch_size=1_000).outputs["train"].height


def test_stream_refuses_smoten_which_needs_every_class(tmp_path: Path):
    frame = make_frame(3_000).with_columns(pl.col("city").fill_null("none"))
    recipe = prepkit.load_recipe(
        {"target": "label", "steps": [{"step": "smote", "columns": ["city"]}]}
    )
    assert (
        recipe.run(frame, write=False, engine="memory").fitted.state("smote_1")["sampler"]
        == "SMOTEN"
    )
    with pytest.raises(prepkit.DataError, match=r"SMOTEN.*--engine stream does not do that"):
        recipe.run(frame, write=False, engine="stream", batch_size=500)


def passes_taken(steps: list[dict], frame: pl.DataFrame) -> int:
    """How many times fitting `steps` over `frame` reads the input."""
    from prepkit.engines.stream import StreamedTable, fit_streamed
    from prepkit.pipeline import context_for

    recipe = prepkit.load_recipe({"target": "label", "steps": steps})
    reads = 0

    def read():
        nonlocal reads
        reads += 1
        return frame.iter_slices(50_000)

    fit_streamed(recipe.steps, StreamedTable(read), context_for(recipe))
    return reads - len(steps)  # less the first-batch samples, one before each step


def test_independent_steps_share_passes():
    frame = make_frame(200_000)  # large enough that medians need their second pass
    numeric = {"step": "impute", "columns": ["x", "y"], "strategy": "median"}  # 2 passes
    categorical = {"step": "impute", "columns": ["city"], "strategy": "most_frequent"}  # 1
    assert passes_taken([numeric], frame) == 2
    assert passes_taken([categorical], frame) == 1
    assert passes_taken([numeric, categorical], frame) == 2  # shared
    onehot = {"step": "encode", "columns": ["city"], "method": "onehot"}  # reads what impute wrote
    assert passes_taken([numeric, categorical, onehot], frame) == 3
    scale_n = {"step": "scale", "columns": ["n"]}
    assert passes_taken([numeric, categorical, scale_n, onehot], frame) == 3
    # a step whose columns an earlier step of the group changed is not fitted ahead
    scale_x = {"step": "scale", "columns": ["x"]}
    assert passes_taken([numeric, scale_x], frame) == 3
    # neither is one whose requests differ once the steps before it ran (one-hot columns)
    scale_all = {"step": "scale", "columns": "numeric"}
    assert passes_taken([categorical, onehot, scale_all], frame) == 3
