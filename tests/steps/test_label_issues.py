import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app
from prepkit.errors import DataError, RecipeError

ROOT = Path(__file__).resolve().parents[2]
SEED = 3
# deliberately not in sorted order: pred_probs columns must follow the sorted classes (cleanlab #997)
NAMES = np.array(["zebra", "apple", "mango"])


def recipe(target="y", **params):
    return prepkit.load_recipe(
        {"target": target, "seed": SEED, "steps": [{"step": "label_issues", "cv": 3, **params}]}
    )


@pytest.fixture(scope="module")
def noisy():
    """A clean, separable 3-class set with 10% of the labels flipped; returns (frame, flipped)."""
    x, y = make_classification(
        n_samples=600, n_features=6, n_informative=5, n_redundant=0, n_classes=3,
        n_clusters_per_class=1, class_sep=2.5, flip_y=0, random_state=0,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    flipped = np.zeros(len(y), dtype=bool)
    flipped[rng.choice(len(y), len(y) // 10, replace=False)] = True
    noisy_y = y.copy()
    noisy_y[flipped] = (y[flipped] + rng.integers(1, 3, flipped.sum())) % 3
    frame = pl.DataFrame({f"x{i}": x[:, i] for i in range(x.shape[1])}).with_columns(
        y=pl.Series(NAMES[noisy_y]), truth=pl.Series(NAMES[y])
    )
    return frame.drop("truth"), flipped, frame["truth"]


def direct_pred_probs(frame: pl.DataFrame, cv: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """What a user would write with scikit-learn and cleanlab, without prepkit."""
    x = frame.drop("y").to_numpy()
    classes, labels = np.unique(frame["y"].to_numpy(), return_inverse=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=SEED)
    return labels, cross_val_predict(model, x, labels, cv=folds, method="predict_proba")


@pytest.fixture(scope="module")
def direct(noisy):
    return direct_pred_probs(noisy[0])


def test_finds_injected_flips_with_high_precision_and_recall(noisy):
    frame, flipped, _ = noisy
    flags = recipe().fit_transform(frame)["is_label_issue"].to_numpy()
    hits = (flags & flipped).sum()
    precision, recall = hits / flags.sum(), hits / flipped.sum()
    assert precision >= 0.7 and recall >= 0.7, (precision, recall)


def test_same_issues_and_scores_as_cleanlab_called_directly(noisy, direct):
    labels, pred_probs = direct
    out = recipe().fit_transform(noisy[0])
    expected = find_label_issues(labels, pred_probs)
    np.testing.assert_array_equal(out["is_label_issue"].to_numpy(), expected)
    quality = get_label_quality_scores(labels, pred_probs)
    np.testing.assert_allclose(out["label_quality"].to_numpy(), quality, rtol=1e-9)
    # and direct cleanlab on the same data also passes the 0.7 bar, i.e. prepkit is comparable
    flipped = noisy[1]
    assert (expected & flipped).sum() / expected.sum() >= 0.7


@pytest.mark.parametrize(
    "filter_by",
    ["prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
     "predicted_neq_given", "low_normalized_margin", "low_self_confidence"],
)  # fmt: skip
def test_filter_by_passes_through_to_cleanlab(noisy, direct, filter_by):
    labels, pred_probs = direct
    out = recipe(filter_by=filter_by).fit_transform(noisy[0])
    expected = find_label_issues(labels, pred_probs, filter_by=filter_by)
    np.testing.assert_array_equal(out["is_label_issue"].to_numpy(), expected)


def test_frac_noise_and_min_examples_per_class_pass_through(noisy, direct):
    labels, pred_probs = direct
    out = recipe(frac_noise=0.5, min_examples_per_class=190).fit_transform(noisy[0])
    expected = find_label_issues(labels, pred_probs, frac_noise=0.5, min_examples_per_class=190)
    np.testing.assert_array_equal(out["is_label_issue"].to_numpy(), expected)
    assert expected.sum() < find_label_issues(labels, pred_probs).sum()


def test_low_memory_uses_cleanlab_batched_finder(noisy, direct):
    from cleanlab.experimental.label_issues_batched import find_label_issues_batched

    labels, pred_probs = direct
    out = recipe(low_memory=True).fit_transform(noisy[0])
    expected = find_label_issues_batched(labels, pred_probs, return_mask=True, verbose=False)
    np.testing.assert_array_equal(out["is_label_issue"].to_numpy(), expected)


def test_quality_score_method(noisy, direct):
    labels, pred_probs = direct
    out = recipe(quality_score="normalized_margin").fit_transform(noisy[0])
    expected = get_label_quality_scores(labels, pred_probs, method="normalized_margin")
    np.testing.assert_allclose(out["label_quality"].to_numpy(), expected, rtol=1e-9)


def test_flag_adds_named_columns_and_keeps_rows(noisy):
    frame = noisy[0]
    out = recipe(quality_column="q", issue_column="bad").fit_transform(frame)
    assert out.columns == [*frame.columns, "q", "bad"]
    assert out.schema["q"] == pl.Float64 and out.schema["bad"] == pl.Boolean
    assert out.drop("q", "bad").equals(frame)


def test_drop_removes_exactly_the_issue_rows(noisy, direct):
    frame = noisy[0]
    fitted = recipe(action="drop").fit(frame)
    out = recipe(action="drop").fit_transform(frame)
    mask = find_label_issues(*direct)
    assert out.equals(frame.filter(~pl.Series(mask)))  # no columns added by default
    changes = fitted.report.steps[0].changes
    assert changes["issues"] == changes["dropped"] == int(mask.sum())
    assert fitted.report.steps[0].rows_out == len(frame) - int(mask.sum())


def test_drop_with_add_columns_keeps_quality(noisy):
    out = recipe(action="drop", add_columns=True).fit_transform(noisy[0])
    assert "label_quality" in out.columns and not out["is_label_issue"].any()


def test_relabel_only_confident_issues_and_keeps_original(noisy, direct):
    frame, _, truth = noisy
    labels, pred_probs = direct
    fitted = recipe(action="relabel", relabel_threshold=0.9).fit(frame)
    out = recipe(action="relabel", relabel_threshold=0.9).fit_transform(frame)
    mask = find_label_issues(labels, pred_probs)
    suggested = pred_probs.argmax(axis=1)
    change = mask & (suggested != labels) & (pred_probs.max(axis=1) >= 0.9)
    classes = np.unique(frame["y"].to_numpy())
    expected = np.where(change, classes[suggested], frame["y"].to_numpy())
    assert out["y"].to_list() == expected.tolist()
    assert out["y__original"].equals(frame["y"].alias("y__original"))
    assert fitted.report.steps[0].changes["relabelled"] == int(change.sum()) > 0
    # the relabelled rows mostly get their true label back
    assert (out["y"].filter(pl.Series(change)) == truth.filter(pl.Series(change))).mean() >= 0.9
    assert out.columns == [*frame.columns, "y__original"]


def test_relabel_threshold_one_changes_nothing_and_keeps_integer_dtype(noisy):
    frame = noisy[0].with_columns(pl.col("y").replace_strict({"zebra": 2, "apple": 0, "mango": 1}))
    out = recipe(action="relabel", relabel_threshold=1.0, keep_original=False).fit_transform(frame)
    assert out.equals(frame)
    low = recipe(action="relabel", relabel_threshold=0.0).fit_transform(frame)
    assert low.schema["y"] == pl.Int64 and (low["y"] != frame["y"]).sum() > 0


def test_describe_counts_per_class_and_worst_rows(noisy, direct):
    frame = noisy[0]
    changes = recipe().fit(frame).report.steps[0].changes
    labels, pred_probs = direct
    mask = find_label_issues(labels, pred_probs)
    quality = get_label_quality_scores(labels, pred_probs)
    assert changes["issues"] == int(mask.sum())
    per_class = {c: int((mask & (frame["y"].to_numpy() == c)).sum()) for c in sorted(NAMES)}
    assert changes["issues_per_class"] == per_class
    worst = changes["worst"]
    rows = np.flatnonzero(mask)
    assert [w["row"] for w in worst] == rows[np.argsort(quality[rows], kind="stable")][:10].tolist()
    first = worst[0]
    assert first["given"] == frame["y"][first["row"]]
    assert first["suggested"] == sorted(NAMES)[int(pred_probs[first["row"]].argmax())]
    assert first["quality"] == pytest.approx(quality[first["row"]], abs=1e-6)
    assert changes["relabelled"] == 0


def test_same_seed_same_output_other_seed_other_folds(noisy):
    a = recipe().fit_transform(noisy[0])
    b = recipe().fit_transform(noisy[0])
    assert a.equals(b)
    other = prepkit.load_recipe(
        {"target": "y", "seed": SEED + 1, "steps": [{"step": "label_issues", "cv": 3}]}
    ).fit_transform(noisy[0])
    assert not np.allclose(other["label_quality"].to_numpy(), a["label_quality"].to_numpy())


def test_other_models_find_the_flips(noisy):
    frame, flipped, _ = noisy
    for model in ("hist_gradient_boosting", "random_forest"):
        out = recipe(
            model=model, model_params={"max_iter": 50} if "hist" in model else {"n_estimators": 30}
        )
        flags = out.fit_transform(frame)["is_label_issue"].to_numpy()
        hits = (flags & flipped).sum()
        assert hits / flags.sum() >= 0.7 and hits / flipped.sum() >= 0.7, model


def test_works_on_every_backend(backend, noisy):
    frame = noisy[0].head(300)
    out = backend.to_polars(recipe().fit_transform(backend.make(frame)))
    expected = recipe().fit_transform(frame)
    np.testing.assert_array_equal(out["is_label_issue"].to_numpy(), expected["is_label_issue"])


# -- categorical and text features --------------------------------------------------------------
def _tickets(n=240, seed=0):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 2, n)
    words = np.array([["refund", "invoice", "charge"], ["crash", "error", "router"]])
    subject = [" ".join(["please", *rng.choice(words[t], 2), "today"]) for t in true]
    channel = np.where(true == 0, "email", "chat")
    channel = np.where(rng.random(n) < 0.2, "phone", channel)
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, n // 10, replace=False)] = True
    given = np.where(flipped, 1 - true, true)
    frame = pl.DataFrame(
        {"subject": subject, "channel": channel, "team": np.array(["bill", "tech"])[given]}
    )
    return frame, flipped


def test_text_column_via_tfidf_finds_flips():
    frame, flipped = _tickets()
    out = recipe(target="team", columns=["subject"]).fit_transform(frame)
    flags = out["is_label_issue"].to_numpy()
    hits = (flags & flipped).sum()
    assert hits / flags.sum() >= 0.7 and hits / flipped.sum() >= 0.7


def test_text_features_equal_sklearn_tfidf_pipeline():
    from sklearn.feature_extraction.text import TfidfVectorizer

    frame, _ = _tickets()
    labels = (frame["team"] == "tech").cast(pl.Int64).to_numpy()
    model = make_pipeline(TfidfVectorizer(max_features=5000), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=SEED)
    pp = cross_val_predict(
        model, frame["subject"].to_list(), labels, cv=folds, method="predict_proba"
    )
    out = recipe(target="team", columns=["subject"]).fit_transform(frame)
    np.testing.assert_allclose(
        out["label_quality"].to_numpy(), get_label_quality_scores(labels, pp)
    )


def test_categorical_with_nulls_and_text_together():
    frame, flipped = _tickets()
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise("channel").alias("channel")
    )
    for model in ("logistic_regression", "hist_gradient_boosting"):
        out = recipe(target="team", model=model).fit_transform(frame)
        flags = out["is_label_issue"].to_numpy()
        assert (flags & flipped).sum() / flipped.sum() >= 0.7, model


# -- errors -------------------------------------------------------------------------------------
def test_single_class_target_is_a_data_error():
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a"] * 4})
    with pytest.raises(DataError, match="single class"):
        recipe().fit(frame)


def test_missing_target_column_and_missing_target_setting():
    frame = pl.DataFrame({"x": [1.0, 2.0], "label": [0, 1]})
    with pytest.raises(DataError, match="target column 'y' is not in the data"):
        recipe().fit(frame)
    with pytest.raises(RecipeError, match="needs a target"):
        prepkit.load_recipe({"steps": [{"step": "label_issues"}]}).fit(frame)


def test_nan_features_with_logistic_regression_is_a_clear_error(noisy):
    frame = noisy[0].with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(float("nan")).otherwise(pl.col("x1")).alias("x1"),
        pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("x2")).alias("x2"),
    )
    with pytest.raises(DataError, match=r"missing in 'x1' \(3 rows\), 'x2' \(1 rows\)") as err:
        recipe().fit(frame)
    assert "impute" in err.value.hint
    out = recipe(model="hist_gradient_boosting", model_params={"max_iter": 30}).fit_transform(frame)
    assert out["is_label_issue"].sum() > 0


def test_missing_labels_are_an_error():
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", None, "b", "a"]})
    with pytest.raises(DataError, match="1 missing label"):
        recipe().fit(frame)


def test_class_with_one_row_is_an_error_and_small_class_lowers_cv(noisy):
    base = noisy[0].head(60)
    one = pl.concat([base, base.head(1).with_columns(y=pl.lit("rare"))])
    with pytest.raises(DataError, match="class 'rare' has only 1 row"):
        recipe().fit(one)
    two = pl.concat([base, base.head(2).with_columns(y=pl.lit("rare"))])
    fitted = recipe(cv=5).fit(two)
    assert "cv lowered from 5 to 2" in fitted.report.steps[0].warnings[0]
    assert fitted.state("label_issues_1")["cv"] == 2


def test_unsupported_feature_dtype_is_an_error():
    frame = pl.DataFrame(
        {"d": pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 1, 6), eager=True), "y": [0, 1] * 3}
    )
    with pytest.raises(DataError, match="cannot use column"):
        recipe().fit(frame)


def test_bad_options_are_recipe_errors(noisy):
    with pytest.raises(RecipeError, match="prune_by_class"):
        recipe(filter_by="prune_by_clas")
    with pytest.raises(RecipeError, match="relabel"):
        recipe(action="relabell")
    with pytest.raises(RecipeError, match="cv"):
        recipe(cv=1)
    with pytest.raises(RecipeError, match="bad model_params"):
        recipe(model_params={"no_such": 1}).fit(noisy[0].head(60))


# -- step contract ------------------------------------------------------------------------------
def test_json_round_trip_of_fitted_recipe(noisy, tmp_path):
    frame = noisy[0]
    fitted = recipe(action="drop").fit(frame)
    state = fitted.state("label_issues_1")
    assert json.loads(json.dumps(state)) == state
    assert state["classes"] == sorted(NAMES.tolist())
    path = fitted.save(tmp_path / "f.prepkit.json")
    loaded = prepkit.load_fitted(path)
    # train-only: new data passes through unchanged, before and after the round trip
    assert loaded.transform(frame).equals(fitted.transform(frame))
    assert loaded.transform(frame).equals(frame)
    assert len(json.dumps(state)) < 10_000  # counts only, never per-row data
    # the reference profile: 101 percentiles per number, counts per category, whatever the rows
    profile = json.loads(path.read_text())["reference_profile"]
    assert all(len(p.get("percentiles") or []) in (0, 101) for p in profile.values())


def test_zero_rows_and_one_row():
    empty = pl.DataFrame({"x": [], "y": []}, schema={"x": pl.Float64, "y": pl.String})
    with pytest.raises(DataError, match="has no rows"):
        recipe().fit(empty)
    with pytest.raises(DataError, match="single class"):
        recipe().fit(pl.DataFrame({"x": [1.0], "y": ["a"]}))


def test_empty_selection_is_a_noop(noisy):
    frame = noisy[0]
    fitted = recipe(columns={"regex": "^nothing$"}).fit(frame)
    assert recipe(columns={"regex": "^nothing$"}).fit_transform(frame).equals(frame)
    assert "nothing checked" in fitted.report.steps[0].warnings[0]


def test_apply_on_another_frame_recomputes(noisy):
    from prepkit.steps.base import StepContext

    fitted = recipe().fit(noisy[0])
    step, state = fitted.steps[0], fitted.states[0]
    half = noisy[0].head(300)
    out = step.apply(half, state, StepContext(target="y", seed=SEED, step_id="label_issues_1"))
    assert out.height == 300 and "is_label_issue" in out.columns


# -- end to end ---------------------------------------------------------------------------------
def test_label_noise_recipe_runs_via_cli(tmp_path):
    runner = CliRunner()
    out = tmp_path / "ln.parquet"
    result = runner.invoke(
        app,
        ["run", str(ROOT / "recipes/label_noise.yaml"), "-o", str(out), "-q",
         "--report", str(tmp_path / "report.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    train = pl.read_parquet(tmp_path / "ln_train.parquet")
    test = pl.read_parquet(tmp_path / "ln_test.parquet")
    truth = pl.read_csv(ROOT / "sample_data" / "label_noise_truth.csv")
    assert train.height < 1400 and test.height == 400  # only the training part loses rows
    # most flipped training rows are gone; almost no clean ones were dropped
    kept = train.join(truth, on="ticket_id")
    assert kept["flipped"].sum() <= 10
    fitted = json.loads((tmp_path / "ln.prepkit.json").read_text())
    assert fitted["steps"][0]["state"]["issues"] == 1400 - train.height


def test_label_issue_fraction_gate_fails_with_exit_3(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["run", str(ROOT / "recipes/label_noise.yaml"), "-o", str(tmp_path / "ln.parquet"), "-q",
         "--report", str(tmp_path / "report.json"), "--set", "checks.1.max=0.01"],
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "label_issue_fraction" in result.output


def test_relabel_keeps_categorical_and_boolean_target_dtype(noisy):
    frame = noisy[0]
    cat = frame.with_columns(pl.col("y").cast(pl.Categorical))
    out = recipe(action="relabel", relabel_threshold=0.5).fit_transform(cat)
    assert out.schema["y"] == pl.Categorical
    strings = recipe(action="relabel", relabel_threshold=0.5).fit_transform(frame)
    assert out["y"].cast(pl.String).equals(strings["y"])
    two = frame.filter(pl.col("y") != "mango").with_columns(pl.col("y") == "zebra")
    flipped = recipe(action="relabel", relabel_threshold=0.5).fit_transform(two)
    assert flipped.schema["y"] == pl.Boolean and (flipped["y"] != two["y"]).sum() > 0


def test_low_memory_warns_about_ignored_options(noisy):
    fitted = recipe(low_memory=True, filter_by="both").fit(noisy[0])
    assert "low_memory ignores filter_by" in fitted.report.steps[0].warnings[0]


def test_non_convergence_is_a_report_warning(noisy):
    fitted = recipe(model_params={"max_iter": 1}).fit(noisy[0])
    assert any("did not converge" in w for w in fitted.report.steps[0].warnings)
