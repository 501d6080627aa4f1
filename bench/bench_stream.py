"""Benchmark: the standard recipe on a large Parquet file, `--engine stream` vs `--engine memory`
vs hand-written polars on its streaming engine (CPU seconds, peak RSS, wall time).

    python bench/bench_stream.py [--rows 20000000] [--rounds 2] [--data DIR]
    python bench/bench_stream.py --rows 20000000 --data DIR --memory-limit 640

Data: ROWS rows of 12 float columns (5% NaN, a few far outliers) and 4 string columns of
cardinality 5 / 50 / 500 / 5000 (2% null), with 1% duplicate rows; written once (in a child
process, in 1M-row row groups) and kept in DIR if given. Recipe: drop_duplicates, outliers (IQR
clip), median impute, standard scale, most-frequent impute of the strings, one-hot with
`min_frequency: 0.001`. Each contender runs as a fresh process (`prepkit run` through the CLI:
read, fit, apply, write Parquet) and the contenders take turns (A B C A B C ...). After the first
round the outputs are compared: prepkit's two engines must agree exactly (the same artifact and
the same rows), and hand-written polars to 1e-9. `--memory-limit MIB` runs only the streaming
engine, inside a memory cgroup of that size (the input several times larger), to show it completes.
Peak memory is the child's own (`os.wait4`); the agreement check runs in its own process, since a
forked child starts with its parent's resident pages.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOATS = [f"x{i}" for i in range(12)]
STRINGS = {"s5": 5, "s50": 50, "s500": 500, "s5000": 5000}

RECIPE = """
name: bench_stream
input: {input}
output: {output}
steps:
  - step: drop_duplicates
  - step: outliers
    columns: numeric
    method: iqr
    action: clip
  - step: impute
    columns: numeric
    strategy: median
  - step: scale
    columns: numeric
    method: standard
  - step: impute
    columns: categorical
    strategy: most_frequent
  - step: encode
    columns: categorical
    method: onehot
    min_frequency: 0.001
"""

POLARS = r"""
import sys, polars as pl
src, out, tmp = sys.argv[1:4]
floats = [c for c in pl.scan_parquet(src).collect_schema() if c.startswith("x")]
strings = [c for c in pl.scan_parquet(src).collect_schema() if c.startswith("s")]
pl.scan_parquet(src).unique(maintain_order=True).sink_parquet(tmp)
lf = pl.scan_parquet(tmp)
clean = [pl.col(c).fill_nan(None) for c in floats]
q = lf.select([e.quantile(0.25, "linear").alias(f"{c}_lo") for e, c in zip(clean, floats)]
              + [e.quantile(0.75, "linear").alias(f"{c}_hi") for e, c in zip(clean, floats)]
              ).collect(engine="streaming").row(0, named=True)
clip = []
for c in floats:
    lo, hi = q[f"{c}_lo"], q[f"{c}_hi"]
    clip.append(pl.col(c).clip(lo - 1.5 * (hi - lo), hi + 1.5 * (hi - lo)))
lf = lf.with_columns(clip)
med = lf.select(pl.col(c).fill_nan(None).median() for c in floats).collect(engine="streaming").row(0)
lf = lf.with_columns(pl.col(c).fill_nan(None).fill_null(m) for c, m in zip(floats, med))
mom = lf.select([pl.col(c).mean().alias(f"{c}_m") for c in floats]
                + [pl.col(c).std(ddof=0).alias(f"{c}_s") for c in floats]).collect(engine="streaming").row(0, named=True)
lf = lf.with_columns(((pl.col(c) - mom[f"{c}_m"]) / mom[f"{c}_s"]) for c in floats)
n = lf.select(pl.len()).collect(engine="streaming").item()
counts = pl.collect_all([lf.group_by(c).len() for c in strings], engine="streaming")
mode = {c: t.filter(pl.col(c).is_not_null()).sort(["len", c], descending=[True, False])[c][0]
        for c, t in zip(strings, counts)}
lf = lf.with_columns(pl.col(c).fill_null(mode[c]) for c in strings)
onehot = []
for c, t in zip(strings, counts):
    t = t.with_columns(pl.col(c).fill_null(mode[c])).group_by(c).agg(pl.col("len").sum())
    frequent = sorted(t.filter(pl.col("len") >= 0.001 * n)[c].to_list())
    rare = t.filter(pl.col("len") < 0.001 * n)[c].to_list()
    onehot += [(pl.col(c) == v).cast(pl.Float64).alias(f"{c}_{v}") for v in frequent]
    if rare:
        onehot.append(pl.col(c).is_in(rare).cast(pl.Float64).alias(f"{c}_infrequent_sklearn"))
lf.with_columns(onehot).drop(strings).sink_parquet(out)
"""


def make_data(path: Path, rows: int) -> None:
    import numpy as np
    import polars as pl
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    writer = None
    chunk = 1_000_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        cols = {}
        for i, c in enumerate(FLOATS):
            x = rng.normal(10 * i, 1 + i, n)
            x[rng.random(n) < 0.05] = np.nan
            x[rng.random(n) < 0.001] *= 50
            cols[c] = x
        for c, k in STRINGS.items():
            values = np.array([f"{c}_{j}" for j in range(k)], dtype=object)[
                np.minimum(rng.zipf(1.3, n) - 1, k - 1)
            ]
            values[rng.random(n) < 0.02] = None
            cols[c] = values
        frame = pl.DataFrame(cols)
        dup = frame.sample(n // 100, seed=start)
        table = pl.concat([frame, dup]).to_arrow()
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=chunk)
    assert writer is not None
    writer.close()


def memory_cgroup(limit_mib: int) -> Path:
    """A cgroup (v1 memory controller, as root) whose processes may use `limit_mib` MiB."""
    group = Path(f"/sys/fs/cgroup/memory/prepkit-bench-{os.getpid()}")
    group.mkdir(exist_ok=True)
    (group / "memory.limit_in_bytes").write_text(str(limit_mib * 2**20))
    swap = group / "memory.memsw.limit_in_bytes"
    if swap.exists():
        swap.write_text(str(limit_mib * 2**20))  # no swapping around the limit
    return group


def measure(
    cmd: list[str], env: dict[str, str] | None = None, cgroup: Path | None = None
) -> dict[str, float]:
    start = time.perf_counter()
    enter = None
    if cgroup is not None:
        procs = cgroup / "cgroup.procs"
        enter = lambda: procs.write_text(str(os.getpid()))  # noqa: E731
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, preexec_fn=enter)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss / 1024,
    }


def compare(folder: Path, chunk: int = 500_000) -> str:
    """The two engines' artifacts agree (means/stds to 1e-12) and so do all three outputs, read
    `chunk` rows at a time (a 20M-row output of 200 float columns is 30 GiB in memory)."""
    import polars as pl
    from polars.testing import assert_frame_equal

    a = json.loads((folder / "stream.prepkit.json").read_text())
    b = json.loads((folder / "memory.prepkit.json").read_text())
    for sa, sb in zip(a["steps"], b["steps"], strict=True):
        assert same(sa["state"], sb["state"]), (sa["id"], "states differ")
    scans = {n: pl.scan_parquet(folder / f"{n}.parquet") for n in ("stream", "memory", "polars")}
    rows = {n: s.select(pl.len()).collect().item() for n, s in scans.items()}
    assert len(set(rows.values())) == 1, rows
    columns = scans["memory"].collect_schema().names()
    for start in range(0, rows["memory"], chunk):
        part = {n: s.slice(start, chunk).collect() for n, s in scans.items()}
        assert_frame_equal(part["stream"], part["memory"], rel_tol=1e-12, abs_tol=1e-12)
        assert_frame_equal(part["polars"].select(columns), part["memory"], rel_tol=1e-9,
                           abs_tol=1e-9, check_dtypes=False)  # fmt: skip
    return f"agree: {rows['memory']:,} rows x {len(columns)} columns"


def same(a: object, b: object) -> bool:
    """Equal states, floats to 1e-12 relative."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))
    return a == b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data", type=Path, help="folder to keep the generated data in")
    parser.add_argument("--only", nargs="*", default=["stream", "memory", "polars"])
    parser.add_argument("--make", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--compare", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help="--batch-size of the streaming engine")
    parser.add_argument(
        "--memory-limit", type=int, metavar="MIB",
        help="run only --engine stream, in a cgroup limited to MIB MiB (Linux, as root)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.compare:
        print(compare(args.compare), flush=True)
        return
    if args.make:
        make_data(args.make, args.rows)
        return
    folder = args.data or Path(tempfile.mkdtemp(prefix="bench-stream-"))
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"data_{args.rows}.parquet"
    if not data.exists():
        subprocess.run([sys.executable, __file__, "--make", str(data), "--rows", str(args.rows)],
                       check=True)  # fmt: skip
    print(f"data: {data} ({data.stat().st_size / 2**20:,.0f} MiB)")
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    commands = {}
    for engine in ("stream", "memory"):
        recipe = folder / f"{engine}.yaml"
        recipe.write_text(RECIPE.format(input=data, output=folder / f"{engine}.parquet"))
        commands[engine] = [sys.executable, "-m", "prepkit", "run", str(recipe), "--quiet",
                            "--engine", engine]  # fmt: skip
        if engine == "stream" and args.batch_size:
            commands[engine] += ["--batch-size", str(args.batch_size)]
    commands["polars"] = [sys.executable, "-c", POLARS, str(data), str(folder / "polars.parquet"),
                          str(folder / "polars_dedup.parquet")]  # fmt: skip
    if args.memory_limit:
        group = memory_cgroup(args.memory_limit)
        try:
            r = measure(commands["stream"], env, group)
        finally:
            group.rmdir()
        print(f"stream in a {args.memory_limit:,} MiB cgroup: wall {r['wall']:.1f} s  "
              f"cpu {r['cpu']:.1f} s  peak {r['rss']:,.0f} MiB (input {data.stat().st_size / 2**20:,.0f} "
              "MiB on disk)")  # fmt: skip
        return
    results: dict[str, list[dict[str, float]]] = {k: [] for k in args.only}
    for round_ in range(args.rounds):
        for name in args.only:
            r = measure(commands[name], env)
            results[name].append(r)
            print(f"round {round_ + 1} {name:7s} wall {r['wall']:6.1f} s  cpu {r['cpu']:6.1f} s  "
                  f"peak {r['rss']:7,.0f} MiB", flush=True)  # fmt: skip
        if round_ == 0 and set(args.only) == {"stream", "memory", "polars"}:
            # in its own process: the frames it loads would otherwise count in the peak memory
            # of every later child (a forked child starts with its parent's resident pages)
            subprocess.run([sys.executable, __file__, "--compare", str(folder)], check=True)
    if "stream" in results and "memory" in results:
        print("\nstream / memory, per round (min / median / max)")
        for key in ("cpu", "wall", "rss"):
            ratios = [
                a[key] / b[key] for a, b in zip(results["stream"], results["memory"], strict=True)
            ]
            print(f"{key:4s} {min(ratios):.2f} / {statistics.median(ratios):.2f} / "
                  f"{max(ratios):.2f}")  # fmt: skip
    print("\nmin / median / max over rounds")
    for name, runs in results.items():
        for key, unit in (("cpu", "s"), ("wall", "s"), ("rss", "MiB")):
            values = [r[key] for r in runs]
            print(f"{name:7s} {key:4s} {min(values):8.1f} / {statistics.median(values):8.1f} / "
                  f"{max(values):8.1f} {unit}")  # fmt: skip


if __name__ == "__main__":
    main()
