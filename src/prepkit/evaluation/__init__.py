"""`prepkit evaluate`: does the recipe help? Repeated stratified K-fold without leakage.

In every split the recipe is fitted on the training folds only (its train-only steps run on
them only) and the held-out fold is only transformed, as `prepkit apply` would; a model trained
on the training folds' output is scored on the held-out fold. The same splits score a baseline
(by default the recipe without its train-only steps), so each metric gets a paired difference
with a confidence interval from the corrected resampled t-test (`compare`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from prepkit import recipe as _recipe
from prepkit.errors import CheckFailed, DataError, RecipeError
from prepkit.evaluation.compare import TEST, corrected_t_test, verdict
from prepkit.evaluation.metrics import METRICS, confusion, fold_metrics, summary
from prepkit.evaluation.models import make_model, model_name, takes_weights
from prepkit.frames import to_polars
from prepkit.parallel import default_workers, run_pool

MAX_CLASSES = 50  # a target with more distinct values is taken for a regression target


@dataclass
class Variant:
    """One recipe scored on every split."""

    name: str
    recipe: _recipe.Recipe
    description: str
    metrics: dict[str, list[float]] = field(default_factory=dict)
    confusion: np.ndarray | None = None
    features: list[str] = field(default_factory=list)
    unused: dict[str, str] = field(default_factory=dict)  # column -> dtype, not a model input
    train_rows: list[int] = field(default_factory=list)  # training rows after the recipe
    warnings: dict[str, int] = field(default_factory=dict)  # the model's warnings -> fits
    # out-of-fold class probabilities of the first repeat, one row per input row (for curves)
    oof: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "steps": [s.id for s in self.recipe.steps],
            "metrics": {k: {**summary(v), "folds": v} for k, v in self.metrics.items()},
            "confusion_matrix": self.confusion.tolist() if self.confusion is not None else None,
            "features": self.features,
            "not_model_inputs": self.unused,
            "training_rows": summary([float(n) for n in self.train_rows]),
            "model_warnings": self.warnings,
        }


@dataclass
class Evaluation:
    """What `evaluate` found: the variants' metrics per split and their paired comparisons."""

    recipe: str
    model: str
    model_params: dict[str, Any]
    target: str
    classes: list[Any]
    minority: Any
    cv: int
    repeats: int
    seed: int
    rows: int
    grouped_by: str | None
    confidence: float
    variants: list[Variant]
    comparisons: list[dict[str, Any]]
    seconds: float = 0.0
    labels: np.ndarray | None = field(default=None, repr=False)  # each row's class position

    def write_report(self, path: str | Path) -> None:
        """A self-contained HTML page (tables, PR and ROC curves, confusion matrices) for
        `.html`/`.htm`, else the JSON of `to_dict`; written atomically."""
        import json

        from prepkit.io.atomic import write_text_atomic

        path = Path(path)
        if path.suffix.lower() in (".html", ".htm"):
            from prepkit.evaluation.render import report_html

            assert self.labels is not None
            write_text_atomic(path, report_html(self, self.labels))
        else:
            write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)

    def comparison(self, metric: str, variant: str = "recipe", against: str = "baseline") -> dict:
        return next(
            c
            for c in self.comparisons
            if c["metric"] == metric and c["variant"] == variant and c["against"] == against
        )

    def worse(self, metric: str) -> bool:
        """Whether the recipe is significantly worse than the baseline on `metric`."""
        return self.comparison(metric)["verdict"] == "worse"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (a metric that cannot be computed is null)."""
        return _json_safe({
            "recipe": self.recipe,
            "model": self.model,
            "model_params": self.model_params,
            "target": self.target,
            "classes": self.classes,
            "minority_class": self.minority,
            "cv": self.cv,
            "repeats": self.repeats,
            "seed": self.seed,
            "rows": self.rows,
            "grouped_by": self.grouped_by,
            "test": TEST,
            "confidence": self.confidence,
            "variants": [v.to_dict() for v in self.variants],
            "comparisons": self.comparisons,
            "seconds": round(self.seconds, 3),
        })  # fmt: skip

    def _repr_html_(self) -> str:
        from prepkit.evaluation.render import summary_html

        return summary_html(self)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def evaluate(
    recipe: _recipe.Recipe | str | Path,
    data: Any = None,
    *,
    input: str | Path | None = None,
    cv: int = 5,
    repeats: int = 1,
    seed: int | None = None,
    model: str | Any = "logistic",
    model_params: dict[str, Any] | None = None,
    baseline: str | Path | _recipe.Recipe | None = "default",
    ablate: bool = False,
    ignore: list[str] | tuple[str, ...] = (),
    workers: int | None = None,
    confidence: float = 0.95,
    quiet: bool = True,
) -> Evaluation:
    """Cross-validate the recipe against a baseline; see the module docstring.

    `data`: a pandas/polars frame (else `input`, else the recipe's `input:`). `baseline`:
    "default" (the recipe without its train-only steps), "none" (impute + encode only), another
    recipe (a `Recipe` or a YAML path), or None (no baseline). `ablate`: also score the recipe
    with each train-only step removed in turn. `ignore`: columns that are no model input (ids).
    `seed` (default: the recipe's) draws the folds and
    seeds the model. `workers`: processes for the splits; the result is the same for any count.
    """
    start = time.perf_counter()
    if not isinstance(recipe, _recipe.Recipe):
        recipe = _recipe.load_recipe(recipe)
    if cv < 2:
        raise RecipeError(f"--cv {cv}: cross-validation needs at least 2 folds")
    if repeats < 1:
        raise RecipeError(f"--repeats {repeats}: give at least 1")
    if not 0 < confidence < 1:
        raise RecipeError(f"confidence {confidence} must be between 0 and 1 (e.g. 0.95)")
    target = recipe.spec.target
    if target is None:
        raise RecipeError(
            "evaluate needs the recipe's `target:` (the class column the model predicts)",
            hint="add `target: COLUMN` to the recipe or --set target=COLUMN",
        )
    seed = recipe.spec.seed if seed is None else seed
    frame = _read(recipe, data, input)
    if target not in frame.columns:
        raise DataError(f"target column '{target}' is not in the data")
    y, classes = _classes(frame[target])
    group = recipe.spec.split.group if recipe.spec.split else None
    splits = _splits(y, frame, group, cv, repeats, seed)
    counts = np.bincount(y, minlength=len(classes))
    minority = int(np.argmin(counts))
    estimator = make_model(model, model_params, seed)  # checked before any fold runs

    variants = _variants(recipe, baseline, ablate)
    n_workers = default_workers(workers, recipe.spec.workers)
    jobs = [(v, s) for v in range(len(variants)) for s in range(len(splits))]
    shared = _Shared(
        recipes=[_for_folds(v.recipe, single=n_workers > 1) for v in variants],
        frame=frame, classes=classes, splits=splits, estimator=estimator, target=target,
        ignore=set(ignore),
    )  # fmt: skip
    results = run_pool(
        _score_split, shared, jobs, workers=n_workers, quiet=quiet, label="evaluating",
        progress_min=2, pool_min_jobs=4,
    )  # fmt: skip
    for (v, s), result in zip(jobs, results, strict=True):
        _collect(variants[v], result, y, splits[s], classes, minority, first=s < cv)

    ratio = float(np.mean([len(test) / len(train) for train, test in splits]))
    comparisons = _comparisons(variants, ratio, confidence)
    return Evaluation(
        recipe=recipe.name, model=model_name(model), model_params=_shown(estimator), target=target,
        classes=classes.to_list(), minority=classes[minority], cv=cv, repeats=repeats,
        seed=seed, rows=frame.height, grouped_by=group, confidence=confidence,
        variants=variants, comparisons=comparisons, seconds=time.perf_counter() - start, labels=y,
    )  # fmt: skip


def check_metrics(metrics: list[str]) -> None:
    """A `RecipeError` for a metric name `--fail-if-worse` does not know."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        from prepkit.errors import suggest

        raise RecipeError(
            f"--fail-if-worse {unknown[0]}: unknown metric{suggest(unknown[0], METRICS)}",
            hint=f"metrics: {', '.join(METRICS)}",
        )


def _shown(estimator: Any) -> dict[str, Any]:
    """The model's settings that are plain values (what JSON can hold)."""
    plain = (bool, int, float, str, type(None))
    return {k: v for k, v in estimator.get_params(deep=False).items() if isinstance(v, plain)}


def fail_if_worse(result: Evaluation, metrics: list[str]) -> None:
    """A `CheckFailed` (exit code 3) when the recipe is significantly worse on any of `metrics`."""
    check_metrics(metrics)
    if not any(c["against"] == "baseline" for c in result.comparisons):
        raise RecipeError("--fail-if-worse compares with a baseline: do not give --baseline none")
    worse = [m for m in metrics if result.worse(m)]
    if worse:
        details = "; ".join(
            f"{m} {c['mean']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}]"
            for m in worse
            for c in [result.comparison(m)]
        )
        raise CheckFailed(
            f"the recipe is significantly worse than the baseline: {details}",
            hint=f"{result.confidence:.0%} interval of the paired difference ({TEST})",
        )


# -- data, folds and variants ------------------------------------------------------------------


def _read(recipe: _recipe.Recipe, data: Any, input: str | Path | None) -> pl.DataFrame:
    from prepkit.io import read_table, source_name
    from prepkit.pipeline import require_rows
    from prepkit.runner import recipe_read_options

    if data is not None:
        frame = to_polars(data)[0]
        name = None
    elif input is not None:  # read as `prepkit run -i` reads it
        options = recipe_read_options(
            recipe.spec.input and recipe.spec.input.model_dump(), input, None
        )
        frame, name = read_table(input, None, options), source_name(input)
    elif recipe.spec.input is not None:
        path = recipe.resolve(recipe.spec.input.path)
        frame = read_table(path, recipe.spec.input.format, recipe.spec.input.options)
        name = source_name(path)
    else:
        raise RecipeError("no input: give `input:` in the recipe or -i PATH")
    require_rows(frame, name)
    return frame


def _classes(target: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """Each row's class position and the sorted classes; a clear error for a regression target."""
    if target.null_count():
        raise DataError(
            f"target column '{target.name}' has {target.null_count()} missing values",
            hint="drop those rows first: a model cannot learn from a missing class",
        )
    classes = target.unique().sort()
    if len(classes) < 2:
        raise DataError(f"target column '{target.name}' has a single class: nothing to predict")
    if len(classes) > MAX_CLASSES or target.dtype.is_float():
        raise DataError(
            f"target column '{target.name}' has {len(classes)} distinct values: evaluate scores "
            "classification recipes",
            hint="a regression target is not supported yet; give a class column as `target:`",
        )
    return _positions(target, classes), classes


def _splits(
    y: np.ndarray, frame: pl.DataFrame, group: str | None, cv: int, repeats: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) positions of every split: repeated stratified K-fold, grouped when the
    recipe's split has `group` (StratifiedGroupKFold, reshuffled per repeat)."""
    from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedGroupKFold

    smallest = int(np.bincount(y).min())
    if smallest < cv:
        raise DataError(
            f"the smallest class has {smallest} rows: too few for {cv} stratified folds",
            hint=f"use --cv {max(2, smallest)} or fewer folds",
        )
    x = np.zeros(len(y))
    if group is None:
        splitter = RepeatedStratifiedKFold(n_splits=cv, n_repeats=repeats, random_state=seed)
        return list(splitter.split(x, y))
    if group not in frame.columns:
        raise DataError(f"split group column '{group}' is not in the data")
    groups = frame[group].cast(pl.String).fill_null("").to_numpy()
    if len(np.unique(groups)) < cv:
        raise DataError(f"group column '{group}' has fewer than {cv} groups: too few for --cv {cv}")
    splits = []
    for r in range(repeats):
        splitter = StratifiedGroupKFold(n_splits=cv, shuffle=True, random_state=seed + r)
        splits.extend(splitter.split(x, y, groups))
    return splits


def _without(recipe: _recipe.Recipe, drop: set[str]) -> _recipe.Recipe:
    return _recipe.Recipe(
        recipe.spec, [s for s in recipe.steps if s.id not in drop], recipe.base_dir, recipe.source
    )


def _minimal(recipe: _recipe.Recipe) -> _recipe.Recipe:
    """`--baseline none`: impute by dtype and one-hot encode, the least a model needs."""
    spec = {
        "name": "impute_and_encode",
        "target": recipe.spec.target,
        "seed": recipe.spec.seed,
        "steps": [
            {"step": "impute", "columns": "numeric", "strategy": "median"},
            {"step": "impute", "columns": "categorical", "strategy": "most_frequent"},
            {"step": "encode", "columns": "categorical", "method": "onehot", "max_categories": 20},
        ],
    }
    return _recipe.load_recipe(spec)


def _variants(
    recipe: _recipe.Recipe, baseline: str | Path | _recipe.Recipe | None, ablate: bool
) -> list[Variant]:
    train_only = [s.id for s in recipe.steps if s.phase == "train_only"]
    variants = [Variant("recipe", recipe, f"the recipe ({len(recipe.steps)} steps)")]
    if isinstance(baseline, _recipe.Recipe):
        variants.append(Variant("baseline", baseline, f"the recipe {baseline.name}"))
    elif baseline == "default":
        described = ", ".join(train_only) if train_only else "none: the same recipe"
        variants.append(
            Variant("baseline", _without(recipe, set(train_only)),
                    f"the recipe without its train-only steps ({described})")
        )  # fmt: skip
    elif baseline == "none":
        variants.append(
            Variant("baseline", _minimal(recipe), "impute (median / most frequent) + one-hot only")
        )
    elif baseline is not None:
        other = _recipe.load_recipe(baseline)
        variants.append(Variant("baseline", other, f"the recipe {baseline}"))
    if ablate:
        if not train_only:
            raise RecipeError("--ablate removes each train-only step in turn: the recipe has none")
        for step_id in train_only:
            variants.append(
                Variant(f"without {step_id}", _without(recipe, {step_id}),
                        f"the recipe without {step_id}")
            )  # fmt: skip
    return variants


def _for_folds(recipe: _recipe.Recipe, single: bool) -> _recipe.Recipe:
    """The recipe as each split fits it: no split of its own (the folds are the split), one
    process per split when the splits run in parallel."""
    update: dict[str, Any] = {"split": None}
    if single:
        update["workers"] = 1
    return _recipe.Recipe(
        recipe.spec.model_copy(update=update), recipe.steps, recipe.base_dir, recipe.source
    )


# -- one split ---------------------------------------------------------------------------------


@dataclass
class _Shared:
    recipes: list[_recipe.Recipe]
    frame: pl.DataFrame
    classes: pl.Series  # sorted; a class's position is its column in the probabilities
    splits: list[tuple[np.ndarray, np.ndarray]]
    estimator: Any
    target: str
    ignore: set[str]


@dataclass
class _Scored:
    proba: np.ndarray
    features: list[str]
    unused: dict[str, str]
    train_rows: int
    warnings: list[str]


def _score_split(shared: _Shared, job: tuple[int, int]) -> _Scored:
    """Fit the recipe on the training folds, transform the held-out fold, train and score."""
    from sklearn.base import clone

    from prepkit.fitted import fit_frame

    v, s = job
    recipe = shared.recipes[v]
    train, test = shared.splits[s]
    fitted, train_out = fit_frame(recipe, shared.frame[train], profile=False)
    test_out = fitted.transform_frame(shared.frame[test])[0]
    weight = _weight_column(recipe)
    skip = {shared.target, *shared.ignore} | ({weight} if weight else set())
    features, unused = _model_inputs(train_out, test_out, skip)
    if not features:
        raise DataError(
            f"recipe {recipe.name}: no numeric column is left for the model",
            hint="encode the categorical columns (step: encode) so the model has inputs",
        )
    model = clone(shared.estimator)
    x_train = _matrix(train_out, features)
    _require_values(x_train, features, recipe, model)
    classes = shared.classes
    y_train = _positions(train_out[shared.target], classes)
    fit_args: dict[str, Any] = {}
    if weight is not None:
        if not takes_weights(model):
            raise RecipeError(
                f"the model {type(model).__name__} takes no sample weights, which the recipe's "
                "class_weights step gives",
                hint="use --model logistic, random_forest or hist_gradient_boosting",
            )
        fit_args["sample_weight"] = train_out[weight].to_numpy()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(x_train, y_train, **fit_args)
            scores = model.predict_proba(_matrix(test_out, features))
    except ValueError as exc:
        detail = str(exc).strip().splitlines()[0]
        hint = "add an impute step for them" if "NaN" in detail else "run with --debug"
        raise DataError(f"recipe {recipe.name}: the model failed: {detail}", hint=hint) from exc
    proba = np.zeros((len(test), len(classes)))
    proba[:, model.classes_] = scores
    said = sorted(
        {f"{w.category.__name__}: {str(w.message).strip().splitlines()[0]}" for w in caught}
    )
    return _Scored(proba, features, unused, train_out.height, said)


def _weight_column(recipe: _recipe.Recipe) -> str | None:
    for step in recipe.steps:
        if step.name == "class_weights" and step.params.add_column:
            return step.params.column
    return None


def _model_inputs(
    train: pl.DataFrame, test: pl.DataFrame, skip: set[str]
) -> tuple[list[str], dict[str, str]]:
    """The model's inputs: the numeric and boolean columns the held-out fold comes out with
    (so columns only train-only steps add, like `synthetic`, are left out), without the target,
    the weight column and the ignored columns."""
    features, unused = [], {}
    for name, dtype in test.schema.items():
        if name in skip or name not in train.columns:
            continue
        if dtype.is_numeric() or dtype == pl.Boolean:
            features.append(name)
        else:
            unused[name] = str(dtype)
    return features, unused


def _require_values(x: np.ndarray, features: list[str], recipe: _recipe.Recipe, model: Any) -> None:
    """Missing model inputs, named (unless the model takes them, as gradient boosting does)."""
    from sklearn.utils import get_tags

    if get_tags(model).input_tags.allow_nan:
        return
    gaps = np.isnan(x).sum(axis=0)
    if gaps.any():
        named = ", ".join(f"{features[i]} ({gaps[i]})" for i in np.flatnonzero(gaps)[:5])
        raise DataError(
            f"recipe {recipe.name}: the model's inputs have missing values in the training folds' "
            f"output: {named}",
            hint="impute them in the recipe, or leave id-like columns out of the model with "
            "--ignore COLUMN (rows added by resampling have no id)",
        )


def _matrix(frame: pl.DataFrame, features: list[str]) -> np.ndarray:
    return frame.select(pl.col(features).cast(pl.Float64)).to_numpy()


def _positions(values: pl.Series, classes: pl.Series) -> np.ndarray:
    return values.cast(classes.dtype).to_frame("v").join(
        classes.to_frame("v").with_row_index("i"), on="v", how="left", maintain_order="left"
    )["i"].to_numpy().astype(np.int64)  # fmt: skip


def _collect(
    variant: Variant, result: _Scored, y: np.ndarray, split: tuple[np.ndarray, np.ndarray],
    classes: pl.Series, minority: int, first: bool,
) -> None:  # fmt: skip
    test = split[1]
    scores = fold_metrics(y[test], result.proba, classes, minority)
    for name, value in scores.items():
        variant.metrics.setdefault(name, []).append(value)
    counts = confusion(y[test], result.proba, len(classes))
    variant.confusion = counts if variant.confusion is None else variant.confusion + counts
    variant.features, variant.unused = result.features, result.unused
    variant.train_rows.append(result.train_rows)
    for message in result.warnings:
        variant.warnings[message] = variant.warnings.get(message, 0) + 1
    if first:
        if variant.oof is None:
            variant.oof = np.zeros((len(y), len(classes)))
        variant.oof[test] = result.proba


def _comparisons(variants: list[Variant], ratio: float, confidence: float) -> list[dict[str, Any]]:
    """The recipe against the baseline, and the recipe against each ablation (a positive
    difference: the removed step helps)."""
    recipe = variants[0]
    out = []
    for other in variants[1:]:
        for metric, higher in METRICS.items():
            d = np.asarray(recipe.metrics[metric]) - np.asarray(other.metrics[metric])
            test = corrected_t_test(d, ratio, confidence)
            out.append({
                "variant": "recipe", "against": other.name, "metric": metric, **test,
                "verdict": verdict(test, higher),
            })  # fmt: skip
    return out
