"""`prepkit inspect --engine stream`: the profile of a file read batch by batch equals the in-memory
one (means and std to rounding; all rows are in the sample at this size), and `--report` pages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from prepkit.cli import app
from prepkit.inspection import inspect
from prepkit.inspection_scan import inspect_file

RUNNER = CliRunner()
SAMPLES = [("sample_data/churn.csv", "churned"), ("sample_data/reviews.csv", None),
           ("sample_data/label_noise.csv", "team")]  # fmt: skip


def same_profile(a: dict, b: dict) -> None:
    assert {k: v for k, v in a.items() if k != "columns"} == {
        k: v for k, v in b.items() if k != "columns"
    }
    for ca, cb in zip(a["columns"], b["columns"], strict=True):
        for key, value in ca.items():
            if key in ("mean", "std"):
                assert cb[key] == pytest.approx(value, rel=1e-12), (ca["name"], key)
            else:
                assert cb[key] == value, (ca["name"], key)


@pytest.mark.parametrize(("path", "target"), SAMPLES)
def test_streamed_inspect_equals_in_memory(path, target):
    memory = inspect(pl.read_csv(path), target).to_dict()
    streamed = inspect_file(path, target, engine="stream", batch_size=300).to_dict()
    same_profile(memory, streamed)
    assert memory["problems"]  # the samples have problems to find


def test_streamed_inspect_beyond_the_sample(tmp_path: Path):
    """120,000 rows, more than the 50,000 sampled: exact figures stay exact."""
    rng = np.random.default_rng(0)
    rows = 120_000
    frame = pl.DataFrame({
        "id": np.arange(rows), "x": rng.normal(size=rows),
        "city": rng.choice(["a", "b", "c"], rows),
    }).with_columns(pl.when(pl.col("id") % 10 == 0).then(None).otherwise(pl.col("x")).alias("x"))  # fmt: skip
    path = tmp_path / "big.parquet"
    pl.concat([frame, frame.head(100)]).write_parquet(path, row_group_size=20_000)
    profile = inspect_file(str(path), engine="stream", batch_size=25_000)
    x = profile.column("x")
    values = frame["x"].drop_nulls().to_numpy()
    assert x["missing"] == 12_000 + 10 and profile.duplicate_rows == 100
    assert x["median"] == np.quantile(np.concatenate([values, values[:90]]), 0.5)
    assert (
        x["histogram"]["counts"]
        == np.histogram(np.concatenate([values, values[:90]]), bins=10)[0].tolist()
    )
    assert profile.column("id")["distinct"] == rows and "id_like" in profile.problem_kinds("id")
    assert profile.column("city")["distinct"] == 3


def test_inspect_and_drift_write_html_reports(tmp_path: Path):
    page = tmp_path / "inspect.html"
    done = RUNNER.invoke(app, ["inspect", "sample_data/churn.csv", "--target", "churned",
                               "--engine", "stream", "--report", str(page), "--json", "-q"])  # fmt: skip
    assert done.exit_code == 0, done.output
    text = page.read_text()
    assert "customer_id" in text and "<svg" in text
    assert json.loads(done.stdout)["duplicate_rows"] == 40
    drift_page = tmp_path / "drift.html"
    drifted = RUNNER.invoke(app, ["drift", "sample_data/churn.csv", "sample_data/churn_new.csv",
                                  "--report", str(drift_page), "-q"])  # fmt: skip
    assert drifted.exit_code == 3 and "customer_id" in drift_page.read_text()
    wrong = RUNNER.invoke(app, ["inspect", "sample_data/churn.csv", "--report",
                                str(tmp_path / "x.json")])  # fmt: skip
    assert wrong.exit_code == 2 and "HTML page" in wrong.output
