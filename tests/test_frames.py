"""The pandas adapter: row identity (index labels) and dtypes come back as the caller gave them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

import prepkit
from prepkit.frames import carry_rows, to_polars

IDS = [100, 101, 102, 103, 104, 105]


def recipe(*steps, target="label"):
    return prepkit.load_recipe({"target": target, "seed": 1, "steps": list(steps)})


@pytest.fixture
def people() -> pd.DataFrame:
    """Ids 100..105 as the index (and as a column); rows 101 and 102 are the same row."""
    return pd.DataFrame(
        {
            "id": IDS,
            "x": [1.0, 2.0, 2.0, 4.0, 5.0, 6.0],
            "label": [0, 1, 1, 0, 0, 0],
        },
        index=pd.Index(IDS, name="customer"),
    ).assign(id=[100, 101, 101, 103, 104, 105])  # 102 repeats 101 entirely


def assert_rows_are_their_own(out: pd.DataFrame, caller: pd.DataFrame) -> None:
    """Every row whose label is one of the caller's holds exactly the caller's row of that label."""
    for label in out.index.intersection(caller.index):
        assert out.loc[label].to_dict() == caller.loc[label].to_dict(), label


# -- item 1: row identity -------------------------------------------------------------------------
def test_dropping_one_duplicate_and_oversampling_one_row_gives_a_fresh_index(people):
    # 6 rows in, one duplicate dropped, one row added: the same length as the input. The old
    # adapter put ids 100..105 back on these rows, so row "102" carried row 103's label.
    steps = (
        {"step": "drop_duplicates", "subset": ["id", "x", "label"]},
        {"step": "oversample", "columns": ["x"], "sampling_strategy": {"1": 2}},
    )
    out = recipe(*steps).fit_transform(people)
    assert len(out) == len(people)
    assert out.index.equals(pd.RangeIndex(6))  # rows were added: the caller's ids are not reused
    assert out["id"].tolist()[:5] == [100, 101, 103, 104, 105]
    assert out["label"].tolist() == [0, 1, 0, 0, 0, 1]
    assert_rows_are_their_own(out, people)


def test_rows_that_survive_a_filter_keep_their_own_index_labels(people):
    out = recipe({"step": "drop_duplicates", "subset": ["id", "x", "label"]}).fit_transform(people)
    assert out.index.tolist() == [100, 101, 103, 104, 105]
    assert out.index.name == "customer"
    assert out["id"].tolist() == out.index.tolist()
    assert_rows_are_their_own(out, people)


def test_filters_compose_through_later_row_keeping_steps(people):
    steps = (
        {"step": "drop_duplicates"},
        {"step": "outliers", "columns": ["x"], "method": "percentile", "lower": 0.0,
         "upper": 0.75, "action": "drop"},
        {"step": "scale", "columns": ["x"]},
        {"step": "undersample", "columns": ["x"], "sampling_strategy": {"0": 1}},
    )  # fmt: skip
    out = recipe(*steps).fit_transform(people)
    kept = people.drop_duplicates()
    kept = kept[kept["x"] <= kept["x"].quantile(0.75)]
    assert set(out.index) <= set(kept.index) and len(out) == 2
    assert (out["id"] == out.index).all()
    assert out.loc[out["label"] == 1].index.tolist() == [101]


def test_every_row_kept_keeps_the_callers_index_unchanged(people):
    out = recipe({"step": "scale", "columns": ["x"]}, {"step": "class_weights"}).fit_transform(
        people
    )
    assert out.index.equals(people.index)
    assert out["sample_weight"].tolist() == [0.75, 1.5, 1.5, 0.75, 0.75, 0.75]


def test_transform_and_run_keep_labels_of_surviving_rows(people):
    dedupe = recipe(
        {"step": "drop_duplicates", "at_apply": True}, {"step": "scale", "columns": ["x"]}
    )
    fitted = dedupe.fit(people)
    new = people.iloc[::-1]  # new data in another order: its own labels, in its own order
    out = fitted.transform(new)
    assert out.index.tolist() == [105, 104, 103, 102, 100]
    assert (out["id"].to_numpy() == [105, 104, 103, 101, 100]).all()
    run = dedupe.run(people, write=False).outputs["train"]
    assert run.index.tolist() == [100, 101, 103, 104, 105]


def test_transform_skipping_a_row_dropping_train_only_step_keeps_the_index(people):
    fitted = recipe({"step": "drop_duplicates"}, {"step": "oversample", "columns": ["x"]}).fit(
        people
    )
    assert fitted.transform(people).index.equals(people.index)


def test_the_steps_never_see_a_helper_column(people):
    out = recipe({"step": "select", "columns": "all"}).fit_transform(people)
    assert list(out.columns) == ["id", "x", "label"]
    assert out.index.equals(people.index)


def test_a_frame_not_derived_from_the_callers_rows_gets_a_fresh_index(people):
    frame, back = to_polars(people)
    assert back(frame).index.equals(people.index)
    assert back(frame.reverse()).index.equals(pd.RangeIndex(6))  # unknown origin
    assert back(frame.head(3)).index.equals(pd.RangeIndex(3))
    assert back(carry_rows(frame, frame.head(3), np.array([0, 1, 2]))).index.tolist() == IDS[:3]
    # positions that repeat or go backwards are not the caller's rows one for one
    assert back(carry_rows(frame, frame[[1, 0]], np.array([1, 0]))).index.equals(pd.RangeIndex(2))
    # another conversion's frame never takes this caller's labels
    other, _ = to_polars(people.set_axis(list("abcdef")))
    assert back(other).index.equals(pd.RangeIndex(6))


def test_polars_in_polars_out_unchanged(people):
    frame = pl.from_pandas(people.reset_index(drop=True))
    out = recipe({"step": "drop_duplicates"}).fit_transform(frame)
    assert isinstance(out, pl.DataFrame) and out.height == 5


# -- item 2: dtypes ----------------------------------------------------------------------------------
def identity():
    return recipe({"step": "select", "columns": "all"}, target=None)


def test_int64_above_2_53_survives_an_identity_select_exactly():
    big = 2**53 + 1
    frame = pd.DataFrame({"id": pd.array([big, None, 7], dtype="Int64")})
    out = identity().fit_transform(frame)
    assert out["id"].dtype == "Int64"
    assert out["id"].iloc[0] == big and pd.isna(out["id"].iloc[1])
    pd.testing.assert_frame_equal(out, frame)


NULLABLE = {
    "Int8": pd.array([1, None, -3], dtype="Int8"),
    "Int16": pd.array([1, None, 3], dtype="Int16"),
    "Int32": pd.array([1, None, 3], dtype="Int32"),
    "Int64": pd.array([2**62, None, 3], dtype="Int64"),
    "UInt8": pd.array([1, None, 255], dtype="UInt8"),
    "UInt16": pd.array([1, None, 3], dtype="UInt16"),
    "UInt32": pd.array([1, None, 3], dtype="UInt32"),
    "UInt64": pd.array([2**64 - 1, None, 3], dtype="UInt64"),
    "Float32": pd.array([1.5, None, 3.0], dtype="Float32"),
    "Float64": pd.array([0.1, None, 1e300], dtype="Float64"),
    "boolean": pd.array([True, None, False], dtype="boolean"),
    "string": pd.array(["a", None, "c"], dtype="string"),
    "str": pd.array(["a", None, "c"], dtype="str"),  # pandas 3's default string dtype
    "category": pd.Categorical(["b", None, "a"], categories=["b", "a", "unused"]),
    "ordered": pd.Categorical(["lo", "hi", None], categories=["lo", "hi"], ordered=True),
    "int categories": pd.Categorical([3, None, 1]),
}


@pytest.mark.parametrize("name", list(NULLABLE))
def test_each_nullable_dtype_round_trips_with_its_missing_values(name):
    frame = pd.DataFrame({"v": NULLABLE[name]}, index=[7, 8, 9])
    out = identity().fit_transform(frame)
    assert out["v"].dtype == frame["v"].dtype
    pd.testing.assert_frame_equal(out, frame)


def test_numpy_dtypes_stay_numpy_where_no_nulls_appear():
    frame = pd.DataFrame(
        {
            "i": np.array([1, 2, 3], dtype=np.int64),
            "i32": np.array([1, 2, 3], dtype=np.int32),
            "f": [1.0, np.nan, 3.0],
            "b": [True, False, True],
            "d": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
            "s": ["a", "b", None],
        }
    )
    out = identity().fit_transform(frame)
    assert out.dtypes.to_dict() == frame.dtypes.to_dict()
    pd.testing.assert_frame_equal(out, frame)


def test_an_object_column_stays_object():
    frame = pd.DataFrame({"o": pd.Series(["a", None, "c"], dtype=object)})
    out = identity().fit_transform(frame)
    assert out["o"].dtype == object and out["o"].tolist() == ["a", None, "c"]


def test_new_columns_get_nullable_dtypes_when_the_input_used_them():
    frame = pd.DataFrame(
        {
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "city": pd.array(["a", "b", None, "a"], dtype="string"),
        }
    )
    steps = (
        {"step": "impute", "columns": ["n"], "strategy": "mean"},
        {"step": "encode", "columns": ["city"], "method": "onehot"},
        {"step": "outliers", "columns": ["n"], "action": "flag", "method": "zscore"},
    )
    out = recipe(*steps, target=None).fit_transform(frame)
    assert out["n"].dtype == "Float64"  # the mean 8/3 made it a float column: nullable float
    assert out["n"].tolist()[1] == pytest.approx(8 / 3)
    assert {out[c].dtype.name for c in out.columns if c.startswith("city_")} == {"UInt8"}
    assert out["n__outlier"].dtype == "boolean"


def test_a_fill_value_outside_the_categories_is_kept_as_a_new_category():
    frame = pd.DataFrame({"c": pd.Categorical(["x", None, "y"], categories=["y", "x"])})
    step = {"step": "impute", "columns": ["c"], "strategy": "constant", "fill_value": "missing"}
    out = recipe(step, target=None).fit_transform(frame)
    assert out["c"].tolist() == ["x", "missing", "y"]
    assert list(out["c"].cat.categories) == ["y", "x", "missing"]


def test_backends_give_back_their_own_dtypes_and_values(backend, churn):
    data = backend.make(churn.head(200))
    out = identity().fit_transform(data)
    assert type(out) is type(data)
    if isinstance(data, pd.DataFrame):
        pd.testing.assert_frame_equal(out, data)
    else:
        assert out.equals(data)


def test_backends_zero_rows_apply_keeps_columns_and_dtypes(backend, churn):
    data = backend.make(churn.head(50))
    steps = ({"step": "drop", "columns": ["customer_id"]}, {"step": "scale", "columns": ["age"]})
    fitted = recipe(*steps, target="churned").fit(data)
    full = fitted.transform(data)
    empty = fitted.transform(data[:0] if isinstance(data, pd.DataFrame) else data.head(0))
    assert len(empty) == 0
    assert list(empty.columns) == list(full.columns)
    if isinstance(data, pd.DataFrame):
        assert empty.dtypes.to_dict() == full.dtypes.to_dict()
    else:
        assert empty.schema == full.schema
