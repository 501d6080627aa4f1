"""Which engine runs (`--engine`, `engine:`, auto), what the report says, and bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import prepkit
import prepkit.engines as engines
from prepkit.cli import app
from prepkit.errors import RecipeError

RUNNER = CliRunner()
RECIPE = """\
target: label
steps:
  - step: impute
    columns: numeric
    strategy: median
  - step: scale
    columns: numeric
"""


def data(path: Path, rows: int = 5_000) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=rows)
    x[::17] = np.nan
    pl.DataFrame({"x": x, "z": rng.normal(size=rows), "label": np.arange(rows) % 3}).write_parquet(
        path, row_group_size=1_000
    )
    return path


def run(tmp_path: Path, *args: str, recipe: str = RECIPE):
    (tmp_path / "r.yaml").write_text(recipe)
    source = data(tmp_path / "in.parquet")
    result = RUNNER.invoke(
        app,
        ["run", str(tmp_path / "r.yaml"), "-i", str(source), "-o", str(tmp_path / "o.parquet"),
         "--quiet", "--json", *args],
    )  # fmt: skip
    return result


def test_auto_picks_memory_for_a_small_input_and_says_why(tmp_path):
    result = run(tmp_path)
    assert result.exit_code == 0, result.output
    engine = json.loads(result.stdout)["engine"]
    assert engine["name"] == "memory" and "fits in" in engine["reason"]


def test_auto_picks_stream_when_memory_is_short(tmp_path, monkeypatch):
    monkeypatch.setattr(engines, "available_memory", lambda: 100_000)
    result = run(tmp_path, "--batch-size", "700")
    assert result.exit_code == 0, result.output
    engine = json.loads(result.stdout)["engine"]
    assert engine["name"] == "stream" and engine["batch_size"] == 700
    assert "does not fit comfortably" in engine["reason"]
    memory = run(tmp_path, "--engine", "memory")
    assert json.loads(memory.stdout)["engine"]["name"] == "memory"


def test_auto_runs_steps_that_need_all_rows_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(engines, "available_memory", lambda: 100_000)
    result = run(tmp_path, recipe=RECIPE + "  - step: svm_smote\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["engine"] == {
        "name": "memory", "reason": "step 'svm_smote_3' needs all training rows at once",
        "batch_size": None,
    }  # fmt: skip


def test_recipe_engine_key_and_cli_override(tmp_path):
    result = run(tmp_path, recipe="engine: stream\nbatch_size: 900\n" + RECIPE)
    assert json.loads(result.stdout)["engine"] == {
        "name": "stream", "reason": "asked for (--engine stream)", "batch_size": 900,
    }  # fmt: skip
    result = run(tmp_path, "--engine", "memory", recipe="engine: stream\n" + RECIPE)
    assert json.loads(result.stdout)["engine"]["name"] == "memory"


def test_unknown_engine_is_a_usage_error(tmp_path):
    result = run(tmp_path, "--engine", "streem")
    assert result.exit_code == 2
    assert "did you mean 'stream'" in result.output and "Traceback" not in result.output
    with pytest.raises(RecipeError, match="engine"):
        prepkit.load_recipe({"engine": "sparks", "steps": []})


def test_python_fit_on_the_streaming_engine_equals_memory():
    rng = np.random.default_rng(1)
    frame = pl.DataFrame({"x": rng.normal(size=3_000), "label": np.arange(3_000) % 2})
    recipe = prepkit.load_recipe(RECIPE)
    memory = recipe.fit(frame)
    stream = recipe.fit(frame, engine="stream", batch_size=101)
    assert stream.report.engine["name"] == "stream"
    assert stream.states[0] == memory.states[0]  # the median: exact
    for key, value in memory.states[1]["scaling"]["x"].items():
        assert stream.states[1]["scaling"]["x"][key] == pytest.approx(value, rel=1e-12)


def test_apply_engine_stream_equals_memory(tmp_path):
    assert run(tmp_path).exit_code == 0
    fitted, source = tmp_path / "o.prepkit.json", tmp_path / "in.parquet"
    outs = {}
    for engine in ("memory", "stream"):
        out = tmp_path / f"applied_{engine}.parquet"
        result = RUNNER.invoke(
            app, ["apply", str(fitted), str(source), "-o", str(out), "--engine", engine, "--json"]
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["engine"]["name"] == engine
        outs[engine] = pl.read_parquet(out)
    assert outs["stream"].equals(outs["memory"])
    result = RUNNER.invoke(
        app, ["apply", str(fitted), str(source), "-o", str(tmp_path / "x.parquet"),
              "--engine", "memory", "--batch-size", "10"],
    )  # fmt: skip
    assert result.exit_code == 2 and "drop --engine memory" in result.output


MAKE = """
import sys
import numpy as np, polars as pl
rows = int(sys.argv[1])
rng = np.random.default_rng(0)
columns = {f"x{i}": rng.normal(size=rows) for i in range(8)}
pl.DataFrame(columns | {"label": np.arange(rows) % 2}).write_parquet(sys.argv[2], row_group_size=20_000)
"""


HWM = """
import atexit, re, runpy, sys
def peak():
    status = open("/proc/self/status").read()
    print(re.search(r"VmHWM:\\s+(\\d+)", status).group(1), file=sys.stderr)
atexit.register(peak)
sys.argv = ["prepkit", *sys.argv[1:]]
runpy.run_module("prepkit", run_name="__main__")
"""


def peak_mib(tmp_path: Path, rows: int, engine: str) -> float:
    """Peak RSS of `prepkit run` in its own process (the child's own, from wait4)."""
    source = tmp_path / f"in_{rows}.parquet"
    if not source.exists():
        subprocess.run([sys.executable, "-c", MAKE, str(rows), str(source)], check=True)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    args = ["run", str(recipe), "-i", str(source), "-o",
           str(tmp_path / f"out_{rows}_{engine}.parquet"), "--quiet", "--engine", engine,
           "--batch-size", "20000"]  # fmt: skip
    # the child's own high-water mark (VmHWM): getrusage/wait4 would count the pages of this
    # (large) pytest process that a forked child starts with
    out = subprocess.run([sys.executable, "-c", HWM, *args], env=env, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return int(out.stderr.strip().splitlines()[-1]) / 1024


def test_stream_peak_memory_does_not_grow_with_rows(tmp_path):
    """4x the rows (26 -> 103 MiB of data): the streaming engine's peak stays within 20% (about
    200 MiB, mostly the interpreter and libraries). Reading everything would add the 77 MiB of
    data and more; the memory engine's peak, measured alone, grows by 58 to 172 MiB here."""
    small, large = (peak_mib(tmp_path, rows, "stream") for rows in (400_000, 1_600_000))
    assert large < small * 1.2, (small, large)


def test_transform_file_takes_an_engine(tmp_path):
    assert run(tmp_path).exit_code == 0
    fitted = prepkit.load_fitted(tmp_path / "o.prepkit.json")
    source = tmp_path / "in.parquet"
    memory = fitted.transform_file(source, tmp_path / "m.parquet", engine="memory")
    stream = fitted.transform_file(source, tmp_path / "s.parquet", engine="stream")
    assert (memory.engine["name"], stream.engine["name"]) == ("memory", "stream")
    assert stream.engine["batch_size"] == 250_000
    assert pl.read_parquet(tmp_path / "s.parquet").equals(pl.read_parquet(tmp_path / "m.parquet"))
