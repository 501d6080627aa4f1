from datetime import date

import polars as pl
import pytest

from prepkit.columns import dtype_group, select_columns
from prepkit.errors import DataError


@pytest.fixture
def frame():
    return pl.DataFrame(
        {
            "id": [1, 2],
            "score_a": [0.5, 1.5],
            "score_b": [1, 2],
            "city": ["Oslo", "Rome"],
            "review": ["a long sentence of words", "another review with many words"],
            "flag": [True, False],
            "when": [date(2024, 1, 1), date(2024, 1, 2)],
            "label": [0, 1],
        }
    )


def test_groups(frame):
    assert select_columns(frame, "numeric", target="label") == ["id", "score_a", "score_b"]
    assert select_columns(frame, "categorical") == ["city"]
    assert select_columns(frame, "text") == ["review"]
    assert select_columns(frame, "boolean") == ["flag"]
    assert select_columns(frame, "datetime") == ["when"]
    assert "label" not in select_columns(frame, "all", target="label")


def test_names_regex_exclude(frame):
    assert select_columns(frame, ["score_b", "id"]) == ["score_b", "id"]
    assert select_columns(frame, "city") == ["city"]
    assert select_columns(frame, {"regex": "^score_"}) == ["score_a", "score_b"]
    assert select_columns(frame, {"dtype": "numeric", "exclude": ["id"]}, target="label") == [
        "score_a",
        "score_b",
    ]
    assert select_columns(frame, ["label"], target="label") == ["label"]


def test_missing_name_lists_columns(frame):
    with pytest.raises(
        DataError, match="column 'scor_a' does not exist \\(did you mean 'score_a'\\?\\)"
    ) as info:
        select_columns(frame, ["scor_a"])
    assert "available columns: id, score_a" in str(info.value)


def test_dtype_group_of_categorical():
    frame = pl.DataFrame({"c": ["a", "b"]}, schema={"c": pl.Categorical})
    assert dtype_group(frame, "c") == "categorical"
