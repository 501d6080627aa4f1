"""Benchmark: the standard recipe (bench_stream.py's) on a large Parquet file, `--engine spark`
(local[2]) vs `--engine stream`, for fit + write (`prepkit run`) and for `prepkit apply`, with
Spark's own Parquet read + write of the same file as Spark's floor.

    python bench/bench_spark.py [--rows 5000000] [--rounds 3] [--data DIR] [--master local[2]]
                                [--spark-conf spark.driver.memory=4g ...]

Data: bench_stream.make_data's ROWS rows (plus 1% duplicates), kept as DIR/data_ROWS.parquet
(an existing file is used if its columns are make_data's); outputs go to DIR/spark_bench/. Each
contender is a fresh process; they take turns (spark-fit stream-fit spark-apply stream-apply
spark-copy, then again), since the shared VM drifts over minutes. `apply` applies, to the same
input, the artifact the streaming engine fitted in round 1 (both engines apply the same file).

Spark runs in several processes: the driver (python) starts a JVM, which starts Python workers.
So every command runs under a fresh intermediate process (`--measure`) that is a child subreaper
(orphaned descendants, such as a JVM outliving its driver, are re-parented to it), waits for
every descendant and reads `getrusage(RUSAGE_CHILDREN)`: the CPU seconds of the whole tree.
It also samples /proc every 0.2 s: the driver's peak (VmHWM, last sample before it exits), the
peak of the largest process, and the peak of the tree's summed RSS (shared pages counted once
per process, so an upper bound) and summed PSS (shared pages split between their processes).

After round 1 the outputs are compared in their own process: the fitted artifacts' step states
(floats to 1e-12 relative) and the train and apply outputs, stream vs spark, row for row in
stream order (Spark's part files read in name order), floats to 1e-12.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench_stream import FLOATS, RECIPE, STRINGS, make_data, same

SAMPLE_SECONDS = 0.2
PAGE = os.sysconf("SC_PAGE_SIZE")
PR_SET_CHILD_SUBREAPER = 36

COPY = r"""
import sys
from pyspark.sql import SparkSession
src, out, master = sys.argv[1:4]
spark = (SparkSession.builder.master(master).appName("copy")
         .config("spark.ui.showConsoleProgress", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
spark.read.parquet(src).write.mode("overwrite").parquet(out)
spark.stop()
"""


# -- measuring a process tree ---------------------------------------------------------------------
def descendants(root: int) -> dict[int, str]:
    """The live descendants of `root` (pid -> command name), from /proc."""
    parent: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
        names[int(entry)] = name
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, ppid in parent.items():
            if ppid == pid and child not in found:
                found[child] = names[child]
                frontier.append(child)
    return found


def memory_of(pid: int) -> tuple[int, int, int] | None:
    """(RSS, PSS, peak RSS) of a process in bytes, None once it is gone (or a zombie)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmRSS" not in fields:
        return None
    pss = next((int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0)
    kib = lambda key: int(fields[key].split()[0])  # noqa: E731
    return kib("VmRSS") * 1024, pss * 1024, kib("VmHWM") * 1024


def run_measured(cmd: list[str], log: Path) -> dict[str, object]:
    """Run `cmd` (this process must be fresh and a subreaper), sampling its tree until every
    descendant is gone; its stdout and stderr go to `log`."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    me = os.getpid()
    start = time.perf_counter()
    with log.open("wb") as out:
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    ended: list[float] = []  # when the driver exits, to the microsecond, without reaping it
    threading.Thread(
        target=lambda: (
            os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT),
            ended.append(time.perf_counter()),
        ),
        daemon=True,
    ).start()
    driver_peak = tree_rss = tree_pss = 0
    process_peak: dict[int, tuple[str, int]] = {}
    status = None
    driver_wait4 = 0.0
    deadline = None
    while True:
        tree = descendants(me)
        rss = pss = 0
        for pid, name in tree.items():
            memory = memory_of(pid)
            if memory is None:
                continue
            rss, pss = rss + memory[0], pss + memory[1]
            process_peak[pid] = (name, max(memory[2], process_peak.get(pid, ("", 0))[1]))
            if pid == child.pid:
                driver_peak = max(driver_peak, memory[2])
        tree_rss, tree_pss = max(tree_rss, rss), max(tree_pss, pss)
        reaped = 0
        while ended:  # reap, once the driver is done: the driver, orphans re-parented to us
            try:
                reaped, code, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:  # no process left
                reaped = -1
                break
            if reaped == 0:
                break
            if reaped == child.pid:
                status, driver_wait4 = code, usage.ru_maxrss * 1024
                deadline = time.monotonic() + 120
        if reaped == -1:
            break
        if deadline is not None and time.monotonic() > deadline:  # a descendant that hangs on
            for left in descendants(me):
                os.kill(left, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(SAMPLE_SECONDS)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert status is not None
    jvm = [peak for name, peak in process_peak.values() if name == "java"]
    mib = 2**20
    return {
        "code": os.waitstatus_to_exitcode(status),
        "wall": ended[0] - start,
        "cpu": children.ru_utime + children.ru_stime,
        "driver": driver_peak / mib,
        "driver_wait4": driver_wait4 / mib,
        "jvm": max(jvm, default=0) / mib,
        "largest": children.ru_maxrss / 1024,
        "tree_rss": tree_rss / mib,
        "tree_pss": tree_pss / mib,
        "processes": len(process_peak),
    }


def measure(cmd: list[str], log: Path) -> dict[str, float]:
    """`cmd` run and measured in a fresh intermediate process (see `run_measured`)."""
    result = subprocess.run(
        [sys.executable, __file__, "--measure", str(log), "--", *cmd],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    r = json.loads(result.stdout)
    if r["code"] != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        raise SystemExit(f"failed ({r['code']}): {' '.join(cmd)}\n" + "\n".join(tail))
    return r


# -- data and agreement ---------------------------------------------------------------------------
def check_data(path: Path, rows: int) -> None:
    """An existing input has make_data's columns, types and row count."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path)
    schema = {f.name: str(f.type) for f in meta.schema_arrow}
    want = {**{c: "double" for c in FLOATS}, **{c: "large_string" for c in STRINGS}}
    expected_rows = sum(n + n // 100 for n in _chunks(rows))
    if schema != want or meta.metadata.num_rows != expected_rows:
        raise SystemExit(
            f"{path} is not make_data's {rows:,} rows: {schema}, {meta.metadata.num_rows:,} rows"
        )


def _chunks(rows: int, chunk: int = 1_000_000) -> list[int]:
    return [min(chunk, rows - s) for s in range(0, rows, chunk)]


def compare(folder: Path, chunk: int = 500_000) -> str:
    """The two engines' artifacts agree (floats to 1e-12) and so do their train and apply
    outputs, row for row, `chunk` rows at a time; returns what was compared and the largest
    difference."""
    import polars as pl
    from polars.testing import assert_frame_equal

    a = json.loads((folder / "stream.prepkit.json").read_text())
    b = json.loads((folder / "spark.prepkit.json").read_text())
    for key in ("input_schema", "output_schema"):
        assert a[key] == b[key], f"{key} differs"
    for sa, sb in zip(a["steps"], b["steps"], strict=True):
        assert same(sa["state"], sb["state"]), (sa["id"], "states differ")
    exact = sum(sa["state"] == sb["state"] for sa, sb in zip(a["steps"], b["steps"], strict=True))
    lines = [f"artifacts: {len(a['steps'])} step states agree ({exact} exactly equal)"]
    for kind in ("fit", "apply"):
        local = pl.scan_parquet(folder / f"stream-{kind}.parquet")
        spark = pl.scan_parquet(f"{folder / f'spark-{kind}.parquet'}/*.parquet")
        rows = [s.select(pl.len()).collect().item() for s in (local, spark)]
        assert rows[0] == rows[1], (kind, rows)
        columns = local.collect_schema().names()
        assert spark.collect_schema().names() == columns, (kind, "columns differ")
        # Spark has no unsigned integers: it holds (and writes) them in the next wider type
        retyped = {
            (str(t), str(spark.collect_schema()[c]))
            for c, t in local.collect_schema().items()
            if t != spark.collect_schema()[c]
        }
        spark = spark.cast(dict(local.collect_schema()), strict=True)
        floats = [c for c, t in local.collect_schema().items() if t.is_float()]
        largest, unequal = 0.0, 0
        for start in range(0, rows[0], chunk):
            x, y = local.slice(start, chunk).collect(), spark.slice(start, chunk).collect()
            assert_frame_equal(x, y, rel_tol=1e-12, abs_tol=1e-12)
            diff = (x.select(floats) - y.select(floats)).select(pl.all().abs().max()).row(0)
            largest = max([largest, *(d for d in diff if d is not None)])
            unequal += sum(
                (x[c] != y[c]).sum() for c in floats
            )  # null == null is null, not counted
        lines.append(
            f"{kind}: {rows[0]:,} rows x {len(columns)} columns agree; {unequal:,} float values "
            f"not bit-equal, largest difference {largest:.3g}; types stream -> spark: "
            f"{', '.join(f'{a} -> {b}' for a, b in sorted(retyped)) or 'the same'}"
        )
    return "\n".join(lines)


# -- the table ------------------------------------------------------------------------------------
KEYS = (("wall", "wall s"), ("cpu", "CPU s"), ("driver", "driver peak MiB"),
        ("jvm", "JVM peak MiB"), ("tree_rss", "tree RSS MiB"), ("tree_pss", "tree PSS MiB"))  # fmt: skip


def spread(values: list[float], digits: int) -> str:
    """min / median / max."""
    return " / ".join(f"{v:,.{digits}f}" for v in (min(values), statistics.median(values), max(values)))  # fmt: skip


def table(results: dict[str, list[dict[str, float]]]) -> str:
    """Markdown: min / median / max per contender, then spark / stream per round."""
    head = "| contender | " + " | ".join(label for _, label in KEYS) + " |"
    lines = [head, "| --- |" + " ---: |" * len(KEYS)]
    for name, runs in results.items():
        cells = [spread([r[k] for r in runs], 1 if k in ("wall", "cpu") else 0) for k, _ in KEYS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    ratios = [(k, label) for k, label in KEYS if k != "jvm"]
    lines += ["", "| spark / stream per round | " + " | ".join(label for _, label in ratios) + " |",
              "| --- |" + " ---: |" * len(ratios)]  # fmt: skip
    for kind in ("fit", "apply"):
        a, b = results[f"spark-{kind}"], results[f"stream-{kind}"]
        cells = [spread([x[k] / y[k] for x, y in zip(a, b, strict=True)], 2) for k, _ in ratios]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------------
def commands(data: Path, out: Path, master: str, conf: list[str]) -> dict[str, list[str]]:
    """Each contender's command line."""
    prepkit = [sys.executable, "-m", "prepkit"]
    spark = ["--engine", "spark", "--spark-master", master]
    for item in conf:
        spark += ["--spark-conf", item]
    recipe = out / "recipe.yaml"
    recipe.write_text(RECIPE.format(input=data, output=out / "unused.parquet"))
    fitted = str(out / "apply.prepkit.json")
    return {
        "spark-fit": [*prepkit, "run", str(recipe), "--quiet", *spark, "-o",
                      str(out / "spark-fit.parquet"), "--fitted", str(out / "spark.prepkit.json")],
        "stream-fit": [*prepkit, "run", str(recipe), "--quiet", "--engine", "stream", "-o",
                       str(out / "stream-fit.parquet"), "--fitted", str(out / "stream.prepkit.json")],
        "spark-apply": [*prepkit, "apply", fitted, str(data), "-o", str(out / "spark-apply.parquet"),
                        "--quiet", *spark],
        "stream-apply": [*prepkit, "apply", fitted, str(data), "-o",
                         str(out / "stream-apply.parquet"), "--quiet", "--engine", "stream"],
        "spark-copy": [sys.executable, "-c", COPY, str(data), str(out / "spark-copy.parquet"), master],
    }  # fmt: skip


def source_digest() -> str:
    """A digest of prepkit's source: the engines are being edited while benchmarks run, and each
    contender imports the code of the moment."""
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("prepkit")
    assert spec is not None and spec.origin is not None
    digest = hashlib.sha256()
    for path in sorted(Path(spec.origin).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("/tmp/bench-spark"))
    parser.add_argument("--master", default="local[2]", help="--spark-master of the spark runs")
    parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--make", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--compare", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("cmd", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(run_measured(args.cmd, args.measure)))
        return
    if args.compare:
        print(compare(args.compare), flush=True)
        return
    if args.make:
        make_data(args.make, args.rows)
        return
    data = args.data / f"data_{args.rows}.parquet"
    out = args.data / "spark_bench"
    out.mkdir(parents=True, exist_ok=True)
    if data.exists():
        check_data(data, args.rows)
    else:
        subprocess.run([sys.executable, __file__, "--make", str(data), "--rows", str(args.rows)],
                       check=True)  # fmt: skip
    print(f"data: {data} ({data.stat().st_size / 2**20:,.0f} MiB), outputs in {out}", flush=True)
    cmds = commands(data, out, args.master, args.spark_conf)
    for name, cmd in cmds.items():
        shown = [*cmd[:2], "<COPY>", *cmd[3:]] if name == "spark-copy" else cmd
        print(f"{name}: {' '.join(shown)}")
    digest = source_digest()
    print(f"prepkit source {digest}; spark conf {args.spark_conf or 'default'}")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in cmds}
    for round_ in range(args.rounds):
        for name, cmd in cmds.items():
            if name.endswith("-apply") and round_ == 0 and name.startswith("spark"):
                shutil.copy(out / "stream.prepkit.json", out / "apply.prepkit.json")
            remove(out / f"{name}.parquet")
            r = measure(cmd, out / f"{name}.log")
            results[name].append({**r, "load": os.getloadavg()[0]})
            (out / "results.json").write_text(json.dumps(results, indent=1))
            print(f"round {round_ + 1} {name:12s} wall {r['wall']:6.1f} s  cpu {r['cpu']:6.1f} s  "
                  f"driver {r['driver']:6,.0f}  jvm {r['jvm']:6,.0f}  tree rss {r['tree_rss']:6,.0f}"
                  f"  pss {r['tree_pss']:6,.0f} MiB  ({r['processes']} processes, load "
                  f"{results[name][-1]['load']:.2f})", flush=True)  # fmt: skip
        if source_digest() != digest:
            print(f"WARNING: prepkit's source changed during round {round_ + 1}", flush=True)
        if round_ == 0:
            subprocess.run([sys.executable, __file__, "--compare", str(out)], check=True)
    print("\nmin / median / max over rounds\n")
    print(table(results))


if __name__ == "__main__":
    main()
