"""Benchmark: `prepkit apply` on a large CSV, whole file vs `--batch-size` (time, peak memory).

    python bench/bench_apply_stream.py [--rows 9000000] [--batch-size 100000]

Fits the standard tabular recipe of bench_tabular.py (without drop_duplicates, which compares
rows across the whole file) on 100k rows, writes ROWS new rows as CSV, then runs `prepkit apply`
in a fresh process each way and reports wall time and that process's peak resident memory. Data
is made in a child process, so that this process stays small (a forked child starts with its
parent's resident pages).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make(folder: Path, rows: int) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_tabular import RECIPE, make_data

    import prepkit

    steps = [s for s in RECIPE["steps"] if s["step"] != "drop_duplicates"]
    recipe = prepkit.load_recipe({**RECIPE, "steps": steps})
    recipe.fit(make_data(100_000)).save(folder / "f.json")
    make_data(rows, seed=5).write_csv(folder / "new.csv")


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=9_000_000)
    parser.add_argument("--batch-size", type=int, default=100_000)
    parser.add_argument("--make", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        make(args.make, args.rows)
        return
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        subprocess.run(
            [sys.executable, __file__, "--make", str(d), "--rows", str(args.rows)], check=True
        )
        size = (d / "new.csv").stat().st_size / 2**20
        exe = [
            sys.executable,
            "-m",
            "prepkit",
            "apply",
            str(d / "f.json"),
            str(d / "new.csv"),
            "-q",
        ]
        whole = measure([*exe, "-o", str(d / "w.parquet")])
        batched = measure([*exe, "-o", str(d / "b.parquet"), "--batch-size", str(args.batch_size)])
    print(f"input: {args.rows:,} rows, {size:.0f} MiB CSV -> Parquet")
    print("| mode | time (s) | peak RSS (MiB) |")
    print("| --- | ---: | ---: |")
    print(f"| whole file | {whole[0]:.2f} | {whole[1]:.0f} |")
    print(f"| --batch-size {args.batch_size:,} | {batched[0]:.2f} | {batched[1]:.0f} |")


if __name__ == "__main__":
    main()
