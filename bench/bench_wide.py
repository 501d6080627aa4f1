"""Benchmark: a standard recipe on wide tables (many columns, few rows) through the CLI.

    python bench/bench_wide.py [--columns 1000 2000 5000] [--rows 100] [--src PATH ...]

Each run is `prepkit run RECIPE --quiet` in a fresh subprocess (`python -m prepkit`), so start-up,
reading and writing are included; CPU seconds (user + system) and peak RSS are the child's own
(`os.wait4`). `--src` runs another checkout's code instead (its `src` folder goes first on
PYTHONPATH), e.g. an older commit from `git worktree add /tmp/prepkit-old HEAD~N`; several
`--src` run in interleaved rounds so that the shared machine's drift hits all of them alike.

The table: 90% float columns (5% missing, a few far outliers), 10% string columns with 5 levels,
one label column; 2% of the rows are exact copies. The recipe: drop_duplicates, drop_missing,
drop_constant, outliers (IQR clip), impute numeric (median) and categorical (most frequent),
scale (standard), encode (one-hot).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

RECIPE = """\
name: wide
input: wide.csv
output: out/wide.parquet
target: label
seed: 0
steps:
  - step: drop_duplicates
  - step: drop_missing
    threshold: 0.5
  - step: drop_constant
  - step: outliers
    columns: numeric
    method: iqr
    factor: 3.0
    action: clip
  - step: impute
    columns: numeric
    strategy: median
  - step: impute
    columns: categorical
    strategy: most_frequent
  - step: scale
    columns: numeric
    method: standard
  - step: encode
    columns: categorical
    method: onehot
"""


def make_data(columns: int, rows: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n_cat = max(1, columns // 10)
    n_num = columns - n_cat
    body = rows - max(1, rows // 50)
    num = rng.normal(0.0, 1.0, (body, n_num))
    num[rng.random((body, n_num)) < 0.05] = np.nan
    num[rng.random((body, n_num)) < 0.01] = 999.0
    levels = np.array(["a", "b", "c", "d", "e"])
    data: dict[str, object] = {f"x{i}": num[:, i] for i in range(n_num)}
    data.update({f"c{i}": levels[rng.integers(0, 5, body)] for i in range(n_cat)})
    data["label"] = rng.integers(0, 2, body)
    frame = pl.DataFrame(data).with_columns(pl.selectors.float().fill_nan(None))
    return pl.concat([frame, frame.head(rows - body)])


def run_once(folder: Path, src: str | None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one `prepkit run` in a fresh process."""
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "prepkit", "run", "recipe.yaml", "--quiet"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"prepkit run failed ({proc.returncode}):\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, nargs="+", default=[1000, 2000, 5000])
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--src", action="append", default=None,
        help="a checkout's src folder to run instead of the installed prepkit (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout-cpu", type=float, default=900.0,
        help="skip larger sizes for a variant once one run takes more CPU seconds than this",
    )  # fmt: skip
    args = parser.parse_args()
    variants = args.src or [None]
    print(f"rows={args.rows}  load average {os.getloadavg()[0]:.2f}")
    print("| variant | columns | wall (s) | CPU (s) | peak RSS (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    too_slow: set[str | None] = set()
    with tempfile.TemporaryDirectory() as tmp:
        for columns in args.columns:
            folder = Path(tmp) / f"w{columns}"
            folder.mkdir()
            make_data(columns, args.rows).write_csv(folder / "wide.csv")
            (folder / "recipe.yaml").write_text(RECIPE)
            for _ in range(args.rounds):
                for src in variants:
                    name = src or "installed"
                    if src in too_slow:
                        print(f"| {name} | {columns} | skipped | | |", flush=True)
                        continue
                    wall, cpu, rss = run_once(folder, src)
                    print(
                        f"| {name} | {columns} | {wall:.2f} | {cpu:.2f} | {rss:.0f} |", flush=True
                    )
                    if cpu > args.timeout_cpu:
                        too_slow.add(src)


if __name__ == "__main__":
    main()
