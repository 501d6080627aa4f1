"""End-to-end tests of the `prepkit` command line: exit codes, messages, files written."""

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app
from prepkit.recipe import SplitSpec
from prepkit.split import split_frame

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


@pytest.fixture
def simple(tmp_path):
    (tmp_path / "in.csv").write_text("a,b,y\n1,x,0\n,y,1\n3,,0\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: simple\ninput: in.csv\noutput: out/clean.csv\ntarget: y\n"
        "steps:\n  - step: impute\n    columns: numeric\n"
    )
    return recipe


def test_run_writes_output_artifact_and_json_report(simple, tmp_path):
    result = invoke("run", simple, "--json", "--quiet")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["steps"][0]["changes"]["imputed"] == {"a": 1}
    assert pl.read_csv(tmp_path / "out/clean.csv")["a"].to_list() == [1, 2, 3]
    fitted = json.loads((tmp_path / "out/clean.prepkit.json").read_text())
    assert fitted["steps"][0]["state"]["fill"] == {"a": 2.0}
    assert report["fitted"] == str(tmp_path / "out/clean.prepkit.json")


def test_quiet_prints_nothing_and_report_table_otherwise(simple):
    quiet = invoke("run", simple, "--quiet")
    assert quiet.exit_code == 0 and quiet.output == ""
    loud = invoke("run", simple)
    assert "impute_1" in loud.stderr and "imputed: a=1" in loud.stderr


def test_stdin_to_stdout_pipe(simple):
    result = invoke(
        "run", simple, "-i", "-", "-o", "-", "--quiet", input="a,b,y\n10,x,0\n,x,1\n30,x,0\n"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "a,b,y\n10,x,0\n20,x,1\n30,x,0\n"


def test_split_cannot_go_to_stdout(simple):
    result = invoke("run", simple, "-o", "-", "--set", "split.test=0.3", "-q")
    assert result.exit_code == 2
    assert "a split writes one output per part" in result.stderr


def test_set_override_and_report_file(simple, tmp_path):
    report = tmp_path / "rep.json"
    result = invoke("run", simple, "--set", "steps.1.strategy=constant", "--set", "steps.1.fill_value=-5",
                    "--report", report, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert pl.read_csv(tmp_path / "out/clean.csv")["a"].to_list() == [1, -5, 3]
    assert json.loads(report.read_text())["status"] == "ok"


def test_apply_uses_train_statistics(simple, tmp_path):
    assert invoke("run", simple, "-q").exit_code == 0
    (tmp_path / "new.csv").write_text("a,b\n,q\n100,r\n")
    result = invoke(
        "apply",
        tmp_path / "out/clean.prepkit.json",
        tmp_path / "new.csv",
        "-o",
        tmp_path / "new_out.csv",
        "-q",
    )
    assert result.exit_code == 0, result.output
    assert pl.read_csv(tmp_path / "new_out.csv")["a"].to_list() == [2, 100]


def test_html_report_has_tables_and_charts(simple, tmp_path):
    result = invoke("run", simple, "--report", tmp_path / "r.html", "-q")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert page.startswith("<!doctype html>") and "<script" not in page
    assert "<svg" in page and "impute_1" in page and "imputed" in page
    (tmp_path / "new.csv").write_text("a,b\n,q\n")
    applied = invoke("apply", tmp_path / "out/clean.prepkit.json", tmp_path / "new.csv", "-o",
                     tmp_path / "n.csv", "--report", tmp_path / "a.json", "-q")  # fmt: skip
    assert applied.exit_code == 0, applied.output
    assert json.loads((tmp_path / "a.json").read_text())["steps"][0]["changes"]["imputed"] == {
        "a": 1
    }


def test_apply_missing_column_exits_1_without_output(simple, tmp_path):
    assert invoke("run", simple, "-q").exit_code == 0
    (tmp_path / "new.csv").write_text("b\nq\n")
    result = invoke(
        "apply", tmp_path / "out/clean.prepkit.json", tmp_path / "new.csv", "-o", tmp_path / "x.csv"
    )
    assert result.exit_code == 1
    assert "missing column(s) the recipe was fitted with: a" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize(
    ("recipe_text", "data", "code", "message"),
    [
        (
            "steps:\n  - step: imptue\n",
            "a\n1\n",
            2,
            "unknown step 'imptue' (did you mean 'impute'?)",
        ),
        ("steps:\n  - step: impute\n    strategy: meen\n", "a\n1\n", 2, "did you mean 'mean'?"),
        ("steps:\n  - step: impute\n   x: 1\n", "a\n1\n", 2, "YAML syntax error"),
        (
            "steps:\n  - step: impute\n    columns: [nope]\n",
            "a\n1\n",
            1,
            "column 'nope' does not exist",
        ),
        ("steps:\n  - step: impute\n", "", 1, "input file is empty"),
        (
            "steps:\n  - step: impute\n    columns: [s]\n    strategy: mean\n",
            "s\nx\n",
            1,
            "needs numeric columns",
        ),
        (
            "checks:\n  - {metric: rows_out, min: 5}\nsteps: []\n",
            "a\n1\n",
            3,
            "quality check failed: rows_out = 1",
        ),
    ],
)
def test_bad_inputs_give_one_clear_message_and_no_output(
    tmp_path, recipe_text, data, code, message
):
    (tmp_path / "in.csv").write_text(data)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"input: in.csv\noutput: out.csv\n{recipe_text}")
    result = invoke("run", recipe, "-q")
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.csv").exists()
    assert not (tmp_path / "out.prepkit.json").exists()


def test_failed_run_leaves_previous_output_untouched(simple, tmp_path):
    out = tmp_path / "out/clean.csv"
    out.parent.mkdir()
    out.write_text("previous\n")
    result = invoke("run", simple, "--set", "steps.1.columns=[zzz]", "-q")
    assert result.exit_code == 1
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["clean.csv"]


def test_unreadable_input(simple, tmp_path):
    result = invoke("run", simple, "-i", tmp_path / "missing.csv", "-q")
    assert result.exit_code == 1 and "input file not found" in result.stderr


def test_debug_shows_traceback(simple):
    result = invoke("run", simple, "--set", "steps.1.columns=[zzz]", "--debug", "-q")
    assert result.exit_code == 1 and "Traceback" in result.stderr


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout == f"prepkit {prepkit.__version__}\n"


def test_validate_and_steps(simple, tmp_path):
    ok = invoke("validate", simple)
    assert ok.exit_code == 0 and "ok (1 steps: impute_1)" in ok.stderr
    assert invoke("validate", simple, "--set", "steps.1.strategy=nope").exit_code == 2
    listing = invoke("steps")
    assert listing.exit_code == 0 and "impute" in listing.stdout
    one = invoke("steps", "impute", "--json")
    params = {p["name"]: p for p in json.loads(one.stdout)[0]["parameters"]}
    assert params["strategy"]["default"] == "median"
    bad = invoke("steps", "imptue")
    assert bad.exit_code == 2 and "did you mean 'impute'?" in bad.stderr


def test_tabular_recipe_end_to_end(tmp_path):
    out = tmp_path / "churn.parquet"
    result = invoke(
        "run", ROOT / "recipes/tabular.yaml", "-o", out, "--report", tmp_path / "r.json", "-q"
    )
    assert result.exit_code == 0, result.output
    parts = {
        p: pl.read_parquet(tmp_path / f"churn_{p}.parquet") for p in ("train", "valid", "test")
    }
    for frame in parts.values():
        assert frame.null_count().sum_horizontal().item() == 0
        assert frame.columns == parts["train"].columns
    fitted = prepkit.load_fitted(tmp_path / "churn.prepkit.json")

    # the imputed age equals the median of the training part (after de-duplication), by hand
    source = pl.read_csv(
        ROOT / "sample_data/churn.csv", try_parse_dates=True, infer_schema_length=10_000
    )
    train = split_frame(source, SplitSpec(valid=0.15, test=0.15, stratify=True), "churned", 42)[
        "train"
    ]
    impute = next(s for s in fitted.steps if s.name == "impute")
    assert fitted.state(impute.id)["fill"]["age"] == pytest.approx(
        train.unique(maintain_order=True)["age"].median()
    )

    new_out = tmp_path / "new.csv"
    applied = invoke(
        "apply",
        tmp_path / "churn.prepkit.json",
        ROOT / "sample_data/churn_new.csv",
        "-o",
        new_out,
        "-q",
    )
    assert applied.exit_code == 0, applied.output
    new = pl.read_csv(new_out)
    assert new.columns == parts["test"].columns
    assert new.height == 300 and new.null_count().sum_horizontal().item() == 0


def test_recipe_run_from_python_writes_like_the_cli(simple, tmp_path):
    result = prepkit.load_recipe(simple).run()
    assert result.paths == {"train": str(tmp_path / "out/clean.csv")}
    assert pl.read_csv(tmp_path / "out/clean.csv")["a"].to_list() == [1, 2, 3]
    assert result.report.fitted == str(tmp_path / "out/clean.prepkit.json")
    assert result.outputs["train"]["a"].to_list() == [1, 2, 3]


def test_fitted_path_option_and_recipe_key(simple, tmp_path):
    assert invoke("run", simple, "--fitted", tmp_path / "m/model.json", "-q").exit_code == 0
    assert prepkit.load_fitted(tmp_path / "m/model.json").state("impute_1")["fill"] == {"a": 2.0}
    assert not (tmp_path / "out/clean.prepkit.json").exists()
    assert invoke("run", simple, "--set", "fitted=other.json", "-q").exit_code == 0
    assert (tmp_path / "other.json").exists()  # recipe paths are relative to the recipe


def test_format_options_for_streams_and_files(simple, tmp_path):
    tsv = "a\tb\ty\n1\tx\t0\n\ty\t1\n"
    result = invoke("run", simple, "-i", "-", "-o", "-", "--format", "tsv", "-q", input=tsv)
    assert result.exit_code == 0, result.output
    assert result.stdout == "a\tb\ty\n1\tx\t0\n1\ty\t1\n"
    out = tmp_path / "clean.data"
    result = invoke("run", simple, "-o", out, "--output-format", "parquet", "-q")
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out)["a"].to_list() == [1, 2, 3]
    ndjson = invoke("run", simple, "-o", "-", "--output-format", "ndjson", "-q")
    assert ndjson.stdout.splitlines()[1] == '{"a":2,"b":"y","y":1}'


def test_messages_with_brackets_are_printed_verbatim(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - {step: scale, feature_range: [1, 0]}\n")
    result = invoke("validate", recipe)
    assert result.exit_code == 2
    assert "feature_range must be [min, max] with min < max, got [1.0, 0.0]" in result.stderr
