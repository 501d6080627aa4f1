"""`prepkit evaluate` vs the same cross-validation written by hand with imbalanced-learn.

What is timed: one whole process per measurement (`python -c ...`), started from the data in a
Parquet file, doing 5-fold x 2-repeat stratified cross-validation of one recipe: median impute
(10 numeric columns, 5% missing), most-frequent impute + one-hot (1 categorical column, 6
levels), SMOTE (k=5) on the training folds, standard scaling, LogisticRegression(max_iter=2000),
one process (no workers). prepkit: `prepkit.evaluate(recipe, data, baseline=None)` (baseline
off, so both sides fit one pipeline per split). By hand: imblearn `Pipeline(ColumnTransformer,
SMOTE, StandardScaler, LogisticRegression)` in `cross_validate` with the same
`RepeatedStratifiedKFold`, scoring the same nine metrics evaluate reports (balanced accuracy,
macro/weighted F1, the minority's precision/recall/F1, average precision, ROC-AUC, log loss).
Reported: CPU seconds (user + system of the process, from
`resource.getrusage(RUSAGE_CHILDREN)`), wall seconds and peak RSS (the process's own
`ru_maxrss`), in interleaved rounds
(A B A B ...), and the mean balanced accuracy of both (they should agree closely: the same
folds, the same model; SMOTE draws differ between the two implementations' random streams).

    python bench/bench_evaluate.py --rows 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

PREPKIT = """
import json, sys, polars as pl, prepkit
data = pl.read_parquet(sys.argv[1])
recipe = prepkit.load_recipe({
    "target": "y", "seed": 0,
    "steps": [
        {"step": "impute", "columns": "numeric", "strategy": "median"},
        {"step": "impute", "columns": "categorical", "strategy": "most_frequent"},
        {"step": "encode", "columns": "categorical", "method": "onehot"},
        {"step": "smote", "k_neighbors": 5},
        {"step": "scale", "columns": {"regex": "^x"}, "method": "standard"},
    ],
})
if __name__ == "__main__":
    r = prepkit.evaluate(recipe, data, cv=5, repeats=2, seed=0, baseline=None, workers=1)
    import resource
    ba = r.to_dict()["variants"][0]["metrics"]["balanced_accuracy"]["mean"]
    print(json.dumps({"ba": ba, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

BY_HAND = """
import json, sys, pandas as pd
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
data = pd.read_parquet(sys.argv[1])
X, y = data.drop(columns="y"), data["y"]
numeric = [c for c in X.columns if c.startswith("x")]
prep = ColumnTransformer([
    ("num", SimpleImputer(strategy="median"), numeric),
    ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                          OneHotEncoder(sparse_output=False, handle_unknown="ignore")), ["colour"]),
])
scale = ColumnTransformer([("s", StandardScaler(), list(range(len(numeric))))], remainder="passthrough")
pipe = Pipeline([("prep", prep), ("smote", SMOTE(k_neighbors=5, random_state=0)), ("scale", scale),
                 ("clf", LogisticRegression(max_iter=2000, random_state=0))])
cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0)
scoring = ["balanced_accuracy", "f1_macro", "f1_weighted", "precision", "recall", "f1",
           "average_precision", "roc_auc", "neg_log_loss"]  # what evaluate reports
scores = cross_validate(pipe, X, y, cv=cv, scoring=scoring)
import resource
print(json.dumps({"ba": float(scores["test_balanced_accuracy"].mean()),
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_data(rows: int, path: str) -> None:
    import polars as pl

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 10))
    logit = x[:, 0] + 0.7 * x[:, 1] - 0.5 * x[:, 2]
    y = (logit + rng.normal(size=rows) > 2.2).astype(np.int64)
    x[rng.random(x.shape) < 0.05] = np.nan
    frame = pl.DataFrame({f"x{i}": x[:, i] for i in range(10)}).with_columns(
        colour=pl.Series(rng.choice(["a", "b", "c", "d", "e", "f"], rows)),
        y=pl.Series(y),
    )
    frame.write_parquet(path)


def measure(code: str, data: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, data], capture_output=True, text=True, check=True,
        env={**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, **json.loads(out.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data = os.path.join(folder, "data.parquet")
        make_data(args.rows, data)
        runs: dict[str, list[dict]] = {"prepkit": [], "imblearn by hand": []}
        for _ in range(args.rounds):
            runs["prepkit"].append(measure(PREPKIT, data))
            runs["imblearn by hand"].append(measure(BY_HAND, data))
    print(f"{args.rows} rows, 5-fold x 2, {args.rounds} interleaved rounds")
    print("| contender | CPU s min/median/max | wall s median | peak RSS MiB | balanced accuracy |")
    print("| --- | --- | --- | ---: | ---: |")
    for name, items in runs.items():
        cpu = [r["cpu"] for r in items]
        print(
            f"| {name} | {min(cpu):.2f} / {statistics.median(cpu):.2f} / {max(cpu):.2f} | "
            f"{statistics.median(r['wall'] for r in items):.2f} | "
            f"{max(r['rss_mib'] for r in items):.0f} | {items[0]['ba']:.4f} |"
        )
    ratios = [
        a["cpu"] / b["cpu"] for a, b in zip(runs["prepkit"], runs["imblearn by hand"], strict=True)
    ]
    print(
        f"\nCPU ratio prepkit / by hand per round: min {min(ratios):.3f}, median "
        f"{statistics.median(ratios):.3f}, max {max(ratios):.3f}"
    )


if __name__ == "__main__":
    main()
