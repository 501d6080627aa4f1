"""`prepkit apply --batch-size`: the same output and report as a whole-file apply, in bounded memory."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app
from prepkit.errors import RecipeError
from prepkit.io.stream import read_batches
from prepkit.runner import apply_fitted

runner = CliRunner()


@pytest.fixture
def fitted_path(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    n = 500
    train = pl.DataFrame(
        {
            "x": pl.Series(rng.normal(size=n)).scatter(np.flatnonzero(rng.random(n) < 0.1), None),
            "k": rng.integers(0, 5, n),
            "c": rng.choice(["a", "b", "c"], n),
            "y": rng.integers(0, 2, n),
        }
    )
    recipe = prepkit.load_recipe(
        {
            "target": "y",
            "steps": [
                {"step": "impute", "columns": ["x"], "strategy": "mean"},
                {"step": "outliers", "columns": ["x"], "method": "zscore", "threshold": 1.5},
                {"step": "encode", "columns": ["c"]},
                {"step": "scale", "columns": ["x", "k"]},
            ],
        }  # fmt: skip
    )
    path = tmp_path / "f.prepkit.json"
    recipe.fit(train).save(path)
    new = train.drop("y").with_columns(pl.col("c").replace({"c": "zzz"}))  # unseen category
    new.write_csv(tmp_path / "new.csv")
    return path


@pytest.mark.parametrize("ext", [".csv", ".tsv", ".parquet", ".ndjson", ".arrow", ".json"])
def test_batches_give_the_same_output_and_counts(fitted_path, tmp_path, ext):
    fitted = prepkit.load_fitted(fitted_path)
    source = tmp_path / f"in{ext}"
    from prepkit.io import read_table, write_table

    write_table(read_table(tmp_path / "new.csv"), source)
    whole = apply_fitted(fitted, source, tmp_path / f"whole{ext}")
    batched = apply_fitted(fitted, source, tmp_path / f"batched{ext}", batch_size=64)
    assert read_table(tmp_path / f"batched{ext}").equals(read_table(tmp_path / f"whole{ext}"))
    assert [s.changes for s in batched.steps] == [s.changes for s in whole.steps]
    assert [s.learned for s in batched.steps] == [s.learned for s in whole.steps]
    assert batched.parts == whole.parts == {
        "input": {"rows": 500, "columns": 3}, "new": {"rows": 500, "columns": 5},
    }  # fmt: skip
    assert batched.steps[0].changes["imputed"]["x"] == read_table(source)["x"].null_count() > 0


def test_python_api_transform_file(fitted_path, tmp_path):
    fitted = prepkit.load_fitted(fitted_path)
    report = fitted.transform_file(tmp_path / "new.csv", tmp_path / "o.parquet", batch_size=100)
    expected = fitted.transform(pl.read_csv(tmp_path / "new.csv"))
    assert pl.read_parquet(tmp_path / "o.parquet").equals(expected)
    assert report.parts["new"]["rows"] == 500


def test_reads_really_come_in_batches(tmp_path):
    pl.DataFrame({"a": range(1000)}).write_parquet(tmp_path / "a.parquet")
    sizes = [b.height for b in read_batches(tmp_path / "a.parquet", None, {}, 300)]
    assert sum(sizes) == 1000 and max(sizes) <= 300 and len(sizes) >= 4


def test_cli_batch_size_and_stdin(fitted_path, tmp_path):
    whole = runner.invoke(
        app, ["apply", str(fitted_path), str(tmp_path / "new.csv"), "-o", "-", "-q"]
    )
    piped = runner.invoke(
        app, ["apply", str(fitted_path), "-", "-o", "-", "--batch-size", "50", "-q"],
        input=(tmp_path / "new.csv").read_text(),
    )  # fmt: skip
    assert whole.exit_code == 0 and piped.exit_code == 0, piped.output
    assert piped.stdout == whole.stdout
    report = runner.invoke(
        app, ["apply", str(fitted_path), str(tmp_path / "new.csv"), "-o", str(tmp_path / "o.csv"),
              "--batch-size", "7", "--json", "-q"],
    )  # fmt: skip
    assert json.loads(report.stdout)["parts"]["new"]["rows"] == 500


def test_header_only_file_gives_header_only_output(fitted_path, tmp_path):
    (tmp_path / "empty.csv").write_text("x,k,c\n")
    fitted = prepkit.load_fitted(fitted_path)
    apply_fitted(fitted, tmp_path / "empty.csv", tmp_path / "o.csv", batch_size=10)
    out = pl.read_csv(tmp_path / "o.csv")
    assert out.height == 0 and out.columns == ["x", "k", "c_a", "c_b", "c_c"]


def test_steps_that_compare_rows_refuse_batches(tmp_path):
    recipe = prepkit.load_recipe({"steps": [{"step": "drop_duplicates", "at_apply": True}]})
    recipe.fit(pl.DataFrame({"a": [1, 1, 2]})).save(tmp_path / "f.json")
    pl.DataFrame({"a": [1, 1]}).write_csv(tmp_path / "n.csv")
    with pytest.raises(
        RecipeError, match="drop_duplicates_1 compare rows across the whole data set"
    ):
        apply_fitted(
            prepkit.load_fitted(tmp_path / "f.json"),
            tmp_path / "n.csv",
            tmp_path / "o.csv",
            batch_size=1,
        )
    assert not (tmp_path / "o.csv").exists()


def test_failure_mid_stream_leaves_no_partial_output(fitted_path, tmp_path):
    lines = (tmp_path / "new.csv").read_text().splitlines()
    lines.insert(400, "not-a-number,1,a")
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "o.csv"
    out.write_text("previous\n")
    result = runner.invoke(
        app,
        [
            "apply",
            str(fitted_path),
            str(tmp_path / "bad.csv"),
            "-o",
            str(out),
            "--batch-size",
            "100",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "cannot read" in result.stderr and "Traceback" not in result.output
    assert out.read_text() == "previous\n"
