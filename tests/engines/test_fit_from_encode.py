"""encode fits from `Counts` answers: over batches the state equals the in-memory state, which is
still today's (scikit-learn's categories, infrequent grouping and ties); and applying in batches
gives the rows, columns, dtypes and report of applying to the whole frame."""

from __future__ import annotations

import polars as pl
import pytest

import prepkit
from prepkit.report import CountedWarning, StepReport, merge_step_reports

NAN = float("nan")


def recipe(**params):
    return prepkit.load_recipe({"steps": [{"step": "encode", **params}]})


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "city": ["b", "a", "a", "b", "c", "a", None, None, "d", "b", "e", "a", "c"],
            "x": [1.5, NAN, 0.5, 1.5, None, 2.5, 1.5, 0.5, NAN, 2.0, 1.5, 0.5, 7.0],
            "n": [3, 1, 1, 2, 3, 1, None, 2, 2, 9, 1, 3, 3],
            "flag": [True, False, None, True, True, False, True]
            + [None, True, True, False, True, True],
            "one": ["k"] * 13,
        }
    ).with_columns(kind=pl.col("city").cast(pl.Categorical))


ONEHOT = [
    {},
    {"min_frequency": 2},
    {"min_frequency": 3, "drop": "first"},
    {"min_frequency": 0.2},  # a fraction of all rows, nulls included: 2.6 rows
    {"min_frequency": 0.01},
    {"max_categories": 3},
    {"max_categories": 1},
    {"max_categories": 2, "min_frequency": 2, "drop": "if_binary"},
    {"drop": "if_binary"},
    {"handle_unknown": "infrequent", "min_frequency": 3, "dtype": "boolean"},
    {"categories": {"city": ["e", "a", None]}, "max_categories": 2},
]


@pytest.mark.parametrize("params", ONEHOT)
def test_onehot_state_over_batches_equals_the_in_memory_state(over_batches, frame, params):
    columns = ["city", "x", "n", "flag", "one", "kind"]
    over_batches(recipe(columns=columns, **params), frame)


ORDINAL = [
    {},
    {"encoded_missing_value": -2, "unknown_value": -1},
    {"encoded_missing_value": NAN},
    {"categories": {"n": [9, 3, 2, 1]}, "handle_unknown": "error"},
    {"keep_original": True},
]


@pytest.mark.parametrize("params", ORDINAL)
def test_ordinal_state_over_batches_equals_the_in_memory_state(over_batches, frame, params):
    columns = ["city", "x", "n", "flag", "one", "kind"]
    over_batches(recipe(columns=columns, method="ordinal", **params), frame)


def test_onehot_state_is_scikit_learns_with_nan_as_null_and_categorical_as_text(
    over_batches, frame
):
    state = over_batches(recipe(columns=["x", "kind", "flag"], min_frequency=3), frame)
    x, kind, flag = (state["encodings"][c] for c in ["x", "kind", "flag"])
    # NaN and null are one category, null, sorted last
    assert x["categories"] == [0.5, 1.5, 2.0, 2.5, 7.0, None]
    assert x["infrequent"] == [2.0, 2.5, 7.0]
    assert x["outputs"] == ["x_0.5", "x_1.5", "x_null", "x_infrequent_sklearn"]
    assert kind["categories"] == ["a", "b", "c", "d", "e", None]
    assert kind["infrequent"] == ["c", "d", "e", None]
    assert flag["categories"] == [False, True, None]
    assert flag["outputs"] == ["flag_False", "flag_True", "flag_infrequent_sklearn"]


def test_min_frequency_fraction_counts_all_rows_including_nulls(over_batches, frame):
    # 0.2 * 13 rows = 2.6: categories seen twice or less are infrequent
    state = over_batches(recipe(columns=["city"], min_frequency=0.2), frame)
    city = state["encodings"]["city"]
    assert city["infrequent"] == ["c", "d", "e", None]
    assert city["outputs"] == ["city_a", "city_b", "city_infrequent_sklearn"]


def test_max_categories_ties_keep_the_later_categories_like_scikit_learn(over_batches):
    # a, b, c seen twice, d once: a stable sort by count keeps the last of the tied (b, c)
    frame = pl.DataFrame({"v": ["c", "a", "b", "d", "b", "a", "c"]})
    state = over_batches(recipe(columns=["v"], max_categories=3), frame)
    assert state["encodings"]["v"]["infrequent"] == ["a", "d"]
    assert state["encodings"]["v"]["outputs"] == ["v_b", "v_c", "v_infrequent_sklearn"]
    ints = over_batches(recipe(columns=["v"], max_categories=2), pl.DataFrame({"v": [3, 1, 2, 1]}))
    assert ints["encodings"]["v"]["infrequent"] == [2, 3]  # only the most common, 1, is kept


def test_ordinal_categories_of_booleans_and_integers_skip_null(over_batches, frame):
    state = over_batches(recipe(columns=["n", "flag"], method="ordinal"), frame)
    assert state["encodings"] == {
        "n": {"categories": [1, 2, 3, 9]},
        "flag": {"categories": [False, True]},
    }
    assert state["dtype"] == "int64"


def test_a_first_batch_of_nulls_learns_nothing_from_itself(over_batches):
    frame = pl.DataFrame({"v": [None, None, None, "b", "a", "b", None]})
    state = over_batches(recipe(columns=["v"], min_frequency=0.3), frame)  # 2.1 rows
    assert state["encodings"]["v"]["categories"] == ["a", "b", None]
    assert state["encodings"]["v"]["infrequent"] == ["a", "b"]


def test_no_column_to_encode_fits_over_batches(over_batches, frame):
    assert over_batches(recipe(), frame.select("x")) == {  # the default selects text columns
        "method": "onehot",
        "columns": [],
        "encodings": {},
    }


# -- applying in batches ------------------------------------------------------------------------

TRAIN = pl.DataFrame(
    {
        "city": ["a", "b", "a", "c", "a", "b", None],
        "n": [1, 2, 1, 2, 1, 3, 2],
        "x": [0.5, 1.5, 0.5, NAN, 0.5, 2.5, 1.5],
        "flag": [True, False, True, True, False, True, True],
    }
).with_columns(kind=pl.col("city").cast(pl.Categorical))
NEW = pl.DataFrame(
    {
        "city": ["a", "z", "y", None, "x", "b", "b", "w", "z", "a"],
        "n": [1, 5, None, 2, 2, 9, 1, 1, 9, 3],
        "x": [0.5, NAN, None, 9.0, 1.5, 0.5, 0.5, 2.5, 0.5, 8.0],
        "flag": [True, None, True, False, True, None, True, True, False, True],
    }
).with_columns(kind=pl.col("city").cast(pl.Categorical))


def _in_batches(fitted, frame: pl.DataFrame, rows: int) -> tuple[pl.DataFrame, StepReport]:
    outs, report = [], None
    for batch in frame.iter_slices(rows):
        out, batch_report = fitted.transform_frame(batch)
        outs.append(out)
        step = batch_report.steps[0]
        report = step if report is None else merge_step_reports(report, step)
    return pl.concat(outs), report


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"min_frequency": 2, "handle_unknown": "infrequent", "drop": "if_binary"},
        {"dtype": "boolean", "drop": "first"},
        {"method": "ordinal"},
        {"method": "ordinal", "encoded_missing_value": NAN, "unknown_value": -5},
        {"method": "ordinal", "keep_original": True},
    ],
)
def test_applying_batch_by_batch_equals_applying_to_the_whole_frame(params):
    fitted = recipe(columns=["city", "n", "x", "flag", "kind"], **params).fit(TRAIN)
    whole, report = fitted.transform_frame(NEW)
    batched, merged = _in_batches(fitted, NEW, 3)
    # the same columns and dtypes although each batch holds other values (or no unknown, no null)
    assert batched.schema == whole.schema
    assert batched.equals(whole)
    assert merged.changes == report.steps[0].changes
    # each column's warning once, with the totals; a column whose first unknown value comes in a
    # later batch warns after the others
    assert sorted(merged.warnings) == sorted(report.steps[0].warnings)


def test_an_unknown_value_warning_appears_once_with_the_total_over_batches():
    fitted = recipe(columns=["city", "n"]).fit(TRAIN)
    _, merged = _in_batches(fitted, NEW, 3)
    assert merged.changes["unknown"] == {"city": 5, "n": 4}
    assert merged.warnings == [
        "encode: column 'city' has 5 values not seen at fit time ('z', 'y', 'x', 'w'); their "
        "'city_*' indicator columns are all zero",
        "encode: column 'n' has 4 values not seen at fit time (5, null, 9); their 'n_*' "
        "indicator columns are all zero",
    ]


def test_batched_apply_from_a_file_warns_once(tmp_path):
    fitted = recipe(columns=["city"], method="ordinal").fit(TRAIN.select("city"))
    (tmp_path / "new.csv").write_text(NEW.select("city").write_csv())
    report = fitted.transform_file(tmp_path / "new.csv", tmp_path / "out.csv", batch_size=2)
    step = report.steps[0]
    assert step.changes["unknown"] == {"city": 5}
    assert step.warnings == [
        "encode: column 'city' has 5 values not seen at fit time ('z', 'y', 'x', 'w'); coded as -1"
    ]


def test_counted_warnings_merge_their_examples_and_say_when_the_distinct_count_is_a_bound():
    template = "col {{a}}: {count} value{s} ({examples})"
    one = CountedWarning("k", template, 3, ["'p'", "'q'"], 2)
    two = CountedWarning("k", template, 4, ["'q'", "'r'", "'s'", "'t'", "'u'"], 5)
    assert one == "col {a}: 3 values ('p', 'q')"
    merged = one.merge(two)
    assert merged == "col {a}: 7 values ('p', 'q', 'r', 's', 't' and 1 more)"
    # once a part kept fewer examples than it saw, the union is only a lower bound
    few = CountedWarning("k", template, 1, ["'p'"], CountedWarning.KEPT + 1)
    assert "and at least 996 more" in one.merge(few)
    a = StepReport("e", "encode", "transform", warnings=["plain", one])
    b = StepReport("e", "encode", "transform", warnings=[two, "plain"])
    assert merge_step_reports(a, b).warnings == ["plain", merged]


def test_a_column_name_with_braces_stays_as_it_is_in_the_warning():
    fitted = recipe(columns=["{c}"], method="ordinal").fit(pl.DataFrame({"{c}": ["a", "b"]}))
    _, merged = _in_batches(fitted, pl.DataFrame({"{c}": ["a", "z", "b", "z"]}), 1)
    assert merged.warnings == [
        "encode: column '{c}' has 2 values not seen at fit time ('z'); coded as -1"
    ]
