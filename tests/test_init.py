"""prepkit init: the written recipe validates and runs as it is, on data sets of several kinds,
and each choice follows what inspect found."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from typer.testing import CliRunner

from prepkit.cli import app

SAMPLES = Path(__file__).parent.parent / "sample_data"


def _mixed(n: int = 300, minority: int = 12) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    y = np.array(["yes"] * minority + ["no"] * (n - minority))
    return pl.DataFrame({
        "ref": [f"R{i:05d}" for i in range(n)],
        "amount": [f"{v:.2f}" for v in rng.normal(100, 20, n)],
        "score": [str(i % 40) if i % 3 else "unknown" for i in range(n)],
        "day": [f"2026-03-{1 + i % 28:02d}" for i in range(n)],
        "shop": [f"shop{i % 40}" for i in range(n)],
        "flat": ["same"] * n,
        "nothing": pl.Series([None] * n, dtype=pl.String),
        "height": [None if i % 7 == 0 else float(rng.normal(170, 10)) for i in range(n)],
        "y": y.tolist(),
    })  # fmt: skip


def _init_and_run(tmp_path: Path, data: Path, target: str) -> dict:
    recipe = tmp_path / "recipe.yaml"
    runner = CliRunner()
    done = runner.invoke(app, ["init", str(data), "--target", target, "-o", str(recipe)])
    assert done.exit_code == 0, done.output
    ran = runner.invoke(app, ["run", str(recipe), "-q"])
    assert ran.exit_code == 0, ran.output + recipe.read_text()
    assert (tmp_path / "out" / f"{data.name.split('.')[0]}_clean_train.parquet").exists()
    return yaml.safe_load(recipe.read_text())


def _step(recipe: dict, name: str) -> list[dict]:
    return [s for s in recipe["steps"] if s["step"] == name]


def test_churn_gaps_ids_imbalance(tmp_path):
    shutil.copy(SAMPLES / "churn.csv", tmp_path / "churn.csv")
    recipe = _init_and_run(tmp_path, tmp_path / "churn.csv", "churned")
    assert recipe["split"]["stratify"] is True and recipe["input"] == "churn.csv"
    assert _step(recipe, "drop")[0]["columns"] == ["customer_id"]
    assert _step(recipe, "cast")[0]["dtypes"] == {"signup_date": "date"}
    assert [s["strategy"] for s in _step(recipe, "impute")] == ["median", "most_frequent"]
    assert _step(recipe, "smote") and _step(recipe, "drop_duplicates")
    assert _step(recipe, "outliers")[0]["action"] == "clip"
    names = [s["step"] for s in recipe["steps"]]
    assert names.index("smote") < names.index("encode") < names.index("scale")


def test_text_data(tmp_path):
    shutil.copy(SAMPLES / "reviews.csv", tmp_path / "reviews.csv")
    recipe = _init_and_run(tmp_path, tmp_path / "reviews.csv", "label")
    assert _step(recipe, "clean_text")[0]["columns"] == ["text"]
    assert not _step(recipe, "smote") and _step(recipe, "class_weights")  # nothing to interpolate


def test_mixed_types_and_a_tiny_minority(tmp_path):
    _mixed().write_parquet(tmp_path / "mixed.parquet")  # Parquet keeps the numbers as text
    recipe = _init_and_run(tmp_path, tmp_path / "mixed.parquet", "y")
    assert set(_step(recipe, "drop")[0]["columns"]) == {"ref", "flat", "nothing"}
    cast = _step(recipe, "cast")[0]
    assert cast["dtypes"] == {"amount": "float64", "score": "float64", "day": "date"}
    assert cast["strict"] is False  # score mixes numbers and text
    assert _step(recipe, "class_weights") and not _step(recipe, "smote")  # 8 training minority rows
    encode = _step(recipe, "encode")
    assert encode[0]["columns"] == ["shop"] and encode[0]["method"] == "ordinal"  # 40 shops


def test_regression_target(tmp_path):
    frame = (
        _mixed(minority=150)
        .drop("y")
        .with_columns(pl.Series("price", np.random.default_rng(1).normal(size=300)))
    )
    frame.write_parquet(tmp_path / "prices.parquet")
    recipe = _init_and_run(tmp_path, tmp_path / "prices.parquet", "price")
    assert "stratify" not in recipe["split"]
    assert not _step(recipe, "smote") and not _step(recipe, "class_weights")


def test_an_existing_recipe_is_not_replaced_without_force(tmp_path):
    shutil.copy(SAMPLES / "churn.csv", tmp_path / "churn.csv")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("mine\n")
    runner = CliRunner()
    args = ["init", str(tmp_path / "churn.csv"), "--target", "churned", "-o", str(recipe)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "exists" in refused.output and recipe.read_text() == "mine\n"
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0
    assert "step: smote" in recipe.read_text()
