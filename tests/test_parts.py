"""Inputs in many files: globs and folders of parts (hive partitions become columns), on both
engines and for `prepkit apply`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.dataset as ds
import pytest
from typer.testing import CliRunner

from prepkit.cli import app

RUNNER = CliRunner()
RECIPE = "target: label\nsteps:\n  - step: impute\n    columns: numeric\n  - step: scale\n    columns: numeric\n"


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=3_000)
    x[::7] = np.nan
    frame = pl.DataFrame(
        {"x": x, "region": rng.choice(["n", "s"], 3_000), "label": np.arange(3_000) % 2}
    )
    (tmp_path / "parts").mkdir()
    for i in range(3):
        frame.slice(i * 1_000, 1_000).write_parquet(tmp_path / "parts" / f"part-{i}.parquet")
        frame.slice(i * 1_000, 1_000).write_csv(tmp_path / f"day-{i}.csv")
    ds.write_dataset(frame.to_arrow(), tmp_path / "hive", format="parquet",
                     partitioning=["region"], partitioning_flavor="hive")  # fmt: skip
    frame.write_parquet(tmp_path / "all.parquet")
    (tmp_path / "r.yaml").write_text(RECIPE)
    return {"root": tmp_path, "frame": frame}  # type: ignore[dict-item]


def run(root: Path, source: str, out: str, *args: str):
    result = RUNNER.invoke(
        app, ["run", str(root / "r.yaml"), "-i", source, "-o", str(root / out), "-q", "--json",
              *args],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return pl.read_parquet(root / out), json.loads(result.stdout)


@pytest.mark.parametrize("engine", ["memory", "stream"])
def test_globs_and_folders_read_as_the_one_file(data, engine):
    root = data["root"]
    whole, _ = run(root, str(root / "all.parquet"), "whole.parquet", "--engine", engine)
    glob, report = run(root, str(root / "parts" / "part-*.parquet"), "glob.parquet",
                       "--engine", engine, "--batch-size", "400")  # fmt: skip
    assert report["engine"]["name"] == engine and report["parts"]["input"]["rows"] == 3_000
    assert glob.equals(whole)
    folder, _ = run(root, str(root / "parts"), "folder.parquet", "--engine", engine)
    assert folder.equals(whole)
    csv, _ = run(root, str(root / "day-*.csv"), "csv.parquet", "--engine", engine)
    assert csv.equals(whole)


@pytest.mark.parametrize("engine", ["memory", "stream"])
def test_hive_folders_give_their_partition_column(data, engine):
    root = data["root"]
    out, _ = run(root, str(root / "hive"), f"hive_{engine}.parquet", "--engine", engine)
    assert sorted(out.columns) == ["label", "region", "x"]
    assert sorted(out["region"].unique().to_list()) == ["n", "s"]
    frame = data["frame"]
    assert out.height == frame.height
    # the same rows, scaled with the statistics of all of them
    expected = frame["x"].fill_nan(None)
    assert out["x"].mean() == pytest.approx(0.0, abs=1e-12)
    assert out.filter(pl.col("x").is_null()).height == 0 and expected.null_count() > 0


def test_apply_reads_globs_and_folders(data):
    root = data["root"]
    run(root, str(root / "all.parquet"), "fit.parquet")
    fitted = str(root / "fit.prepkit.json")
    outs = []
    for source, args in ((str(root / "all.parquet"), []), (str(root / "parts" / "part-*.parquet"), []),
                         (str(root / "parts"), ["--batch-size", "300"])):  # fmt: skip
        out = root / f"applied_{len(outs)}.parquet"
        result = RUNNER.invoke(app, ["apply", fitted, source, "-o", str(out), "-q", *args])
        assert result.exit_code == 0, result.output
        outs.append(pl.read_parquet(out))
    assert outs[1].equals(outs[0]) and outs[2].equals(outs[0])


def test_no_match_and_mixed_folders_are_clear_errors(data):
    root = data["root"]
    result = RUNNER.invoke(app, ["run", str(root / "r.yaml"), "-i", str(root / "none-*.parquet"),
                                 "-o", str(root / "o.parquet")])  # fmt: skip
    assert result.exit_code == 1 and "no input files match" in result.output
    assert "Traceback" not in result.output
    (root / "parts" / "extra.csv").write_text("x,region,label\n1.0,n,0\n")
    result = RUNNER.invoke(app, ["run", str(root / "r.yaml"), "-i", str(root / "parts"),
                                 "-o", str(root / "o.parquet")])  # fmt: skip
    assert result.exit_code == 1 and "parts of several formats: csv, parquet" in result.output
    assert not (root / "o.parquet").exists()
