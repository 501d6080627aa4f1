"""prepkit's numpy splitters give exactly scikit-learn's partitions for the same seed.

`prepkit.split` writes out `train_test_split` (plain and stratified), `KFold` and
`StratifiedKFold` so that a recipe with a split does not import scikit-learn; these tests run
both on many seeds, sizes, fractions and class mixes and require identical rows in every part,
and the same error where scikit-learn refuses.
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from prepkit.errors import DataError
from prepkit.recipe import SplitSpec
from prepkit.split import _kfold, _stratified_kfold, _train_test_split, add_folds, split_frame


def _labels(rng: np.random.Generator, n: int, mix: str) -> np.ndarray:
    """String labels of a given class mix, as `prepkit.split._labels` hands them over."""
    if mix == "balanced":
        y = rng.integers(0, 2, n)
    elif mix == "imbalanced":
        y = (rng.random(n) < 0.1).astype(int)
    elif mix == "multiclass":
        y = rng.choice(5, n, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    elif mix == "rare":  # two members of one class, the rest split in three
        y = rng.integers(0, 3, n)
        y[rng.choice(n, min(n, 2), replace=False)] = 9
    else:  # "many": as many classes as a tenth of the rows
        y = rng.integers(0, max(2, n // 10), n)
    return pl.Series(y).cast(pl.String).to_numpy()


def _sklearn(n, frac, y, shuffle, seed):
    index = np.arange(n)
    rest, held = train_test_split(
        index, test_size=frac, stratify=y, shuffle=shuffle,
        random_state=seed if shuffle else None,
    )  # fmt: skip
    return sorted(rest.tolist()), sorted(held.tolist())


def _ours(n, frac, y, shuffle, seed):
    rest, held = _train_test_split(n, frac, y, shuffle, seed)
    return sorted(rest.tolist()), sorted(held.tolist())


def _same_outcome(ours, theirs, *args):
    """Both give the same partition, or both raise ValueError with the same text."""
    try:
        expected = theirs(*args)
    except ValueError as exc:
        with pytest.raises(ValueError) as caught:
            ours(*args)
        assert str(caught.value) == str(exc)
        return False
    assert ours(*args) == expected
    return True


CASES = [
    (n, mix)
    for n in (1, 2, 3, 5, 7, 10, 11, 33, 100, 257, 1000, 2040)
    for mix in ("none", "balanced", "imbalanced", "multiclass", "rare", "many")
]


@pytest.mark.parametrize(("n", "mix"), CASES)
def test_train_test_split_identical_to_sklearn(n, mix):
    rng = np.random.default_rng(n * 31 + len(mix))
    y = None if mix == "none" else _labels(rng, n, mix)
    fracs = [0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 0.15 / 0.85, float(rng.uniform(0.01, 0.9))]
    compared = 0
    for seed in [0, 1, 7, 42, 2**32 - 1, *rng.integers(0, 2**31, 12).tolist()]:
        for frac in fracs:
            compared += _same_outcome(_ours, _sklearn, n, frac, y, True, seed)
        if y is None:
            compared += _same_outcome(_ours, _sklearn, n, fracs[seed % len(fracs)], None, False, 0)
    if n >= 100 or (n >= 10 and mix in ("none", "balanced")):
        assert compared > 0  # not only errors


@pytest.mark.parametrize(("n", "mix"), CASES)
def test_kfold_identical_to_sklearn(n, mix):
    rng = np.random.default_rng(n * 17 + len(mix))
    y = None if mix == "none" else _labels(rng, n, mix)

    def theirs(k, shuffle, seed):
        rs = seed if shuffle else None
        splitter = (
            KFold(k, shuffle=shuffle, random_state=rs)
            if y is None
            else StratifiedKFold(k, shuffle=shuffle, random_state=rs)
        )
        fold = np.zeros(n, dtype=np.int32)
        for i, (_, held) in enumerate(splitter.split(np.zeros(n), y)):
            fold[held] = i
        return fold.tolist()

    def ours(k, shuffle, seed):
        if y is None:
            return _kfold(n, k, shuffle, seed).tolist()
        return _stratified_kfold(y, k, shuffle, seed).tolist()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # few members per class: both warn
        for k in (2, 3, 5, 10):
            _same_outcome(ours, theirs, k, False, 0)
            for seed in [0, 3, 42, *rng.integers(0, 2**31, 6).tolist()]:
                _same_outcome(ours, theirs, k, True, seed)


def test_stratified_kfold_warns_like_sklearn():
    y = np.array(["a"] * 10 + ["b"] * 2, dtype=object)
    with pytest.warns(UserWarning, match="only 2 members, which is less than n_splits=3"):
        _stratified_kfold(y, 3, True, 0)


@pytest.mark.parametrize("seed", range(40))
def test_split_frame_parts_identical_to_sklearn(seed):
    """The whole recipe-level split (test carved first, then valid with seed + 1)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(40, 3000))
    y = (rng.random(n) < rng.uniform(0.05, 0.5)).astype(int)
    frame = pl.DataFrame({"row": np.arange(n), "y": y})
    valid, test = float(rng.choice([0.1, 0.15, 0.2])), float(rng.choice([0.15, 0.2, 0.3]))
    stratify = bool(seed % 2)
    parts = split_frame(frame, SplitSpec(valid=valid, test=test, stratify=stratify), "y", seed)

    labels = frame["y"].cast(pl.String).to_numpy() if stratify else None
    index = np.arange(n)
    rest, held_test = train_test_split(
        index, test_size=test, stratify=labels, shuffle=True, random_state=seed
    )
    rest = np.sort(rest)
    sub = None if labels is None else labels[rest]
    rest_pos, valid_pos = train_test_split(
        np.arange(len(rest)), test_size=valid / (1 - test), stratify=sub, shuffle=True,
        random_state=seed + 1,
    )  # fmt: skip
    assert parts["test"]["row"].to_list() == sorted(held_test.tolist())
    assert parts["valid"]["row"].to_list() == sorted(rest[valid_pos].tolist())
    assert parts["train"]["row"].to_list() == sorted(rest[rest_pos].tolist())


def test_sample_recipe_split_unchanged(churn):
    """The churn sample's parts with the recipe's seed, as scikit-learn made them."""
    spec = SplitSpec(valid=0.15, test=0.15, stratify=True)
    parts = split_frame(churn.with_row_index("row"), spec, "churned", 42)
    y = churn["churned"].cast(pl.String).to_numpy()
    rest, test = train_test_split(
        np.arange(churn.height), test_size=0.15, stratify=y, random_state=42
    )
    assert parts["test"]["row"].to_list() == sorted(test.tolist())
    assert {k: v.height for k, v in parts.items()} == {"train": 1428, "valid": 306, "test": 306}


def test_split_errors_name_the_cause():
    frame = pl.DataFrame({"y": ["a"] * 9 + ["b"]})
    with pytest.raises(DataError, match="The least populated classes in y have only 1 member"):
        split_frame(frame, SplitSpec(test=0.3, stratify=True), "y", 0)
    with pytest.raises(DataError, match="the resulting train set will be empty"):
        split_frame(pl.DataFrame({"y": ["a"]}), SplitSpec(test=0.5), None, 0)
    with pytest.raises(DataError, match="cannot make 5 folds: Cannot have number of splits"):
        add_folds(pl.DataFrame({"y": ["a", "b"]}), SplitSpec(kfold=5), None, 0)


def test_no_sklearn_import_for_a_plain_split():
    import subprocess
    import sys

    code = (
        "import sys, polars as pl\n"
        "from prepkit.recipe import SplitSpec\n"
        "from prepkit.split import split_frame, add_folds\n"
        "f = pl.DataFrame({'y': [0, 1] * 50})\n"
        "split_frame(f, SplitSpec(valid=0.2, test=0.2, stratify=True), 'y', 0)\n"
        "add_folds(f, SplitSpec(kfold=5, stratify=True), 'y', 0)\n"
        "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
