"""prepkit drift: the figures equal scipy's and hand computation, thresholds and exit codes."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app
from prepkit.drifts import EPSILON
from prepkit.errors import DataError, RecipeError


@pytest.fixture(scope="module")
def frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(0)
    ref = pl.DataFrame({
        "x": rng.normal(0, 1, 2000), "same": rng.normal(0, 1, 2000),
        "city": rng.choice(["a", "b", "c"], 2000, p=[0.5, 0.3, 0.2]).tolist(),
    })  # fmt: skip
    new = pl.DataFrame({
        "x": rng.normal(0.8, 1, 1000), "same": rng.normal(0, 1, 1000),
        "city": rng.choice(["a", "b", "c", "d"], 1000, p=[0.3, 0.3, 0.2, 0.2]).tolist(),
    })  # fmt: skip
    return ref, new


def test_numeric_figures(frames):
    ref, new = frames
    got = prepkit.drift(ref, new).columns["x"]
    a, b = ref["x"].to_numpy(), new["x"].to_numpy()
    ks = stats.ks_2samp(a, b)
    assert got["ks_statistic"] == pytest.approx(ks.statistic) and got["ks_pvalue"] == pytest.approx(
        ks.pvalue
    )
    edges = np.concatenate(([-np.inf], np.quantile(a, np.linspace(0.1, 0.9, 9)), [np.inf]))
    p = np.histogram(a, edges)[0] / len(a)
    q = np.histogram(b, edges)[0] / len(b)
    p, q = np.where(p == 0, EPSILON, p), np.where(q == 0, EPSILON, q)
    assert got["psi"] == pytest.approx(np.sum((q - p) * np.log(q / p)))
    assert got["kl_divergence"] == pytest.approx(np.sum(q * np.log(q / p)))
    assert got["js_distance"] == pytest.approx(jensenshannon(p, q, base=2), rel=1e-3)
    assert got["out_of_range_fraction"] == pytest.approx(np.mean((b < a.min()) | (b > a.max())))
    assert got["drifted"] and "psi" in got["over_threshold"]
    assert not prepkit.drift(ref, new).columns["same"]["drifted"]


def test_categorical_figures(frames):
    ref, new = frames
    got = prepkit.drift(ref, new).columns["city"]
    r = ref["city"].value_counts().sort("city")["count"].to_numpy()
    n = new["city"].value_counts().sort("city")["count"].to_numpy()
    table = np.vstack([np.append(r, 0), n])
    chi2 = stats.chi2_contingency(table)
    assert got["chi2_statistic"] == pytest.approx(chi2.statistic)
    assert got["unseen_fraction"] == pytest.approx(float((new["city"] == "d").mean()))
    assert list(got["unseen"]) == ["d"]
    assert got["drifted"] and "unseen_fraction" in got["over_threshold"]


def test_null_rate_change_and_thresholds(frames):
    ref, new = frames
    gappy = new.with_columns(
        pl.when(pl.int_range(pl.len()) % 4 == 0).then(None).otherwise(pl.col("same")).alias("same")
    )
    got = prepkit.drift(ref, gappy).columns["same"]
    assert got["null_rate_change"] == pytest.approx(0.25) and got["over_threshold"] == [
        "null_rate_change"
    ]
    relaxed = prepkit.drift(
        ref,
        gappy,
        thresholds={
            "null_rate_change": 0.3,
            "psi": 5,
            "unseen_fraction": 1,
            "out_of_range_fraction": 1,
        },
    )
    assert relaxed.drifted == []
    strict = prepkit.drift(ref, ref, thresholds={"js_distance": 0.0001})
    assert strict.drifted == []  # the same data: every distance is 0
    with pytest.raises(RecipeError, match="unknown figure"):
        prepkit.drift(ref, new, thresholds={"pis": 1})


def test_cli_exit_codes(tmp_path, frames):
    ref, new = frames
    ref.write_parquet(tmp_path / "ref.parquet")
    new.write_csv(tmp_path / "new.csv")
    ref.drop("city").write_csv(tmp_path / "same.csv")
    runner = CliRunner()
    drifted = runner.invoke(
        app, ["drift", str(tmp_path / "ref.parquet"), str(tmp_path / "new.csv"), "--json", "-q"]
    )
    assert drifted.exit_code == 3 and "columns drift" in drifted.output
    data = json.loads(drifted.stdout)
    assert set(data["drifted"]) == {"x", "city"}
    fine = runner.invoke(
        app, ["drift", str(tmp_path / "ref.parquet"), str(tmp_path / "same.csv"), "-q"]
    )
    assert fine.exit_code == 0, fine.output
    bad = runner.invoke(
        app,
        [
            "drift",
            str(tmp_path / "ref.parquet"),
            str(tmp_path / "new.csv"),
            "--threshold",
            "psi=high",
        ],
    )
    assert bad.exit_code == 2
    with pytest.raises(DataError, match="fitted recipe not found: model.prepkit.json"):
        from prepkit.drifts import drift_files

        drift_files("model.prepkit.json", str(tmp_path / "new.csv"))
