"""Ordinary mistakes and broken streams give one clear message and the documented exit code.

Closed or broken standard streams run `python -m prepkit` in a real shell (`<&-`, `>&-`, pipes);
the rest use typer's CliRunner. Everything works in a copy of recipes/ and sample_data/.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import prepkit
from prepkit import checks
from prepkit.cli import app
from prepkit.errors import RecipeError
from prepkit.io import IMAGE_STEPS, read_table, write_table
from prepkit.report import RunReport

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def invoke(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `command` in bash, with `prepkit` meaning this interpreter's `python -m prepkit`."""
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "COLUMNS": "200"}
    prepkit_cmd = f"'{sys.executable}' -m prepkit"
    return subprocess.run(
        ["bash", "-c", command.replace("prepkit ", prepkit_cmd + " ")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_clean_error(result, code: int, *fragments: str) -> None:
    err = result.stderr
    assert result.exit_code == code, err
    assert "Traceback" not in err and "internal error" not in err, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture
def work(tmp_path, monkeypatch):
    """tmp_path with a small recipe (in.csv -> out/clean.csv) and copies of the shipped files."""
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    shutil.copytree(ROOT / "sample_data", tmp_path / "sample_data")
    (tmp_path / "in.csv").write_text("a,b,y\n1,x,0\n,y,1\n3,,0\n")
    (tmp_path / "r.yaml").write_text(
        "name: simple\ninput: in.csv\noutput: out/clean.csv\ntarget: y\n"
        "steps:\n  - step: impute\n    columns: numeric\n"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# -- closed and broken standard streams (real processes) ----------------------------------------
def test_stdin_closed_is_a_clear_error(work):
    done = shell("prepkit run r.yaml -i - -o o.csv <&-", work)
    assert done.returncode == 1, done.stderr
    assert "cannot read standard input: it is closed" in done.stderr
    assert "internal error" not in done.stderr and not (work / "o.csv").exists()


def test_stdout_closed_is_a_clear_error_before_fitting(work):
    done = shell("prepkit run r.yaml -o - >&-", work)
    assert done.returncode == 1, done.stderr
    assert "cannot write to standard output: it is closed" in done.stderr
    assert "internal error" not in done.stderr
    assert "impute_1" not in done.stderr  # refused before the recipe ran: no report table


def big_input(folder: Path, rows: int = 200_000) -> None:
    frame = pl.DataFrame({"a": range(rows), "b": ["x"] * rows, "y": [i % 2 for i in range(rows)]})
    frame.write_csv(folder / "big.csv")


@pytest.mark.parametrize(
    "command",
    [
        "prepkit run r.yaml -i big.csv -o - | false",
        "prepkit apply out/clean.prepkit.json big.csv -o - | false",
        "prepkit apply out/clean.prepkit.json big.csv -o - --batch-size 1000 | false",
        "prepkit run r.yaml -i big.csv -o - --set steps.1.strategy=mean --json | false",
        "prepkit steps --json | false",
    ],
)
def test_reader_gone_exits_141_quietly(work, command):
    big_input(work)
    assert invoke("run", "r.yaml", "-q").exit_code == 0
    done = shell(command + "; echo rc=${PIPESTATUS[0]}", work)
    assert done.stdout.strip() == "rc=141"
    assert done.stderr == ""


def test_head_takes_the_first_line_and_prepkit_stops_quietly(work):
    big_input(work, 400_000)
    done = shell("prepkit run r.yaml -i big.csv -o - -q | head -1; echo rc=${PIPESTATUS[0]}", work)
    first, status = done.stdout.splitlines()
    assert first == "a,b,y"
    assert status in ("rc=0", "rc=141")  # 0 when head had read everything before leaving
    assert done.stderr == ""


def test_pipe_and_process_substitution_inputs_are_read(work):
    done = shell("prepkit run r.yaml -i <(cat in.csv) -f csv -o o.csv -q", work)
    assert done.returncode == 0, done.stderr
    assert pl.read_csv(work / "o.csv")["a"].to_list() == [1, 2, 3]
    done = shell(
        "mkfifo f.csv; (cat in.csv > f.csv &); prepkit run r.yaml -i f.csv -o p.csv -q", work
    )
    assert done.returncode == 0, done.stderr
    assert pl.read_csv(work / "p.csv")["a"].to_list() == [1, 2, 3]
    done = shell("prepkit run r.yaml -i <(cat in.csv) -o o2.csv -q", work)
    assert done.returncode == 2
    assert "has no extension" in done.stderr and "--format" in done.stderr


# -- JSON input that is not records ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": [1, 2]}', "it holds a JSON object, but JSON input must be an array of records"),
        ('{"x": 1}', "it holds a JSON object, but JSON input must be an array of records"),
        ('"x"', "it holds a single JSON value, but JSON input must be an array of records"),
        ("[1, 2]", "JSON input must be an array of records (objects)"),
    ],
)
def test_json_that_is_not_records(work, text, message):
    (work / "obj.json").write_text(text)
    result = invoke("run", "r.yaml", "-i", "obj.json", "-o", "o.csv")
    assert_clean_error(result, 1, f"cannot read obj.json: {message}", '[{"a": 1, "b": "x"}')
    assert not (work / "o.csv").exists()


def test_json_records_still_read(work):
    (work / "rows.json").write_text(
        '\n [{"a": 1, "b": "x", "y": 0}, {"a": null, "b": "y", "y": 1}]'
    )
    assert read_table(work / "rows.json")["a"].to_list() == [1, None]


# -- unreadable inputs name the file -----------------------------------------------------------------
def test_permission_denied_names_the_file(work, monkeypatch):
    import prepkit.io

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(prepkit.io, "open", denied, raising=False)
    result = invoke("run", "r.yaml", "-o", "o.csv")
    assert_clean_error(result, 1, f"cannot read {work / 'in.csv'}: permission denied", "ls -l")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_for_real(work):
    (work / "in.csv").chmod(0)
    result = invoke("run", "r.yaml", "-o", "o.csv")
    assert_clean_error(result, 1, "permission denied", "in.csv")


# -- folders, suffixes and format names ------------------------------------------------------------------
def test_folder_input_to_a_table_recipe(work):
    """Before: the folder was read as images and failed with "cannot impute column 'seed'"."""
    before = files_under(work)
    result = invoke("run", "r.yaml", "-i", "sample_data/images", "-o", "o.csv")
    assert_clean_error(
        result, 1, "input sample_data/images is a folder with no table files in it, but this recipe has no image",
        "or a folder of Parquet/CSV parts",
    )  # fmt: skip
    assert "seed" not in result.stderr
    (work / "parts.csv").mkdir()
    result = invoke("run", "r.yaml", "-i", "parts.csv", "-o", "o.csv")
    assert_clean_error(result, 1, "input parts.csv is a folder")
    assert files_under(work) - before == {"parts.csv"}


def test_output_without_extension_for_a_table(work):
    result = invoke("run", "r.yaml", "-o", "cleaned")
    assert_clean_error(
        result, 2, "cannot tell the format of output 'cleaned': it has no extension",
        "--output-format",
    )  # fmt: skip
    assert not (work / "cleaned").exists()
    result = invoke("run", "r.yaml", "-o", "cleaned", "--output-format", "csv", "-q")
    assert result.exit_code == 0, result.stderr
    assert pl.read_csv(work / "cleaned")["a"].to_list() == [1, 2, 3]


def test_existing_folder_as_table_output(work):
    (work / "x.csv").mkdir()
    result = invoke("run", "r.yaml", "-o", "x.csv")
    assert_clean_error(result, 1, "output x.csv is a folder; this recipe writes a table")
    assert list((work / "x.csv").iterdir()) == []


def test_folder_named_like_the_output_of_a_split_is_not_in_the_way(work):
    """With a split the parts are x_train.csv, x_test.csv: a folder x.csv is not written to."""
    (work / "x.csv").mkdir()
    result = invoke("run", "r.yaml", "-o", "x.csv", "--set", "split.test=0.34", "-q")
    assert result.exit_code == 0, result.stderr
    assert (work / "x_train.csv").is_file() and (work / "x_test.csv").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "exel"], "unknown --format value 'exel'"),
        (["--format", "parqet"], "unknown --format value 'parqet' (did you mean 'parquet'?)"),
        (["--output-format", "exel", "-o", "o.csv"], "unknown --output-format value 'exel'"),
    ],
)
def test_format_names_are_checked_even_when_unused(work, args, message):
    """The input comes from the recipe and the output is a .csv file: --format is not used."""
    result = invoke("run", "r.yaml", *args)
    assert_clean_error(result, 2, message)
    assert not (work / "out").exists()


def test_spreadsheet_formats_get_a_hint(work):
    result = invoke("run", "r.yaml", "--format", "xlsx")
    assert_clean_error(result, 2, "unknown --format value 'xlsx'", "save the sheet as CSV")
    (work / "in.xlsx").write_bytes(b"PK")
    result = invoke("run", "r.yaml", "-i", "in.xlsx")
    assert_clean_error(result, 2, "cannot tell the format of input 'in.xlsx'", "save the sheet")


def test_apply_checks_formats_and_folders(work):
    assert invoke("run", "r.yaml", "-q").exit_code == 0
    fitted = "out/clean.prepkit.json"
    assert_clean_error(invoke("apply", fitted, "in.csv", "-o", "n.csv", "-f", "exel"), 2, "'exel'")
    assert_clean_error(
        invoke("apply", fitted, "sample_data/images", "-o", "n.csv"), 1, "is a folder"
    )
    assert_clean_error(invoke("apply", fitted, "in.csv", "-o", "n"), 2, "has no extension")
    assert not (work / "n.csv").exists() and not (work / "n").exists()


def test_image_recipe_refuses_stdout_and_table_outputs(work):
    """Before: `-o -` exited 0 and printed paths of temporary files deleted on exit."""
    result = invoke("run", "recipes/images.yaml", "-o", "-")
    assert_clean_error(
        result, 2, "this recipe makes an image data set, which cannot be written to standard output",
        "give -o a folder",
    )  # fmt: skip
    assert result.stdout == ""
    result = invoke("run", "recipes/images.yaml", "-o", "list.csv")
    assert_clean_error(result, 2, "cannot be written to a table file (list.csv)")
    assert not (work / "list.csv").exists() and not (work / "out").exists()


def test_write_table_refuses_image_rows_on_stdout(work):
    images = read_table(work / "sample_data/images")
    with pytest.raises(RecipeError, match="cannot be written to standard output"):
        write_table(images, "-")


def test_image_step_names_match_the_registry():
    from prepkit.steps.augment_image import ImageParams
    from prepkit.steps.base import all_steps

    image_steps = {n for n, cls in all_steps().items() if issubclass(cls.Params, ImageParams)}
    assert image_steps == IMAGE_STEPS


# -- duplicate CSV headers -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "text"), [("dup.csv", "a,a,y\n1,2,0\n"), ("dup.tsv", "y\ta\tb\ta\n0\t1\t2\t3\n")]
)
def test_duplicate_header_is_an_error_naming_file_and_columns(work, name, text):
    (work / name).write_text(text)
    result = invoke("run", "r.yaml", "-i", name, "-o", "o.csv")
    columns = "(columns 1 and 2)" if name.endswith(".csv") else "(columns 2 and 4)"
    assert_clean_error(
        result, 1, f"{name}: column name 'a' appears twice in the header {columns}",
        "prepkit does not rename columns",
    )  # fmt: skip
    assert not (work / "o.csv").exists()


def test_duplicate_header_in_batched_apply_and_stdin(work):
    assert invoke("run", "r.yaml", "-q").exit_code == 0
    (work / "dup.csv").write_text("a,b,a,y\n1,x,2,0\n")
    result = invoke(
        "apply", "out/clean.prepkit.json", "dup.csv", "-o", "n.csv", "--batch-size", "5"
    )
    assert_clean_error(
        result, 1, "dup.csv: column name 'a' appears twice in the header (columns 1 and 3)"
    )
    result = invoke("run", "r.yaml", "-i", "-", "-o", "n.csv", input="a,a,y\n1,2,0\n")
    assert_clean_error(result, 1, "standard input: column name 'a' appears twice")
    assert not (work / "n.csv").exists()


def test_a_real_column_named_like_polars_renaming_is_kept(work):
    (work / "two.csv").write_text("a,a_duplicated_0,y\n1,2,0\n")
    assert read_table(work / "two.csv").columns == ["a", "a_duplicated_0", "y"]
    (work / "nohead.csv").write_text("1,1,0\n2,2,1\n")
    assert read_table(work / "nohead.csv", options={"has_header": False}).width == 3


# -- batched apply: a bad value names its column -------------------------------------------------------
@pytest.mark.parametrize("text", ["a,b,y\n1,x,0\nabc,y,1\n", "b,y,a\nx,0,1\ny,1,abc\n"])
def test_batched_type_error_names_the_column(work, text):
    """Before: "In CSV column #0: CSV conversion error to int64: invalid value 'abc'"."""
    assert invoke("run", "r.yaml", "-q").exit_code == 0
    (work / "bad.csv").write_text(text)
    result = invoke(
        "apply", "out/clean.prepkit.json", "bad.csv", "-o", "n.csv", "--batch-size", "10"
    )
    assert_clean_error(
        result, 1,
        "cannot read bad.csv: column 'a' has a value of the wrong type (the recipe was fitted on "
        "Int64): invalid value 'abc'",
        "fix the column's values",
    )  # fmt: skip
    assert "#" not in result.stderr and not (work / "n.csv").exists()


# -- where things were written ---------------------------------------------------------------------------
def test_run_says_what_it_wrote(work):
    result = invoke("run", "r.yaml", "--report", "rep.json")
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("wrote ")]
    assert lines == [
        "wrote out/clean.csv (3 rows)",
        "wrote out/clean.prepkit.json (fitted recipe)",
        "wrote rep.json (report)",
    ]
    assert json.loads((work / "rep.json").read_text())["status"] == "ok"


def test_run_names_the_recipe_report_and_each_part(work):
    text = (work / "r.yaml").read_text() + "report: out/rep.html\nsplit: {test: 0.2}\n"
    (work / "r.yaml").write_text(text)
    result = invoke("run", "r.yaml")
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("wrote ")]
    train, test = (pl.read_csv(work / f"out/clean_{part}.csv").height for part in ("train", "test"))
    assert (train, test) == (2, 1)
    assert lines == [
        "wrote out/clean_train.csv (2 rows)",
        "wrote out/clean_test.csv (1 row)",
        "wrote out/clean.prepkit.json (fitted recipe)",
        "wrote out/rep.html (report)",
    ]
    assert (work / "out/rep.html").is_file()


def test_apply_says_what_it_wrote_and_stdout_is_not_a_file(work):
    assert invoke("run", "r.yaml", "-q").exit_code == 0
    result = invoke("apply", "out/clean.prepkit.json", "in.csv", "-o", "n.csv")
    assert "wrote n.csv (3 rows)" in result.stderr
    result = invoke("run", "r.yaml", "-o", "-")
    assert result.exit_code == 0 and "wrote -" not in result.stderr
    assert "wrote " not in invoke("run", "r.yaml", "-q").stderr


def test_image_outputs_are_counted_in_images():
    report = RunReport(
        recipe="images", outputs={"train": "out/imgs"}, parts={"train": {"rows": 72}}
    )
    report.steps = [
        prepkit.report.StepReport(id="augment_images_1", step="augment_images", phase="train_only")
    ]
    from prepkit.report.terminal import written

    assert written(report, "rep.json") == ["wrote out/imgs (72 images)", "wrote rep.json (report)"]


# -- check figures ----------------------------------------------------------------------------------------
def test_check_counts_print_as_integers():
    """Before: `rows_out = 1.4e+06 (must be <= 1000.0)`."""
    data = pl.DataFrame({"x": pl.arange(0, 1_400_000, eager=True)})
    recipe = prepkit.load_recipe(
        {"checks": [{"metric": "rows_out", "max": 1000}, {"metric": "columns_out", "min": 1}]}
    )
    with pytest.raises(prepkit.errors.CheckFailed) as failed:
        recipe.run(data, write=False)
    rows, cols = failed.value.report.checks
    assert rows.message == "rows_out = 1,400,000 (must be <= 1,000)"
    assert cols.message == "columns_out = 1 (must be >= 1)"


def test_check_fractions_have_sensible_precision():
    data = pl.DataFrame({"x": [1.0, None, 3.0], "y": [0, 1, 1]})
    recipe = prepkit.load_recipe(
        {"target": "y", "checks": [{"metric": "null_fraction", "max": 0.5},
                                   {"metric": "minority_fraction", "min": 0.3}]}
    )  # fmt: skip
    nulls, minority = recipe.run(data, write=False).report.checks
    assert nulls.message == "null_fraction = 0.1667 (must be <= 0.5)"
    assert minority.message == "minority_fraction = 0.3333 (must be >= 0.3)"
    # a failed value that would round to its bound shows every digit
    assert checks._shown(0.05000001, False, False, (None, 0.05)) == "0.05000001"
    assert checks._shown(0.0, False, True, (None, 0.0)) == "0.0"
