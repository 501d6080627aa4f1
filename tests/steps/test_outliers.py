import numpy as np
import polars as pl
import pytest

import prepkit
from prepkit.errors import DataError, RecipeError

A = [1.0, 2.0, 2.5, 3.0, 4.0, 100.0, None, -50.0, 3.5, 2.0]
B = [10, 12, 11, 13, 12, 11, 10, 95, 12, 11]


def recipe(**params):
    return prepkit.load_recipe({"target": "y", "steps": [{"step": "outliers", **params}]})


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame({"a": A, "b": B, "y": [0, 1] * 5})


def np_a() -> np.ndarray:
    return np.array([np.nan if v is None else v for v in A])


def iqr_bounds(x: np.ndarray, factor: float = 1.5) -> list[float]:
    q1, q3 = np.nanpercentile(x, [25, 75])
    return [q1 - factor * (q3 - q1), q3 + factor * (q3 - q1)]


def test_iqr_bounds_match_numpy_percentile(frame):
    state = recipe(factor=2.0).fit(frame).state("outliers_1")
    assert state["columns"] == ["a", "b"]  # the target is not a feature
    assert state["bounds"]["a"] == pytest.approx(iqr_bounds(np_a(), 2.0))
    assert state["bounds"]["b"] == pytest.approx(iqr_bounds(np.array(B, float), 2.0))
    # by hand for b: Q1 = 11, Q3 = 12, so [11 - 2, 12 + 2]
    assert state["bounds"]["b"] == [9.0, 14.0]


def test_percentile_bounds_match_numpy(frame):
    state = recipe(method="percentile", lower=0.05, upper=0.9).fit(frame).state("outliers_1")
    assert state["bounds"]["a"] == pytest.approx(list(np.nanpercentile(np_a(), [5, 90])))
    assert state["bounds"]["b"] == pytest.approx(list(np.percentile(B, [5, 90])))


def test_zscore_bounds_are_mean_plus_minus_t_population_std(frame):
    state = recipe(method="zscore", threshold=2.0).fit(frame).state("outliers_1")
    x = np_a()[~np.isnan(np_a())]
    expected = [x.mean() - 2 * x.std(ddof=0), x.mean() + 2 * x.std(ddof=0)]
    assert state["bounds"]["a"] == pytest.approx(expected)


def test_clip_equals_np_clip_and_keeps_nulls(frame):
    fitted = recipe(columns="a").fit(frame)
    lo, hi = iqr_bounds(np_a())
    out = fitted.transform(frame)
    expected = np.clip(np_a(), lo, hi)
    got = np.array([np.nan if v is None else v for v in out["a"].to_list()])
    np.testing.assert_allclose(got, expected)
    assert out["a"][6] is None
    assert fitted.report.steps[0].changes["clipped"] == {"a": 2}
    assert fitted.report.steps[0].learned["bounds"]["a"] == pytest.approx([lo, hi])


def test_nan_is_never_an_outlier():
    frame = pl.DataFrame({"a": [1.0, 2.0, float("nan"), 3.0, 50.0], "y": [0, 1, 0, 1, 0]})
    out = recipe(action="flag").fit_transform(frame)
    assert out["a__outlier"].to_list() == [False, False, False, False, True]
    assert recipe().fit(frame).state("outliers_1")["bounds"]["a"] == pytest.approx(
        iqr_bounds(np.array([1.0, 2.0, 3.0, 50.0]))
    )


def test_integer_column_stays_integer_with_integral_bounds(frame):
    out = recipe(columns="b").fit_transform(frame)  # bounds [9.5, 13.5]: fractional
    assert out.schema["b"] == pl.Float64
    assert out["b"].to_list() == np.clip(np.array(B, float), 9.5, 13.5).tolist()
    out = recipe(columns="b", factor=2.0).fit_transform(frame)  # bounds [9, 14]
    assert out.schema["b"] == pl.Int64
    assert out["b"].to_list() == np.clip(B, 9, 14).tolist()


def test_flag_per_column_and_single(frame):
    out = recipe(action="flag").fit_transform(frame)
    assert out["a__outlier"].to_list() == [False] * 5 + [True, False, True, False, False]
    assert out["b__outlier"].to_list() == [False] * 7 + [True, False, False]
    assert out["a"].to_list() == A  # values unchanged
    single = recipe(action="flag", flag_column="single").fit_transform(frame)
    assert single["is_outlier"].to_list() == [False] * 5 + [True, False, True, False, False]
    assert "a__outlier" not in single.columns


def test_drop_is_train_only_by_default(frame):
    fitted = recipe(action="drop").fit(frame)
    assert fitted.steps[0].phase == "train_only"
    assert fitted.report.steps[0].changes["rows_dropped"] == 2  # row 7 is an outlier in a and b
    assert fitted.report.steps[0].changes["outliers"] == {"a": 2, "b": 1}
    assert fitted.transform(frame).equals(frame)  # skipped at apply
    assert recipe(action="drop").fit_transform(frame)["a"].to_list() == [
        1.0, 2.0, 2.5, 3.0, 4.0, None, 3.5, 2.0,
    ]  # fmt: skip


def test_drop_at_apply_filters_new_data(frame):
    fitted = recipe(action="drop", drop_at_apply=True).fit(frame)
    assert fitted.steps[0].runs_at_apply
    new = pl.DataFrame({"a": [2.0, 1000.0, None], "b": [11, 11, 500], "y": [0, 1, 0]})
    assert fitted.transform(new)["a"].to_list() == [2.0]


def test_apply_uses_training_bounds(frame):
    fitted = recipe(columns="a", method="percentile", lower=0.0, upper=1.0).fit(frame)
    new = pl.DataFrame({"a": [-1000.0, 0.0, 1000.0], "b": [1, 2, 3], "y": [0, 0, 0]})
    assert fitted.transform(new)["a"].to_list() == [-50.0, 0.0, 100.0]


def test_backends_agree(frame, backend):
    out = backend.to_polars(recipe(columns="a").fit_transform(backend.make(frame)))
    lo, hi = iqr_bounds(np_a())
    got = [np.nan if v is None else float(v) for v in out["a"].to_list()]
    np.testing.assert_allclose(got, np.clip(np_a(), lo, hi))


def test_json_round_trip(frame, tmp_path):
    for params in ({"method": "zscore", "threshold": 1.0}, {"action": "flag"}):
        fitted = recipe(**params).fit(frame)
        loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.json"))
        assert loaded.transform(frame).equals(fitted.transform(frame))
        assert loaded.state("outliers_1") == fitted.state("outliers_1")


def test_zero_and_one_row(frame, zero_rows):
    zero_rows(recipe(action="flag"), frame)
    one = frame.head(1)
    fitted = recipe(method="zscore").fit(one)
    assert fitted.state("outliers_1")["bounds"]["a"] == [1.0, 1.0]
    assert fitted.transform(one).equals(one)
    assert recipe().fit(frame).transform(frame.head(0)).height == 0


def test_all_missing_column_is_left_alone_with_a_warning():
    frame = pl.DataFrame(
        {"a": [None, None], "b": [1.0, 2.0], "y": [0, 1]},
        schema={"a": pl.Float64, "b": pl.Float64, "y": pl.Int64},
    )
    fitted = recipe().fit(frame)
    assert fitted.state("outliers_1")["bounds"]["a"] is None
    assert "no values at fit time in a" in fitted.report.steps[0].warnings[0]
    assert fitted.transform(frame).equals(frame)


def test_bad_options_and_columns(frame):
    with pytest.raises(RecipeError, match="lower < upper"):
        recipe(method="percentile", lower=0.9, upper=0.1)
    with pytest.raises(RecipeError, match="less than or equal to 1"):
        recipe(method="percentile", upper=99)
    with pytest.raises(RecipeError, match="did you mean 'zscore'"):
        recipe(method="zscor")
    with pytest.raises(DataError, match="did you mean 'a'"):
        recipe(columns=["aa"]).fit(frame)
    with pytest.raises(DataError, match="needs numeric columns"):
        recipe(columns=["s"]).fit(frame.with_columns(s=pl.lit("x")))
    fitted = recipe().fit(frame)
    with pytest.raises(DataError, match="missing column"):
        fitted.transform(frame.drop("b"))
