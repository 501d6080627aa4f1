"""prepkit inspect: the figures equal polars'/numpy's, and each problem is found with its fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app
from prepkit.errors import DataError


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    y = (rng.random(n) < 0.1).astype(np.int64)
    income = rng.normal(50, 10, n)
    income[:5] = 500.0  # outliers
    income[rng.random(n) < 0.1] = np.nan
    words = [
        "the service was slow and the staff were rude",
        "great value for money, would buy again",
    ]
    return pl.DataFrame({
        "customer": np.arange(n),
        "income": income,
        "constant": ["a"] * n,
        "nearly": ["x"] * (n - 2) + ["y", "z"],
        "empty": pl.Series([None] * n, dtype=pl.Float64),
        "sparse": [1.0 if i % 3 == 0 else None for i in range(n)],
        "city": [f"city{i % 120}" for i in range(n)],
        "comment": [words[i % 2] for i in range(n)],
        "amount_text": [str(round(v, 2)) for v in rng.normal(size=n)],
        "day_text": [f"2025-01-{1 + i % 28:02d}" for i in range(n)],
        "mixed": [str(i % 50) if i % 2 else "n/a" for i in range(n)],
        "leak": y * 2 + 1,
        "y": y,
    })  # fmt: skip


@pytest.fixture(scope="module")
def profile(frame):
    return prepkit.inspect(frame, target="y")


def test_column_figures_equal_polars(frame, profile):
    income = profile.column("income")
    values = frame["income"].drop_nulls().filter(~frame["income"].drop_nulls().is_nan())
    assert income["nans"] == int(frame["income"].is_nan().sum()) and income["nulls"] == 0
    assert income["missing_fraction"] == pytest.approx(income["nans"] / frame.height)
    assert income["median"] == pytest.approx(float(values.quantile(0.5, "linear")))
    assert income["q25"] == pytest.approx(float(values.quantile(0.25, "linear")))
    assert income["mean"] == pytest.approx(float(values.mean()))
    assert income["std"] == pytest.approx(float(values.std()))
    counts, edges = np.histogram(values.to_numpy(), bins=10)
    assert income["histogram"]["counts"] == counts.tolist()
    assert income["max"] == 500.0 and income["iqr_outliers"] >= 5
    sparse = profile.column("sparse")
    assert sparse["nulls"] == frame["sparse"].null_count() and sparse["nans"] == 0
    city = profile.column("city")
    assert city["distinct"] == 120 and city["top"][0]["count"] == 4
    assert profile.column("comment")["kind"] == "text"
    assert profile.column("comment")["text_length"]["max"] == len(
        "the service was slow and the staff were rude"
    )
    assert profile.classes == {str(k): v for k, v in frame["y"].value_counts(sort=True).iter_rows()}


@pytest.mark.parametrize(
    ("column", "kind", "fix"),
    [
        ("customer", "id_like", "drop"),
        ("income", "outliers", "outliers"),
        ("constant", "constant", "drop_constant"),
        ("nearly", "near_constant", "drop_constant"),
        ("empty", "all_missing", "drop_missing"),
        ("sparse", "mostly_missing", "drop_missing"),
        ("city", "high_cardinality", "encode"),
        ("comment", "free_text", "clean_text"),
        ("amount_text", "numbers_as_text", "cast"),
        ("day_text", "dates_as_text", "cast"),
        ("mixed", "mixed_types", "cast"),
        ("leak", "target_leakage", "drop"),
        ("y", "class_imbalance", "smote"),
    ],
)
def test_problems_are_found_with_their_fix(profile, column, kind, fix):
    found = [p for p in profile.problems if p.column == column and p.kind == kind]
    assert found, profile.problem_kinds(column)
    assert found[0].fix.startswith(fix) and found[0].evidence


def test_no_false_alarms(profile):
    assert profile.problem_kinds("city") == ["high_cardinality"]
    assert "target_leakage" not in profile.problem_kinds("income")
    assert profile.problem_kinds("day_text") == ["dates_as_text"]


def test_duplicate_rows():
    frame = pl.DataFrame({"a": [1, 2, 2, 3, 3, 3], "b": ["x", "y", "y", "z", "z", "z"]})
    profile = prepkit.inspect(frame.to_pandas())
    assert profile.duplicate_rows == 3 and "duplicate_rows" in profile.problem_kinds()


def test_unknown_target(frame):
    with pytest.raises(DataError, match="target column 'churn'"):
        prepkit.inspect(frame, target="churn")


def test_cli_json(tmp_path, frame):
    path = tmp_path / "data.parquet"
    frame.write_parquet(path)
    done = CliRunner().invoke(app, ["inspect", str(path), "--target", "y", "--json", "-q"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["rows"] == 400 and {c["name"] for c in data["columns"]} == set(frame.columns)
    assert any(p["kind"] == "target_leakage" and p["column"] == "leak" for p in data["problems"])
    bad = CliRunner().invoke(app, ["inspect", str(tmp_path / "missing.csv")])
    assert bad.exit_code == 1 and "not found" in bad.output


def test_label_issue_estimate_is_the_steps_and_near_the_truth():
    samples = Path(__file__).parent.parent / "sample_data"
    frame = pl.read_csv(samples / "label_noise.csv")
    profile = prepkit.inspect(frame, target="team", label_issues=True)
    by_hand = prepkit.load_recipe({
        "target": "team", "seed": 0,
        "steps": [
            {"step": "drop", "columns": ["ticket_id"]},
            {"step": "impute", "columns": "numeric", "strategy": "median"},
            {"step": "impute", "columns": "categorical", "strategy": "most_frequent"},
            {"step": "label_issues", "action": "flag"},
        ],
    }).fit(frame)  # fmt: skip
    assert profile.label_issues["issues"] == by_hand.report.steps[-1].changes["issues"]
    flipped = int(pl.read_csv(samples / "label_noise_truth.csv")["flipped"].sum())  # 155 of 2000
    assert abs(profile.label_issues["issues"] - flipped) < 0.2 * flipped
    assert "label_issues" in profile.problem_kinds("team")
    with pytest.raises(DataError, match="needs --target"):
        prepkit.inspect(frame, label_issues=True)
