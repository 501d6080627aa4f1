"""`--engine spark` on a real local Spark (local[2]): the artifact equals the in-memory one (exact
for counts, categories, min/max, medians and quantiles; 1e-12 relative for means and standard
deviations) and the outputs agree row for row.

The input is one Parquet file of small row groups read with a small `maxPartitionBytes`, so that
Spark reads it in several partitions (whose partial statistics merge on the driver, and whose
position-counting stages start where the partition before left off).

These tests need Java and pyspark. They skip on a developer's machine without them; CI sets
PREPKIT_REQUIRE_SPARK=1, under which a missing Spark fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from test_stream_engine import STEPS, make_frame, same_state
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app
from prepkit.engines.spark import SparkSpec, spark_session

RUNNER = CliRunner()


def _spark_missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[test]')"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "no Java on this machine (Spark needs Java 17)"
    return None


@pytest.fixture(scope="module")
def spark():
    missing = _spark_missing()
    if missing:
        if os.environ.get("PREPKIT_REQUIRE_SPARK"):
            pytest.fail(f"PREPKIT_REQUIRE_SPARK is set but {missing}")
        pytest.skip(missing)
    conf = {"spark.sql.files.maxPartitionBytes": "131072", "spark.sql.shuffle.partitions": "4"}
    session = spark_session(SparkSpec(master="local[2]", conf=conf), 4_096)
    yield session


def parquet_input(tmp_path: Path, frame: pl.DataFrame) -> Path:
    path = tmp_path / "in.parquet"
    frame.write_parquet(path, row_group_size=2_000, statistics=False)
    return path


def partitions(spark, path: Path) -> int:
    return spark.read.parquet(str(path)).rdd.getNumPartitions()


def read_parts(folder: str | Path) -> pl.DataFrame:
    return pl.scan_parquet(f"{folder}/*.parquet").collect()


def assert_same_fit(memory, other) -> None:
    a, b = memory.fitted.to_dict(), other.fitted.to_dict()
    assert a["input_schema"] == b["input_schema"]
    assert a["output_schema"] == b["output_schema"]
    for sa, sb in zip(a["steps"], b["steps"], strict=True):
        same_state(sa["state"], sb["state"], sa["id"])
    for ra, rb in zip(memory.fitted.report.steps, other.fitted.report.steps, strict=True):
        assert (ra.rows_in, ra.rows_out) == (rb.rows_in, rb.rows_out), ra.id
        assert ra.changes == rb.changes, ra.id


# each case runs many steps in one Spark run (a run takes a few seconds of Spark jobs per step)
CASES = {
    "chain": STEPS["chain"],
    "quantiles_and_encoders": [
        *STEPS["scale_robust"],
        *STEPS["outliers_percentile_drop"],
        *STEPS["impute_mean_indicator"],
        *STEPS["encode_onehot_max"],
        *STEPS["drop_missing"],
    ],
    "columns_and_constants": [*STEPS["drop_constant"], *STEPS["scale_minmax"], *STEPS["columns"]],
    "samplers": STEPS["smotenc_then_scale_dedupe"],
    "undersample_replacement": STEPS["undersample_ratio_replacement"] + STEPS["class_weights"],
    "neighbours": STEPS["adasyn_then_scale"],
}


@pytest.mark.parametrize("name", list(CASES))
def test_spark_fit_equals_memory_fit(spark, tmp_path: Path, name: str):
    frame = make_frame(seed=1)
    path = parquet_input(tmp_path, frame)
    assert partitions(spark, path) >= 3  # the partial statistics of several partitions merge
    recipe = prepkit.load_recipe(
        {"name": name, "target": "label", "input": str(path), "steps": CASES[name]}
    )
    in_memory = recipe.run(write=False, engine="memory")
    on_spark = recipe.run(write=False, engine="spark")
    assert on_spark.report.engine["name"] == "spark"
    assert_same_fit(in_memory, on_spark)
    assert_frame_equal(
        on_spark.outputs["train"], in_memory.outputs["train"], rel_tol=1e-12, abs_tol=1e-12
    )


def test_spark_split_parts_equal_the_streaming_engine(spark, tmp_path: Path):
    """A stratified hash split counts each class's rows in stream order: each partition starts
    from the counts of the partitions before it."""
    frame = make_frame(20_000, seed=2)
    path = parquet_input(tmp_path, frame)
    recipe = prepkit.load_recipe({
        "name": "split", "target": "label", "input": str(path),
        "split": {"valid": 0.2, "test": 0.1, "stratify": True, "method": "hash"},
        "steps": [*STEPS["drop_duplicates"], *STEPS["impute_median"], *STEPS["scale_standard"]],
    })  # fmt: skip
    streamed = recipe.run(write=False, engine="stream", batch_size=3_000)
    on_spark = recipe.run(write=False, engine="spark")
    assert_same_fit(streamed, on_spark)
    for part in ("train", "valid", "test"):
        assert on_spark.outputs[part].height == streamed.outputs[part].height > 0
        assert_frame_equal(
            on_spark.outputs[part], streamed.outputs[part], rel_tol=1e-12, abs_tol=1e-12
        )
    assert on_spark.report.parts == streamed.report.parts


def test_cli_run_and_apply_on_spark_and_locally_agree(spark, tmp_path: Path):
    """Fit on Spark, apply locally and on Spark; fit locally, apply on Spark: the same rows."""
    frame = make_frame(12_000, seed=3)
    train = parquet_input(tmp_path, frame)
    new = tmp_path / "new.csv"
    make_frame(3_000, seed=4).drop("label").write_csv(new)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(json.dumps({
        "name": "cli", "target": "label", "input": str(train), "output": str(tmp_path / "out.parquet"),
        "steps": STEPS["chain"],
    }))  # fmt: skip
    done = RUNNER.invoke(
        app, ["run", str(recipe), "--engine", "spark", "--spark-conf", "spark.sql.shuffle.partitions=3",
              "--fitted", str(tmp_path / "spark.json"), "--quiet"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    local = RUNNER.invoke(
        app, ["run", str(recipe), "--engine", "memory", "-o", str(tmp_path / "mem.parquet"),
              "--fitted", str(tmp_path / "mem.json"), "--quiet"],
    )  # fmt: skip
    assert local.exit_code == 0, local.output
    written, expected_rows = (
        read_parts(tmp_path / "out.parquet"),
        pl.read_parquet(tmp_path / "mem.parquet"),
    )
    # the workers write the local parts themselves, in polars' types
    assert written["city_paris"].dtype == pl.UInt8
    assert_frame_equal(written, expected_rows)
    assert sorted(p.name for p in (tmp_path / "out.parquet").iterdir())[0] == "part-00000.parquet"
    spark_fit = json.loads((tmp_path / "spark.json").read_text())
    memory_fit = json.loads((tmp_path / "mem.json").read_text())
    for sa, sb in zip(spark_fit["steps"], memory_fit["steps"], strict=True):
        same_state(sa["state"], sb["state"], sa["id"])
    expected = prepkit.load_fitted(tmp_path / "mem.json").transform(pl.read_csv(new))
    for fitted in ("spark.json", "mem.json"):
        out = tmp_path / f"applied_{fitted}.parquet"
        applied = RUNNER.invoke(
            app, ["apply", str(tmp_path / fitted), str(new), "-o", str(out), "--engine", "spark",
                  "--json"],
        )  # fmt: skip
        assert applied.exit_code == 0, applied.output
        assert_frame_equal(read_parts(out), expected, rel_tol=1e-12, abs_tol=1e-12)
        report = json.loads(applied.stdout)
        assert report["engine"]["name"] == "spark"
        assert report["parts"]["new"]["rows"] == expected.height == 3_500
    assert not list(tmp_path.rglob("*.crc")) and not list(tmp_path.rglob("_SUCCESS"))


def test_spark_reads_csv_with_the_types_polars_infers(spark, tmp_path: Path):
    frame = make_frame(5_000, seed=5).with_columns(
        (pl.date(2020, 1, 1) + pl.duration(days=pl.int_range(pl.len()) % 365)).alias("day")
    )
    path = tmp_path / "in.csv"
    frame.write_csv(path)
    recipe = prepkit.load_recipe({
        "name": "csv", "target": "label", "input": {"path": str(path), "options": {"try_parse_dates": True}},
        "steps": STEPS["impute_median"] + STEPS["encode_ordinal"],
    })  # fmt: skip
    in_memory = recipe.run(write=False, engine="memory")
    on_spark = recipe.run(write=False, engine="spark")
    assert on_spark.fitted.input_schema == in_memory.fitted.input_schema
    assert on_spark.fitted.input_schema["day"] == "Date"
    assert_same_fit(in_memory, on_spark)
    assert_frame_equal(on_spark.outputs["train"], in_memory.outputs["train"])


def test_approximate_quantiles_record_their_error_bound(spark, tmp_path: Path):
    frame = make_frame(20_000, seed=6)
    path = parquet_input(tmp_path, frame)
    recipe = prepkit.load_recipe({
        "name": "approx", "target": "label", "input": str(path),
        "spark": {"quantiles": "approximate", "accuracy": 1000},
        "steps": STEPS["impute_median"],
    })  # fmt: skip
    exact = recipe.run(write=False, engine="memory").fitted.state("impute_1")["fill"]
    fitted = recipe.run(write=False, engine="spark").fitted
    approx = fitted.state("impute_1")["fill"]
    for column in ("x", "y", "n"):
        # within Spark's bound: the answer's rank is within n/accuracy of the median's
        values = frame[column].cast(pl.Float64).fill_nan(None).drop_nulls().sort()
        first = values.search_sorted(approx[column], side="left")
        last = values.search_sorted(approx[column], side="right")  # ties span ranks
        middle, bound = len(values) / 2, len(values) / 1000 + 1
        assert first - bound <= middle <= last + bound, column
        assert values.to_list().count(approx[column]) >= 1  # an actual value, not interpolated
    assert approx != exact  # approximate, not the exact medians
    notes = fitted.to_dict()["approximations"]
    assert {n["column"] for n in notes} == set(fitted.state("impute_1")["columns"])
    assert all(n["method"] == "percentile_approx" and n["max_rank_error"] == 0.001 for n in notes)
    # kept through save and load
    fitted.save(tmp_path / "f.json")
    assert prepkit.load_fitted(tmp_path / "f.json").approximations == notes


def test_python_fit_takes_polars_pandas_and_spark_frames(spark, tmp_path: Path):
    frame = make_frame(6_000, seed=7)
    recipe = prepkit.load_recipe({"name": "py", "target": "label", "steps": STEPS["chain"]})
    memory = recipe.fit(frame)
    for given in (frame, frame.to_pandas(), spark.createDataFrame(frame.to_pandas())):
        fitted = recipe.fit(given, engine="spark")
        for sa, sb in zip(memory.to_dict()["steps"], fitted.to_dict()["steps"], strict=True):
            same_state(sa["state"], sb["state"], sa["id"])


def test_spark_refuses_what_it_cannot_do(spark, tmp_path: Path):
    frame = make_frame(2_000, seed=8)
    path = parquet_input(tmp_path, frame)
    cases = [
        ({"steps": [{"step": "svm_smote", "columns": ["x"]}]}, "needs all training rows"),
        ({"steps": [{"step": "augment_text", "column": "city", "copies": 1,
                    "augmenters": [{"name": "random_word", "action": "swap"}]}]},
         "reads the data again"),
    ]  # fmt: skip
    for extra, message in cases:
        recipe = tmp_path / "r.yaml"
        recipe.write_text(json.dumps({"name": "x", "target": "label", "input": str(path),
                                      "output": str(tmp_path / "o.parquet"), **extra}))  # fmt: skip
        done = RUNNER.invoke(app, ["run", str(recipe), "--engine", "spark"])
        assert done.exit_code != 0 and message in done.output, done.output
        assert "Traceback" not in done.output
    recipe.write_text(json.dumps({"name": "x", "target": "label", "input": str(path),
                                  "steps": STEPS["impute_median"]}))  # fmt: skip
    done = RUNNER.invoke(app, ["run", str(recipe), "--engine", "spark", "-o", "-"])
    assert done.exit_code == 2 and "writes files, not standard output" in done.output
    done = RUNNER.invoke(app, ["apply", str(tmp_path / "none.json"), "-", "-o", "x.parquet",
                               "--engine", "spark"])  # fmt: skip
    assert done.exit_code != 0 and "Traceback" not in done.output
    done = RUNNER.invoke(app, ["run", str(recipe), "--engine", "spark", "--spark-conf", "nokey"])
    assert done.exit_code == 2 and "KEY=VALUE" in done.output
    assert not (tmp_path / "o.parquet").exists()


def test_a_folder_of_parts_is_read_in_name_order_with_its_hive_columns(spark, tmp_path: Path):
    """Spark alone would read the largest file first: rows would come in another order than on
    the other engines, and which duplicate is kept, or where a split puts a row, would differ."""
    frame = make_frame(9_000, seed=9).with_columns((pl.int_range(pl.len()) // 3_000).alias("batch"))
    folder = tmp_path / "parts"
    for (number,), part in frame.group_by("batch", maintain_order=True):
        (folder / f"batch={number}").mkdir(parents=True)
        # the first file the smallest: Spark's own order would put it last
        part.head(1_000 + 1_000 * number).drop("batch").write_parquet(
            folder / f"batch={number}" / "part.parquet"
        )
    (folder / "_SUCCESS").write_text("")
    recipe = prepkit.load_recipe({
        "name": "parts", "target": "label", "input": str(folder),
        "split": {"valid": 0.25, "method": "hash"},
        "steps": [{"step": "drop_duplicates", "subset": ["city"]}, *STEPS["impute_median"]],
    })  # fmt: skip
    streamed = recipe.run(write=False, engine="stream", batch_size=700)
    on_spark = recipe.run(write=False, engine="spark")
    assert on_spark.fitted.input_schema == streamed.fitted.input_schema
    assert "batch" in on_spark.fitted.input_schema  # the hive column
    assert_same_fit(streamed, on_spark)
    for part in ("train", "valid"):
        assert_frame_equal(on_spark.outputs[part], streamed.outputs[part])


def test_spark_oversampler_refuses_when_the_grown_classes_cannot_fit(spark, tmp_path, monkeypatch):
    """The driver holds the rows of the classes a sampler grows: it says how much, before."""
    frame = make_frame(6_000).with_columns(pl.col("x").fill_nan(0.0).fill_null(0.0))
    path = parquet_input(tmp_path, frame)
    recipe = prepkit.load_recipe(
        {"target": "label", "input": str(path), "steps": [{"step": "smote", "columns": ["x"]}]}
    )
    monkeypatch.setattr("prepkit.engines.available_memory", lambda: 2**16)
    with pytest.raises(prepkit.DataError) as error:
        recipe.run(write=False, engine="spark")
    minority = int(frame["label"].sum())
    assert f"holds the classes it grows in memory: 'true' ({minority:,} rows)" in str(error.value)
    monkeypatch.undo()
    grown = recipe.run(write=False, engine="spark").outputs["train"]
    assert grown["label"].sum() == grown.height // 2 == frame.height - minority


def test_command_line_spark_settings_go_over_the_recipe_s():
    from prepkit.runner import spark_settings

    recipe = SparkSpec(master="local[4]", conf={"spark.a": "1", "spark.b": "2"}, accuracy=50)
    given = {"master": "local[1]", "conf": {"spark.b": "3", "spark.c": "4"}}
    merged = spark_settings(recipe, given)
    assert merged.master == "local[1]" and merged.accuracy == 50
    assert merged.conf == {"spark.a": "1", "spark.b": "3", "spark.c": "4"}
    assert spark_settings(recipe, {"master": None, "conf": {}}).master == "local[4]"
    assert spark_settings(None, None) == SparkSpec()


def test_cli_spark_master_starts_that_session(spark, tmp_path: Path):
    """A new process, so a new session: on the master given, with the settings given; the report
    says where it ran."""
    import subprocess
    import sys

    path = parquet_input(tmp_path, make_frame(12_000, seed=10))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(json.dumps({"name": "m", "target": "label", "steps": STEPS["impute_median"]}))
    done = subprocess.run(
        [sys.executable, "-m", "prepkit", "run", str(recipe), "-i", str(path),
         "-o", str(tmp_path / "out.parquet"), "--engine", "spark", "--spark-master", "local[1]",
         "--spark-conf", "spark.sql.files.maxPartitionBytes=65536", "--json", "--quiet"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    engine = json.loads(done.stdout)["engine"]
    assert engine["name"] == "spark" and engine["master"] == "local[1]"
    # the conf given was used: half the fixture's maxPartitionBytes, more partitions
    assert engine["partitions"] > partitions(spark, path) >= 2
    assert " WARN " not in done.stderr  # the driver's log is quiet (no WARN lines of log4j)


def test_other_uris_are_read_and_written_by_spark_itself(spark, tmp_path: Path, monkeypatch):
    """Paths that are not local (s3a://, hdfs://) go through Spark's reader (its schema) and
    writer (its committer; no unsigned integers, so one-hot indicators come as Int16)."""
    import prepkit.engines.spark as engine

    frame = make_frame(8_000, seed=11)
    path = parquet_input(tmp_path, frame)
    recipe = prepkit.load_recipe({
        "name": "uri", "target": "label", "input": str(path),
        "output": str(tmp_path / "out.parquet"), "steps": STEPS["chain"],
    })  # fmt: skip
    expected = recipe.run(write=False, engine="memory")
    monkeypatch.setattr(engine, "_is_local", lambda path: False)
    on_spark = recipe.run(engine="spark")
    written = read_parts(tmp_path / "out.parquet")
    assert written["city_paris"].dtype == pl.Int16
    assert (tmp_path / "out.parquet" / "_SUCCESS").exists()  # Spark's committer wrote it
    assert_frame_equal(written.cast(expected.outputs["train"].schema), expected.outputs["train"])
    assert_same_fit(expected, on_spark)


def test_a_value_spark_cannot_parse_is_a_data_error_naming_it(spark, tmp_path: Path):
    """polars infers the types from the first rows; a later value that does not parse fails the
    Spark job: a clear error, exit code 1, no traceback, no output."""
    rows = [f"{i},{i % 2}" for i in range(20_000)] + ["oops,1"]
    path = tmp_path / "in.csv"
    path.write_text("n,label\n" + "\n".join(rows) + "\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(json.dumps({"target": "label", "input": str(path),
                                  "output": str(tmp_path / "o.parquet"),
                                  "steps": [{"step": "scale", "columns": ["n"]}]}))  # fmt: skip
    done = RUNNER.invoke(app, ["run", str(recipe), "--engine", "spark"])
    assert done.exit_code == 1, done.output
    assert "Spark failed" in done.output and "oops" in done.output, done.output
    assert "internal error" not in done.output and "Traceback" not in done.output
    assert not (tmp_path / "o.parquet").exists()


def test_wide_batches_reach_the_driver_in_pieces(spark, tmp_path: Path, monkeypatch):
    """A batch bigger than a piece is cut into several result rows and put together again."""
    import prepkit.engines.spark as engine

    monkeypatch.setattr(engine, "PIECE_BYTES", 4_096)
    frame = make_frame(6_000, seed=12)
    path = parquet_input(tmp_path, frame)
    recipe = prepkit.load_recipe({"target": "label", "input": str(path), "steps": STEPS["smote"]})
    expected = recipe.run(write=False, engine="memory")
    on_spark = recipe.run(write=False, engine="spark")
    assert_same_fit(expected, on_spark)
    assert_frame_equal(on_spark.outputs["train"], expected.outputs["train"])


def test_spark_keeps_the_reference_profile_and_checks_drift_at_apply(spark, tmp_path: Path):
    """The artifact's reference profile from Spark equals the in-memory one (under 65,536 values
    a column's percentiles are exact on every engine); `apply --engine spark` counts the new
    data against it in a pass of its own (the same figures as in memory) and a failed
    apply check writes no output."""
    frame = make_frame(12_000, seed=5)
    train = parquet_input(tmp_path, frame)
    new = tmp_path / "new.csv"
    make_frame(3_000, seed=6).drop("label").with_columns(pl.col("x") + 10).write_csv(new)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(json.dumps({
        "name": "drift", "target": "label", "input": str(train), "steps": STEPS["chain"],
        "apply_checks": [{"metric": "psi", "column": "x", "max": 0.2}],
    }))  # fmt: skip
    fitted = {}
    for engine in ("spark", "memory"):
        done = RUNNER.invoke(
            app, ["run", str(recipe), "--engine", engine, "-o", str(tmp_path / f"{engine}.parquet"),
                  "--fitted", str(tmp_path / f"{engine}.json"), "--quiet"],
        )  # fmt: skip
        assert done.exit_code == 0, done.output
        fitted[engine] = json.loads((tmp_path / f"{engine}.json").read_text())
    same_state(fitted["spark"]["reference_profile"], fitted["memory"]["reference_profile"])
    reports = {}
    for engine in ("spark", "memory"):
        out = tmp_path / f"applied_{engine}.parquet"
        applied = RUNNER.invoke(
            app, ["apply", str(tmp_path / "spark.json"), str(new), "-o", str(out), "--engine",
                  engine, "--json"],
        )  # fmt: skip
        assert applied.exit_code == 3, applied.output
        assert "psi[x]" in applied.output and not out.exists()
        reports[engine] = json.loads(applied.stdout)
    assert reports["spark"]["status"] == "failed_checks"
    assert reports["spark"]["drift"]["drifted"] == reports["memory"]["drift"]["drifted"]
    same_state(reports["spark"]["drift"]["columns"], reports["memory"]["drift"]["columns"])


def test_inspect_on_spark_equals_in_memory(spark, tmp_path: Path):
    from prepkit.inspection import inspect
    from prepkit.inspection_scan import inspect_file

    frame = make_frame(6_000, seed=7)
    path = parquet_input(tmp_path, frame)
    memory = inspect(frame, "label").to_dict()
    on_spark = inspect_file(str(path), "label", engine="spark").to_dict()
    assert on_spark["duplicate_rows"] == memory["duplicate_rows"] == 500
    assert on_spark["problems"] == memory["problems"]
    for a, b in zip(memory["columns"], on_spark["columns"], strict=True):
        same_state({k: v for k, v in a.items() if k != "top"}, {k: v for k, v in b.items()
                                                                 if k != "top"}, a["name"])  # fmt: skip
