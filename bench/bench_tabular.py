"""Benchmark: a standard tabular recipe on N rows, prepkit vs scikit-learn vs hand-written polars.

    python bench/bench_tabular.py [--rows 1000000] [--repeat 5] [--rounds 3]

The work (the same in all three): drop exact duplicate rows, clip `x0..x4` to IQR bounds
(factor 1.5, linear quantiles), median-impute the numeric columns, standard-scale them, one-hot
encode three categorical columns. Each variant runs in its own process so that peak memory (max
RSS) is its own; fit+transform of the training data is timed, excluding data generation.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import polars as pl

NUM = [f"x{i}" for i in range(5)]
CAT = ["c0", "c1", "c2"]

RECIPE = {
    "name": "bench",
    "steps": [
        {"step": "drop_duplicates"},
        {"step": "outliers", "columns": NUM, "method": "iqr", "factor": 1.5, "action": "clip"},
        {"step": "impute", "columns": NUM, "strategy": "median"},
        {"step": "scale", "columns": NUM, "method": "standard"},
        {"step": "encode", "columns": CAT, "method": "onehot"},
    ],
}


def make_data(rows: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    data = {c: rng.normal(i, 1 + i, rows) for i, c in enumerate(NUM)}
    for c in NUM:
        data[c][rng.random(rows) < 0.05] = np.nan
    cats = {"c0": 4, "c1": 12, "c2": 30}
    for c, k in cats.items():
        data[c] = np.array([f"{c}_{j}" for j in range(k)])[rng.integers(0, k, rows)]
    frame = pl.DataFrame(data).with_columns(pl.col(NUM).fill_nan(None))
    return pl.concat([frame, frame.head(rows // 100)])  # 1% exact duplicates


def run_prepkit(frame: pl.DataFrame) -> pl.DataFrame:
    import prepkit

    return prepkit.load_recipe(RECIPE).fit_transform(frame)


def run_polars(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.unique(maintain_order=True)
    q = frame.select(
        [pl.col(c).quantile(0.25, "linear").alias(f"{c}_q1") for c in NUM]
        + [pl.col(c).quantile(0.75, "linear").alias(f"{c}_q3") for c in NUM]
    ).row(0, named=True)
    bounds = {
        c: (
            q[f"{c}_q1"] - 1.5 * (q[f"{c}_q3"] - q[f"{c}_q1"]),
            q[f"{c}_q3"] + 1.5 * (q[f"{c}_q3"] - q[f"{c}_q1"]),
        )
        for c in NUM
    }
    frame = frame.with_columns(pl.col(c).clip(*bounds[c]) for c in NUM)
    med = frame.select(pl.col(NUM).median()).row(0, named=True)
    frame = frame.with_columns(pl.col(c).fill_null(med[c]) for c in NUM)
    stats = frame.select(
        [pl.col(c).mean().alias(f"{c}_m") for c in NUM]
        + [pl.col(c).std(ddof=0).alias(f"{c}_s") for c in NUM]
    ).row(0, named=True)
    frame = frame.with_columns(((pl.col(c) - stats[f"{c}_m"]) / stats[f"{c}_s"]) for c in NUM)
    cats = {c: sorted(frame[c].unique().to_list()) for c in CAT}
    return frame.with_columns(
        (pl.col(c) == v).cast(pl.UInt8).alias(f"{c}_{v}") for c in CAT for v in cats[c]
    ).drop(CAT)


def run_sklearn(df: pd.DataFrame) -> object:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = df.drop_duplicates()
    q1, q3 = df[NUM].quantile(0.25), df[NUM].quantile(0.75)
    df[NUM] = df[NUM].clip(q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1), axis=1)
    ct = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUM),
            ("cat", OneHotEncoder(sparse_output=False, dtype=np.uint8), CAT),
        ]
    )
    return ct.fit_transform(df)


VARIANTS = {
    "prepkit": run_prepkit,
    "polars (by hand)": run_polars,
    "scikit-learn (pandas)": run_sklearn,
}


def child(variant: str, rows: int, repeat: int) -> None:
    frame = make_data(rows)
    if variant.startswith("scikit-learn"):
        frame = frame.to_pandas()  # it works on pandas: convert before timing
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        VARIANTS[variant](frame)
        times.append(time.perf_counter() - start)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"variant": variant, "best_s": min(times), "peak_mib": peak_mib}))


def check() -> None:
    """The three variants give the same numbers (to 1e-9) on data big enough for every path."""
    small = make_data(100_000, seed=1)  # above 65,536 values: quantiles by sampled selection
    ours, hand = run_prepkit(small), run_polars(small)
    assert ours.columns == hand.columns, (ours.columns, hand.columns)
    np.testing.assert_allclose(
        ours.to_numpy().astype(float), hand.to_numpy().astype(float), atol=1e-9
    )
    np.testing.assert_allclose(
        ours.select(NUM + [c for c in ours.columns if c.startswith("c")]).to_numpy().astype(float),
        np.asarray(run_sklearn(small.to_pandas()), dtype=float),
        atol=1e-9,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child")
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows, args.repeat)
        return
    if args.check:
        check()
        return
    # check the three agree on the numbers before timing them, in a child process: a child
    # forked from a big parent starts with the parent's peak memory as its own
    subprocess.run([sys.executable, __file__, "--check"], check=True)
    # the shared 2-core VM drifts by up to 50% over minutes: run the variants in interleaved
    # rounds, each variant in a fresh process, and compare within a round
    rounds = []
    for _ in range(args.rounds):
        results = {}
        for variant in VARIANTS:
            command = [sys.executable, __file__, "--child", variant]
            command += ["--rows", str(args.rows), "--repeat", str(args.repeat)]
            out = subprocess.run(command, check=True, capture_output=True, text=True)
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        rounds.append(results)
    print(
        f"rows: {args.rows:,} (+1% duplicates); {args.rounds} interleaved rounds, "
        f"each the best of {args.repeat} in a fresh process"
    )
    print("| variant | time per round (s) | peak RSS (MiB) | prepkit speed-up per round |")
    print("| --- | --- | ---: | --- |")
    for variant in VARIANTS:
        times = [r[variant]["best_s"] for r in rounds]
        ratios = [r[variant]["best_s"] / r["prepkit"]["best_s"] for r in rounds]
        peak = max(r[variant]["peak_mib"] for r in rounds)
        print(
            f"| {variant} | {' / '.join(f'{t:.3f}' for t in times)} | {peak:.0f} | "
            f"{' / '.join(f'{x:.1f}x' for x in ratios)} |"
        )


if __name__ == "__main__":
    main()
