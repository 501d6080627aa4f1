"""`split: {method: hash}`: parts from row positions (or groups), the same batch by batch."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import prepkit
from prepkit.errors import RecipeError
from prepkit.recipe import SplitSpec
from prepkit.split import HashSplit, hash_split_frame


@pytest.fixture
def frame() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    n = 20_000
    return pl.DataFrame(
        {
            "x": np.arange(n, dtype=float),
            "y": rng.choice(["a", "b", "c"], n, p=[0.9, 0.09, 0.01]),
            "g": rng.integers(0, 400, n),
        }
    )


def codes_in_batches(spec, frame, rows):
    splitter = HashSplit(spec, "y", 7)
    return np.concatenate([splitter.parts(b) for b in frame.iter_slices(rows)])


@pytest.mark.parametrize(
    "spec",
    [
        SplitSpec(valid=0.2, test=0.1),
        SplitSpec(valid=0.2, test=0.1, stratify=True),
        SplitSpec(test=0.25, group="g"),
        SplitSpec(kfold=5, stratify=True),
    ],
)
def test_parts_do_not_depend_on_batches(spec, frame):
    whole = HashSplit(spec, "y", 7).parts(frame)
    for rows in (1_000, 777, 20_000):
        assert (codes_in_batches(spec, frame, rows) == whole).all()


def test_fractions_and_stratification(frame):
    parts = hash_split_frame(frame, SplitSpec(valid=0.2, test=0.1, stratify=True), "y", 7)
    counts = frame["y"].value_counts()
    for label, total in counts.iter_rows():
        got = {name: int((part["y"] == label).sum()) for name, part in parts.items()}
        # a Weyl sequence per class: every class within two rows of its fractions
        assert abs(got["test"] - 0.1 * total) <= 2 and abs(got["valid"] - 0.2 * total) <= 2
    assert sum(p.height for p in parts.values()) == frame.height
    plain = hash_split_frame(frame, SplitSpec(valid=0.2, test=0.1), "y", 7)
    assert abs(plain["test"].height - 2_000) < 150  # hash of the position: binomial spread


def test_groups_stay_in_one_part_and_seed_changes_the_parts(frame):
    parts = hash_split_frame(frame, SplitSpec(test=0.25, group="g"), None, 7)
    assert not set(parts["train"]["g"]) & set(parts["test"]["g"])
    other = hash_split_frame(frame, SplitSpec(test=0.25, group="g"), None, 8)
    assert not parts["test"].equals(other["test"])
    again = hash_split_frame(frame, SplitSpec(test=0.25, group="g"), None, 7)
    assert parts["test"].equals(again["test"])


def test_kfold_adds_balanced_folds(frame):
    (out,) = hash_split_frame(frame, SplitSpec(kfold=4, stratify=True), "y", 7).values()
    folds = out.group_by("fold").len().sort("fold")
    assert folds["fold"].to_list() == [0, 1, 2, 3]
    assert all(abs(n - 5_000) <= 4 for n in folds["len"])


def test_recipe_method_hash_is_the_same_on_both_engines(frame):
    recipe = prepkit.load_recipe(
        {"target": "y", "split": {"valid": 0.2, "test": 0.1, "stratify": True, "method": "hash"},
         "steps": [{"step": "scale", "columns": ["x"]}]}
    )  # fmt: skip
    memory = recipe.run(frame, write=False, engine="memory")
    stream = recipe.run(frame, write=False, engine="stream", batch_size=3_000)
    for part in ("train", "valid", "test"):
        assert stream.outputs[part].equals(memory.outputs[part])
    assert stream.fitted.states == memory.fitted.states or all(
        a == pytest.approx(b, rel=1e-12)
        for a, b in zip(
            stream.fitted.states[0]["scaling"]["x"].values(),
            memory.fitted.states[0]["scaling"]["x"].values(),
            strict=True,
        )
    )


def test_bad_options(frame):
    with pytest.raises(RecipeError, match="stratify needs"):
        HashSplit(SplitSpec(test=0.1, stratify=True), None, 0)
    with pytest.raises(RecipeError, match="leave rows for training"):
        HashSplit(SplitSpec(test=0.5, valid=0.5), "y", 0)
