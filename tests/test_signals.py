"""SIGTERM/SIGINT during a write: temporaries removed, "interrupted", exit 143/130; after SIGKILL
the next run removes the stale temporary. Real `python -m prepkit` processes, real signals."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prepkit.io.atomic import Interrupted, _uninterrupted, handle_interrupts

ENV = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A fitted artifact and 200,000 rows: applied 200 rows at a time, the output's temporary
    file exists for seconds, long enough to be signalled mid-write."""
    folder = tmp_path_factory.mktemp("signals")
    rng = np.random.default_rng(0)
    pl.DataFrame({f"c{i}": rng.random(200_000) for i in range(8)}).write_csv(folder / "big.csv")
    pl.DataFrame({f"c{i}": [1.0, None, 3.0] for i in range(8)}).write_csv(folder / "small.csv")
    (folder / "r.yaml").write_text(
        "name: s\ninput: small.csv\noutput: small_out.csv\n"
        "steps:\n  - step: impute\n    columns: numeric\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "prepkit", "run", "r.yaml", "-q"], cwd=folder, env=ENV,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return folder


def temporaries(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f".{name}.*"))


def start_apply(folder: Path, output: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "prepkit", "apply", "small_out.prepkit.json", "big.csv",
         "-o", output, "--batch-size", "200", "-q"],
        cwd=folder, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_temporary(folder: Path, name: str, process: subprocess.Popen) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = temporaries(folder, name)
        if found and found[0].stat().st_size > 0:
            return found[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    process.kill()
    raise AssertionError("the output's temporary file never appeared")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_mid_write_cleans_up_and_says_interrupted(big, signum, code):
    name = f"out_{signum}.csv"
    (big / name).write_text("previous output\n")
    process = start_apply(big, name)
    tmp = wait_for_temporary(big, name, process)
    assert tmp.name.startswith(f".{name}.{process.pid}-") and tmp.name.endswith(".tmp")
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code
    assert stderr.strip() == "interrupted"
    assert temporaries(big, name) == []  # the temporary is gone ...
    assert (big / name).read_text() == "previous output\n"  # ... and the old output untouched


def test_sigkill_leaves_a_temporary_that_the_next_run_removes(big):
    name = "killed.csv"
    process = start_apply(big, name)
    tmp = wait_for_temporary(big, name, process)
    process.kill()
    process.wait(timeout=60)
    assert tmp.exists() and not (big / name).exists()  # what SIGKILL leaves: nothing can run
    other = big / f".{name}.{os.getpid()}-keepme.tmp"  # a live writer's temporary is kept
    other.write_text("in progress")
    done = subprocess.run(
        [sys.executable, "-m", "prepkit", "apply", "small_out.prepkit.json", "small.csv",
         "-o", name, "-q"],
        cwd=big, env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert temporaries(big, name) == [other]
    assert pl.read_csv(big / name)["c0"].to_list() == [1.0, 2.0, 3.0]
    other.unlink()


def test_signal_during_commit_waits_until_the_renames_are_done():
    with pytest.raises(Interrupted) as caught, handle_interrupts():
        with _uninterrupted():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler runs here, and only records the signal
            finished = True
    assert finished
    assert caught.value.exit_code == 143 and caught.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler was restored


def test_ignored_sigint_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with handle_interrupts():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, previous)
