import math

import numpy as np
import polars as pl
import pytest
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

import prepkit
from prepkit.errors import DataError, RecipeError


def recipe(**params):
    return prepkit.load_recipe({"steps": [{"step": "scale", **params}]})


@pytest.fixture
def data() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    a = rng.normal(50, 12, 60)
    a[[2, 9]] = np.nan
    b = rng.integers(-20, 40, 60).astype(float)
    b[[5, 11, 30]] = np.nan
    frame = pl.DataFrame({"a": a, "b": b, "flat": [2.5] * 60, "c": ["x"] * 60}, nan_to_null=False)
    # a: float NaN; b: an integer column with nulls
    return frame.with_columns(pl.col("b").fill_nan(None).cast(pl.Int64))


SKLEARN = {
    "standard": ({}, lambda: StandardScaler()),
    "standard_nomean": ({"with_mean": False}, lambda: StandardScaler(with_mean=False)),
    "standard_nostd": ({"with_std": False}, lambda: StandardScaler(with_std=False)),
    "minmax": ({"feature_range": [-1, 3]}, lambda: MinMaxScaler(feature_range=(-1, 3))),
    "robust": ({}, lambda: RobustScaler()),
    "robust_range": (
        {"quantile_range": [10, 90], "unit_variance": True},
        lambda: RobustScaler(quantile_range=(10.0, 90.0), unit_variance=True),
    ),
    "robust_nocenter": ({"with_centering": False}, lambda: RobustScaler(with_centering=False)),
    "robust_noscale": ({"with_scaling": False}, lambda: RobustScaler(with_scaling=False)),
    "maxabs": ({}, lambda: MaxAbsScaler()),
}


def _numpy(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    return frame.select(pl.col(columns).cast(pl.Float64).fill_null(float("nan"))).to_numpy()


@pytest.mark.parametrize("case", sorted(SKLEARN))
def test_matches_sklearn_with_missing_values(data, case):
    params, make = SKLEARN[case]
    method = case.split("_")[0]
    columns = ["a", "b", "flat"]
    train, new = data.head(40), data.tail(20)
    fitted = recipe(method=method, columns=columns, **params).fit(train)
    scaler = make().fit(_numpy(train, columns))
    for frame in (train, new):
        out = fitted.transform(frame)
        expected = scaler.transform(_numpy(frame, columns))
        got = _numpy(out, columns)
        np.testing.assert_allclose(got, expected, atol=1e-9, rtol=0)
        # missing stays missing, nothing else becomes missing
        assert np.array_equal(np.isnan(got), np.isnan(expected))
        assert all(out.schema[c] == pl.Float64 for c in columns)
        assert out["c"].to_list() == frame["c"].to_list()


def test_learned_state_is_hand_computed():
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, None]})
    state = recipe().fit(frame).state("scale_1")
    assert state["columns"] == ["x"]
    assert state["scaling"]["x"]["center"] == 2.5
    assert state["scaling"]["x"]["scale"] == pytest.approx(math.sqrt(1.25))
    robust = recipe(method="robust").fit(frame).state("scale_1")["scaling"]["x"]
    assert robust == {"center": 2.5, "scale": 1.5}  # q75 3.25 - q25 1.75 (linear)
    assert recipe(method="maxabs").fit(frame).state("scale_1")["scaling"]["x"] == {
        "center": 0.0,
        "scale": 4.0,
    }


def test_constant_column_gets_scale_one_for_every_method():
    frame = pl.DataFrame({"k": [3.1] * 10, "z": [0.0] * 10})
    for method in ("standard", "minmax", "robust", "maxabs"):
        out = recipe(method=method).fit_transform(frame)
        assert out.select(pl.all().is_finite().all()).row(0) == (True, True), method
    assert recipe().fit_transform(frame)["k"].to_list() == pytest.approx([0.0] * 10, abs=1e-12)
    assert recipe().fit(frame).state("scale_1")["scaling"]["k"]["scale"] == 1.0
    assert recipe(method="maxabs").fit_transform(frame)["z"].to_list() == [0.0] * 10


def test_minmax_clip_limits_new_data():
    train = pl.DataFrame({"x": [0.0, 10.0]})
    new = pl.DataFrame({"x": [-5.0, 5.0, 20.0]})
    plain = recipe(method="minmax").fit(train).transform(new)
    clipped = recipe(method="minmax", clip=True).fit(train).transform(new)
    assert plain["x"].to_list() == [-0.5, 0.5, 2.0]
    assert clipped["x"].to_list() == [0.0, 0.5, 1.0]
    expected = MinMaxScaler(clip=True).fit(train.to_numpy()).transform(new.to_numpy())
    np.testing.assert_allclose(clipped.to_numpy(), expected)


def test_apply_uses_training_statistics(data):
    fitted = recipe(columns="a").fit(data)
    state = fitted.state("scale_1")["scaling"]["a"]
    new = pl.DataFrame(
        {"a": [state["center"], None], "b": [1, 2], "flat": [0.0, 0.0], "c": ["y", "y"]}
    )
    assert fitted.transform(new)["a"].to_list() == [0.0, None]


def test_text_column_is_a_clear_error(data):
    with pytest.raises(DataError, match="needs numeric columns, but got 'c'"):
        recipe(columns=["a", "c"]).fit(data)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"method": "zscore"}, "'zscore' is not valid for 'method'"),
        ({"method": "minmax", "feature_range": [1, 0]}, "feature_range"),
        ({"method": "robust", "quantile_range": [80, 20]}, "quantile_range"),
        ({"method": "standard", "clip": True}, "only apply to method: minmax"),
        ({"with_men": False}, "did you mean 'with_mean'"),
    ],
)
def test_bad_options_are_recipe_errors(params, message):
    with pytest.raises(RecipeError, match=message):
        recipe(**params)


def test_default_selection_skips_target_and_text(data):
    r = prepkit.load_recipe({"target": "b", "steps": [{"step": "scale"}]})
    state = r.fit(data).state("scale_1")
    assert state["columns"] == ["a", "flat"]


def test_empty_selection_is_a_noop(data):
    out = recipe(columns={"regex": "^nothing$"}).fit_transform(data)
    assert out.equals(data)


def test_one_row_and_zero_rows(data, zero_rows):
    one = data.head(1)
    out = recipe(columns=["a", "b"]).fit_transform(one)
    assert out["a"].to_list() == [0.0] and out["b"].to_list() == [0.0]
    zero_rows(recipe(columns=["a", "b"]), data)
    assert recipe().fit(data).transform(data.head(0)).height == 0


def test_all_missing_column_is_left_unscaled_with_a_warning():
    frame = pl.DataFrame(
        {"x": [None, None], "y": [1.0, 3.0]}, schema={"x": pl.Float64, "y": pl.Float64}
    )
    fitted = recipe().fit(frame)
    assert fitted.transform(frame)["x"].to_list() == [None, None]
    assert "no values to learn from in x" in fitted.report.steps[0].warnings[0]


def test_report_lists_learned_center_and_scale(data):
    fitted = recipe(columns=["flat"], method="minmax").fit(data)
    learned = fitted.report.steps[0].learned
    assert learned == {"method": "minmax", "scaled": {"flat": {"center": 2.5, "scale": 1.0}}}


def test_json_round_trip_gives_identical_output(data, tmp_path):
    fitted = recipe(method="robust", quantile_range=[5, 95]).fit(data)
    path = fitted.save(tmp_path / "scale.prepkit.json")
    loaded = prepkit.load_fitted(path)
    assert loaded.transform(data).equals(fitted.transform(data))


def test_backends_agree(data, backend):
    frame = data.select("a", "b", "flat")
    expected = recipe().fit_transform(frame)
    out = recipe().fit_transform(backend.make(frame))
    assert type(out) is type(backend.make(frame))
    got = backend.to_polars(out)
    np.testing.assert_allclose(
        _numpy(got, ["a", "b", "flat"]), _numpy(expected, ["a", "b", "flat"])
    )
