"""Checks at the start of fitting: the target must be a column, and there must be rows to fit on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app
from prepkit.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the tabular recipe and its sample data, so runs write only into tmp_path."""
    (tmp_path / "recipes").mkdir()
    (tmp_path / "sample_data").mkdir()
    shutil.copy(ROOT / "recipes/tabular.yaml", tmp_path / "recipes/tabular.yaml")
    shutil.copy(ROOT / "sample_data/churn.csv", tmp_path / "sample_data/churn.csv")
    return tmp_path


def run(project: Path, *args: str):
    return runner.invoke(app, ["run", str(project / "recipes/tabular.yaml"), *args])


def written(project: Path) -> list[str]:
    out = project / "out"
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


# -- item 4: a target that is not a column ----------------------------------------------------------
def test_misspelt_target_is_an_error_naming_the_closest_column(project):
    result = run(project, "--set", "target=churnd", "--set", "split.stratify=false")
    assert result.exit_code == 1, result.output
    assert "target column 'churnd' is not in the data (did you mean 'churned'?)" in result.stderr
    assert "columns: customer_id, age, tenure_months" in result.stderr
    assert "Traceback" not in result.output
    assert written(project) == []


def test_misspelt_target_without_a_split_is_the_same_error(project):
    result = run(project, "--set", "target=churnd", "--set", "split=null")
    assert result.exit_code == 1, result.output
    assert "did you mean 'churned'?" in result.stderr
    assert written(project) == []


def test_a_stratified_split_still_gives_its_own_error_first(project):
    result = run(project, "--set", "target=churnd")
    assert result.exit_code == 1, result.output
    assert "split target column 'churnd' is not in the data (did you mean 'churned'?)" in (
        result.stderr
    )
    assert written(project) == []


def test_python_fit_checks_the_target_too(churn):
    recipe = prepkit.load_recipe({"target": "churnd", "steps": [{"step": "impute"}]})
    with pytest.raises(
        DataError, match=r"'churnd' is not in the data \(did you mean 'churned'\?\)"
    ):
        recipe.fit(churn)
    with pytest.raises(DataError, match="did you mean 'churned'"):
        recipe.fit_transform(churn.to_pandas())


def test_no_target_and_a_present_target_fit(churn):
    assert prepkit.load_recipe({"steps": [{"step": "impute"}]}).fit(churn).target is None
    fitted = prepkit.load_recipe({"target": "churned", "steps": [{"step": "impute"}]}).fit(churn)
    assert "churned" not in fitted.state("impute_1")["columns"]


def test_a_target_missing_from_new_data_is_still_fine_at_apply(churn):
    fitted = prepkit.load_recipe({"target": "churned", "steps": [{"step": "impute"}]}).fit(churn)
    out = fitted.transform(churn.drop("churned").head(5))
    assert out.height == 5 and "churned" not in out.columns


# -- item 10: no rows to fit on ---------------------------------------------------------------------
def header_only(project: Path) -> Path:
    path = project / "sample_data/empty.csv"
    path.write_text((project / "sample_data/churn.csv").read_text().splitlines()[0] + "\n")
    return path


def test_header_only_csv_is_an_error_and_writes_nothing(project):
    empty = header_only(project)
    result = run(project, "-i", str(empty), "--set", "split=null")
    assert result.exit_code == 1, result.output
    assert "the training data" in result.stderr and "has no rows" in result.stderr
    assert "hint: every step learns from the training rows" in result.stderr
    assert "Traceback" not in result.output
    assert written(project) == []


def test_header_only_csv_names_its_source(project):
    empty = header_only(project)
    result = run(project, "-i", str(empty), "--set", "split=null")
    assert f"the training data ({empty}) has no rows" in result.stderr


def test_header_only_csv_with_a_split_gets_the_same_error(project):
    result = run(project, "-i", str(header_only(project)))
    assert result.exit_code == 1, result.output
    assert "has no rows" in result.stderr
    assert written(project) == []


def test_header_only_csv_with_a_split_exits_1_and_writes_nothing(project):
    result = run(project, "-i", str(header_only(project)))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert written(project) == []


@pytest.mark.parametrize("kind", ["polars", "pandas"])
def test_python_fit_on_zero_rows_is_an_error(churn, kind):
    empty = churn.head(0) if kind == "polars" else churn.head(0).to_pandas()
    recipe = prepkit.load_recipe({"target": "churned", "steps": [{"step": "impute"}]})
    with pytest.raises(DataError) as caught:
        recipe.fit(empty)
    assert caught.value.message == "the training data has no rows"
    assert "at least one data row" in caught.value.hint
    with pytest.raises(DataError, match="has no rows"):
        recipe.run(empty, write=False)


def test_apply_to_zero_rows_works_and_keeps_the_columns(churn, tmp_path):
    recipe = prepkit.load_recipe(
        {
            "target": "churned",
            "steps": [
                {"step": "drop", "columns": ["customer_id", "signup_date"]},
                {"step": "impute", "columns": "numeric"},
                {"step": "impute", "columns": "categorical", "strategy": "most_frequent"},
                {"step": "encode", "columns": "categorical", "method": "onehot"},
                {"step": "scale", "columns": ["age"]},
            ],
        }
    )
    fitted = recipe.fit(churn)
    full = fitted.transform(churn.head(10))
    empty = fitted.transform(churn.head(0))
    assert empty.height == 0 and empty.schema == full.schema
    pandas_empty = fitted.transform(churn.head(0).to_pandas())
    assert isinstance(pandas_empty, pd.DataFrame) and len(pandas_empty) == 0
    assert list(pandas_empty.columns) == full.columns
    # and through the CLI: a header-only file applies to a header-only output
    artifact = fitted.save(tmp_path / "f.prepkit.json")
    source = tmp_path / "new.csv"
    source.write_text(",".join(churn.columns) + "\n")
    result = runner.invoke(
        app, ["apply", str(artifact), str(source), "-o", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 0, result.output
    assert pl.read_csv(tmp_path / "o.csv").columns == full.columns
