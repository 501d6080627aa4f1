"""The artifact's reference profile of the training data, drift against it, and `prepkit apply`'s
drift figures, warnings and `apply_checks:`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app
from prepkit.drifts import drift
from prepkit.engines.partials import compute_batches
from prepkit.engines.statistics import Counts, Sample, compute
from prepkit.errors import CheckFailed, DataError, RecipeError
from prepkit.reference import PERCENTILES, ReferenceDrift, profile_frame

RUNNER = CliRunner()


def training(rows: int = 3_000, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.5, rows)
    income[rng.random(rows) < 0.05] = np.nan
    return pl.DataFrame({
        "income": income,
        "age": rng.integers(18, 90, rows),
        "region": rng.choice(["north", "south", "east", "west"], rows, p=[0.4, 0.3, 0.2, 0.1]),
        "member": rng.random(rows) < 0.3,
        "label": rng.integers(0, 2, rows),
    }).with_columns(
        pl.when(pl.int_range(pl.len()) % 17 == 0).then(None).otherwise(pl.col("region"))
        .alias("region")
    )  # fmt: skip


def shifted(rows: int = 1_000, seed: int = 1) -> pl.DataFrame:
    """New data: incomes 30% higher, 40 rows of a region never seen, ages up to 99."""
    frame = training(rows, seed).drop("label")
    return frame.with_columns(
        pl.col("income") * 1.3,
        pl.when(pl.int_range(pl.len()) < 40).then(pl.lit("north-east")).otherwise(pl.col("region"))
        .alias("region"),
        pl.when(pl.int_range(pl.len()) % 100 == 0).then(99).otherwise(pl.col("age")).alias("age"),
    )  # fmt: skip


RECIPE = {
    "name": "ref",
    "target": "label",
    "steps": [
        {"step": "impute", "columns": ["income"], "strategy": "median"},
        {"step": "impute", "columns": ["region"], "strategy": "most_frequent"},
        {"step": "encode", "columns": ["region"], "method": "onehot"},
    ],
}


def fit(frame: pl.DataFrame, **extra) -> prepkit.FittedRecipe:
    return prepkit.load_recipe({**RECIPE, **extra}).fit(frame)


# -- statistics requests ---------------------------------------------------------------------
def test_counts_with_a_limit_give_up_past_it_on_every_engine():
    frame = pl.DataFrame({"few": ["a", "b", None] * 1_000, "many": [str(i) for i in range(3_000)]})
    requests = [Counts("few", 3), Counts("many", 100)]
    memory = compute(frame, requests)
    streamed = compute_batches(lambda: frame.iter_slices(64), requests)
    assert memory[Counts("few", 3)] == streamed[Counts("few", 3)] == {"a": 1_000, "b": 1_000,
                                                                       None: 1_000}  # fmt: skip
    assert memory[Counts("many", 100)] is None and streamed[Counts("many", 100)] is None


def test_the_hashed_sample_is_the_same_rows_in_memory_and_in_batches():
    rng = np.random.default_rng(3)
    values = rng.normal(size=200_000)
    values[rng.random(200_000) < 0.1] = np.nan
    frame = pl.DataFrame({"x": values, "small": np.arange(200_000) % 7})
    memory = compute(frame, [Sample("x"), Sample("small")])
    streamed = compute_batches(lambda: frame.iter_slices(30_000), [Sample("x")])
    assert len(memory[Sample("x")]) == 65_536
    assert np.array_equal(memory[Sample("x")], streamed[Sample("x")])
    assert np.all(np.diff(memory[Sample("x")]) >= 0) and not np.isnan(memory[Sample("x")]).any()
    tiny = pl.DataFrame({"x": [3.0, None, 1.0, float("nan"), 2.0]})
    assert compute(tiny, [Sample("x")])[Sample("x")].tolist() == [1.0, 2.0, 3.0]


# -- the profile -----------------------------------------------------------------------------
def test_profile_figures_equal_the_data_s():
    frame = training()
    profile = profile_frame(frame)
    income = frame["income"].drop_nans().to_numpy()
    assert profile["income"]["missing"] == int(frame["income"].is_nan().sum())
    assert profile["income"]["percentiles"] == np.quantile(income, PERCENTILES).tolist()
    assert profile["income"]["min"] == income.min() and profile["income"]["max"] == income.max()
    counts = dict(frame["region"].drop_nulls().value_counts().iter_rows())
    assert profile["region"]["counts"] == counts and profile["region"]["missing"] == 3_000 // 17 + 1
    assert list(profile["region"]["counts"]) == sorted(counts, key=lambda c: -counts[c])
    assert profile["member"]["counts"] == {
        "true": int(frame["member"].sum()), "false": int((~frame["member"]).sum())
    }  # fmt: skip
    ids = profile_frame(pl.DataFrame({"id": [f"c{i}" for i in range(1_500)]}))
    assert ids["id"]["counts"] is None  # more than 1,000 values: not kept


def test_the_artifact_keeps_the_profile_of_the_training_part_only(tmp_path: Path):
    frame = training()
    fitted = fit(frame, split={"test": 0.2, "stratify": True})
    run = prepkit.load_recipe({**RECIPE, "split": {"test": 0.2, "stratify": True}}).run(
        frame, write=False
    )
    profile = run.fitted.reference_profile
    assert profile["income"]["rows"] == run.report.parts["train"]["rows"] == 2_400
    assert fitted.reference_profile["age"]["rows"] == 3_000  # fit(): no split
    path = run.fitted.save(tmp_path / "m.prepkit.json")
    assert prepkit.load_fitted(path).reference_profile == profile
    data = json.loads(path.read_text())
    assert "rows" not in json.dumps(data["reference_profile"]["region"]["counts"])
    data["reference_profile"]["income"]["percentiles"] = [1.0, 2.0]
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"reference_profile.income.percentiles"):
        prepkit.load_fitted(path)


def test_streamed_fit_keeps_the_same_profile():
    frame = training(80_000)  # more than 65,536 values: the percentiles come from the sample
    recipe = prepkit.load_recipe(RECIPE)
    memory = recipe.fit(frame).reference_profile
    streamed = recipe.fit(frame, engine="stream", batch_size=9_000).reference_profile
    for column in memory:
        for key, value in memory[column].items():
            if key in ("mean", "std"):
                assert streamed[column][key] == pytest.approx(value, rel=1e-12)
            else:
                assert streamed[column][key] == value, (column, key)


# -- drift against an artifact ---------------------------------------------------------------
def test_drift_against_the_artifact_is_close_to_drift_against_the_data():
    train, new = training(), shifted()
    exact, fitted = drift(train, new), drift(fit(train), new)
    for column in ("region", "member"):  # categories: exactly the same figures
        for key in ("psi", "js_distance", "chi2_statistic", "unseen_fraction", "unseen_rows"):
            assert fitted.columns[column][key] == pytest.approx(exact.columns[column][key],
                                                                 rel=1e-12)  # fmt: skip
    assert fitted.columns["region"]["unseen"] == {"north-east": 40}
    for column in ("income", "age"):
        a, b = fitted.columns[column], exact.columns[column]
        assert a["out_of_range_fraction"] == b["out_of_range_fraction"]
        assert a["null_rate_change"] == pytest.approx(b["null_rate_change"], abs=1e-15)
        ks = stats.ks_2samp(
            train[column].drop_nans().to_numpy(), new[column].drop_nans().to_numpy()
        ).statistic  # fmt: skip
        assert abs(a["ks_statistic"] - ks) <= 0.011
        assert abs(a["psi"] - b["psi"]) <= 0.01 * max(1.0, b["psi"])
    assert fitted.columns["age"]["out_of_range_rows"] == 10  # the ages of 99
    assert set(fitted.drifted) == set(exact.drifted) == {"income", "region"}
    assert "label" in fitted.missing_columns


def test_counts_added_batch_by_batch_equal_counts_of_the_whole():
    profile = profile_frame(training())
    new = shifted(5_000)
    whole = ReferenceDrift(profile)
    whole.add(new)
    parts = [ReferenceDrift(profile) for _ in range(3)]
    for i, batch in enumerate(new.iter_slices(700)):
        parts[i % 3].add(batch)
    merged = parts[0].merge(parts[1]).merge(parts[2])
    assert json.dumps(merged.columns(), default=str) == json.dumps(whole.columns(), default=str)


def test_an_artifact_without_a_profile_is_refused_with_what_to_do():
    fitted = fit(training())
    fitted.reference_profile = None
    with pytest.raises(DataError, match="keeps no reference profile") as error:
        drift(fitted, shifted())
    assert "refit" in error.value.hint


# -- prepkit apply ---------------------------------------------------------------------------
@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    train, new = tmp_path / "train.csv", tmp_path / "new.csv"
    training().write_csv(train)
    shifted().write_csv(new)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(json.dumps({
        **RECIPE, "input": str(train), "output": str(tmp_path / "out.csv"),
        "apply_checks": [{"metric": "unseen_fraction", "column": "region", "max": 0.1},
                         {"metric": "null_fraction", "max": 0}],
    }))  # fmt: skip
    done = RUNNER.invoke(app, ["run", str(recipe), "-q"])
    assert done.exit_code == 0, done.output
    return {"fitted": tmp_path / "out.prepkit.json", "new": new, "dir": tmp_path}


@pytest.mark.parametrize("batch", [None, "300"])
def test_apply_records_drift_and_warns_per_column(files, batch):
    out, report = files["dir"] / "applied.csv", files["dir"] / "apply.json"
    args = ["apply", str(files["fitted"]), str(files["new"]), "-o", str(out), "--report",
            str(report)] + (["--batch-size", batch] if batch else [])  # fmt: skip
    done = RUNNER.invoke(app, args)
    assert done.exit_code == 0, done.output
    data = json.loads(report.read_text())
    assert data["drift"]["drifted"] == ["income", "region"]
    assert data["drift"]["columns"]["region"]["unseen_rows"] == 40
    share = 40 / shifted()["region"].drop_nulls().len()  # of the rows with a region
    assert (
        f"region: 40 rows ({share:.2%}) with categories never seen in training: 'north-east' (40)"
        in data["drift"]["warnings"]
    )
    assert any(w.startswith("age: 10 values (1.00%) outside the training range [18, 89]")
               for w in data["drift"]["warnings"])  # fmt: skip
    assert "north-east" in done.output and "outside the training range" in done.output
    assert [c["passed"] for c in data["checks"]] == [True, True]
    assert out.exists()


@pytest.mark.parametrize("batch", [None, "300"])
def test_a_failed_apply_check_exits_3_and_writes_no_output(files, batch):
    checks = files["dir"] / "nightly.yaml"
    checks.write_text("apply_checks:\n  - {metric: psi, column: income, max: 0.2}\n"
                      "  - {metric: drifted_columns, max: 5}\n")  # fmt: skip
    out, report = files["dir"] / "applied.csv", files["dir"] / "apply.json"
    args = ["apply", str(files["fitted"]), str(files["new"]), "-o", str(out), "--report",
            str(report), "--checks", str(checks)] + (["--batch-size", batch] if batch else [])  # fmt: skip
    done = RUNNER.invoke(app, args)
    assert done.exit_code == 3, done.output
    assert "psi[income]" in done.output and "no data output was written" in done.output
    assert not out.exists()
    data = json.loads(report.read_text())
    assert data["status"] == "failed_checks" and data["outputs"] == {}
    psi = data["drift"]["columns"]["income"]["psi"]
    assert data["checks"][0]["value"] == pytest.approx(psi) and psi > 0.2
    assert data["checks"][1] | {"passed": True} == data["checks"][1]  # 2 drifted <= 5


def test_apply_checks_from_python(files):
    fitted = prepkit.load_fitted(files["fitted"])
    out = files["dir"] / "py.csv"
    with pytest.raises(CheckFailed, match="unseen_fraction"):
        fitted.transform_file(
            files["new"], out, checks=[{"metric": "unseen_fraction", "max": 0.01}]
        )
    assert not out.exists()
    report = fitted.transform_file(files["new"], out)  # the recipe's apply_checks pass
    share = 40 / shifted()["region"].drop_nulls().len()
    assert report.drift["columns"]["region"]["unseen_fraction"] == pytest.approx(share, rel=1e-12)
    with pytest.raises(RecipeError, match="unknown apply check metric 'rows_removed_fraction' "
                       r"\(a metric of `checks:`\)"):  # fmt: skip
        fitted.transform_file(files["new"], out, checks=[{"metric": "rows_removed_fraction",
                                                          "max": 0.1}])  # fmt: skip


def test_apply_checks_in_a_recipe_are_validated_with_their_line(tmp_path: Path):
    path = tmp_path / "r.yaml"
    path.write_text("steps: []\napply_checks:\n  - {metric: psy, max: 0.2}\n  - {metric: psi}\n")
    with pytest.raises(RecipeError) as error:
        prepkit.load_recipe(path)
    assert f"{path}:3: unknown apply check metric 'psy' (did you mean 'psi'?)" in str(error.value)
    assert f"{path}:4: check 'psi' needs `min:` or `max:`" in str(error.value)


def test_drift_command_takes_an_artifact(files):
    done = RUNNER.invoke(app, ["drift", str(files["fitted"]), str(files["new"]), "--json", "-q"])
    assert done.exit_code == 3, done.output
    assert json.loads(done.stdout)["drifted"] == ["income", "region"]
    calm = RUNNER.invoke(app, ["drift", str(files["fitted"]), str(files["new"]), "-q",
                               "--threshold", "psi=5", "--threshold", "unseen_fraction=0.5"])  # fmt: skip
    assert calm.exit_code == 0, calm.output


def test_ks_pvalue_of_large_samples_is_kolmogorov_s_limit():
    from prepkit.reference import _ks_pvalue

    assert _ks_pvalue(0.02, 5_000) == stats.kstwo.sf(0.02, 5_000)
    for d in (0.001, 0.002, 0.005):  # within 0.5% of scipy's slow kstwo at 475,000
        assert _ks_pvalue(d, 475_000) == pytest.approx(stats.kstwo.sf(d, 475_000), rel=5e-3)
