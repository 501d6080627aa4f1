"""Label issues: find training rows whose label is probably wrong (confident learning, cleanlab)."""

from __future__ import annotations

import re
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Literal, NamedTuple

import numpy as np
import polars as pl
from pydantic import Field

from prepkit.columns import Selector, dtype_group, dtype_kind, select_columns
from prepkit.engines.stages import Stage
from prepkit.engines.statistics import Counts, Missing
from prepkit.errors import DataError, RecipeError
from prepkit.steps.base import (
    Column,
    Scalar,
    Step,
    StepContext,
    StepParams,
    StepState,
    plain_state,
    register,
)

FilterBy = Literal[
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
]
Model = Literal["logistic_regression", "hist_gradient_boosting", "random_forest"]
# models that accept NaN in their features (scikit-learn's trees handle missing values natively)
NAN_MODELS = ("hist_gradient_boosting", "random_forest")
MISSING_CATEGORY = "__missing__"
WORST_ROWS = 10
FLAGGED_ROWS = 50  # flagged rows the report lists (worst first), with their ids (memory engine)
# rows per batch of cleanlab's batched finder (its own default), on both engines: its confident
# thresholds are running means over these batches, so the same batches give the same numbers
FINDER_BATCH = 10_000
# the defaults of filter_by, frac_noise and min_examples_per_class, which the batched finder ignores
FINDER_DEFAULTS = ("prune_by_noise_rate", 1.0, 1)


def _plain(value: Any) -> Any:
    """A numpy scalar as plain Python, for JSON state."""
    return value.item() if isinstance(value, np.generic) else value


def _as_labels(labels: pl.Series) -> pl.Series:
    """Labels as the classes are named: categories as their text."""
    return labels.cast(pl.String) if isinstance(labels.dtype, (pl.Categorical, pl.Enum)) else labels


def _missing_labels(target: str, missing: int) -> DataError:
    return DataError(
        f"target '{target}' has {missing} missing label(s)",
        hint="drop or fill the rows without a label before this step",
    )


def _require_two_classes(target: str, classes: np.ndarray) -> None:
    if len(classes) < 2:
        raise DataError(
            f"target '{target}' has a single class ({_plain(classes[0])!r}); "
            "label issues need at least two classes",
            hint="check the target column, or remove the label_issues step",
        )


def _classes_of(
    counts: dict[Any, int], dtype: pl.DataType, target: str
) -> tuple[np.ndarray, np.ndarray]:
    """The sorted classes (as `np.unique` gives them from the whole column) and their rows,
    from the target's value counts; the memory engine's errors for missing labels and a single
    class."""
    if counts.get(None):
        raise _missing_labels(target, counts[None])
    values = _as_labels(pl.Series(target, list(counts), dtype=dtype)).to_numpy()
    classes, index = np.unique(values, return_inverse=True)
    _require_two_classes(target, classes)
    sizes = np.zeros(len(classes), dtype=np.int64)
    sizes[index] = list(counts.values())
    return classes, sizes


def _refuse_missing(counts: dict[str, int], model: str) -> None:
    """The error for numeric features with missing values (`counts`: column -> rows)."""
    gaps = {c: n for c, n in counts.items() if n}
    if gaps:
        raise DataError(
            f"label_issues with model {model} cannot use missing values; missing in "
            + ", ".join(f"'{c}' ({n} rows)" for c, n in gaps.items()),
            hint="impute first (- step: impute), or use model: hist_gradient_boosting or random_forest",
        )


def _worst_entries(
    rows: np.ndarray, quality: np.ndarray, given: np.ndarray, suggested: np.ndarray,
    classes: np.ndarray,
) -> list[dict[str, Any]]:  # fmt: skip
    """The report's worst rows, from their positions, scores and classes (already ordered)."""
    return [
        {
            "row": int(r),
            "given": _plain(classes[g]),
            "suggested": _plain(classes[s]),
            "quality": round(float(q), 6),
        }
        for r, q, g, s in zip(rows, quality, given, suggested, strict=True)
    ]


def _is_id_name(name: str) -> bool:
    """A column named like an id: `id`, `ticket_id`, `CustomerID`, `row-uuid`."""
    words = re.split(r"[^0-9A-Za-z]+|(?<=[a-z])(?=[A-Z])", name)
    return any(w.lower() in ("id", "uuid", "guid") for w in words)


def id_column(frame: pl.DataFrame, exclude: str | None = None) -> str | None:
    """The first column named like an id whose values are set and unique per row, if any."""
    for name in frame.columns:
        if name == exclude or not _is_id_name(name):
            continue
        column = frame[name]
        if column.null_count() == 0 and column.n_unique() == frame.height:
            return name
    return None


def flagged_rows(
    frame: pl.DataFrame, target: str, classes: list[Any], rows: dict[str, np.ndarray],
    most: int = FLAGGED_ROWS,
) -> dict[str, Any]:  # fmt: skip
    """The report's list of flagged rows, worst (lowest quality) first, at most `most`: the
    row's position in the step's input, its id (when the frame has an id column), the given and
    the suggested label and the quality score."""
    issues, quality = rows["issues"], rows["quality"]
    at = np.flatnonzero(issues)
    at = at[np.argsort(quality[at], kind="stable")[:most]]
    ids = id_column(frame, exclude=target)
    given = frame[target].gather(at).to_list()
    values = frame[ids].gather(at).to_list() if ids else [None] * len(at)
    listed = [
        {
            "row": int(r),
            **({"id": _plain(v)} if ids else {}),
            "given": _plain(g),
            "suggested": _plain(classes[int(rows["suggested"][r])]),
            "quality": round(float(quality[r]), 6),
        }
        for r, g, v in zip(at, given, values, strict=True)
    ]
    return {"flagged_rows": listed, "id_column": ids}


def _quality(given: np.ndarray, pred_probs: np.ndarray, method: str) -> np.ndarray:
    """cleanlab's per-row label quality scores (one row's score depends on that row only)."""
    from cleanlab.rank import get_label_quality_scores

    if not len(given):
        return np.empty(0, dtype=np.float64)
    return np.asarray(get_label_quality_scores(given, pred_probs, method=method), dtype=np.float64)


def _apportion(sizes: np.ndarray, total: int, floor: int) -> np.ndarray:
    """`total` rows shared among classes of `sizes` rows in proportion to their sizes (largest
    remainders, ties to the first class), at least `floor` rows each: classes whose share falls
    below `floor` get `floor` and the others share the rest. Needs `floor <= min(sizes)`,
    `len(sizes) * floor <= total < sum(sizes)`; then no class gets more rows than it has."""
    sizes_ = [int(n) for n in sizes]  # Python integers: products do not overflow
    fixed = [False] * len(sizes_)
    while True:
        rest = total - floor * sum(fixed)
        pool = sum(n for n, f in zip(sizes_, fixed, strict=True) if not f)
        shares = [floor if f else rest * n // pool for n, f in zip(sizes_, fixed, strict=True)]
        low = [not f and s < floor for s, f in zip(shares, fixed, strict=True)]
        if not any(low):
            break
        fixed = [f or below for f, below in zip(fixed, low, strict=True)]
    remainders = [-1 if f else rest * n % pool for n, f in zip(sizes_, fixed, strict=True)]
    for k in sorted(range(len(shares)), key=lambda k: -remainders[k])[: total - sum(shares)]:
        shares[k] += 1
    return np.array(shares, dtype=np.int64)


def _smallest_per_class(keys: np.ndarray, codes: np.ndarray, quotas: np.ndarray) -> np.ndarray:
    """A mask of the `quotas[c]` rows of each class `c` with the smallest keys (ties: the
    earlier row)."""
    order = np.lexsort((keys, codes))  # stable: by class, then key, then row
    ranked = codes[order]
    rank = np.arange(len(order)) - np.searchsorted(ranked, np.arange(len(quotas)))[ranked]
    keep = np.zeros(len(keys), dtype=bool)
    keep[order[rank < quotas[ranked]]] = True
    return keep


def _chunks(
    pieces: Iterator[tuple[np.ndarray, np.ndarray]], size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(labels, probabilities) of consecutive rows, regrouped into chunks of exactly `size` rows
    (the last one shorter): the batches cleanlab's finder sees, whatever the stream's."""
    labels: list[np.ndarray] = []
    probs: list[np.ndarray] = []
    held = 0
    for given, p in pieces:
        labels.append(given)
        probs.append(p)
        held += len(given)
        if held >= size:
            all_labels, all_probs = np.concatenate(labels), np.concatenate(probs)
            cut = held - held % size
            for i in range(0, cut, size):
                yield all_labels[i : i + size], all_probs[i : i + size]
            labels, probs, held = [all_labels[cut:]], [all_probs[cut:]], held - cut
    if held:
        yield np.concatenate(labels), np.concatenate(probs)


class _Features:
    """The feature columns by kind, as chosen at fit time."""

    def __init__(self, frame: pl.DataFrame, columns: list[str]) -> None:
        self.numeric: list[str] = []
        self.categorical: list[str] = []
        self.text: list[str] = []
        unsupported = []
        schema = frame.schema  # once: `frame.schema` builds a new object on every call
        for c in columns:
            group = dtype_group(frame, c, schema[c])
            if group in ("numeric", "boolean"):
                self.numeric.append(c)
            elif group == "categorical":
                self.categorical.append(c)
            elif group == "text":
                self.text.append(c)
            else:
                unsupported.append(f"'{c}' ({schema[c]})")
        if unsupported:
            raise DataError(
                f"label_issues cannot use column(s) {', '.join(unsupported)} as features",
                hint="exclude them (columns: {exclude: [...]}) or cast them to numbers first",
            )


@register("label_issues")
class LabelIssues(Step):
    """Find rows whose label is probably wrong, with confident learning (cleanlab).

    Out-of-fold predicted probabilities come from stratified `cv`-fold cross-validation of a
    scikit-learn `model` on the feature `columns` (categorical columns one-hot encoded, text
    columns as TF-IDF, numeric columns standard-scaled for logistic regression). cleanlab's
    `find_label_issues` then flags the rows whose given label disagrees with the model more than
    the estimated noise explains, and `get_label_quality_scores` scores every row (0 bad, 1 good).

    `action: flag` adds `label_quality` and `is_label_issue`; `drop` removes flagged rows;
    `relabel` replaces a flagged row's label by the model's suggestion where the model gives that
    class a probability of at least `relabel_threshold`, keeping the given label in
    `<target>__original`. Train-only: `prepkit apply` and valid/test parts skip it (no model is
    kept; the fitted artifact holds the counts only).

    The memory engine uses every training row. The streaming engine (`--engine stream`) fits the
    model's out-of-fold probabilities on a stratified sample of at most `max_sample_rows` rows
    (every row, in order, when there are no more; else each class in proportion to its size, at
    least `cv` rows of each, drawn from the recipe seed and step id), predicts the other rows
    with the same model fitted on the whole sample, and runs cleanlab's batched finder
    (`low_memory`) over all rows: `filter_by`, `frac_noise` and `min_examples_per_class` are not
    used there (a warning says so; set `low_memory: true` to get the memory engine's answer on
    data of at most `max_sample_rows` rows, where the two engines give the same rows and state).
    Its memory: the
    sample (up to twice as many rows while it is drawn) and its probabilities, a batch of
    probabilities, the positions of the rows flagged, and what cleanlab's finder keeps per row:
    its quality scores as a Python list (measured: 32 bytes a row, 48 at its peak). The rows
    outside the sample are predicted again on up to four passes (the model is not saved).

    ```yaml
    - step: label_issues
      model: logistic_regression     # or hist_gradient_boosting, random_forest
      cv: 5
      filter_by: prune_by_noise_rate
      action: flag                   # or drop, relabel
      max_sample_rows: 200000        # --engine stream: the model's sample
    ```
    """

    phase = "train_only"

    @property
    def keeps_rows(self) -> bool:
        return self.params.action != "drop"  # drop reports the rows it kept

    class Params(StepParams):
        columns: Selector = Field(
            "all", description="Feature columns (selector); the target is never a feature."
        )
        model: Model = Field(
            "logistic_regression",
            description="Model giving the out-of-fold predicted probabilities.",
        )
        model_params: dict[str, Any] = Field(
            default_factory=dict,
            description="Extra scikit-learn parameters for the model (e.g. {C: 0.5}, {max_iter: 200}).",
        )
        cv: int = Field(
            5, ge=2, description="Stratified cross-validation folds (lowered for tiny classes)."
        )
        filter_by: FilterBy = Field(
            "prune_by_noise_rate",
            description="cleanlab's rule deciding which rows are label issues.",
        )
        frac_noise: float = Field(
            1.0,
            gt=0,
            le=1,
            description="Fraction of the estimated noise to flag (prune_by_* and both).",
        )
        min_examples_per_class: int = Field(
            1, ge=0, description="Never flag so many rows that a class keeps fewer than this many."
        )
        low_memory: bool = Field(
            False,
            description="Use cleanlab's batched low-memory finder (ignores filter_by, frac_noise, "
            "min_examples_per_class).",
        )
        quality_score: Literal[
            "self_confidence", "normalized_margin", "confidence_weighted_entropy"
        ] = Field("self_confidence", description="cleanlab's per-row label quality score method.")
        max_text_features: int = Field(
            5000, ge=1, description="Vocabulary size of the TF-IDF features of each text column."
        )
        action: Literal["flag", "drop", "relabel"] = Field(
            "flag",
            description="flag: add columns; drop: remove issue rows; relabel: fix confident ones.",
        )
        relabel_threshold: float = Field(
            0.9,
            ge=0,
            le=1,
            description="relabel only where the suggested class's probability is at least this.",
        )
        add_columns: bool | None = Field(
            None,
            description="Add the quality/flag columns (default: true for flag, false otherwise).",
        )
        quality_column: str = Field(
            "label_quality", description="Name of the label quality column."
        )
        issue_column: str = Field(
            "is_label_issue", description="Name of the label issue flag column."
        )
        keep_original: bool = Field(
            True, description="relabel: keep the given label in a column <target>__original."
        )
        max_sample_rows: int = Field(
            200_000,
            ge=100,
            description="--engine stream: fit the model on a stratified sample of at most this "
            "many training rows (at least cv of each class). The memory engine uses every row.",
        )

    # -- fitting in memory ----------------------------------------------------------------------
    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        return self._check(frame, ctx)[0]

    def fit_transform(
        self, frame: pl.DataFrame, ctx: StepContext
    ) -> tuple[dict[str, Any], pl.DataFrame]:
        """Cross-validate once: the per-row results of fitting give the training output."""
        state, rows = self._check(frame, ctx)
        state = plain_state(state, self.id)
        self._report_rows(frame, state, rows, ctx)
        return state, self._output(frame, state, rows, ctx)

    @staticmethod
    def _report_rows(
        frame: pl.DataFrame, state: dict[str, Any], rows: dict[str, np.ndarray] | None,
        ctx: StepContext,
    ) -> None:  # fmt: skip
        """The flagged rows for the HTML report, when it is asked for (memory engine: the
        streaming engine's batches list none, their positions would not add up)."""
        from prepkit.report import figures

        if rows is not None and state.get("checked") and figures.collected() != "off":
            figures.record(ctx, **flagged_rows(frame, state["target"], state["classes"], rows))

    def _check(
        self, frame: pl.DataFrame, ctx: StepContext
    ) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
        """The state and the per-row results (None when nothing was checked)."""
        p = self.params
        target = ctx.require_target(frame, "label_issues")
        columns = self._feature_columns(frame, target)
        base = self._base(columns, target)
        if not columns or frame.height == 0:
            return self._unchecked(base, ctx), None
        features = _Features(frame, columns)
        if p.model not in NAN_MODELS:
            self._check_missing(frame, features, p.model)
        given, classes = self._encode_labels(frame[target])
        cv = self._folds(np.bincount(given, minlength=len(classes)), classes, ctx)
        pred_probs = self._pred_probs(frame, features, given, cv, ctx)
        issues, quality = self._find(given, pred_probs, ctx)
        suggested = pred_probs.argmax(axis=1)
        confidence = pred_probs[np.arange(len(given)), suggested]
        relabel = issues & (suggested != given) & (confidence >= p.relabel_threshold)
        rows = {"issues": issues, "quality": quality, "suggested": suggested, "relabel": relabel}
        per_class = np.bincount(given[issues], minlength=len(classes))
        worst = self._worst(issues, quality, given, suggested, classes)
        return self._summary(base, cv, classes, per_class, worst, int(relabel.sum())), rows

    def _feature_columns(self, frame: pl.DataFrame, target: str) -> list[str]:
        return [c for c in select_columns(frame, self.params.columns, target) if c != target]

    def _base(self, columns: list[str], target: str) -> dict[str, Any]:
        p = self.params
        return {"columns": columns, "target": target, "model": p.model, "filter_by": p.filter_by}

    @staticmethod
    def _unchecked(base: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        ctx.warn("label_issues: no feature columns or no rows; nothing checked")
        return {**base, "checked": False, "issues": 0, "issues_per_class": {}, "worst": [],
                "relabelled": 0}  # fmt: skip

    def _summary(
        self, base: dict[str, Any], cv: int, classes: np.ndarray, per_class: np.ndarray,
        worst: list[dict[str, Any]], relabelled: int,
    ) -> dict[str, Any]:  # fmt: skip
        """The checked state from the issues found: one place for both engines (same keys, same
        order)."""
        action = self.params.action
        issues = int(per_class.sum())
        return {
            **base,
            "checked": True,
            "cv": cv,
            "classes": [_plain(c) for c in classes],
            "issues": issues,
            "issues_per_class": {
                str(_plain(c)): int(n) for c, n in zip(classes, per_class, strict=True)
            },
            "worst": worst,
            "relabelled": relabelled if action == "relabel" else 0,
            "dropped": issues if action == "drop" else 0,
        }

    @staticmethod
    def _check_missing(frame: pl.DataFrame, features: _Features, model: str) -> None:
        if not features.numeric:
            return
        schema = frame.schema
        counts = frame.select(
            (
                pl.col(c).is_null()
                | (pl.col(c).is_nan() if schema[c].is_float() else pl.lit(False))
            ).sum()
            for c in features.numeric
        ).row(0, named=True)
        _refuse_missing(counts, model)

    def _encode_labels(self, labels: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        if labels.null_count():
            raise _missing_labels(labels.name, labels.null_count())
        # sorted classes, so that pred_probs column k is class k (cleanlab #997)
        classes, given = np.unique(_as_labels(labels).to_numpy(), return_inverse=True)
        _require_two_classes(labels.name, classes)
        return given.astype(np.intp), classes

    def _folds(self, counts: np.ndarray, classes: np.ndarray, ctx: StepContext) -> int:
        """The folds, from the rows of each class (`counts`)."""
        smallest = int(counts.min())
        name = _plain(classes[int(counts.argmin())])
        if smallest < 2:
            raise DataError(
                f"class {name!r} has only {smallest} row; cross-validation needs at least 2 per class",
                hint="remove or merge that class, or collect more rows of it",
            )
        if smallest < self.params.cv:
            ctx.warn(
                f"label_issues: class {name!r} has {smallest} rows; cv lowered from {self.params.cv} to {smallest}"
            )
            return smallest
        return self.params.cv

    def _model(self, ctx: StepContext) -> Any:
        p = self.params
        if p.model == "logistic_regression":
            from sklearn.linear_model import LogisticRegression

            model = LogisticRegression(max_iter=1000)
        elif p.model == "hist_gradient_boosting":
            from sklearn.ensemble import HistGradientBoostingClassifier

            model = HistGradientBoostingClassifier(random_state=ctx.seed)
        else:
            from sklearn.ensemble import RandomForestClassifier

            model = RandomForestClassifier(random_state=ctx.seed, n_jobs=ctx.workers)
        try:
            model.set_params(**p.model_params)
        except ValueError as exc:
            raise RecipeError(
                f"label_issues: bad model_params for {p.model}: {str(exc).splitlines()[0]}",
                hint="use parameter names of the scikit-learn estimator",
            ) from None
        return model

    def _pred_probs(
        self, frame: pl.DataFrame, features: _Features, given: np.ndarray, cv: int, ctx: StepContext
    ) -> np.ndarray:
        """Out-of-fold predicted probabilities of every row of `frame`."""
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        x, pipeline = self._matrix(frame, features), self._pipeline(features, ctx)
        folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=ctx.seed)
        return self._converging(
            ctx,
            "in some folds",
            lambda: cross_val_predict(
                pipeline, x, given, cv=folds, method="predict_proba", n_jobs=ctx.workers
            ),
        )

    def _converging(self, ctx: StepContext, where: str, fit: Callable[[], Any]) -> Any:
        """`fit()`, with the model's convergence warnings turned into one report warning."""
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            result = fit()
        for w in caught:  # pass the others on
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn(w.message, w.category, stacklevel=3)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            ctx.warn(
                f"label_issues: {self.params.model} did not converge {where}; "
                "raise model_params.max_iter (the scores may be less reliable)"
            )
        return result

    @staticmethod
    def _matrix(frame: pl.DataFrame, features: _Features) -> Any:
        """The model's input: a float matrix for numbers only, else the columns the column
        transformer of `_pipeline` reads."""
        if not features.categorical and not features.text:
            return frame.select(pl.col(features.numeric).cast(pl.Float64)).to_numpy()
        return frame.select(
            *[pl.col(c).cast(pl.Float64) for c in features.numeric],
            *[pl.col(c).cast(pl.String).fill_null(MISSING_CATEGORY) for c in features.categorical],
            *[pl.col(c).fill_null("") for c in features.text],
        )

    def _pipeline(self, features: _Features, ctx: StepContext) -> Any:
        """The unfitted model with its preprocessing (scaling, one-hot, TF-IDF)."""
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        scale = self.params.model == "logistic_regression"
        if not features.categorical and not features.text:
            steps = [StandardScaler()] if scale else []  # a plain float matrix
        else:
            steps = [self._transformer(features, scale)]
        return make_pipeline(*steps, self._model(ctx))

    def _transformer(self, features: _Features, scale: bool) -> Any:
        from sklearn.compose import ColumnTransformer
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        dense = self.params.model == "hist_gradient_boosting"  # it does not take sparse input
        parts: list[tuple[str, Any, Any]] = []
        if features.numeric:
            parts.append(
                ("numeric", StandardScaler() if scale else "passthrough", features.numeric)
            )
        if features.categorical:
            encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=not dense)
            parts.append(("categorical", encoder, features.categorical))
        for c in features.text:  # a single name (not a list) gives the vectorizer 1-D text
            parts.append(
                (f"text_{c}", TfidfVectorizer(max_features=self.params.max_text_features), c)
            )
        return ColumnTransformer(parts, sparse_threshold=0.0 if dense else 0.3)

    def _find(
        self, given: np.ndarray, pred_probs: np.ndarray, ctx: StepContext
    ) -> tuple[np.ndarray, np.ndarray]:
        from cleanlab.rank import get_label_quality_scores

        p = self.params
        if p.low_memory:
            from cleanlab.experimental.label_issues_batched import find_label_issues_batched

            self._warn_finder_options(ctx)
            issues = find_label_issues_batched(
                labels=given, pred_probs=pred_probs, batch_size=FINDER_BATCH, return_mask=True,
                verbose=False, n_jobs=1,
            )  # fmt: skip
        else:
            from cleanlab.filter import find_label_issues

            issues = find_label_issues(
                labels=given,
                pred_probs=pred_probs,
                filter_by=p.filter_by,
                frac_noise=p.frac_noise,
                min_examples_per_class=p.min_examples_per_class,
                n_jobs=ctx.workers or 1,
            )
        quality = get_label_quality_scores(given, pred_probs, method=p.quality_score)
        return np.asarray(issues, dtype=bool), np.asarray(quality, dtype=np.float64)

    def _warn_finder_options(self, ctx: StepContext) -> None:
        """The batched finder's warning when options it does not use were set."""
        p = self.params
        if (p.filter_by, p.frac_noise, p.min_examples_per_class) != FINDER_DEFAULTS:
            ctx.warn(
                "label_issues: low_memory ignores filter_by, frac_noise and min_examples_per_class"
            )

    @staticmethod
    def _worst(
        issues: np.ndarray,
        quality: np.ndarray,
        given: np.ndarray,
        suggested: np.ndarray,
        classes: np.ndarray,
    ) -> list[dict[str, Any]]:
        rows = np.flatnonzero(issues)
        rows = rows[np.argsort(quality[rows], kind="stable")[:WORST_ROWS]]
        return _worst_entries(rows, quality[rows], given[rows], suggested[rows], classes)

    # -- fitting on the streaming engine --------------------------------------------------------
    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Any]:
        """The target's classes, and the gaps of numeric features the model cannot take."""
        target = ctx.require_target(frame, "label_issues")
        requests: list[Any] = [Counts(target)]
        if self.params.model not in NAN_MODELS:
            schema = frame.schema
            requests += [
                Missing(c)
                for c in self._feature_columns(frame, target)
                if dtype_kind(schema[c]) in ("numeric", "boolean")
            ]
        return requests

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        """The memory engine's checks before fitting, from the answers (same errors and
        warnings). The state is the unchecked one, or the checked one still without the issues
        and with the rows of each class (`class_rows`), which `streamed` completes."""
        p = self.params
        target = ctx.require_target(frame, "label_issues")
        columns = self._feature_columns(frame, target)
        base = self._base(columns, target)
        counts = answers[Counts(target)]
        if not columns or not sum(counts.values()):
            return self._unchecked(base, ctx)
        features = _Features(frame, columns)
        if p.model not in NAN_MODELS:
            _refuse_missing({c: answers[Missing(c)]["missing"] for c in features.numeric}, p.model)
        classes, sizes = _classes_of(counts, frame.schema[target], target)
        cv = self._folds(sizes, classes, ctx)
        return {**base, "checked": True, "cv": cv, "classes": [_plain(c) for c in classes],
                "class_rows": sizes.tolist()}  # fmt: skip

    def streamed(
        self, passes: Callable[[], Iterator[pl.DataFrame]], state: dict[str, Any], ctx: StepContext
    ) -> tuple[dict[str, Any], Callable[[], Stage]] | None:
        """The issues over every row in bounded memory: a stratified sample (one pass), its
        out-of-fold probabilities and the model fitted on it for the rows outside it, then
        cleanlab's `LabelInspector` over all rows (two passes: thresholds, then scores) and a
        last pass over the rows it flags. The stage flags, drops or relabels by position."""
        if not state["checked"]:
            return None
        p = self.params
        if not p.low_memory:
            ctx.warn(
                "label_issues: --engine stream finds issues with cleanlab's batched finder "
                "(low_memory), without filter_by, frac_noise and min_examples_per_class; "
                "set low_memory: true for the memory engine's answer on the same data"
            )
        else:
            self._warn_finder_options(ctx)
        columns, target, cv = state["columns"], state["target"], state["cv"]
        sizes = np.asarray(state["class_rows"], dtype=np.int64)
        quotas = self._quotas(sizes, cv) if sizes.sum() > p.max_sample_rows else None
        # the features by kind as fit_from saw them: from the first batch with rows
        features = _Features(next(b for b in passes() if b.height), columns)
        scan = _Scan(passes, target, state["classes"])
        rows, positions, codes = self._sample(scan, [*columns, target], quotas, ctx)
        probabilities = self._probabilities(rows, positions, codes, features, cv, quotas, ctx)
        del rows
        found = self._inspect(scan, probabilities, len(sizes))
        classes = np.asarray(state["classes"], dtype=object)
        marks = found.marks()
        worst = _worst_entries(*found.worst, classes)
        relabelled = len(marks.relabel_at)
        final = self._summary(
            self._base(columns, target), cv, classes, found.per_class, worst, relabelled
        )
        if quotas is not None:
            final["sample_rows"] = len(positions)
            final["sample_per_class"] = {
                str(c): int(n)
                for c, n in zip(classes, np.bincount(codes, minlength=len(sizes)), strict=True)
            }
        final = plain_state(final, self.id)
        add = p.add_columns if p.add_columns is not None else p.action == "flag"
        keep = probabilities if add else None  # the stage needs them for the quality column
        return final, lambda: _IssueStage(self, final, scan, marks, keep)

    def _quotas(self, sizes: np.ndarray, cv: int) -> np.ndarray:
        """The sample's rows of each class: proportional to the class sizes, at least `cv` each
        (so that every fold of cross-validation has every class)."""
        limit, classes = self.params.max_sample_rows, len(sizes)
        if limit < classes * cv:
            raise RecipeError(
                f"label_issues: max_sample_rows {limit} is too small for {classes} classes with "
                f"cv {cv}: the sample needs at least {cv} rows of each class ({classes * cv})",
                hint=f"raise max_sample_rows to at least {classes * cv}, or lower cv",
            )
        return _apportion(sizes, limit, cv)

    @staticmethod
    def _sample(
        scan: _Scan, columns: list[str], quotas: np.ndarray | None, ctx: StepContext
    ) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
        """The sample's rows (of `columns`), their positions in the stream and class codes, in
        one pass; every row when `quotas` is None."""
        # seeded from the recipe seed and the step id (as `ctx.rng` is), in numpy's generator
        rng = np.random.default_rng([ctx.seed, zlib.crc32(ctx.step_id.encode())])
        sample = _Sample(quotas, rng)
        for start, batch, codes in scan.batches():
            sample.add(batch.select(columns), np.arange(start, start + batch.height), codes)
        return sample.close()

    def _probabilities(
        self, rows: pl.DataFrame, positions: np.ndarray, codes: np.ndarray, features: _Features,
        cv: int, quotas: np.ndarray | None, ctx: StepContext,
    ) -> _Probabilities:  # fmt: skip
        """Out-of-fold probabilities of the sample's rows (as the memory engine computes them
        for all rows), and the same model fitted on the whole sample for the other rows (when
        there are others: the sample was drawn by `quotas`)."""
        oof = self._pred_probs(rows, features, codes, cv, ctx)
        model = None
        if quotas is not None:
            pipeline, x = self._pipeline(features, ctx), self._matrix(rows, features)
            model = self._converging(ctx, "on the sample", lambda: pipeline.fit(x, codes))
        return _Probabilities(features, positions, oof, model)

    def _inspect(self, scan: _Scan, probabilities: _Probabilities, classes: int) -> _Found:
        """cleanlab's batched finder over every row, in its own batches, then the rows it flags
        checked as `find_label_issues_batched` does (rows the model predicts as given are not
        issues) and summarised."""
        from cleanlab.experimental.label_issues_batched import LabelInspector

        inspector = LabelInspector(num_class=classes, verbose=False, n_jobs=1)
        for labels, probs in _chunks(scan.probabilities(probabilities), FINDER_BATCH):
            inspector.update_confident_thresholds(labels, probs)
        for labels, probs in _chunks(scan.probabilities(probabilities), FINDER_BATCH):
            inspector.score_label_quality(labels, probs)
        candidates = np.sort(inspector.get_label_issues()).astype(np.int64)
        del inspector  # its per-row scores
        return self._confirm(scan, probabilities, candidates, classes)

    def _confirm(
        self, scan: _Scan, probabilities: _Probabilities, candidates: np.ndarray, classes: int
    ) -> _Found:
        from cleanlab.count import _reduce_issues

        found = _Found(self.params, classes)
        for start, batch, codes in scan.batches():
            lo, hi = np.searchsorted(candidates, [start, start + batch.height])
            if lo == hi:
                continue
            rows = candidates[lo:hi] - start
            probs, given = probabilities(batch, start)[rows], codes[rows]
            real = ~_reduce_issues(probs, given)
            found.add(rows[real] + start, given[real], probs[real])
        return found

    class State(StepState):
        columns: list[Column]
        target: Column
        model: Model
        filter_by: FilterBy
        checked: bool
        issues: int
        issues_per_class: dict[str, int]
        worst: list[dict[str, Scalar]]
        relabelled: int
        # only when checked
        cv: int | None = None
        classes: list[Scalar] | None = None
        dropped: int | None = None
        # only when the streaming engine fitted the model on a sample smaller than the data
        sample_rows: int | None = None
        sample_per_class: dict[str, int] | None = None

        def made(self, step: Step, columns: dict[str, str]) -> dict[str, str]:
            p = step.params
            made = {}
            if p.add_columns if p.add_columns is not None else p.action == "flag":
                made = {p.quality_column: "numeric", p.issue_column: "boolean"}
            if p.action == "relabel" and p.keep_original:
                made[f"{self.target}__original"] = columns.get(self.target, "other")
            return made

    # -- applying -------------------------------------------------------------------------------
    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        if not state.get("checked"):
            return frame
        # recompute the per-row results (deterministic for the same data and seed)
        rows = self._check(frame, ctx)[1]
        self._report_rows(frame, state, rows, ctx)
        return self._output(frame, state, rows, ctx)

    def _output(
        self,
        frame: pl.DataFrame,
        state: dict[str, Any],
        rows: dict[str, np.ndarray] | None,
        ctx: StepContext,
    ) -> pl.DataFrame:
        """The frame flagged, cleaned or relabelled from the per-row results."""
        if rows is None or not state.get("checked"):
            return frame
        p = self.params
        target = state["target"]
        add = p.add_columns if p.add_columns is not None else p.action == "flag"
        new = (
            [
                pl.Series(p.quality_column, rows["quality"]),
                pl.Series(p.issue_column, rows["issues"]),
            ]
            if add
            else []
        )
        if p.action == "relabel":
            classes = pl.Series(state["classes"])
            suggested = classes.gather(rows["suggested"])
            dtype = frame.schema[target]
            suggested = (
                suggested.cast(pl.String).cast(dtype)
                if isinstance(dtype, (pl.Categorical, pl.Enum))
                else suggested.cast(dtype)
            )
            relabelled = (
                pl.when(pl.Series(rows["relabel"]))
                .then(suggested)
                .otherwise(pl.col(target))
                .alias(target)
            )
            original = [pl.col(target).alias(f"{target}__original")] if p.keep_original else []
            return frame.with_columns(*original, relabelled, *new)
        out = frame.with_columns(new) if new else frame
        if p.action == "drop":
            out = ctx.filter_rows(out, ~pl.Series(rows["issues"]))
        return out

    def learned(self, state: dict[str, Any]) -> dict[str, Any]:
        """The stream engine's sample, when the model was fitted on one."""
        return {k: state[k] for k in ("sample_rows", "sample_per_class") if k in state}

    def describe(
        self, before: pl.DataFrame, after: pl.DataFrame, state: dict[str, Any]
    ) -> dict[str, Any]:
        keys = (
            "issues",
            "issues_per_class",
            "worst",
            "relabelled",
            "dropped",
        )
        return {k: state[k] for k in keys if k in state}


# -- the streaming engine's passes ---------------------------------------------------------------
class _Scan:
    """Passes over the step's input: each batch with the position of its first row in the stream
    and its rows' class codes (the index of their label in the sorted `classes`)."""

    def __init__(
        self, passes: Callable[[], Iterator[pl.DataFrame]], target: str, classes: list[Any]
    ) -> None:
        self.passes, self.target, self.classes = passes, target, classes

    def codes(self, labels: pl.Series) -> np.ndarray:
        coded = _as_labels(labels).replace_strict(
            self.classes, list(range(len(self.classes))), return_dtype=pl.Int64
        )
        return coded.to_numpy().astype(np.intp)

    def batches(self) -> Iterator[tuple[int, pl.DataFrame, np.ndarray]]:
        start = 0
        for batch in self.passes():
            yield start, batch, self.codes(batch[self.target])
            start += batch.height

    def probabilities(
        self, probabilities: _Probabilities
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(labels, predicted probabilities) batch by batch."""
        for start, batch, codes in self.batches():
            yield codes, probabilities(batch, start)


class _Sample:
    """A stratified sample of a stream, its rows in stream order: every row when `quotas` is
    None, else for each class `c` the `quotas[c]` rows with the smallest keys, one uniform key a
    row drawn in stream order from `rng` (so the sample does not depend on the batch size).
    Holds at most twice the sample and one batch."""

    def __init__(self, quotas: np.ndarray | None, rng: np.random.Generator) -> None:
        self.quotas, self.rng = quotas, rng
        self.complete = quotas is None  # every row
        self.limit = 0 if quotas is None else int(quotas.sum())
        self.parts: list[tuple[pl.DataFrame, np.ndarray, np.ndarray, np.ndarray]] = []
        self.held = 0

    def add(self, rows: pl.DataFrame, positions: np.ndarray, codes: np.ndarray) -> None:
        keys = np.empty(0) if self.complete else self.rng.random(rows.height)
        self.parts.append((rows, positions, codes, keys))
        self.held += rows.height
        if not self.complete and self.held > 2 * self.limit:
            self._reduce()

    def _reduce(self) -> None:
        rows = pl.concat([part[0] for part in self.parts])
        positions, codes, keys = (
            np.concatenate([part[i] for part in self.parts]) for i in (1, 2, 3)
        )
        if not self.complete:
            keep = _smallest_per_class(keys, codes, self.quotas)
            rows, positions, codes, keys = (
                rows.filter(pl.Series(keep)),
                positions[keep],
                codes[keep],
                keys[keep],
            )
        self.parts, self.held = [(rows, positions, codes, keys)], rows.height

    def close(self) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
        """The sample: its rows, their positions and class codes."""
        self._reduce()
        rows, positions, codes, _ = self.parts.pop()
        return rows, positions, codes


class _Probabilities:
    """Each row's predicted probabilities: out-of-fold for the sample's rows, from the model
    fitted on the whole sample for the others (no model when the sample is every row)."""

    def __init__(
        self, features: _Features, positions: np.ndarray, oof: np.ndarray, model: Any
    ) -> None:
        self.features, self.positions, self.oof, self.model = features, positions, oof, model

    def __call__(self, batch: pl.DataFrame, start: int) -> np.ndarray:
        lo, hi = np.searchsorted(self.positions, [start, start + batch.height])
        if hi - lo == batch.height:  # every row of the batch is in the sample
            return self.oof[lo:hi]
        probs = np.empty((batch.height, self.oof.shape[1]))
        inside = self.positions[lo:hi] - start
        probs[inside] = self.oof[lo:hi]
        outside = np.ones(batch.height, dtype=bool)
        outside[inside] = False
        x = LabelIssues._matrix(batch.filter(pl.Series(outside)), self.features)
        probs[outside] = self.model.predict_proba(x)
        return probs


class _Found:
    """What the last pass finds about the rows that are issues, added batch by batch in stream
    order: their positions, their number per class, the rows to relabel (positions and suggested
    classes) and the `WORST_ROWS` lowest scores so far (ties: the earlier row, as in memory)."""

    def __init__(self, params: Any, classes: int) -> None:
        self.params = params
        self.per_class = np.zeros(classes, dtype=np.int64)
        self._positions: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
        self._relabel: list[tuple[np.ndarray, np.ndarray]] = [
            (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.intp))
        ]
        none = np.empty(0, dtype=np.intp)
        self.worst = (np.empty(0, dtype=np.int64), np.empty(0), none, none)

    def add(self, positions: np.ndarray, given: np.ndarray, probs: np.ndarray) -> None:
        p = self.params
        quality = _quality(given, probs, p.quality_score)
        suggested = probs.argmax(axis=1)
        confidence = probs[np.arange(len(given)), suggested]
        self._positions.append(positions)
        self.per_class += np.bincount(given, minlength=len(self.per_class))
        if p.action == "relabel":
            relabel = (suggested != given) & (confidence >= p.relabel_threshold)
            self._relabel.append((positions[relabel], suggested[relabel]))
        new = (positions, quality, given, suggested)
        merged = [np.concatenate(pair) for pair in zip(self.worst, new, strict=True)]
        order = np.argsort(merged[1], kind="stable")[:WORST_ROWS]  # earlier rows first on ties
        self.worst = tuple(column[order] for column in merged)  # type: ignore[assignment]

    def marks(self) -> _Marks:
        return _Marks(
            np.concatenate(self._positions),
            np.concatenate([at for at, _ in self._relabel]),
            np.concatenate([to for _, to in self._relabel]),
        )


class _Marks(NamedTuple):
    """The positions of the rows that are issues, and of those to relabel with their suggested
    class codes (ascending positions)."""

    issues: np.ndarray
    relabel_at: np.ndarray
    relabel_to: np.ndarray


class _IssueStage(Stage):
    """label_issues on a pass of the streaming engine: each batch flagged, cleaned or relabelled
    at the positions found (as `_output` does in memory); the quality column, when added, from
    the probabilities computed again for the batch. Each batch records its own counts."""

    def __init__(
        self, step: LabelIssues, state: dict[str, Any], scan: _Scan, marks: _Marks,
        probabilities: _Probabilities | None,
    ) -> None:  # fmt: skip
        self.step, self.state, self.scan, self.probabilities = step, state, scan, probabilities
        self.issues, self.relabel_at, self.relabel_to = marks
        self.seen = 0

    def __call__(self, batch: pl.DataFrame, ctx: Any = None) -> pl.DataFrame:
        start, height = self.seen, batch.height
        self.seen += height
        issues = np.zeros(height, dtype=bool)
        lo, hi = np.searchsorted(self.issues, [start, start + height])
        issues[self.issues[lo:hi] - start] = True
        relabel, suggested = np.zeros(height, dtype=bool), np.zeros(height, dtype=np.intp)
        lo, hi = np.searchsorted(self.relabel_at, [start, start + height])
        relabel[self.relabel_at[lo:hi] - start] = True
        suggested[self.relabel_at[lo:hi] - start] = self.relabel_to[lo:hi]
        quality = None
        if self.probabilities is not None:
            codes = self.scan.codes(batch[self.state["target"]])
            quality = _quality(
                codes, self.probabilities(batch, start), self.step.params.quality_score
            )
        if ctx is not None:
            ctx.record(**self._counts(batch, issues, relabel))
        rows = {"issues": issues, "quality": quality, "suggested": suggested, "relabel": relabel}
        return self.step._output(batch, self.state, rows, ctx or StepContext())

    def _counts(
        self, batch: pl.DataFrame, issues: np.ndarray, relabel: np.ndarray
    ) -> dict[str, Any]:
        """This batch's part of the state's counts (they add up to them over the batches)."""
        action = self.step.params.action
        codes = self.scan.codes(batch[self.state["target"]].filter(pl.Series(issues)))
        per_class = np.bincount(codes, minlength=len(self.state["classes"]))
        n = int(issues.sum())
        return {
            "issues": n,
            "issues_per_class": {
                str(c): int(k) for c, k in zip(self.state["classes"], per_class, strict=True)
            },
            "relabelled": int(relabel.sum()) if action == "relabel" else 0,
            "dropped": n if action == "drop" else 0,
        }
