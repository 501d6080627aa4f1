"""Outputs never clobber inputs, a run writes all of its outputs or none, modes follow the umask,
write-side OS errors are clear, and `validate` checks target/split columns against the header."""

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from prepkit.cli import app
from prepkit.errors import DataError
from prepkit.io import atomic
from prepkit.io.atomic import (
    all_or_nothing,
    atomic_dir,
    remove_stale_temporaries,
    write_text_atomic,
)

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones too) with a digest of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A folder with 30 rows of data, a recipe that splits it, and a fitted artifact."""
    monkeypatch.chdir(tmp_path)
    rows = [f"{i},{'' if i % 7 == 0 else i * 1.5},{'ab'[i % 2]},{i % 2}" for i in range(30)]
    (tmp_path / "data.csv").write_text("id,x,c,y\n" + "\n".join(rows) + "\n")
    (tmp_path / "split.yaml").write_text(
        "name: s\ninput: data.csv\noutput: out/clean.csv\ntarget: y\nseed: 1\n"
        "split: {valid: 0.2, test: 0.2}\nsteps:\n  - step: impute\n    columns: numeric\n"
    )
    (tmp_path / "plain.yaml").write_text(
        "name: p\ninput: data.csv\noutput: out/plain.csv\ntarget: y\n"
        "steps:\n  - step: impute\n    columns: numeric\n"
    )
    result = invoke("run", "plain.yaml", "-q")
    assert result.exit_code == 0, result.output
    return tmp_path


# -- item 3: an output equal to an input is refused before anything is read ----------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "data.csv"], "output data.csv is the input file data.csv"),
        (["-o", "./data.csv"], "output data.csv is the input file data.csv"),
        (["-o", "out/../data.csv"], "output out/../data.csv is the input file data.csv"),
        (["-o", "link.csv"], "output link.csv is the input file data.csv"),
        (["-o", "hard.csv"], "output hard.csv is the input file data.csv"),
        (["-o", "new.csv", "--report", "data.csv"], "report data.csv is the input file"),
        (["-o", "new.csv", "--report", "out/plain.prepkit.json"], "report out/plain.prepkit.json is the input file out/plain.prepkit.json"),
        (["-o", "out/plain.prepkit.json"], "output out/plain.prepkit.json is the input file"),
        (["-o", "new.csv", "--report", "new.csv"], "output and report are the same file: new.csv"),
    ],
)  # fmt: skip
def test_apply_refuses_to_overwrite_its_inputs(work, args, message):
    (work / "link.csv").symlink_to("data.csv")
    os.link(work / "data.csv", work / "hard.csv")
    before = tree(work)
    result = invoke("apply", "out/plain.prepkit.json", "data.csv", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "prepkit never overwrites its input" in result.stderr or "same file" in result.stderr
    assert tree(work) == before  # inputs unchanged, nothing new


@pytest.mark.parametrize(
    ("recipe", "args", "message"),
    [
        ("plain.yaml", ["-o", "data.csv"], "output data.csv is the input file"),
        ("plain.yaml", ["-o", "./sub/../data.csv"], "is the input file"),
        ("plain.yaml", ["--fitted", "data.csv"], "fitted artifact data.csv is the input file"),
        ("plain.yaml", ["--report", "plain.yaml"], "report plain.yaml is the input file plain.yaml"),
        ("plain.yaml", ["--fitted", "r.json", "--report", "r.json"], "fitted artifact and report are the same file: r.json"),
        ("plain.yaml", ["-o", "o.csv", "--fitted", "o.csv"], "output and fitted artifact are the same file"),
        ("split.yaml", ["-i", "x_train.csv", "-o", "x.csv"], "train output x_train.csv is the input file x_train.csv"),
        ("split.yaml", ["-o", "out/v.csv", "--fitted", "out/v_test.csv"], "test output and fitted artifact are the same file"),
    ],
)  # fmt: skip
def test_run_refuses_outputs_on_inputs_or_on_each_other(work, recipe, args, message):
    shutil.copy(work / "data.csv", work / "x_train.csv")
    before = tree(work)
    result = invoke("run", recipe, "-q", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert tree(work) == before


def test_run_refuses_before_reading_stdin(work):
    # the refusal comes first: stdin (which cannot be read twice) is not consumed by a failed run
    result = runner.invoke(app, ["run", "split.yaml", "-i", "-", "-o", "-"], input="id\n1\n")
    assert result.exit_code == 2
    assert "a split writes one output per part" in result.stderr


# -- item 5: every destination is checked before fitting; all outputs or none --------------------
def test_split_part_that_is_a_folder_leaves_nothing_written(work):
    (work / "out" / "clean_valid.csv").mkdir(parents=True)
    (work / "out" / "clean.prepkit.json").write_text("stale artifact\n")
    before = tree(work)
    result = invoke("run", "split.yaml", "-q", "--report", "out/report.json")
    assert result.exit_code == 1, result.output
    assert "out/clean_valid.csv is a folder" in result.stderr
    assert "hint: give a file path" in result.stderr
    assert tree(work) == before  # no train/test part, no report, the stale artifact untouched
    assert sorted(p.name for p in (work / "out").iterdir()) == [
        "clean.prepkit.json", "clean_valid.csv", "plain.csv", "plain.prepkit.json",
    ]  # fmt: skip


def test_output_folder_under_a_file_is_refused_before_fitting(work):
    before = tree(work)
    result = invoke("run", "split.yaml", "-q", "--fitted", "data.csv/f.json")
    assert result.exit_code == 1
    assert "cannot create output folder data.csv: data.csv is a file" in result.stderr
    assert tree(work) == before


@contextlib.contextmanager
def immutable(folder: Path):
    """`chattr +i` (root ignores permission bits, not the immutable flag); skip where unsupported."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i failed here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_unwritable_report_folder_fails_before_fitting_and_writes_nothing(work):
    locked = work / "locked"
    locked.mkdir()
    before = tree(work)
    with immutable(locked):
        result = invoke("run", "split.yaml", "-q", "--report", "locked/report.json")
        assert result.exit_code == 1, result.output
        assert "cannot write locked/report.json: operation not permitted" in result.stderr
        assert "write the output to a folder you can write to" in result.stderr
        assert "no output was written" in result.stderr
        nested = invoke("run", "split.yaml", "-q", "--fitted", "locked/sub/f.json")
        assert nested.exit_code == 1
        assert "cannot create output folder locked/sub: operation not permitted" in nested.stderr
    assert tree(work) == before
    assert not (work / "out" / "clean_train.csv").exists()


def test_apply_unwritable_report_leaves_no_data_output(work):
    locked = work / "locked"
    locked.mkdir()
    with immutable(locked):
        result = invoke(
            "apply", "out/plain.prepkit.json", "data.csv", "-o", "new.csv",
            "--report", "locked/r.json",
        )  # fmt: skip
    assert result.exit_code == 1
    assert "cannot write locked/r.json: operation not permitted" in result.stderr
    assert not (work / "new.csv").exists()


def test_apply_writes_data_and_report_together(work):
    result = invoke(
        "apply", "out/plain.prepkit.json", "data.csv", "-o", "new/n.csv", "--report", "new/r.json"
    )
    assert result.exit_code == 0, result.output
    assert pl.read_csv(work / "new/n.csv").height == 30
    assert json.loads((work / "new/r.json").read_text())["outputs"] == {"new": "new/n.csv"}
    assert sorted(p.name for p in (work / "new").iterdir()) == ["n.csv", "r.json"]


def test_failed_rename_midway_rolls_back_to_the_previous_outputs(work, monkeypatch):
    """A rename that fails during the commit (simulated: an OS-level fault injected into
    os.replace, since no real file system fails on the third rename only) undoes the first two."""
    first = invoke("run", "split.yaml", "-q", "--report", "out/report.json")
    assert first.exit_code == 0, first.output
    (work / "data.csv").write_text((work / "data.csv").read_text().replace(",3,", ",300,"))
    before = tree(work / "out")
    real_replace, calls = os.replace, []

    def flaky(src, dst):
        if str(src).endswith(".tmp"):  # renames of staged outputs into place
            calls.append(Path(dst).name)
            if len(calls) == 3:
                raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", flaky)
    result = invoke("run", "split.yaml", "-q", "--report", "out/report.json")
    assert result.exit_code == 1, result.output
    assert calls == ["clean_train.csv", "clean_valid.csv", "clean_test.csv"]
    assert "out/clean_test.csv: no space left on device" in result.stderr
    assert tree(work / "out") == before  # train and valid restored from their backups, no leftovers


def test_failed_rename_removes_outputs_that_did_not_exist_before(work, monkeypatch):
    real_replace, calls = os.replace, []

    def flaky(src, dst):
        if str(src).endswith(".tmp"):
            calls.append(dst)
            if len(calls) == 4:  # the artifact, after the three parts
                raise OSError(13, "Permission denied")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", flaky)
    result = invoke("run", "split.yaml", "-q", "-o", "fresh/c.csv")
    assert result.exit_code == 1
    assert "cannot write fresh/c.prepkit.json: permission denied" in result.stderr
    assert not (work / "fresh").exists()  # the parts are gone and so is the folder made for them


def test_quality_gate_failure_writes_the_report_only(work):
    recipe = work / "gate.yaml"
    recipe.write_text(
        (work / "split.yaml").read_text() + "checks:\n  - {metric: rows_out, min: 1000}\n"
    )
    result = invoke("run", "gate.yaml", "-q", "-o", "g/c.csv", "--report", "g/report.json")
    assert result.exit_code == 3
    assert sorted(p.name for p in (work / "g").iterdir()) == ["report.json"]
    assert json.loads((work / "g/report.json").read_text())["status"] == "failed_checks"


# -- item 16 (write side): disk full and read-only file systems, for real ------------------------
@pytest.fixture
def mount_tmpfs(tmp_path):
    mounted = []

    def mount(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=False)


def test_disk_full_while_writing_data_is_a_clear_error(work, mount_tmpfs):
    full = mount_tmpfs("full", "size=64k")
    rows = "\n".join(f"{i},{i * 1.5},a,{i % 2}" for i in range(20_000))
    (work / "big.csv").write_text("id,x,c,y\n" + rows + "\n")  # about 300 kB of output
    result = invoke("apply", "out/plain.prepkit.json", "big.csv", "-o", full / "o.csv")
    assert result.exit_code == 1, result.output
    assert f"cannot write {full / 'o.csv'}: no space left on device" in result.stderr
    assert "hint: free some space on that disk" in result.stderr
    assert "internal error" not in result.stderr
    assert list(full.iterdir()) == []  # no partial output, no temporary


def test_disk_full_while_writing_the_artifact_writes_no_data_either(work, mount_tmpfs):
    full = mount_tmpfs("full", "size=64k")
    with contextlib.suppress(OSError), open(full / "filler", "wb") as fh:
        while True:  # fill the file system; an empty file can still be created
            fh.write(b"x" * 4096)
            fh.flush()
    result = invoke("run", "split.yaml", "-q", "-o", "out/c.csv", "--fitted", full / "f.json")
    assert result.exit_code == 1, result.output
    assert f"cannot write {full / 'f.json'}: no space left on device" in result.stderr
    assert [p.name for p in full.iterdir()] == ["filler"]
    assert not list((work / "out").glob("c*"))  # the parts were staged, never renamed into place
    assert not list((work / "out").glob(".*"))


def test_read_only_file_system_fails_before_fitting(work, mount_tmpfs):
    ro = mount_tmpfs("ro", "ro,size=64k")
    result = invoke("run", "split.yaml", "-q", "--report", ro / "r.json")
    assert result.exit_code == 1
    assert f"cannot write {ro / 'r.json'}: read-only file system" in result.stderr
    assert "the file system is read-only" in result.stderr
    assert not (work / "out" / "clean_train.csv").exists()


# -- item 13: modes follow the umask; a replaced file keeps its mode ------------------------------
def _cli(*args, umask: int, cwd: Path):
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "prepkit", *map(str, args)], cwd=cwd, env=env,
        capture_output=True, text=True, preexec_fn=lambda: os.umask(umask), timeout=300,
    )  # fmt: skip


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_new_outputs_follow_the_umask_and_replaced_ones_keep_their_mode(work):
    done = _cli("run", "split.yaml", "-q", "-o", "m/c.csv", "--report", "m/r.json", umask=0o027, cwd=work)  # fmt: skip
    assert done.returncode == 0, done.stderr
    names = ["c_train.csv", "c_valid.csv", "c_test.csv", "c.prepkit.json", "r.json"]
    assert {n: oct(mode(work / "m" / n)) for n in names} == dict.fromkeys(names, "0o640")
    assert oct(mode(work / "m")) == "0o750"
    (work / "m" / "c_train.csv").chmod(0o604)
    again = _cli("run", "split.yaml", "-q", "-o", "m/c.csv", umask=0o077, cwd=work)
    assert again.returncode == 0, again.stderr
    assert oct(mode(work / "m" / "c_train.csv")) == "0o604"  # kept on replace
    assert oct(mode(work / "m" / "c_valid.csv")) == "0o640"
    applied = _cli("apply", "m/c.prepkit.json", "data.csv", "-o", "a.csv", "--report", "a.json", umask=0o022, cwd=work)  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    assert (oct(mode(work / "a.csv")), oct(mode(work / "a.json"))) == ("0o644", "0o644")


def test_image_output_folder_follows_the_umask(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "UMASK", 0o002)
    with atomic_dir(tmp_path / "imgs") as staged:
        (staged / "a").mkdir()
    assert oct(mode(tmp_path / "imgs")) == "0o775"
    monkeypatch.setattr(atomic, "UMASK", 0o077)
    (tmp_path / "imgs").chmod(0o750)
    with atomic_dir(tmp_path / "imgs") as staged:
        (staged / "b").mkdir()
    assert oct(mode(tmp_path / "imgs")) == "0o750"  # the replaced folder's mode is kept
    assert [p.name for p in (tmp_path / "imgs").iterdir()] == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["imgs"]  # no backup left


def test_umask_is_read_once_without_changing_it():
    assert atomic.UMASK == atomic._read_umask()
    before = os.umask(0o022)
    os.umask(before)
    atomic._read_umask()
    after = os.umask(0o022)
    os.umask(after)
    assert after == before


# -- item 14 (unit level): stale temporaries of dead writers are removed -------------------------
def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_of_dead_writers_are_removed_on_the_next_write(tmp_path):
    dead, old = _dead_pid(), time.time() - 3600
    stale = tmp_path / f".out.csv.{dead}-abc123.tmp"
    stale.write_text("half a file")
    stale_dir = tmp_path / f".out.csv.{dead}-dir0001.tmp"
    stale_dir.mkdir()
    live = tmp_path / f".out.csv.{os.getppid()}-live01.tmp"  # writer still running: kept
    live.write_text("in progress")
    mine = tmp_path / f".out.csv.{os.getpid()}-mine01.tmp"  # this process's own: kept
    mine.write_text("mine")
    other = tmp_path / f".other.csv.{dead}-abc123.tmp"  # another output's: kept
    other.write_text("x")
    fresh = tmp_path / f".out.csv.{dead}-fresh1.tmp"  # newer than this process: kept
    fresh.write_text("x")
    for path in (stale, stale_dir, live, mine, other):
        os.utime(path, (old, old))
    write_text_atomic(tmp_path / "out.csv", "a\n1\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out.csv", live.name, mine.name, other.name, fresh.name]
    )


def test_stale_backup_is_put_back_when_its_target_is_missing(tmp_path):
    dead, old = _dead_pid(), time.time() - 3600
    backup = tmp_path / f".out.csv.{dead}-0a1b2c.bak"  # a commit killed between two renames
    backup.write_text("previous output\n")
    os.utime(backup, (old, old))
    assert remove_stale_temporaries(tmp_path / "out.csv") == []
    assert (tmp_path / "out.csv").read_text() == "previous output\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_transaction_discards_everything_on_error(tmp_path):
    with pytest.raises(DataError, match="boom"), all_or_nothing():
        write_text_atomic(tmp_path / "a" / "one.txt", "1")
        write_text_atomic(tmp_path / "two.txt", "2")
        raise DataError("boom")
    assert list(tmp_path.iterdir()) == []  # nothing staged survives, not even the new folder


# -- item 4 (validate): target / split.group against the input's header --------------------------
@pytest.fixture
def samples(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    shutil.copytree(ROOT / "sample_data", tmp_path / "sample_data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_validate_rejects_a_target_that_is_not_a_column(samples):
    result = invoke("validate", "recipes/tabular.yaml", "--set", "target=churnd")
    assert result.exit_code == 2
    assert "recipes/tabular.yaml: target 'churnd' is not a column of" in result.stderr
    assert "sample_data/churn.csv (did you mean 'churned'?)" in result.stderr
    assert "hint: columns: customer_id, age, tenure_months" in result.stderr


def test_validate_rejects_a_split_group_that_is_not_a_column(samples):
    result = invoke("validate", "recipes/tabular.yaml", "--set", "split.group=custmer_id")
    assert result.exit_code == 2
    assert "split.group 'custmer_id' is not a column" in result.stderr
    assert "did you mean 'customer_id'?" in result.stderr


def test_validate_reads_the_header_only(samples):
    data = samples / "sample_data" / "churn.csv"
    header = data.read_text().splitlines()[0]
    data.write_text(header + '\n1,2,not,a,valid\x00row,,,\n"unclosed\n')  # rows are never parsed
    result = invoke("validate", "recipes/tabular.yaml")
    assert result.exit_code == 0, result.output
    assert "checked against the 12 columns of" in result.stderr
    assert "(header only)" in result.stderr


def test_validate_reads_a_parquet_schema(samples):
    frame = pl.read_csv(samples / "sample_data" / "churn.csv")
    frame.write_parquet(samples / "sample_data" / "churn.parquet")
    ok = invoke("validate", "recipes/tabular.yaml", "--set", "input.path=../sample_data/churn.parquet")  # fmt: skip
    assert ok.exit_code == 0, ok.output
    bad = invoke(
        "validate", "recipes/tabular.yaml", "--set", "input.path=../sample_data/churn.parquet",
        "--set", "target=Churned",
    )  # fmt: skip
    assert bad.exit_code == 2
    assert "target 'Churned' is not a column" in bad.stderr and "'churned'" in bad.stderr


def test_validate_without_a_readable_input_checks_the_recipe_only(samples):
    (samples / "sample_data" / "churn.csv").unlink()
    result = invoke("validate", "recipes/tabular.yaml", "--set", "target=churnd")
    assert result.exit_code == 0, result.output
    assert "checked the recipe only (input" in result.stderr
    assert "sample_data/churn.csv not found)" in result.stderr
    images = invoke("validate", "recipes/images.yaml")
    assert images.exit_code == 0
    assert "checked the recipe only (the columns of an image data set are known" in images.stderr
    (samples / "sample_data" / "bad.parquet").write_bytes(b"not parquet at all")
    broken = invoke(
        "validate", "recipes/text.yaml", "--set", "input.path=../sample_data/bad.parquet"
    )
    assert broken.exit_code == 0, broken.output
    assert "checked the recipe only (cannot read the columns of" in broken.stderr
