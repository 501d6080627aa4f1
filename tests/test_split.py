import numpy as np
import polars as pl
import pytest

import prepkit
from prepkit.recipe import SplitSpec
from prepkit.split import add_folds, split_frame


@pytest.fixture
def labelled():
    rng = np.random.default_rng(0)
    n = 1000
    return pl.DataFrame(
        {
            "row": np.arange(n),
            "x": rng.normal(size=n),
            "g": rng.integers(0, 100, n),
            "y": (rng.random(n) < 0.1).astype(int),
        }
    )


def test_fractions_stratified_and_disjoint(labelled):
    parts = split_frame(labelled, SplitSpec(valid=0.1, test=0.2, stratify=True), "y", seed=1)
    sizes = {k: v.height for k, v in parts.items()}
    assert sizes == {"train": 700, "valid": 100, "test": 200}
    rows = [set(p["row"].to_list()) for p in parts.values()]
    assert set.union(*rows) == set(range(1000)) and sum(map(len, rows)) == 1000
    base = labelled["y"].mean()
    for part in parts.values():
        assert part["y"].mean() == pytest.approx(base, abs=0.01)


def test_same_seed_same_split(labelled):
    spec = SplitSpec(test=0.2)
    a = split_frame(labelled, spec, None, seed=3)["test"]["row"].to_list()
    b = split_frame(labelled, spec, None, seed=3)["test"]["row"].to_list()
    c = split_frame(labelled, spec, None, seed=4)["test"]["row"].to_list()
    assert a == b and a != c


def test_groups_never_span_two_parts(labelled):
    parts = split_frame(labelled, SplitSpec(valid=0.2, test=0.2, group="g"), "y", seed=0)
    groups = [set(p["g"].to_list()) for p in parts.values()]
    assert (
        not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    )
    strat = split_frame(labelled, SplitSpec(test=0.2, group="g", stratify=True), "y", seed=0)
    assert not set(strat["train"]["g"].to_list()) & set(strat["test"]["g"].to_list())


def test_no_shuffle_takes_the_tail(labelled):
    parts = split_frame(labelled, SplitSpec(test=0.1, shuffle=False), None, seed=0)
    assert parts["test"]["row"].to_list() == list(range(900, 1000))


def test_kfold_adds_stratified_fold_column(labelled):
    out = add_folds(labelled, SplitSpec(kfold=5, stratify=True), "y", seed=0)
    counts = out.group_by("fold").agg(pl.len(), pl.col("y").sum()).sort("fold")
    assert counts["len"].to_list() == [200] * 5
    assert max(counts["y"]) - min(counts["y"]) <= 1


def test_statistics_are_learned_on_train_only(labelled, tmp_path):
    data = labelled.with_columns(
        pl.when(pl.col("row") % 7 == 0).then(None).otherwise(pl.col("x")).alias("x")
    )
    recipe = prepkit.load_recipe(
        {
            "target": "y",
            "seed": 5,
            "split": {"test": 0.3, "stratify": True},
            "steps": [{"step": "impute", "columns": ["x"], "strategy": "median"}],
        }  # fmt: skip
    )
    result = recipe.run(data, write=False)
    train_rows = set(result.outputs["train"]["row"].to_list())
    train_median = data.filter(pl.col("row").is_in(list(train_rows)))["x"].median()
    assert result.fitted.state("impute_1")["fill"]["x"] == pytest.approx(train_median)
    assert train_median != data["x"].median()
    test = result.outputs["test"]
    original_missing = data.filter(pl.col("x").is_null())["row"].to_list()
    filled = test.filter(pl.col("row").is_in(original_missing))["x"].unique().to_list()
    assert filled == [pytest.approx(train_median)]
