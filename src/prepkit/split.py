"""Train/valid/test splitting (and K-fold assignment) by row index.

The plain and stratified splits are scikit-learn's algorithms written out in numpy: the same
draws from the same `RandomState(seed)`, so a seed gives exactly the partition that
`train_test_split`, `KFold` and `StratifiedKFold` give (tests/test_split_sklearn.py compares
them), without importing scikit-learn, which costs more than a second at start-up. Grouped
splits still use scikit-learn's splitters, imported only then.
"""

from __future__ import annotations

import math
import warnings
import zlib
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prepkit.errors import DataError, RecipeError, suggest
from prepkit.stats import splitmix64


class SplitSpec(BaseModel):
    """`split:` - hold out validation/test rows, or add a `fold` column for K-fold."""

    model_config = ConfigDict(extra="forbid")

    valid: float = Field(0.0, ge=0, lt=1, description="fraction of rows for validation")
    test: float = Field(0.0, ge=0, lt=1, description="fraction of rows for test")
    stratify: bool = Field(False, description="keep the target's class proportions in each part")
    group: str | None = Field(None, description="column whose values never span two parts")
    shuffle: bool = True
    seed: int | None = Field(None, description="defaults to the recipe seed")
    kfold: int | None = Field(None, ge=2, description="add a `fold` column (0..K-1) instead")
    fold_column: str = "fold"
    method: Literal["auto", "random", "hash"] = Field(
        "auto",
        description="random: scikit-learn's shuffled split (memory engine); hash: each row's part "
        "from a hash of its position (or group), streamable and the same on every engine; "
        "auto: random on the memory engine, hash on the streaming engine",
    )


def _labels(frame: pl.DataFrame, column: str | None, what: str) -> np.ndarray | None:
    if column is None:
        return None
    if column not in frame.columns:
        raise DataError(
            f"split {what} column '{column}' is not in the data{suggest(column, frame.columns)}",
            hint=f"available columns: {', '.join(frame.columns)}",
        )
    values = frame[column]
    if values.null_count():
        raise DataError(f"split {what} column '{column}' has {values.null_count()} missing values")
    return values.cast(pl.String).to_numpy()


# -- scikit-learn's splitters, without scikit-learn -------------------------------------------------
# Each function follows the scikit-learn 1.x code named in its docstring step by step, including
# the order of random draws; the error texts are scikit-learn's, for the cases prepkit can reach.


def _sizes(n: int, frac: float) -> tuple[int, int]:
    """(n_train, n_test) as `sklearn.model_selection._split._validate_shuffle_split`."""
    n_test = math.ceil(frac * n)
    n_train = n - n_test
    if n_train == 0:
        raise ValueError(
            f"With n_samples={n}, test_size={frac} and train_size=None, the resulting train set "
            "will be empty. Adjust any of the aforementioned parameters."
        )
    return n_train, n_test


def _approximate_mode(counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """`sklearn.utils.extmath._approximate_mode`: per-class draws, ties broken at random."""
    continuous = counts / counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            inds = rng.choice(inds, size=add_now, replace=False)
            floored[inds] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def _train_test_split(
    n: int, frac: float, y: np.ndarray | None, shuffle: bool, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (train, test) as `train_test_split(arange(n), test_size=frac, stratify=y, ...)`.

    Unshuffled: the last rows are the test part. Shuffled: `ShuffleSplit`, or
    `StratifiedShuffleSplit` when `y` is given (the final shuffle of each part is left out: the
    caller sorts the positions).
    """
    n_train, n_test = _sizes(n, frac)
    if not shuffle:
        return np.arange(n_train), np.arange(n_train, n_train + n_test)
    rng = np.random.RandomState(seed)
    if y is None:
        permutation = rng.permutation(n)
        return permutation[n_test : n_test + n_train], permutation[:n_test]
    classes, y_indices, counts = np.unique(y, return_inverse=True, return_counts=True)
    if np.min(counts) < 2:
        raise ValueError(
            "The least populated classes in y have only 1 member, which is too few. The minimum "
            "number of groups for any class cannot be less than 2. Classes with too few members "
            f"are: {classes[counts < 2].tolist()}"
        )
    if n_train < len(classes):
        raise ValueError(
            f"The train_size = {n_train} should be greater or equal to the number of classes = "
            f"{len(classes)}"
        )
    if n_test < len(classes):
        raise ValueError(
            f"The test_size = {n_test} should be greater or equal to the number of classes = "
            f"{len(classes)}"
        )
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(counts)[:-1])
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    train, test = [], []
    for i in range(len(classes)):
        members = class_indices[i].take(rng.permutation(counts[i]), mode="clip")
        train.append(members[: n_i[i]])
        test.append(members[n_i[i] : n_i[i] + t_i[i]])
    return np.concatenate(train), np.concatenate(test)


def _kfold(n: int, k: int, shuffle: bool, seed: int) -> np.ndarray:
    """Fold of each row (0..k-1) as `KFold(k, shuffle=shuffle, random_state=seed)`."""
    if k > n:
        raise ValueError(
            f"Cannot have number of splits n_splits={k} greater than the number of samples: "
            f"n_samples={n}."
        )
    indices = np.arange(n)
    if shuffle:
        np.random.RandomState(seed).shuffle(indices)
    sizes = np.full(k, n // k, dtype=int)
    sizes[: n % k] += 1
    fold = np.empty(n, dtype=np.int32)
    fold[indices] = np.repeat(np.arange(k, dtype=np.int32), sizes)
    return fold


def _stratified_kfold(y: np.ndarray, k: int, shuffle: bool, seed: int) -> np.ndarray:
    """Fold of each row as `StratifiedKFold(k, shuffle=shuffle, random_state=seed)`."""
    n = len(y)
    if k > n:
        raise ValueError(
            f"Cannot have number of splits n_splits={k} greater than the number of samples: "
            f"n_samples={n}."
        )
    rng = np.random.RandomState(seed) if shuffle else None
    _, first, inverse = np.unique(y, return_index=True, return_inverse=True)
    # classes numbered in order of first appearance, as scikit-learn does
    _, class_perm = np.unique(first, return_inverse=True)
    encoded = class_perm[inverse]
    n_classes = len(first)
    counts = np.bincount(encoded)
    if np.all(k > counts):
        raise ValueError(
            f"n_splits={k} cannot be greater than the number of members in each class."
        )
    if k > np.min(counts):
        warnings.warn(
            f"The least populated class in y has only {np.min(counts)} members, which is less "
            f"than n_splits={k}.",
            UserWarning,
            stacklevel=3,
        )
    order = np.sort(encoded)
    allocation = np.asarray([np.bincount(order[i::k], minlength=n_classes) for i in range(k)])
    fold = np.empty(n, dtype=np.int32)
    for c in range(n_classes):
        folds_for_class = np.arange(k).repeat(allocation[:, c])
        if rng is not None:
            rng.shuffle(folds_for_class)
        fold[encoded == c] = folds_for_class
    return fold


def _carve(
    index: np.ndarray, frac: float, y: np.ndarray | None, groups: np.ndarray | None, spec: SplitSpec,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Split `index` into (rest, held) with about `frac` of rows held out."""
    if groups is None:
        try:
            rest, held = _train_test_split(len(index), frac, y, spec.shuffle, seed)
        except ValueError as exc:
            raise DataError(
                f"cannot split the data: {exc}", hint="use smaller fractions or drop stratify"
            ) from None
        return np.sort(index[rest]), np.sort(index[held])
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

    if y is not None:
        # stratified + grouped: one fold of a StratifiedGroupKFold, so fractions are approximate
        folds = max(2, round(1 / frac))
        splitter = StratifiedGroupKFold(
            n_splits=folds, shuffle=spec.shuffle, random_state=seed if spec.shuffle else None
        )
        rest, held = next(splitter.split(index, y, groups))
    else:
        splitter = GroupShuffleSplit(n_splits=1, test_size=frac, random_state=seed)
        rest, held = next(splitter.split(index, groups=groups))
    return np.sort(index[rest]), np.sort(index[held])


def split_frame(
    frame: pl.DataFrame, spec: SplitSpec, target: str | None, seed: int
) -> dict[str, pl.DataFrame]:
    """Return {"train": ..., "valid": ..., "test": ...} (only the parts asked for)."""
    seed = spec.seed if spec.seed is not None else seed
    if spec.stratify and not target:
        raise RecipeError("split: stratify needs the recipe's `target`")
    if spec.stratify and not spec.shuffle:
        raise RecipeError("split: stratify needs shuffle: true")
    if spec.valid + spec.test >= 1:
        raise RecipeError("split: valid + test must leave rows for training (sum below 1)")
    y_all = _labels(frame, target if spec.stratify else None, "target")
    groups_all = _labels(frame, spec.group, "group")
    index = np.arange(frame.height)
    parts: dict[str, np.ndarray] = {}
    rest = index
    if spec.test > 0:
        rest, parts["test"] = _carve(index, spec.test, y_all, groups_all, spec, seed)
    if spec.valid > 0:
        frac = spec.valid / (1 - spec.test)
        y = None if y_all is None else y_all[rest]
        g = None if groups_all is None else groups_all[rest]
        rest_pos, valid_pos = _carve(np.arange(len(rest)), frac, y, g, spec, seed + 1)
        parts["valid"] = rest[valid_pos]
        rest = rest[rest_pos]
    out = {"train": frame[rest]}
    for name in ("valid", "test"):
        if name in parts:
            out[name] = frame[parts[name]]
    return out


def add_folds(frame: pl.DataFrame, spec: SplitSpec, target: str | None, seed: int) -> pl.DataFrame:
    """Add `fold` (0..K-1): stratified on the target when asked, grouped when `group` is set."""
    assert spec.kfold
    seed = spec.seed if spec.seed is not None else seed
    y = _labels(frame, target if spec.stratify else None, "target")
    groups = _labels(frame, spec.group, "group")
    try:
        if groups is None:
            if y is None:
                fold = _kfold(frame.height, spec.kfold, spec.shuffle, seed)
            else:
                fold = _stratified_kfold(y, spec.kfold, spec.shuffle, seed)
        else:
            fold = _group_folds(frame.height, y, groups, spec, seed)
    except ValueError as exc:
        raise DataError(f"cannot make {spec.kfold} folds: {exc}") from None
    return frame.with_columns(pl.Series(spec.fold_column, fold))


def _group_folds(
    n: int, y: np.ndarray | None, groups: np.ndarray, spec: SplitSpec, seed: int
) -> np.ndarray:
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    if y is not None:
        rs = seed if spec.shuffle else None
        splitter = StratifiedGroupKFold(spec.kfold, shuffle=spec.shuffle, random_state=rs)
    else:
        splitter = GroupKFold(spec.kfold)
    fold = np.zeros(n, dtype=np.int32)
    for k, (_, held) in enumerate(splitter.split(np.zeros(n), y, groups)):
        fold[held] = k
    return fold


# -- hash split: one row at a time, the same on every engine -------------------------------------
PARTS = ("train", "valid", "test")
_GOLDEN = (math.sqrt(5) - 1) / 2  # the Weyl sequence k * 0.618... mod 1 fills [0, 1) evenly


class HashSplit:
    """`split: {method: hash}`: each row's part follows from its position in the input (or its
    group's value), never from a shuffle, so the split streams batch by batch and gives the same
    parts on every engine and run.

    A row's number u in [0, 1) picks its part: test below `test`, valid below `test + valid`,
    train above. Unstratified, u is splitmix64 of the row's position and the seed; with
    `group`, of the group value's hash, so a group stays in one part; stratified, the k-th row of
    each class takes the k-th number of a Weyl sequence (k * 0.618... mod 1, from a start drawn
    per class and seed), which gives every class its fractions to within a row or two. Call
    `parts` on the batches of one pass in order; `kfold` takes the fold from u the same way.
    """

    def __init__(self, spec: SplitSpec, target: str | None, seed: int) -> None:
        if spec.stratify and not target:
            raise RecipeError("split: stratify needs the recipe's `target`")
        if spec.valid + spec.test >= 1:
            raise RecipeError("split: valid + test must leave rows for training (sum below 1)")
        if spec.group and spec.stratify:
            raise RecipeError("split: method hash does not stratify groups; drop one of them")
        self.spec = spec
        self.target = target if spec.stratify else None
        self.seed = spec.seed if spec.seed is not None else seed
        self.position = 0
        self.seen: dict[object, int] = {}  # rows of each class so far

    def _numbers(self, batch: pl.DataFrame) -> np.ndarray:
        mix = np.uint64((self.seed * 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF)
        if self.spec.group:
            _labels(batch, self.spec.group, "group")  # a clear error for a missing column
            keys = batch.get_column(self.spec.group).cast(pl.String).hash(seed=0).to_numpy()
            return splitmix64(keys ^ mix) / 2.0**64
        if self.target is None:
            positions = np.arange(self.position, self.position + batch.height, dtype=np.uint64)
            return splitmix64(positions ^ mix) / 2.0**64
        labels = self._class_labels(batch)
        rank = batch.select(pl.int_range(pl.len()).over(labels)).to_series().to_numpy()
        numbers = np.empty(batch.height)
        for label, rows in zip(*_grouped(labels), strict=True):
            start = self.seen.get(label, 0)
            self.seen[label] = start + len(rows)
            offset = splitmix64(np.array([zlib.crc32(label.encode()) ^ mix]))[0] / 2.0**64
            numbers[rows] = (offset + (start + rank[rows]) * _GOLDEN) % 1.0
        return numbers

    def _class_labels(self, batch: pl.DataFrame) -> pl.Series:
        """The stratifying target as text, missing as its own label."""
        assert self.target is not None
        _labels(batch, self.target, "target")  # a clear error for a missing column
        return batch.get_column(self.target).cast(pl.String).fill_null("\0null")

    def summarize(self, batch: pl.DataFrame) -> dict[str, Any]:
        """What a splitter starting after `batch` must know of it: its rows and, stratified,
        its rows per class (see `begin`)."""
        if self.target is None:
            return {"rows": batch.height}
        counts = self._class_labels(batch).value_counts()
        return {"rows": batch.height, "classes": dict(counts.iter_rows())}

    def begin(self, before: dict[str, Any]) -> None:
        """Continue after the rows `before` summarizes (a part of the input read elsewhere)."""
        self.position = before.get("rows", 0)
        self.seen = dict(before.get("classes", {}))

    def parts(self, batch: pl.DataFrame) -> np.ndarray:
        """The part of each row of the next batch: 0 train, 1 valid, 2 test (or the fold)."""
        u = self._numbers(batch)
        self.position += batch.height
        if self.spec.kfold:
            return np.minimum((u * self.spec.kfold).astype(np.int64), self.spec.kfold - 1)
        return np.where(u < self.spec.test, 2, np.where(u < self.spec.test + self.spec.valid, 1, 0))


def _grouped(labels: pl.Series) -> tuple[list[str], list[np.ndarray]]:
    """Each distinct label and the positions of its rows."""
    frame = labels.to_frame("label").with_row_index("row").group_by("label").agg("row")
    return frame["label"].to_list(), [np.asarray(r, dtype=np.int64) for r in frame["row"]]


def hash_split_frame(
    frame: pl.DataFrame, spec: SplitSpec, target: str | None, seed: int
) -> dict[str, pl.DataFrame]:
    """`split_frame` for `method: hash`, on a whole frame: the parts the streaming engine makes."""
    codes = HashSplit(spec, target, seed).parts(frame)
    if spec.kfold:
        return {"train": frame.with_columns(pl.Series(spec.fold_column, codes, pl.Int64))}
    wanted = {"train": True, "valid": spec.valid > 0, "test": spec.test > 0}
    return {
        name: frame.filter(pl.Series(codes == code))
        for code, name in enumerate(PARTS)
        if wanted[name]
    }
