"""Quality gates (`checks:`): each metric equals its value computed by hand; a failure exits 3."""

import json

import polars as pl
import pytest
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app
from prepkit.errors import CheckFailed, RecipeError


@pytest.fixture
def data() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "x": [1.0, None, 3.0, 4.0, 4.0, float("nan"), 7.0, 8.0],
            "c": ["a", "b", None, "a", "a", "b", "a", "a"],
            "y": [0, 0, 0, 0, 0, 0, 1, 1],
        }
    )


def run(data, checks, steps=()):
    recipe = prepkit.load_recipe({"target": "y", "checks": checks, "steps": list(steps)})
    try:
        return recipe.run(data, write=False).report.checks
    except CheckFailed as exc:
        return exc.report.checks


def value(data, metric, steps=(), **extra):
    (result,) = run(data, [{"metric": metric, "min": -1, **extra}], steps)
    return result.value


def test_each_metric_by_hand(data):
    assert value(data, "rows_out") == 8
    assert value(data, "columns_out") == 3
    assert value(data, "null_fraction") == pytest.approx(3 / 24)  # x: null and NaN, c: null
    assert value(data, "null_fraction", column="x") == pytest.approx(2 / 8)
    assert value(data, "minority_fraction") == pytest.approx(2 / 8)
    assert value(data, "minority_fraction", column="c") == pytest.approx(1 / 8)  # c: null once
    dedup = [{"step": "drop_duplicates"}]
    # rows 4-5 repeat, and so do rows 1 and 5 (missing x: null and NaN compare equal)
    assert value(data, "rows_removed_fraction", dedup) == pytest.approx(2 / 8)


def test_min_and_max_bounds_and_messages(data):
    ok, bad = run(
        data, [{"metric": "rows_out", "min": 8, "max": 8}, {"metric": "null_fraction", "max": 0}]
    )
    assert ok.passed and not bad.passed
    assert bad.message == "null_fraction = 0.125 (must be <= 0.0)"


def test_label_issue_fraction_needs_the_step(data):
    with pytest.raises(RecipeError, match="needs a `label_issues` step"):
        run(data, [{"metric": "label_issue_fraction", "max": 0.1}])


def test_failed_check_exits_3_writes_report_but_no_data(tmp_path, data):
    data.write_csv(tmp_path / "in.csv")
    (tmp_path / "r.yaml").write_text(
        "input: in.csv\noutput: out.csv\nreport: report.json\ntarget: y\n"
        "checks:\n  - {metric: minority_fraction, min: 0.3}\n  - {metric: rows_out, min: 1}\n"
        "steps:\n  - step: impute\n"
    )
    result = CliRunner().invoke(app, ["run", str(tmp_path / "r.yaml"), "--json"])
    assert result.exit_code == 3
    assert "quality check failed: minority_fraction = 0.25 (must be >= 0.3)" in result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "failed_checks"
    assert [c["passed"] for c in report["checks"]] == [False, True]
    assert json.loads(result.stdout)["status"] == "failed_checks"
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "out.prepkit.json").exists()


def test_minority_fraction_without_a_target_or_column_is_a_recipe_error(data):
    recipe = prepkit.load_recipe({"checks": [{"metric": "minority_fraction", "min": 0.1}]})
    with pytest.raises(RecipeError, match="minority_fraction needs the recipe's `target`"):
        recipe.run(data, write=False)
    for engine in ("memory", "stream"):  # with a column, no target is needed
        checked = prepkit.load_recipe(
            {"checks": [{"metric": "minority_fraction", "column": "c", "min": 0.1}]}
        ).run(data, write=False, engine=engine, batch_size=3)
        assert checked.report.checks[0].value == pytest.approx(1 / 8)
