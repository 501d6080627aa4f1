"""impute, the column steps, class_weights and clean_text fit from statistics: the state fitted in
memory equals the state fitted from answers computed over batches of 1, 3, 7 rows and one batch
(the streaming engine sees only the first batch itself), and so do the errors they raise."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from engine_helpers import recipe

from prepkit.engines.partials import compute_batches
from prepkit.engines.statistics import Distinct, Infinities, compute
from prepkit.errors import DataError
from prepkit.pipeline import context_for
from prepkit.steps.base import StepContext, plain_state

INF, NAN = math.inf, math.nan


@pytest.fixture
def numbers() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "i": [None, 3, 1, None, 4, 1, 5, 9, 2, 6, None],
            "f": [NAN, 0.1, None, 0.7, 0.2, NAN, 1e-3, 0.3, 0.1, None, 2.5],
            "f32": pl.Series(
                [0.1, None, 0.2, 0.3, NAN, 0.7, 0.4, 1.1, None, 0.1, 0.9], dtype=pl.Float32
            ),
            "u8": pl.Series([7, 7, 7, None, 7, 7, 7, 7, 7, 7, 7], dtype=pl.UInt8),
            "one": [2.0] * 11,
            "late": [None] * 8 + [1.0, 2.0, 4.0],  # the first batches hold no value
        }
    )


@pytest.fixture
def labels() -> pl.DataFrame:
    """Ties: the first value seen is not the smallest (the tie-break must not follow the rows)."""
    return pl.DataFrame(
        {
            "s": ["b", None, "a", "b", "c", "a", None, "é", "B", "c", "é"],
            "cat": pl.Series(
                ["z", "y", "z", None, "y", "x", "x", "w", "w", "v", None], dtype=pl.Categorical
            ),
            "enum": pl.Series(
                ["lo", "hi", "mid", "hi", "lo", None, "mid", "hi", "lo", "mid", None],
                dtype=pl.Enum(["mid", "lo", "hi"]),
            ),
            "b": [True, None, False, True, False, None, True, False, None, None, None],
            "d": [dt.date(2024, 1, d) for d in (5, 3, 5, 3, 1, 9, 1, 9, 2, 2, 7)],
            "i": [9, 8, 9, 8, None, 7, 7, 1, 2, 3, None],
            "f": [NAN, 2.5, NAN, -0.5, 2.5, -0.5, None, NAN, 0.0, 0.0, 1.0],
        }
    )


# -- impute ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["mean", "median"])
@pytest.mark.parametrize("add_indicator", [False, True])
def test_impute_mean_and_median(numbers, over_batches, strategy, add_indicator):
    step = {"step": "impute", "strategy": strategy, "add_indicator": add_indicator}
    state = over_batches(recipe(step), numbers)
    assert state["columns"] == ["i", "f", "f32", "u8", "one", "late"]
    expected = {"i": 31 / 8, "late": 7 / 3} if strategy == "mean" else {"i": 3.5, "late": 2.0}
    assert state["fill"]["i"] == pytest.approx(expected["i"], rel=1e-15)
    assert state["fill"]["late"] == pytest.approx(expected["late"], rel=1e-15)
    assert state["fill"]["u8"] == 7.0 and state["fill"]["one"] == 2.0


def test_impute_mean_of_float32_is_in_float32_precision_as_before(numbers, over_batches):
    state = over_batches(
        recipe({"step": "impute", "columns": ["f32"], "strategy": "mean"}), numbers
    )
    values = numbers["f32"].fill_nan(None).drop_nulls()
    assert state["fill"]["f32"] == float(np.float32(values.cast(pl.Float64).mean()))
    assert state["fill"]["f32"] == numbers.select(pl.col("f32").fill_nan(None).mean()).item()


@pytest.mark.parametrize("columns", [["s"], ["cat"], ["enum"], ["b"], ["d"], ["i"], ["f"]])
def test_impute_most_frequent_breaks_ties_as_before_whatever_the_batches(
    labels, over_batches, columns
):
    state = over_batches(
        recipe({"step": "impute", "columns": columns, "strategy": "most_frequent"}), labels
    )
    expected = {
        "s": "a",  # a, b, c and é twice each: the smallest
        "cat": "w",  # lexical order of the labels, not the order they were first seen
        "enum": "mid",  # an Enum sorts by its categories: mid, lo, hi
        "b": False,  # three each
        "d": "2024-01-01",
        "i": 7,
        "f": -0.5,  # NaN (three times) is missing, not a value
    }
    assert state["fill"] == {columns[0]: expected[columns[0]]}


def test_impute_most_frequent_over_every_column_and_a_single_row(labels, over_batches):
    step = recipe({"step": "impute", "columns": "all", "strategy": "most_frequent"})
    assert over_batches(step, labels)["fill"]["s"] == "a"
    row = labels.slice(3, 1).drop("cat")  # a single row (its categorical cell is null)
    assert over_batches(step, row)["fill"] == {
        "s": "b",
        "enum": "hi",
        "b": True,
        "d": "2024-01-03",
        "i": 8,
        "f": -0.5,
    }


@pytest.mark.parametrize(
    ("columns", "fill_value", "expected"),
    [
        (["s", "cat", "i", "f"], None, {"s": "missing", "cat": "missing", "i": 0, "f": 0}),
        (["i", "f"], 0, {"i": 0, "f": 0}),
        (["i", "f"], 2.5, {"i": 2.5, "f": 2.5}),
        (["s", "cat", "enum"], "hi", {"s": "hi", "cat": "hi", "enum": "hi"}),
        (["b"], True, {"b": True}),
        (["d"], "2024-03-01", {"d": "2024-03-01"}),
    ],
)
def test_impute_constant_is_learned_from_the_schema(
    labels, over_batches, columns, fill_value, expected
):
    step = {"step": "impute", "columns": columns, "strategy": "constant"}
    if fill_value is not None:
        step["fill_value"] = fill_value
    assert over_batches(recipe(step), labels) == {"columns": columns, "fill": expected}


def test_impute_constant_refuses_a_fill_of_the_wrong_type_on_every_engine(labels, same_error):
    same_error(
        recipe(
            {"step": "impute", "columns": ["i", "s"], "strategy": "constant", "fill_value": "x"}
        ),
        labels,
        r"column 'i' \(Int64\) cannot be filled with 'x' \(text\)",
    )


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent"])
def test_impute_entirely_missing_columns_are_errors_on_every_engine(strategy, same_error):
    frame = pl.DataFrame(
        {"x": [1.0, 2.0, None, 4.0], "gone": [None, NAN, NAN, None], "none": [None] * 4},
        schema={"x": pl.Float64, "gone": pl.Float64, "none": pl.Int64},
    )
    message = same_error(
        recipe({"step": "impute", "strategy": strategy}), frame, "entirely missing"
    )
    assert (
        f"columns 'gone', 'none': entirely missing (no values at fit time to learn a {strategy}"
        in message
    )


def test_impute_most_frequent_of_null_and_text_columns_with_no_values(same_error):
    frame = pl.DataFrame(
        {"n": [None, None, None], "s": pl.Series([None, None, None], dtype=pl.String)}
    )
    message = same_error(
        recipe({"step": "impute", "columns": "all", "strategy": "most_frequent"}),
        frame,
        "entirely missing",
    )
    assert "columns 'n', 's': entirely missing" in message


@pytest.mark.parametrize(
    ("strategy", "values", "found"),
    [
        (
            "mean",
            [1.0, INF, 2.0, None, 3.0, 4.0, INF],
            "2 infinite values (inf: 2), so its mean is inf",
        ),
        ("mean", [1.0, 2.0, 3.0, -INF, 5.0, INF, 7.0], "(inf: 1, -inf: 1), so its mean is nan"),
        (
            "mean",
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -INF],
            "1 infinite value (-inf: 1), so its mean is -inf",
        ),
        ("median", [-INF, 2.0, INF, INF, INF, NAN, INF], "(inf: 4, -inf: 1), so its median is inf"),
    ],
)
def test_impute_infinite_statistics_name_the_infinities_on_every_engine(
    strategy, values, found, same_error
):
    frame = pl.DataFrame({"x": values, "y": [1.0] * len(values)})
    message = same_error(recipe({"step": "impute", "strategy": strategy}), frame, "infinite")
    assert found in message


def test_impute_median_beside_infinities_is_kept(over_batches):
    frame = pl.DataFrame({"x": [1.0, 2.0, INF, None, 2.0, -INF, 3.0]})
    state = over_batches(recipe({"step": "impute", "strategy": "median"}), frame)
    assert state["fill"] == {"x": 2.0}


def test_impute_on_random_frames_with_ties_nulls_and_nan(over_batches):
    rng = np.random.default_rng(3)
    n = 200
    x = rng.integers(0, 5, n).astype(float)
    x[rng.random(n) < 0.2] = np.nan
    frame = pl.DataFrame(
        {
            "x": x,
            "k": pl.Series(rng.integers(0, 4, n)).set(pl.Series(rng.random(n) < 0.1), None),
            "s": pl.Series(rng.choice(list("pqrs"), n)).cast(pl.Categorical),
        }
    )
    for strategy in ("mean", "median"):
        over_batches(recipe({"step": "impute", "strategy": strategy}), frame)
    state = over_batches(
        recipe({"step": "impute", "columns": "all", "strategy": "most_frequent"}), frame
    )
    for c in frame.columns:  # the smallest of the most frequent values, as polars sorts them
        values = frame[c].fill_nan(None) if frame[c].dtype.is_float() else frame[c]
        counts = values.drop_nulls().rename("v").value_counts(name="n")
        expected = counts.sort(["n", "v"], descending=[True, False])["v"][0]
        assert state["fill"][c] == expected


# -- drop_missing ----------------------------------------------------------------------------------
@pytest.mark.parametrize("threshold", [0.0, 0.25, 0.5, 1.0])
def test_drop_missing(numbers, labels, over_batches, threshold):
    state = over_batches(recipe({"step": "drop_missing", "threshold": threshold}), numbers)
    fractions = {"i": 3 / 11, "f": 4 / 11, "f32": 3 / 11, "u8": 1 / 11, "late": 8 / 11}
    assert state["missing_fraction"] == {c: f for c, f in fractions.items() if f > threshold}
    over_batches(recipe({"step": "drop_missing", "threshold": threshold}), labels)


# -- drop_constant ---------------------------------------------------------------------------------
@pytest.fixture
def constants() -> pl.DataFrame:
    big = 2**53
    return pl.DataFrame(
        {
            "one": [1, 1, 1, 1, 1, 1, 1],
            "one_null": [1, None, 1, 1, None, 1, 1],
            "nan": [NAN] * 7,
            "nan_null": [NAN, None, NAN, NAN, NAN, NAN, NAN],
            "one_nan": [2.0, NAN, 2.0, None, 2.0, 2.0, 2.0],
            "zeros": [0.0, -0.0, 0.0, 0.0, -0.0, 0.0, 0.0],
            "null": pl.Series([None] * 7, dtype=pl.String),
            "s": ["a", "a", None, "a", "a", "a", "a"],
            "cat": pl.Series(["k", "k", "k", "k", "k", "k", "j"], dtype=pl.Categorical),
            "b": [True] * 6 + [None],
            "d": [dt.date(2024, 2, 1)] * 7,
            "two": [1, 1, 1, 1, 1, 1, 2],  # the other value only in the last batch
            "big": [big, big, big, big, big, big, big + 1],  # equal as floats, not as integers
            "many": list(range(7)),
            "gaps_one": [NAN, None, 3.0, 3.0, 3.0, 3.0, 3.0],  # null, NaN and one value
            "gaps_two": [NAN, None, 3.0, 3.0, 3.0, 3.0, 4.0],
        }
    )


@pytest.mark.parametrize("ignore_nulls", [False, True])
def test_drop_constant(constants, over_batches, ignore_nulls):
    state = over_batches(recipe({"step": "drop_constant", "ignore_nulls": ignore_nulls}), constants)
    if ignore_nulls:
        expected = ["one", "one_null", "nan", "nan_null", "one_nan", "zeros", "null", "s", "b", "d"]
        expected.append("gaps_one")
    else:
        expected = ["one", "nan", "zeros", "null", "d"]
    assert state == {"columns": expected}


def test_drop_constant_on_one_row_and_on_wide_random_columns(constants, over_batches):
    assert over_batches(recipe({"step": "drop_constant"}), constants.head(1))["columns"] == list(
        constants.columns
    )
    rng = np.random.default_rng(5)
    frame = pl.DataFrame({f"c{i}": rng.integers(0, 1 + i % 3, 20) for i in range(12)})
    state = over_batches(recipe({"step": "drop_constant", "ignore_nulls": True}), frame)
    assert state["columns"] == [c for c in frame.columns if frame[c].n_unique() == 1]


# -- schema-only steps -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({"step": "select", "columns": ["s", "i"]}, {"columns": ["s", "i"]}),
        ({"step": "select", "columns": "numeric", "keep_target": False}, {"columns": ["f"]}),
        ({"step": "drop", "columns": {"regex": "^[bd]$"}}, {"columns": ["b", "d"]}),
        (
            {"step": "rename", "mapping": {"s": "t", "cat": "k"}},
            {"mapping": {"s": "t", "cat": "k"}},
        ),
        (
            {"step": "cast", "dtypes": {"i": "float64", "s": "category"}},
            {"dtypes": {"i": "float64", "s": "category"}},
        ),
        ({"step": "clean_text", "columns": ["s"], "min_length": 1}, {"columns": ["s"]}),
    ],  # fmt: skip
    ids=lambda s: s.get("step", ""),
)
def test_schema_only_steps(labels, over_batches, step, expected):
    assert over_batches(recipe(step, target="i"), labels) == expected


def test_cast_strict_checks_every_batch_when_it_is_applied():
    frame = pl.DataFrame({"n": ["1", "2", "3", "4", "x", "6", "7"]})
    fitted = recipe({"step": "cast", "dtypes": {"n": "int64"}}).fit(frame.head(1))
    step, state = fitted.steps[0], fitted.states[0]
    for batch in frame.iter_slices(3):
        if "x" in batch["n"].to_list():
            with pytest.raises(DataError, match=r"1 value\(s\) of column 'n' cannot be cast"):
                step.apply(batch, state, StepContext())
        else:
            assert step.apply(batch, state, StepContext())["n"].dtype == pl.Int64


# -- class_weights ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "y",
    [
        ["b", "a", "b", "c", "b", "a", "b", "b", "c", "a"],
        [1, 0, 1, 1, 2, 0, 1, 1, 10, 1],
        [True, False, True, True, True, False, True, True, True, True],
        [1.0, 0.5, 1.0, NAN, 1.0, 0.5, 1.0, 2.0, 1.0, 1.0],
        pl.Series(["x", "y", "x", "x", "z", "y", "x", "x", "x", "x"], dtype=pl.Categorical),
        pl.Series(
            ["x", "y", "x", "x", "z", "y", "x", "x", "x", "x"], dtype=pl.Enum(["z", "y", "x"])
        ),
    ],
    ids=["str", "int", "bool", "float", "cat", "enum"],
)
@pytest.mark.parametrize("weights", ["balanced", "mapping"])
def test_class_weights(over_batches, y, weights):
    frame = pl.DataFrame({"x": range(10), "y": y})
    params = {"step": "class_weights"}
    if weights == "mapping":
        first = frame["y"].cast(pl.String)[0]
        params["weights"] = {first: 3.0}
    state = over_batches(recipe(params, target="y"), frame)
    assert sum(state["class_counts"].values()) == 10
    assert list(state["class_counts"]) == sorted(state["class_counts"])
    expected = frame["y"].cast(pl.String).value_counts(name="n").sort("y").rows()
    assert list(state["class_counts"].items()) == expected


def test_class_weights_errors_on_every_engine(same_error):
    frame = pl.DataFrame({"x": range(7), "y": ["a", "b", "a", None, "b", "a", "a"]})
    same_error(recipe({"step": "class_weights"}, target="y"), frame, "has 1 missing labels")
    frame = frame.with_columns(pl.col("y").fill_null("a"))
    same_error(
        recipe({"step": "class_weights", "weights": {"c": 2.0}}, target="y"),
        frame,
        "names class\\(es\\) not in target 'y': c",
    )


# -- no rows: nothing to learn, and nothing is an error ---------------------------------------------
@pytest.mark.parametrize(
    "step",
    [
        {"step": "impute", "strategy": "mean"},
        {"step": "impute", "strategy": "median"},
        {"step": "impute", "columns": "all", "strategy": "most_frequent"},
        {"step": "drop_missing"},
        {"step": "drop_constant", "ignore_nulls": True},
        {"step": "drop_constant"},
    ],
    ids=lambda s: f"{s['step']}-{s.get('strategy', s.get('ignore_nulls', ''))}",
)
def test_zero_rows_learn_the_same_as_in_memory(numbers, step):
    empty = numbers.head(0)
    r = recipe(step)
    s = r.steps[0]
    ctx = replace(context_for(r), step_id=s.id, fitting=True)
    memory = plain_state(s.fit(empty, ctx), s.id)
    requests = s.statistics(empty, ctx)
    for batches in ([], [empty]):
        answers = compute_batches(lambda b=batches: iter(b), requests)
        assert plain_state(s.fit_from(empty, answers, ctx), s.id) == memory
    assert memory in (
        {"columns": [], "missing_fraction": {}},
        {"columns": []},
        {"columns": list(numbers.columns), "fill": dict.fromkeys(numbers.columns)},
    )


# -- the requests added for these steps -----------------------------------------------------------
def _plain(value):
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return "NaN" if isinstance(value, float) and math.isnan(value) else value


def test_distinct_and_infinities_over_batches_equal_memory(constants, labels):
    frames = [constants, labels, pl.DataFrame({"x": [1.0, INF, -INF, NAN, None, INF, 2.0]})]
    for frame in frames:
        requests = [
            r
            for c in frame.columns
            for r in (Infinities(c), *(Distinct(c, k) for k in (0, 1, 3, 20)))
        ]
        memory = compute(frame, requests)
        for rows in (1, 2, 3, 7):
            streamed = compute_batches(lambda f=frame, n=rows: iter(f.iter_slices(n)), requests)
            assert _plain(streamed) == _plain(memory), rows
    found = compute(frames[2], [Infinities("x"), Distinct("x", 5), Distinct("x", 6)])
    assert found[Infinities("x")] == {"inf": 2, "-inf": 1}
    assert found[Distinct("x", 5)] is None  # six distinct values: 1, inf, -inf, NaN, null, 2
    assert _plain(found[Distinct("x", 6)]) == [1.0, INF, -INF, "NaN", None, 2.0]
    cat = compute(labels, [Distinct("cat", 10)])[Distinct("cat", 10)]
    assert cat == ["z", "y", None, "x", "w", "v"]  # first appearance, categories as text
