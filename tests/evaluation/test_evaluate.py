"""prepkit evaluate: folds without leakage, metrics equal to scikit-learn's, the corrected
resampled t-test, baselines, ablations, models, workers, and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app
from prepkit.errors import CheckFailed, DataError, RecipeError
from prepkit.evaluation import _score_split, _Shared, _splits, evaluate, fail_if_worse
from prepkit.evaluation.compare import corrected_t_test
from prepkit.fitted import fit_frame

SMOTE = {
    "name": "smoted",
    "target": "y",
    "seed": 3,
    "steps": [
        {"step": "impute", "columns": "numeric", "strategy": "median"},
        {"step": "smote", "k_neighbors": 5},
        {"step": "encode", "columns": "categorical", "method": "onehot"},
        {"step": "scale", "columns": ["a", "b", "c"], "method": "standard"},
    ],
}


def _data(n: int = 400, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.8 * x[:, 1] + rng.normal(scale=0.8, size=n) > 1.6).astype(np.int64)
    a = x[:, 0].copy()
    a[rng.random(n) < 0.05] = np.nan
    return pl.DataFrame({
        "a": a, "b": x[:, 1], "c": x[:, 2],
        "colour": rng.choice(["red", "green", "blue"], n).tolist(), "y": y,
    })  # fmt: skip


def _recipe(spec: dict = SMOTE, **changes) -> prepkit.Recipe:
    return prepkit.load_recipe({**spec, **changes})


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return _data()


@pytest.fixture(scope="module")
def result(frame):
    return evaluate(_recipe(), frame, cv=4, repeats=2, seed=5, workers=1, ablate=True)


def test_each_fold_is_the_hand_written_loop_on_the_training_rows_only(frame, result):
    """Fitting the recipe on the training folds only, by hand, gives the same fold metrics."""
    y = frame["y"].to_numpy()
    splitter = RepeatedStratifiedKFold(n_splits=4, n_repeats=2, random_state=5)
    recipe = prepkit.load_recipe(SMOTE)
    expected_ba, expected_ap, expected_rows = [], [], []
    for train, test in splitter.split(np.zeros(len(y)), y):
        fitted, out = fit_frame(recipe, frame[train])
        held = fitted.transform_frame(frame[test])[0]
        features = [c for c in held.columns if c != "y"]
        model = LogisticRegression(max_iter=2000, random_state=5)
        model.fit(out.select(features).to_numpy(), out["y"].to_numpy())
        proba = model.predict_proba(held.select(features).to_numpy())
        expected_ba.append(skm.balanced_accuracy_score(y[test], proba.argmax(1)))
        expected_ap.append(skm.average_precision_score(y[test], proba[:, 1]))
        expected_rows.append(out.height)
    recipe_result = result.variant("recipe")
    np.testing.assert_allclose(recipe_result.metrics["balanced_accuracy"], expected_ba, rtol=1e-12)
    np.testing.assert_allclose(recipe_result.metrics["average_precision"], expected_ap, rtol=1e-12)
    assert recipe_result.train_rows == expected_rows
    # SMOTE grew the training folds only: every training fold ends balanced and larger
    assert all(n > 300 for n in expected_rows)


def test_held_out_labels_never_reach_fitting(frame):
    """Change the labels of the held-out rows: their predictions do not move."""
    y = frame["y"].to_numpy()
    splits = _splits(y, frame, None, 4, 1, 0)
    changed = frame.with_columns(
        pl.when(pl.int_range(pl.len()).is_in(splits[0][1])).then(1 - pl.col("y")).otherwise(pl.col("y")).alias("y")
    )  # fmt: skip

    def predictions(data: pl.DataFrame) -> np.ndarray:
        shared = _Shared(
            recipes=[_recipe()], frame=data, classes=data["y"].unique().sort(), splits=splits,
            estimator=LogisticRegression(max_iter=2000), target="y", ignore=set(),
        )  # fmt: skip
        return _score_split(shared, (0, 0)).proba

    np.testing.assert_array_equal(predictions(frame), predictions(changed))


def test_the_corrected_t_test_is_the_formula():
    d = np.array([0.02, 0.05, -0.01, 0.04, 0.03, 0.01, 0.06, 0.0, 0.02, 0.03])
    ratio = 0.25  # 5 folds: a fifth held out, four fifths trained on
    got = corrected_t_test(d, ratio, 0.95)
    se = math.sqrt((1 / 10 + ratio) * d.var(ddof=1))
    t = d.mean() / se
    assert got["mean"] == pytest.approx(d.mean())
    assert got["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), 9))
    half = stats.t.ppf(0.975, 9) * se
    assert (got["low"], got["high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    # wider than the naive paired t-test, which ignores that the folds overlap
    naive = stats.ttest_rel(d, np.zeros_like(d))
    assert got["p_value"] > naive.pvalue


def test_comparisons_pair_the_same_folds(result):
    recipe, baseline = result.variant("recipe"), result.variant("baseline")
    assert [s.id for s in baseline.recipe.steps] == ["impute_1", "encode_3", "scale_4"]
    c = result.comparison("balanced_accuracy")
    d = np.subtract(recipe.metrics["balanced_accuracy"], baseline.metrics["balanced_accuracy"])
    assert c["mean"] == pytest.approx(d.mean())
    # SMOTE raises balanced accuracy on a 1:6 problem, significantly
    assert c["verdict"] == "better" and c["low"] > 0
    assert len(recipe.metrics["roc_auc"]) == 8  # 4 folds x 2 repeats
    # the ablation without smote is the baseline here
    assert result.variant("without smote_2").metrics == baseline.metrics


def test_metrics_are_scikit_learns(frame, result):
    recipe = result.variant("recipe")
    assert recipe.confusion.sum() == frame.height * 2  # every row held out once per repeat
    assert result.minority == 1
    for name in ("log_loss", "f1_macro", "minority_recall", "roc_auc"):
        assert all(np.isfinite(recipe.metrics[name]))
    oof = recipe.oof
    y = frame["y"].to_numpy()
    # the first repeat's out-of-fold scores give the curves; ROC-AUC of the pooled scores
    assert skm.roc_auc_score(y, oof[:, 1]) == pytest.approx(
        np.mean(recipe.metrics["roc_auc"][:4]), abs=0.05
    )


def test_same_result_for_any_number_of_workers(frame):
    one = evaluate(_recipe(), frame, cv=3, workers=1).to_dict()
    two = evaluate(_recipe(), frame, cv=3, workers=2).to_dict()
    one.pop("seconds"), two.pop("seconds")
    assert one == two


def test_class_weights_reach_the_model_as_sample_weights(frame):
    spec = {**SMOTE, "steps": [SMOTE["steps"][0], {"step": "class_weights"}, *SMOTE["steps"][2:]]}
    got = evaluate(_recipe(spec), frame, cv=3, seed=1, workers=1, baseline=None)
    recipe = got.variant("recipe")
    assert "sample_weight" not in recipe.features
    y = frame["y"].to_numpy()
    expected = []
    for train, test in _splits(y, frame, None, 3, 1, 1):
        fitted, out = fit_frame(_recipe(spec), frame[train])
        held = fitted.transform_frame(frame[test])[0]
        features = [c for c in held.columns if c != "y"]
        model = LogisticRegression(max_iter=2000, random_state=1, class_weight="balanced")
        model.fit(out.select(features).to_numpy(), out["y"].to_numpy())
        expected.append(
            skm.balanced_accuracy_score(y[test], model.predict(held.select(features).to_numpy()))
        )
    np.testing.assert_allclose(recipe.metrics["balanced_accuracy"], expected, rtol=1e-9)


@pytest.mark.parametrize("model", ["logistic", "random_forest", "hist_gradient_boosting", "knn"])
def test_models_by_name(frame, model):
    got = evaluate(_recipe(), frame, cv=3, model=model, workers=1, baseline=None,
                   model_params={"n_estimators": 20} if model == "random_forest" else None)  # fmt: skip
    assert got.model == model
    assert 0.5 < got.variant("recipe").to_dict()["metrics"]["roc_auc"]["mean"] <= 1
    if model == "random_forest":
        assert (
            got.model_params["n_estimators"] == 20 and got.model_params["random_state"] == 3
        )  # the recipe seed


def test_an_estimator_from_python(frame):
    from sklearn.tree import DecisionTreeClassifier

    got = evaluate(_recipe(), frame, cv=3, model=DecisionTreeClassifier(max_depth=2), workers=1)
    assert got.model == "DecisionTreeClassifier" and got.model_params["max_depth"] == 2


def test_baseline_none_and_another_recipe(frame, tmp_path):
    none = evaluate(_recipe(), frame, cv=3, baseline="none", workers=1)
    assert [s.name for s in none.variant("baseline").recipe.steps] == ["impute", "impute", "encode"]
    other = tmp_path / "other.yaml"
    other.write_text(
        "name: other\ntarget: y\nsteps:\n  - {step: impute, strategy: mean}\n  - {step: encode}\n"
    )
    got = evaluate(_recipe(), frame, cv=3, baseline=other, workers=1)
    assert [s.id for s in got.variant("baseline").recipe.steps] == ["impute_1", "encode_2"]


def test_grouped_folds_keep_groups_apart(frame):
    grouped = frame.with_columns((pl.int_range(pl.len()) // 4).alias("customer"))
    y = grouped["y"].to_numpy()
    for train, test in _splits(y, grouped, "customer", 4, 2, 0):
        assert not set(grouped["customer"].to_numpy()[train]) & set(
            grouped["customer"].to_numpy()[test]
        )
    got = evaluate(
        _recipe(split={"group": "customer"}), grouped, cv=4, workers=1, ignore=["customer"]
    )
    assert got.grouped_by == "customer" and "customer" not in got.variant("recipe").features


def test_fail_if_worse(frame, result):
    fail_if_worse(result, ["balanced_accuracy"])  # better: no error
    plain = _recipe({**SMOTE, "steps": [s for s in SMOTE["steps"] if s["step"] != "smote"]})
    worse = evaluate(plain, frame, cv=4, repeats=2, seed=5, workers=1, baseline=_recipe())
    assert worse.worse("balanced_accuracy")  # without SMOTE, against SMOTE as the baseline
    fail_if_worse(worse, ["roc_auc"])  # no significant difference: no error
    with pytest.raises(CheckFailed) as caught:
        fail_if_worse(worse, ["roc_auc", "balanced_accuracy"])
    assert caught.value.exit_code == 3 and "balanced_accuracy" in caught.value.message


def test_errors(frame):
    with pytest.raises(RecipeError, match="target"):
        evaluate(_recipe(target=None), frame)
    with pytest.raises(DataError, match="classification"):
        evaluate(_recipe(target="b"), frame)
    with pytest.raises(DataError, match="too few for 5 stratified folds"):
        evaluate(
            _recipe(),
            frame.head(40)
            .with_columns(pl.lit(0, pl.Int64).alias("y"))
            .vstack(frame.filter(pl.col("y") == 1).head(3)),
        )
    with pytest.raises(RecipeError, match="no parameter 'C'"):
        evaluate(_recipe(), frame, model="knn", model_params={"C": 1})
    with pytest.raises(DataError, match="missing values in the training folds' output: a"):
        evaluate(_recipe({**SMOTE, "steps": SMOTE["steps"][2:]}), frame, cv=3, workers=1)


# -- K-fold split and leakage ------------------------------------------------------------------


def test_kfold_with_train_only_steps_is_a_recipe_error():
    with pytest.raises(RecipeError, match="prepkit evaluate") as caught:
        _recipe(split={"kfold": 5, "stratify": True})
    assert caught.value.exit_code == 2 and "smote_2" in caught.value.message


def test_the_fold_column_is_never_selected_by_a_dtype_group(frame):
    recipe = prepkit.load_recipe({
        "target": "y", "split": {"kfold": 3},
        "steps": [{"step": "impute"}, {"step": "scale", "columns": "numeric"}],
    })  # fmt: skip
    out = recipe.run(frame, write=False).outputs["train"]
    assert sorted(out["fold"].unique().to_list()) == [0, 1, 2]  # not standardised
    scale = recipe.run(frame, write=False).fitted.state("scale_2")
    assert "fold" not in scale["columns"]


# -- command line ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory, frame):
    folder = tmp_path_factory.mktemp("evaluate")
    frame.write_csv(folder / "data.csv")
    import yaml

    (folder / "recipe.yaml").write_text(yaml.safe_dump({**SMOTE, "input": "data.csv"}))
    return folder


def test_cli_json_report_and_exit_codes(files):
    runner = CliRunner()
    report = files / "eval.html"
    done = runner.invoke(
        app, ["evaluate", str(files / "recipe.yaml"), "--cv", "3", "--repeats", "2", "--seed", "4",
              "--json", "-q", "--report", str(report), "--workers", "1", "--ablate"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert (data["cv"], data["repeats"], data["seed"]) == (3, 2, 4)
    assert [v["name"] for v in data["variants"]] == ["recipe", "baseline", "without smote_2"]
    assert len(data["variants"][0]["metrics"]["balanced_accuracy"]["folds"]) == 6
    page = report.read_text()
    assert page.count("<svg") == 1 and "precision-recall" in page
    assert not any(s in page for s in ('src="http', 'href="http', "src='http"))
    plain = {
        **SMOTE,
        "input": "data.csv",
        "steps": [s for s in SMOTE["steps"] if s["step"] != "smote"],
    }
    (files / "plain.yaml").write_text(json.dumps(plain))
    failed = runner.invoke(
        app, ["evaluate", str(files / "plain.yaml"), "--cv", "3", "--repeats", "2", "--seed", "4",
              "-q", "--workers", "1", "--baseline", str(files / "recipe.yaml"),
              "--fail-if-worse", "balanced_accuracy"],
    )  # fmt: skip
    assert failed.exit_code == 3
    assert "significantly worse" in failed.output


def test_cli_model_params_and_errors(files):
    runner = CliRunner()
    base = ["evaluate", str(files / "recipe.yaml"), "--cv", "3", "--json", "-q", "--workers", "1"]
    done = runner.invoke(
        app, [*base, "--model", "knn", "--model-param", "n_neighbors=9", "--baseline", "none"]
    )
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["model"] == "knn" and data["model_params"]["n_neighbors"] == 9
    assert data["variants"][1]["description"].startswith("impute")
    bad = runner.invoke(app, [*base, "--fail-if-worse", "balanced_acc"])
    assert bad.exit_code == 2 and "did you mean 'balanced_accuracy'" in bad.output
    bad = runner.invoke(app, [*base, "--model", "svm"])
    assert bad.exit_code == 2 and "unknown model 'svm'" in bad.output
    assert "Traceback" not in bad.output


def test_multiclass_metrics_are_scikit_learns_one_vs_rest():
    from prepkit.evaluation.metrics import fold_metrics

    rng = np.random.default_rng(1)
    y = rng.choice(3, size=200, p=[0.6, 0.3, 0.1])
    proba = rng.dirichlet([1, 1, 1], size=200)
    proba[np.arange(200), y] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    got = fold_metrics(y, proba, np.array(["a", "b", "c"]), minority=2)
    onehot = np.eye(3)[y]
    assert got["average_precision"] == pytest.approx(
        skm.average_precision_score(onehot, proba, average="macro")
    )
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    assert got["f1_weighted"] == pytest.approx(skm.f1_score(y, proba.argmax(1), average="weighted"))
    assert got["minority_recall"] == pytest.approx(
        skm.recall_score(y, proba.argmax(1), labels=[2], average=None)[0]
    )
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert got["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(y, proba.argmax(1))
    )


def test_multiclass_evaluation(frame):
    three = frame.with_columns(pl.when(pl.col("c") > 1.0).then(2).otherwise(pl.col("y")).alias("y"))
    got = evaluate(_recipe(), three, cv=3, workers=1)
    assert got.classes == [0, 1, 2]
    assert got.variant("recipe").confusion.shape == (3, 3)


def test_html_for_notebooks(frame, result):
    recipe = _recipe()
    assert "smote_2" in recipe._repr_html_() and "train_only" in recipe._repr_html_()
    fitted = recipe.fit(frame)
    page = fitted._repr_html_()
    assert "skipped" in page and "applied" in page and "impute_1" in page
    summary = result._repr_html_()
    assert "balanced_accuracy" in summary and "without smote_2" in summary


@pytest.mark.parametrize("seed", range(5))
def test_counting_metrics_are_scikit_learns(seed):
    """Random folds, some with a class never predicted (zero division)."""
    from prepkit.evaluation.metrics import fold_metrics

    rng = np.random.default_rng(seed)
    n_classes = 2 + seed % 2
    y = rng.choice(n_classes, size=60)
    proba = rng.dirichlet(np.ones(n_classes), size=60)
    if seed % 2 == 0:
        proba[:, 0] += 2  # class 0 always predicted: the others have no predictions
    proba /= proba.sum(axis=1, keepdims=True)
    got = fold_metrics(y, proba, np.arange(n_classes), minority=1)
    pred = proba.argmax(1)
    labels = list(range(n_classes))
    assert got["f1_macro"] == pytest.approx(
        skm.f1_score(y, pred, labels=labels, average="macro", zero_division=0)
    )
    assert got["f1_weighted"] == pytest.approx(
        skm.f1_score(y, pred, labels=labels, average="weighted", zero_division=0)
    )
    assert got["minority_precision"] == pytest.approx(
        skm.precision_score(y, pred, labels=[1], average=None, zero_division=0)[0]
    )
    assert got["minority_f1"] == pytest.approx(
        skm.f1_score(y, pred, labels=[1], average=None, zero_division=0)[0]
    )
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))


def test_confidence_level_and_set_from_the_cli(files):
    runner = CliRunner()
    base = ["evaluate", str(files / "recipe.yaml"), "--cv", "3", "--json", "-q", "--workers", "1"]
    wide = json.loads(runner.invoke(app, [*base, "--confidence", "0.99"]).stdout)
    narrow = json.loads(runner.invoke(app, [*base, "--confidence", "0.8"]).stdout)
    w, n = wide["comparisons"][0], narrow["comparisons"][0]
    assert w["mean"] == n["mean"] and w["high"] - w["low"] > n["high"] - n["low"] > 0
    changed = runner.invoke(app, [*base, "--set", "steps.2.k_neighbors=2", "--baseline", "none"])
    assert changed.exit_code == 0, changed.output
    data = json.loads(changed.stdout)
    smote = next(s for s in data["variants"][0]["steps"] if s.startswith("smote"))
    assert smote == "smote_2" and data["variants"][0]["metrics"] != wide["variants"][0]["metrics"]


def test_report_as_json(tmp_path, result):
    result.write_report(tmp_path / "eval.json")
    assert json.loads((tmp_path / "eval.json").read_text()) == json.loads(
        json.dumps(result.to_dict())
    )
