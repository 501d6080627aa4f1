"""Train/valid/test splitting (and K-fold assignment) by row index, with scikit-learn's splitters."""

from __future__ import annotations

import numpy as np
import polars as pl

from prepkit.errors import DataError, RecipeError, suggest
from prepkit.recipe import SplitSpec


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


def _carve(
    index: np.ndarray, frac: float, y: np.ndarray | None, groups: np.ndarray | None, spec: SplitSpec,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Split `index` into (rest, held) with about `frac` of rows held out."""
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, train_test_split

    if groups is None:
        try:
            rest, held = train_test_split(
                index, test_size=frac, stratify=y, shuffle=spec.shuffle,
                random_state=seed if spec.shuffle else None,
            )  # fmt: skip
        except ValueError as exc:
            raise DataError(
                f"cannot split the data: {exc}", hint="use smaller fractions or drop stratify"
            ) from None
        return np.sort(rest), np.sort(held)
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
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    assert spec.kfold
    seed = spec.seed if spec.seed is not None else seed
    rs = seed if spec.shuffle else None
    y = _labels(frame, target if spec.stratify else None, "target")
    groups = _labels(frame, spec.group, "group")
    if y is not None and groups is not None:
        splitter = StratifiedGroupKFold(spec.kfold, shuffle=spec.shuffle, random_state=rs)
    elif y is not None:
        splitter = StratifiedKFold(spec.kfold, shuffle=spec.shuffle, random_state=rs)
    elif groups is not None:
        splitter = GroupKFold(spec.kfold)
    else:
        splitter = KFold(spec.kfold, shuffle=spec.shuffle, random_state=rs)
    fold = np.zeros(frame.height, dtype=np.int32)
    try:
        for k, (_, held) in enumerate(splitter.split(np.zeros(frame.height), y, groups)):
            fold[held] = k
    except ValueError as exc:
        raise DataError(f"cannot make {spec.kfold} folds: {exc}") from None
    return frame.with_columns(pl.Series(spec.fold_column, fold))
