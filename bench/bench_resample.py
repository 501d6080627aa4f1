"""SMOTE through prepkit vs imbalanced-learn called directly: time and peak memory.

Each measurement runs in a fresh Python process. Data: `rows` rows, 10 numeric float64 features,
binary target with 10% minority (sklearn's make_classification), seed 0. Both sides start from
the data already in memory (prepkit: a polars DataFrame; imbalanced-learn: the numpy arrays);
prepkit's time covers the whole recipe (`Recipe.fit_transform`: checks, numpy conversion,
SMOTE, rebuilding the polars frame, report); "prepkit's own s" is that time minus the time spent
inside imbalanced-learn's `fit_resample`, measured in the same process (robust to a busy
machine, unlike the difference of two separate runs). Peak memory is the highest resident set size seen
during the call (sampled every 2 ms) minus the resident size just before it.

    python bench/bench_resample.py                      # 100k and 1M rows, 3 repeats
    python bench/bench_resample.py --rows 100000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRss:
    """Sample the resident set size in a thread while the block runs."""

    def __enter__(self) -> PeakRss:
        self.base = self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            time.sleep(0.002)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())

    @property
    def mib(self) -> float:
        return (self.peak - self.base) / 2**20


def data(rows: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=rows, n_features=10, n_informative=6, n_redundant=2, weights=[0.9, 0.1],
        flip_y=0, random_state=0,
    )  # fmt: skip


def timed_fit_resample(cls: type) -> list[float]:
    """Time spent inside `cls.fit_resample`, accumulated in the returned one-item list."""
    spent = [0.0]
    original = cls.fit_resample

    def fit_resample(self, X, y, **kw):  # noqa: ANN001, ANN003, ANN202
        start = time.perf_counter()
        try:
            return original(self, X, y, **kw)
        finally:
            spent[0] += time.perf_counter() - start

    cls.fit_resample = fit_resample
    return spent


def one(kind: str, rows: int) -> dict[str, float]:
    """One measurement in this process."""
    import polars as pl
    from imblearn.over_sampling import SMOTE

    X, y = data(rows)
    if kind == "prepkit":
        import prepkit

        frame = pl.DataFrame({f"f{i}": X[:, i] for i in range(X.shape[1])}).with_columns(
            y=pl.Series(y)
        )
        del X, y
        recipe = prepkit.load_recipe({"target": "y", "seed": 0, "steps": [{"step": "smote"}]})
        recipe.fit_transform(frame.head(1000))  # import and warm up outside the measurement
        inner = timed_fit_resample(SMOTE)
        with PeakRss() as mem:
            start = time.perf_counter()
            out = recipe.fit_transform(frame)
            seconds = time.perf_counter() - start
        rows_out = out.height
        # prepkit's own work (everything but imbalanced-learn's fit_resample), immune to load noise
        return {
            "seconds": seconds,
            "peak_mib": mem.mib,
            "rows_out": rows_out,
            "own_seconds": seconds - inner[0],
        }
    elif kind == "imblearn-polars":  # the same input prepkit gets: a polars frame
        frame = pl.DataFrame({f"f{i}": X[:, i] for i in range(X.shape[1])})
        del X
        SMOTE(random_state=0).fit_resample(frame.head(1000).to_numpy(), y[:1000])
        with PeakRss() as mem:
            start = time.perf_counter()
            X_res, _ = SMOTE(random_state=0).fit_resample(frame.to_numpy(), y)
            seconds = time.perf_counter() - start
        rows_out = len(X_res)
    else:
        SMOTE(random_state=0).fit_resample(X[:1000], y[:1000])
        with PeakRss() as mem:
            start = time.perf_counter()
            X_res, _ = SMOTE(random_state=0).fit_resample(X, y)
            seconds = time.perf_counter() - start
        rows_out = len(X_res)
    return {"seconds": seconds, "peak_mib": mem.mib, "rows_out": rows_out}


def measure(kind: str, rows: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--one", kind, "--rows", str(rows)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--one", choices=["prepkit", "imblearn", "imblearn-polars"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.rows[0])))
        return
    print(
        "| rows | rows out | imblearn s | prepkit s | time overhead | prepkit's own s (share of imblearn) "
        "| imblearn peak MiB | imblearn from polars peak MiB | prepkit peak MiB |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rows in args.rows:
        results: dict[str, list[dict[str, float]]] = {
            "imblearn": [],
            "imblearn-polars": [],
            "prepkit": [],
        }
        for _ in range(args.repeat):  # interleave so machine noise hits both sides alike
            for kind in results:
                results[kind].append(measure(kind, rows))
        best = {k: min(r["seconds"] for r in v) for k, v in results.items()}
        peak = {k: max(r["peak_mib"] for r in v) for k, v in results.items()}
        own = min(r["own_seconds"] for r in results["prepkit"])
        overhead = best["prepkit"] / best["imblearn"] - 1
        print(
            f"| {rows:,} | {results['prepkit'][0]['rows_out']:,} | {best['imblearn']:.2f} | {best['prepkit']:.2f} "
            f"| {overhead:+.1%} | {own:.3f} ({own / best['imblearn']:.1%}) | {peak['imblearn']:.0f} "
            f"| {peak['imblearn-polars']:.0f} | {peak['prepkit']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
