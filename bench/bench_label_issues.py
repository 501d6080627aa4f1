"""Benchmark: the label_issues step vs scikit-learn + cleanlab called directly.

    python bench/bench_label_issues.py [--rows 100000 1000000] [--repeat 3] [--threads 1]

The work (the same in both): 5-fold stratified out-of-fold predicted probabilities from a
StandardScaler + LogisticRegression pipeline on 20 numeric features (4 classes, 10% of the labels
flipped), then cleanlab's `find_label_issues` (prune_by_noise_rate) and `get_label_quality_scores`,
and a frame with the `label_quality` / `is_label_issue` columns added. Each run of a variant is
its own process (variants alternate, `--repeat` times, after an untimed warm-up on 2,000 rows
that does the imports) so that peak memory (max RSS) is its own
and background load hits both alike; the timed part excludes data generation. Before timing, both
variants are checked to flag exactly the same rows.

BLAS runs single-threaded (OPENBLAS/OMP/MKL_NUM_THREADS=1; `--threads N` to change): on a small
shared machine OpenBLAS's spinning threads made the same fit anywhere from 2x to 30x slower from
run to run, which drowned the difference being measured.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import polars as pl

FEATURES = [f"x{i}" for i in range(20)]
CLASSES = 4
SEED = 0
RECIPE = {
    "name": "bench",
    "target": "y",
    "seed": SEED,
    "steps": [{"step": "label_issues", "model": "logistic_regression", "cv": 5}],
}


def make_data(rows: int, seed: int = 0) -> pl.DataFrame:
    """Gaussian classes around random centres (separable, with some overlap), 10% labels flipped."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, (CLASSES, len(FEATURES)))
    true = rng.integers(0, CLASSES, rows)
    x = centres[true] + rng.normal(0, 1, (rows, len(FEATURES)))
    flip = rng.random(rows) < 0.10
    given = np.where(flip, (true + rng.integers(1, CLASSES, rows)) % CLASSES, true)
    frame = pl.DataFrame(x, schema=FEATURES)
    return frame.with_columns(y=pl.Series(given))


def run_prepkit(frame: pl.DataFrame) -> pl.DataFrame:
    import prepkit

    return prepkit.load_recipe(RECIPE).fit_transform(frame)


def run_direct(frame: pl.DataFrame) -> pl.DataFrame:
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = frame.select(FEATURES).to_numpy()
    labels = frame["y"].to_numpy()  # already 0..K-1: no encoding needed
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    pred_probs = cross_val_predict(model, x, labels, cv=folds, method="predict_proba")
    issues = find_label_issues(labels, pred_probs, n_jobs=1)
    quality = get_label_quality_scores(labels, pred_probs)
    return frame.with_columns(
        pl.Series("label_quality", quality), pl.Series("is_label_issue", issues)
    )


VARIANTS = {"prepkit label_issues": run_prepkit, "scikit-learn + cleanlab": run_direct}


def child(variant: str, rows: int) -> None:
    frame = make_data(rows)
    VARIANTS[variant](frame.head(2_000))  # imports (sklearn, cleanlab, the step registry) untimed
    start = time.perf_counter()
    out = VARIANTS[variant](frame)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    issues = int(out["is_label_issue"].sum())
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib, "issues": issues}))


def run_child(variant: str, rows: int, threads: int) -> dict:
    env = {**os.environ}
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    cmd = [sys.executable, __file__, "--child", variant, "--rows", str(rows)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows[0])
        return
    small = make_data(20_000, seed=1)
    ours, direct = run_prepkit(small), run_direct(small)
    assert ours.equals(direct), "prepkit and direct cleanlab disagree"
    print(f"BLAS threads: {args.threads}; {args.repeat} alternating runs per variant")
    print(
        "| rows | variant | best (s) | median (s) | peak RSS (MiB) | issues found | prepkit overhead |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for rows in args.rows:
        runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for _ in range(args.repeat):
            for variant in VARIANTS:
                runs[variant].append(run_child(variant, rows, args.threads))
        summary = {
            v: {
                "best": min(r["seconds"] for r in rs),
                "median": statistics.median(r["seconds"] for r in rs),
                "peak": max(r["peak_mib"] for r in rs),
                "issues": rs[0]["issues"],
            }
            for v, rs in runs.items()
        }
        ours_s, base_s = summary["prepkit label_issues"], summary["scikit-learn + cleanlab"]
        for variant, s in summary.items():
            overhead = (
                f"time {ours_s['best'] / base_s['best'] - 1:+.1%} (best), "
                f"{ours_s['median'] / base_s['median'] - 1:+.1%} (median); "
                f"memory {ours_s['peak'] / base_s['peak'] - 1:+.1%}"
                if s is ours_s
                else ""
            )
            print(
                f"| {rows:,} | {variant} | {s['best']:.2f} | {s['median']:.2f} | {s['peak']:.0f} "
                f"| {s['issues']:,} | {overhead} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
