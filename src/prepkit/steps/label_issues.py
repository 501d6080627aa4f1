"""Label issues: find training rows whose label is probably wrong (confident learning, cleanlab)."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from prepkit.columns import Selector, dtype_group, select_columns
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


def _plain(value: Any) -> Any:
    """A numpy scalar as plain Python, for JSON state."""
    return value.item() if isinstance(value, np.generic) else value


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

    ```yaml
    - step: label_issues
      model: logistic_regression     # or hist_gradient_boosting, random_forest
      cv: 5
      filter_by: prune_by_noise_rate
      action: flag                   # or drop, relabel
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

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        return self._check(frame, ctx)[0]

    def fit_transform(
        self, frame: pl.DataFrame, ctx: StepContext
    ) -> tuple[dict[str, Any], pl.DataFrame]:
        """Cross-validate once: the per-row results of fitting give the training output."""
        state, rows = self._check(frame, ctx)
        state = plain_state(state, self.id)
        return state, self._output(frame, state, rows, ctx)

    def _check(
        self, frame: pl.DataFrame, ctx: StepContext
    ) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
        """The state and the per-row results (None when nothing was checked)."""
        p = self.params
        target = ctx.require_target(frame, "label_issues")
        columns = select_columns(frame, p.columns, target)
        columns = [c for c in columns if c != target]
        base = {"columns": columns, "target": target, "model": p.model, "filter_by": p.filter_by}
        if not columns or frame.height == 0:
            ctx.warn("label_issues: no feature columns or no rows; nothing checked")
            return {
                **base,
                "checked": False,
                "issues": 0,
                "issues_per_class": {},
                "worst": [],
                "relabelled": 0,
            }, None
        features = _Features(frame, columns)
        if p.model not in NAN_MODELS:
            self._check_missing(frame, features, p.model)
        given, classes = self._encode_labels(frame[target])
        cv = self._folds(given, classes, ctx)
        pred_probs = self._pred_probs(frame, features, given, cv, ctx)
        issues, quality = self._find(given, pred_probs, ctx)
        suggested = pred_probs.argmax(axis=1)
        confidence = pred_probs[np.arange(len(given)), suggested]
        relabel = issues & (suggested != given) & (confidence >= p.relabel_threshold)
        rows = {"issues": issues, "quality": quality, "suggested": suggested, "relabel": relabel}
        state = {
            **base,
            "checked": True,
            "cv": cv,
            "classes": [_plain(c) for c in classes],
            "issues": int(issues.sum()),
            "issues_per_class": {
                str(_plain(c)): int(n)
                for c, n in zip(
                    classes, np.bincount(given[issues], minlength=len(classes)), strict=True
                )
            },
            "worst": self._worst(issues, quality, given, suggested, classes),
            "relabelled": int(relabel.sum()) if p.action == "relabel" else 0,
            "dropped": int(issues.sum()) if p.action == "drop" else 0,
        }
        return state, rows

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
        gaps = {c: n for c, n in counts.items() if n}
        if gaps:
            raise DataError(
                f"label_issues with model {model} cannot use missing values; missing in "
                + ", ".join(f"'{c}' ({n} rows)" for c, n in gaps.items()),
                hint="impute first (- step: impute), or use model: hist_gradient_boosting or random_forest",
            )

    def _encode_labels(self, labels: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        if labels.null_count():
            raise DataError(
                f"target '{labels.name}' has {labels.null_count()} missing label(s)",
                hint="drop or fill the rows without a label before this step",
            )
        if isinstance(labels.dtype, (pl.Categorical, pl.Enum)):
            labels = labels.cast(pl.String)
        # sorted classes, so that pred_probs column k is class k (cleanlab #997)
        classes, given = np.unique(labels.to_numpy(), return_inverse=True)
        if len(classes) < 2:
            raise DataError(
                f"target '{labels.name}' has a single class ({_plain(classes[0])!r}); "
                "label issues need at least two classes",
                hint="check the target column, or remove the label_issues step",
            )
        return given.astype(np.intp), classes

    def _folds(self, given: np.ndarray, classes: np.ndarray, ctx: StepContext) -> int:
        counts = np.bincount(given, minlength=len(classes))
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
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        scale = self.params.model == "logistic_regression"
        if not features.categorical and not features.text:
            # numbers only: a plain float matrix, no column transformer
            x: Any = frame.select(pl.col(features.numeric).cast(pl.Float64)).to_numpy()
            steps = [StandardScaler()] if scale else []
        else:
            x, transformer = self._mixed(frame, features, scale)
            steps = [transformer]
        pipeline = make_pipeline(*steps, self._model(ctx))
        folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=ctx.seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            pred_probs = cross_val_predict(
                pipeline, x, given, cv=folds, method="predict_proba", n_jobs=ctx.workers
            )
        for w in caught:  # pass the others on
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn(w.message, w.category, stacklevel=2)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            ctx.warn(
                f"label_issues: {self.params.model} did not converge in some folds; "
                "raise model_params.max_iter (the scores may be less reliable)"
            )
        return pred_probs

    def _mixed(
        self, frame: pl.DataFrame, features: _Features, scale: bool
    ) -> tuple[pl.DataFrame, Any]:
        from sklearn.compose import ColumnTransformer
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        dense = self.params.model == "hist_gradient_boosting"  # it does not take sparse input
        x = frame.select(
            *[pl.col(c).cast(pl.Float64) for c in features.numeric],
            *[pl.col(c).cast(pl.String).fill_null(MISSING_CATEGORY) for c in features.categorical],
            *[pl.col(c).fill_null("") for c in features.text],
        )
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
        return x, ColumnTransformer(parts, sparse_threshold=0.0 if dense else 0.3)

    def _find(
        self, given: np.ndarray, pred_probs: np.ndarray, ctx: StepContext
    ) -> tuple[np.ndarray, np.ndarray]:
        from cleanlab.rank import get_label_quality_scores

        p = self.params
        if p.low_memory:
            from cleanlab.experimental.label_issues_batched import find_label_issues_batched

            if (
                p.filter_by != "prune_by_noise_rate"
                or p.frac_noise != 1.0
                or p.min_examples_per_class != 1
            ):
                ctx.warn(
                    "label_issues: low_memory ignores filter_by, frac_noise and min_examples_per_class"
                )
            issues = find_label_issues_batched(
                labels=given, pred_probs=pred_probs, return_mask=True, verbose=False, n_jobs=1
            )
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
        return [
            {
                "row": int(r),
                "given": _plain(classes[given[r]]),
                "suggested": _plain(classes[suggested[r]]),
                "quality": round(float(quality[r]), 6),
            }
            for r in rows
        ]

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
        return self._output(frame, state, self._check(frame, ctx)[1], ctx)

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
