"""Benchmark the text steps: augment_text rows/second and drop_near_duplicates time.

Synthetic reviews (random words from a 5,000-word vocabulary, 15 words each, about 85
characters), with 0.5% planted one-word edits for the near-duplicate step.

    python bench/bench_text.py              # 10k and 100k texts
    python bench/bench_text.py --sizes 10000
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import polars as pl

import prepkit
from prepkit.api import fit


def texts(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}" for i in range(5000)])
    rows = [" ".join(rng.choice(vocabulary, 15)) for _ in range(n)]
    for k in range(n // 200):  # planted one-word edits of earlier rows
        words = rows[k].split()
        words[int(rng.integers(15))] = f"edit{k}"
        rows[n - 1 - k] = " ".join(words)
    return pl.DataFrame({"text": rows, "label": ["a"] * n})


def bench_augment(n: int, augmenters: list[dict], workers: int) -> float:
    recipe = prepkit.load_recipe(
        {
            "seed": 1,
            "steps": [
                {"step": "augment_text", "augmenters": augmenters, "copies": 1, "workers": workers}
            ],
        }
    )
    frame = texts(n)
    start = time.perf_counter()
    out = recipe.fit_transform(frame)
    seconds = time.perf_counter() - start
    assert out.height == 2 * n
    return n / seconds


def bench_near_duplicates(n: int) -> tuple[float, int]:
    recipe = prepkit.load_recipe({"steps": [{"step": "drop_near_duplicates", "threshold": 0.7}]})
    frame = texts(n)
    start = time.perf_counter()
    fitted, out = fit(recipe, frame)
    return time.perf_counter() - start, frame.height - out.height


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--augment-rows", type=int, default=10_000)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"polars {pl.__version__}")  # fmt: skip
    print("\n| augmenters | rows | workers | rows/s |\n| --- | --- | --- | --- |")
    for name, augmenters in (
        ("keyboard", [{"name": "keyboard"}]),
        ("random_word swap", [{"name": "random_word", "action": "swap"}]),
        ("spelling", [{"name": "spelling"}]),
        ("keyboard + spelling", [{"name": "keyboard"}, {"name": "spelling"}]),
    ):
        for workers in (1, 2):
            rate = bench_augment(args.augment_rows, augmenters, workers)
            print(f"| {name} | {args.augment_rows} | {workers} | {rate:,.0f} |")
    print("\n| texts | near-dup seconds | rows removed |\n| --- | --- | --- |")
    for n in args.sizes:
        seconds, removed = bench_near_duplicates(n)
        print(f"| {n} | {seconds:.2f} | {removed} |")


if __name__ == "__main__":
    main()
