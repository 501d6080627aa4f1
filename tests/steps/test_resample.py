import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from imblearn import combine, over_sampling, under_sampling
from sklearn.datasets import make_classification
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app
from prepkit.errors import DataError, RecipeError
from prepkit.runner import run_recipe

ROOT = Path(__file__).resolve().parents[2]
SEED = 7
FEATURES = ["f0", "f1", "f2", "f3"]

# the step and imbalanced-learn's own sampler with its defaults and the same seed
SAMPLERS = {
    "oversample": lambda: over_sampling.RandomOverSampler(random_state=SEED),
    "undersample": lambda: under_sampling.RandomUnderSampler(random_state=SEED),
    "smote": lambda: over_sampling.SMOTE(random_state=SEED),
    "borderline_smote": lambda: over_sampling.BorderlineSMOTE(random_state=SEED),
    "adasyn": lambda: over_sampling.ADASYN(random_state=SEED),
    "svm_smote": lambda: over_sampling.SVMSMOTE(random_state=SEED),
    "tomek_links": lambda: under_sampling.TomekLinks(),
    "edited_nearest_neighbours": lambda: under_sampling.EditedNearestNeighbours(),
    "near_miss": lambda: under_sampling.NearMiss(),
    "smote_tomek": lambda: combine.SMOTETomek(random_state=SEED),
    "smote_enn": lambda: combine.SMOTEENN(random_state=SEED),
}


def numeric_data(classes: int = 2) -> tuple[np.ndarray, np.ndarray, pl.DataFrame]:
    weights = [0.8, 0.2] if classes == 2 else [0.6, 0.3, 0.1]
    X, y = make_classification(
        n_samples=300, n_features=4, n_informative=3, n_redundant=0, n_classes=classes,
        n_clusters_per_class=1, weights=weights, random_state=1,
    )  # fmt: skip
    frame = pl.DataFrame({f: X[:, i] for i, f in enumerate(FEATURES)}).with_columns(y=pl.Series(y))
    return X, y, frame


def recipe(step: str, target: str | None = "y", seed: int = SEED, **params):
    spec = {"seed": seed, "steps": [{"step": step, **params}]}
    if target:
        spec["target"] = target
    return prepkit.load_recipe(spec)


def sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_numeric_output_equals_imbalanced_learn(name, classes):
    X, y, frame = numeric_data(classes)
    out = recipe(name).fit_transform(frame)
    X_res, y_res = SAMPLERS[name]().fit_resample(X, y)
    got = sorted_rows(out.select(*FEATURES, "y").to_numpy())
    expected = sorted_rows(np.column_stack([X_res, y_res]))
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    assert out.schema == frame.schema


@pytest.mark.parametrize("name", ["smote", "adasyn", "oversample", "smote_tomek"])
def test_original_rows_come_first_in_order(name):
    _, _, frame = numeric_data()
    out = recipe(name).fit_transform(frame)
    kept = out.head(frame.height)
    if name == "smote_tomek":  # cleaning removes some originals; the rest keep their order
        kept = out.join(frame.with_row_index(), on=[*FEATURES, "y"], how="inner")
        assert kept["index"].is_sorted()
    else:
        assert kept.equals(frame)


def test_report_counts_before_after_and_rows_synthesized():
    _, y, frame = numeric_data()
    fitted = recipe("smote").fit(frame)
    changes = fitted.report.steps[0].changes
    n0, n1 = int((y == 0).sum()), int((y == 1).sum())
    assert changes["class_counts_before"] == {"0": n0, "1": n1}
    assert changes["class_counts_after"] == {"0": n0, "1": n0}
    assert changes["rows_synthesized"] == n0 - n1 and changes["rows_removed"] == 0
    assert fitted.report.steps[0].learned["neighbours_used"] == {"k_neighbors": 5}
    assert fitted.state("smote_1")["sampler"] == "SMOTE"
    under = recipe("undersample").fit(frame).report.steps[0].changes
    assert under["rows_removed"] == n0 - n1 and under["rows_synthesized"] == 0


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (0.5, {0: 237, 1: 118}),
        ({1: 100}, {0: 237, 1: 100}),
        ({"1": 150}, {0: 237, 1: 150}),
        ("minority", {0: 237, 1: 237}),
    ],
)
def test_sampling_strategy_forms(strategy, expected):
    X, y, frame = numeric_data()
    out = recipe("smote", sampling_strategy=strategy).fit_transform(frame)
    counts = dict(out["y"].value_counts().sort("y").iter_rows())
    assert counts == expected
    imb_strategy = (
        {int(k): v for k, v in strategy.items()} if isinstance(strategy, dict) else strategy
    )
    _, y_res = over_sampling.SMOTE(sampling_strategy=imb_strategy, random_state=SEED).fit_resample(
        X, y
    )
    assert counts == {c: int((y_res == c).sum()) for c in (0, 1)}


def test_sampling_strategy_mapping_from_yaml_with_string_labels():
    _, y, frame = numeric_data()
    frame = frame.with_columns(y=pl.col("y").replace_strict({0: "stay", 1: "churn"}))
    spec = "target: y\nsteps:\n  - step: oversample\n    sampling_strategy: {churn: 100}\n"
    out = prepkit.load_recipe(spec).fit_transform(frame)
    assert out.filter(pl.col("y") == "churn").height == 100


def test_float_ratio_on_multiclass_is_a_clear_error():
    _, _, frame = numeric_data(3)
    with pytest.raises(DataError, match="sampling_strategy 0.5"):
        recipe("smote", sampling_strategy=0.5).fit(frame)


def test_mapping_with_unknown_class_is_a_clear_error():
    _, _, frame = numeric_data()
    with pytest.raises(DataError, match="class '7', which is not in the target"):
        recipe("smote", sampling_strategy={7: 100}).fit(frame)


def test_same_seed_same_rows_other_seed_other_rows():
    _, _, frame = numeric_data()
    a = recipe("smote", seed=1).fit_transform(frame)
    assert a.equals(recipe("smote", seed=1).fit_transform(frame))
    assert not a.equals(recipe("smote", seed=2).fit_transform(frame))


# -- mixed data: SMOTENC / SMOTEN -------------------------------------------------------------------
def mixed(n: int = 240, minority: int = 30) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    y = np.array([0] * (n - minority) + [1] * minority)
    return pl.DataFrame(
        {
            "id": np.arange(n),
            "age": rng.integers(18, 80, n),
            "charges": rng.normal(70, 20, n) + 15 * y,
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "region": pl.Series(rng.choice(["n", "s", "e", "w"], n)).cast(pl.Categorical),
            "tier": pl.Series(rng.choice(["a", "b"], n)).cast(pl.Enum(["a", "b", "c"])),
            "partner": rng.random(n) < 0.4,
            "note": ["a long free text note about the customer"] * n,
            "y": y,
        }
    )


def test_mixed_features_use_smotenc_and_keep_levels(backend):
    frame = mixed()
    out = backend.to_polars(
        recipe("smote", columns={"exclude": ["id", "note"]}, mark_synthetic=True).fit_transform(
            backend.make(frame)
        )
    )
    assert dict(out["y"].value_counts().sort("y").iter_rows()) == {0: 210, 1: 210}
    features = ["age", "charges", "plan", "region", "tier", "partner"]
    assert out.select(features).null_count().row(0) == (0,) * len(features)
    for c in ("plan", "region", "tier", "partner"):
        assert set(out[c].cast(pl.String).unique()) <= set(frame[c].cast(pl.String).unique())
    if backend.name == "polars":
        assert out.schema["age"] == pl.Int64 and out.schema["tier"] == pl.Enum(["a", "b", "c"])
        assert out.schema["region"] == pl.Categorical and out.schema["partner"] == pl.Boolean
    synthetic = out.filter(pl.col("synthetic"))
    assert synthetic.height == 180
    assert synthetic["id"].null_count() == 180 and synthetic["note"].null_count() == 180
    assert (
        out.filter(~pl.col("synthetic"))
        .drop("synthetic")
        .equals(backend.to_polars(backend.make(frame)))
    )


def test_mixed_output_equals_smotenc_called_directly():
    frame = mixed()
    fitted = recipe("smote", columns=["charges", "plan", "partner"]).fit(frame)
    assert fitted.state("smote_1")["sampler"] == "SMOTENC"
    out = recipe("smote", columns=["charges", "plan", "partner"]).fit_transform(frame)
    X = np.empty((frame.height, 3), dtype=object)
    X[:, 0], X[:, 1], X[:, 2] = (
        frame["charges"].to_numpy(),
        frame["plan"].to_numpy(),
        frame["partner"].to_numpy(),
    )
    X_res, y_res = over_sampling.SMOTENC(
        categorical_features=[1, 2], random_state=SEED
    ).fit_resample(X, frame["y"].to_numpy())
    new = out.slice(frame.height)
    np.testing.assert_allclose(new["charges"].to_numpy(), X_res[frame.height :, 0].astype(float))
    assert new["plan"].to_list() == list(X_res[frame.height :, 1])
    assert new["partner"].to_list() == [bool(v) for v in X_res[frame.height :, 2]]


def test_all_categorical_features_use_smoten():
    frame = mixed()
    fitted = recipe("smote", columns=["plan", "partner"]).fit(frame)
    assert fitted.state("smote_1")["sampler"] == "SMOTEN"
    out = recipe("smote", columns=["plan", "partner"]).fit_transform(frame)
    assert set(out["plan"].unique()) <= {"basic", "plus", "pro"} and out["y"].sum() == 210


def test_smote_tomek_and_undersamplers_work_on_mixed_data():
    frame = mixed()
    cols = {"exclude": ["id", "note"]}
    out = recipe("smote_tomek", columns=cols).fit_transform(frame)
    assert out.select("plan", "region", "partner").null_count().row(0) == (0, 0, 0)
    kept = recipe("tomek_links", columns=cols).fit_transform(frame)
    # rows kept by an under-sampler are original rows, every column unchanged
    assert kept.equals(frame.filter(pl.col("id").is_in(kept["id"].implode())))


def test_oversample_copies_whole_rows_and_shrinkage_makes_synthetic_rows():
    frame = mixed().drop("plan", "region", "tier", "partner", "note")
    copies = recipe("oversample").fit_transform(frame).slice(frame.height)
    assert copies.join(frame, on=copies.columns, how="anti").height == 0  # each is an original row
    smoothed = (
        recipe("oversample", shrinkage=1.0, columns=["age", "charges"])
        .fit_transform(frame)
        .slice(frame.height)
    )
    assert smoothed["id"].null_count() == smoothed.height == 180
    assert smoothed.schema["age"] == pl.Int64


def test_numeric_only_sampler_refuses_categorical_features():
    with pytest.raises(DataError, match="borderline_smote needs numeric features.*plan"):
        recipe("borderline_smote", columns=["charges", "plan"]).fit(mixed())


def test_default_selection_leaves_text_out_with_a_warning():
    frame = mixed().drop("id")
    fitted = recipe("smote").fit(frame)
    assert "note" not in fitted.state("smote_1")["features"]
    assert any("'note' (text)" in w for w in fitted.report.steps[0].warnings)
    with pytest.raises(DataError, match="cannot use 'note'"):
        recipe("smote", columns=["charges", "note"]).fit(frame)


def test_second_resampling_step_extends_the_synthetic_mark():
    _, _, frame = numeric_data(3)
    spec = {
        "target": "y",
        "steps": [
            {"step": "smote", "sampling_strategy": "minority", "mark_synthetic": True},
            {"step": "smote"},
        ],
    }
    out = prepkit.load_recipe(spec).fit_transform(frame)
    counts = out["y"].value_counts()["count"].to_list()
    assert len(set(counts)) == 1
    assert (
        out["synthetic"].null_count() == 0 and out["synthetic"].sum() == out.height - frame.height
    )


# -- small classes and bad input ------------------------------------------------------------------
def test_small_minority_lowers_k_with_a_warning():
    _, _, frame = numeric_data()
    small = pl.concat([frame.filter(pl.col("y") == 0), frame.filter(pl.col("y") == 1).head(3)])
    fitted = recipe("smote").fit(small)
    assert fitted.state("smote_1")["neighbours"] == {"k_neighbors": 2}
    assert fitted.report.steps[0].warnings == [
        "class '1' has only 3 rows: k_neighbors lowered from 5 to 2"
    ]
    out = recipe("smote").fit_transform(small)
    X, y = small.select(FEATURES).to_numpy(), small["y"].to_numpy()
    X_res, _ = over_sampling.SMOTE(k_neighbors=2, random_state=SEED).fit_resample(X, y)
    np.testing.assert_array_equal(out.select(FEATURES).to_numpy(), X_res)


def test_minority_of_one_is_a_clear_error():
    _, _, frame = numeric_data()
    one = pl.concat([frame.filter(pl.col("y") == 0), frame.filter(pl.col("y") == 1).head(1)])
    with pytest.raises(DataError, match="class '1' has a single row"):
        recipe("smote").fit(one)
    assert (
        recipe("oversample").fit_transform(one)["y"].sum() == one.height - 1
    )  # random copies work


def test_single_class_target_is_a_clear_error():
    _, _, frame = numeric_data()
    with pytest.raises(DataError, match="single class"):
        recipe("smote").fit(frame.filter(pl.col("y") == 0))


def test_missing_values_in_features_say_impute_first():
    _, _, frame = numeric_data()
    gaps = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(float("nan")).otherwise(pl.col("f1")).alias("f1"),
        pl.when(pl.int_range(pl.len()) < 2).then(None).otherwise(pl.col("f3")).alias("f3"),
    )
    with pytest.raises(
        DataError, match=r"missing values in feature columns: f1 \(1\), f3 \(2\)"
    ) as err:
        recipe("smote").fit(gaps)
    assert "impute first" in err.value.hint


def test_missing_target_is_an_error():
    _, _, frame = numeric_data()
    with pytest.raises(RecipeError, match="needs a target column"):
        recipe("smote", target=None).fit(frame)
    with pytest.raises(DataError, match="target column 'label' is not in the data"):
        recipe("smote", target="label").fit(frame)


def test_unknown_option_is_a_recipe_error():
    with pytest.raises(RecipeError, match="k_neighbours"):
        recipe("smote", k_neighbours=3)
    with pytest.raises(RecipeError):
        recipe("near_miss", version=4)


def test_zero_rows_is_a_noop_and_one_row_is_single_class():
    _, _, frame = numeric_data()
    with pytest.raises(DataError, match="has no rows"):
        recipe("smote").fit(frame.head(0))
    with pytest.raises(DataError, match="single class"):
        recipe("smote").fit(frame.head(1))


def test_empty_selection_is_a_noop():
    _, _, frame = numeric_data()
    assert recipe("smote", columns={"regex": "^nothing$"}).fit_transform(frame).equals(frame)


def test_fitted_json_round_trip(tmp_path):
    _, _, frame = numeric_data()
    fitted = recipe("smote", sampling_strategy={1: 120}).fit(frame)
    path = fitted.save(tmp_path / "f.prepkit.json")
    loaded = prepkit.load_fitted(path)
    assert loaded.state("smote_1") == fitted.state("smote_1")
    assert json.loads(path.read_text())["steps"][0]["state"]["features"] == FEATURES
    assert loaded.transform(frame).equals(fitted.transform(frame))
    assert loaded.transform(frame).equals(frame)  # train-only: apply leaves new data alone


# -- through a split and the CLI ------------------------------------------------------------------
def test_valid_and_test_parts_are_byte_identical_with_and_without_resampling(tmp_path):
    frame = mixed(400, 60)
    steps = [{"step": "smote", "columns": {"exclude": ["id", "note"]}, "mark_synthetic": True}]
    outputs = {}
    for label, extra in (("with", steps), ("without", [])):
        spec = {
            "target": "y",
            "seed": 3,
            "split": {"valid": 0.2, "test": 0.2, "stratify": True},
            "steps": extra,
        }
        result = run_recipe(
            prepkit.load_recipe(spec), frame, output=tmp_path / label / "out.parquet"
        )
        outputs[label] = result
    for part in ("valid", "test"):
        a = (tmp_path / "with" / f"out_{part}.parquet").read_bytes()
        b = (tmp_path / "without" / f"out_{part}.parquet").read_bytes()
        assert a == b
    train = outputs["with"].outputs["train"]
    assert train["y"].value_counts()["count"].to_list() == [train.height // 2] * 2


def test_cli_runs_recipes_imbalanced_yaml(tmp_path):
    out = tmp_path / "churn.parquet"
    result = CliRunner().invoke(
        app, ["run", str(ROOT / "recipes/imbalanced.yaml"), "-o", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    train = pl.read_parquet(tmp_path / "churn_train.parquet")
    valid = pl.read_parquet(tmp_path / "churn_valid.parquet")
    counts = dict(train["churned"].value_counts().iter_rows())
    assert counts[0] == counts[1]
    assert (
        train.filter(pl.col("synthetic")).height
        == counts[1] - train.filter(~pl.col("synthetic"))["churned"].sum()
    )
    assert train.drop("customer_id", "signup_date").null_count().sum_horizontal().item() == 0
    assert "synthetic" not in valid.columns and valid["churned"].mean() < 0.2


def test_cli_error_exit_codes(tmp_path):
    data = tmp_path / "in.csv"
    data.write_text("a,y\n1.0,0\n,1\n3.0,0\n4.0,1\n")
    bad = tmp_path / "r.yaml"
    bad.write_text("input: in.csv\noutput: out.csv\ntarget: y\nsteps:\n  - step: smote\n")
    result = CliRunner().invoke(app, ["run", str(bad), "--quiet"])
    assert result.exit_code == 1 and "impute first" in result.output
    bad.write_text(
        "input: in.csv\noutput: out.csv\ntarget: y\nsteps:\n  - step: smote\n    kind: x\n"
    )
    assert CliRunner().invoke(app, ["run", str(bad), "--quiet"]).exit_code == 2
