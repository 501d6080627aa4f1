"""Benchmark: start-up time of the CLI, and the sample recipe end to end.

    python bench/bench_startup.py [--runs 15] [--src PATH ...] [--importtime]

Commands, each in a fresh process, in interleaved rounds (every command once per round, so the
shared machine's drift hits all of them alike):

- `python -c pass`: the interpreter alone, for reference;
- `prepkit --help` and `prepkit --version`;
- `prepkit run recipes/tabular.yaml --quiet`: the 2,040-row churn sample with its split, in a
  temporary copy of `recipes/` and `sample_data/` (the checkout is not written to).

Wall and CPU seconds (user + system, the child's own, from `os.wait4`): min / median / max.
`--src` runs another checkout's code instead of the installed one (its `src` goes first on
PYTHONPATH), e.g. an older commit from `git worktree add /tmp/prepkit-old HEAD~N`.
`--importtime` also prints the slowest imports of one `prepkit run` (`python -X importtime`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREPKIT = [sys.executable, "-m", "prepkit"]
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "prepkit --help": [*PREPKIT, "--help"],
    "prepkit --version": [*PREPKIT, "--version"],
    "prepkit run recipes/tabular.yaml": [*PREPKIT, "run", "recipes/tabular.yaml", "--quiet"],
}


HEAVY = ("sklearn", "scipy", "pandas", "pyarrow", "imblearn", "cleanlab", "albumentations", "cv2",
         "nlpaug", "nltk", "PIL")  # fmt: skip


def run_once(cmd: list[str], cwd: Path, src: str | None) -> tuple[float, float]:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return wall, usage.ru_utime + usage.ru_stime


def importtime(cwd: Path, src: str | None, top: int = 15) -> None:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-X", "importtime", *COMMANDS["prepkit run recipes/tabular.yaml"][1:]]
    err = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True).stderr
    rows, names = [], set()
    for line in err.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or "cumulative" in line:
            continue
        name = parts[2].rstrip()
        names.add(name.strip())
        depth = (len(name) - len(name.lstrip())) // 2
        if depth <= 2:
            rows.append((int(parts[1]) / 1000, name.strip(), depth))
    print(f"\nslowest imports of `prepkit run` ({src or 'installed'}), cumulative ms:")
    for ms, name, depth in sorted(rows, reverse=True)[:top]:
        print(f"  {ms:8.1f}  {'  ' * depth}{name}")
    loaded = [m for m in HEAVY if m in names]
    print(f"  heavy libraries imported: {', '.join(loaded) or 'none'}")


def spread(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds (each command once per round)")
    parser.add_argument("--src", action="append", default=None)
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args()
    variants = args.src or [None]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "recipes", work / "recipes")
        shutil.copytree(ROOT / "sample_data", work / "sample_data")
        jobs = [(name, src) for name in COMMANDS for src in variants]
        if len(variants) > 1:  # the reference command once is enough
            jobs = [(n, s) for n, s in jobs if n != "python -c pass" or s == variants[0]]
        for name, src in jobs:  # warm the file cache; not counted
            run_once(COMMANDS[name], work, src)
        times: dict[tuple[str, str | None], list[tuple[float, float]]] = {j: [] for j in jobs}
        load = os.getloadavg()[0]
        for _ in range(args.runs):
            for job in jobs:
                times[job].append(run_once(COMMANDS[job[0]], work, job[1]))
        print(
            f"{args.runs} interleaved rounds; load average {load:.2f} -> {os.getloadavg()[0]:.2f}"
        )
        print("| command | code | wall s (min / median / max) | CPU s (min / median / max) |")
        print("| --- | --- | --- | --- |")
        for (name, src), values in times.items():
            code = "-" if name == "python -c pass" else (src or "installed")
            walls, cpus = [w for w, _ in values], [c for _, c in values]
            print(f"| `{name}` | {code} | {spread(walls)} | {spread(cpus)} |")
        if args.importtime:
            for src in variants:
                importtime(work, src)


if __name__ == "__main__":
    main()
