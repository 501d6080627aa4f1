import polars as pl
import pytest

from prepkit.errors import DataError, RecipeError
from prepkit.io import detect_format, read_table, write_table


@pytest.fixture
def frame():
    return pl.DataFrame({"a": [1, 2, None], "b": ["x", None, "z"], "c": [0.5, 1.5, 2.5]})


@pytest.mark.parametrize(
    "ext", [".csv", ".tsv", ".parquet", ".json", ".ndjson", ".jsonl", ".arrow", ".feather"]
)
def test_round_trip_every_format(tmp_path, frame, ext):
    path = tmp_path / f"data{ext}"
    write_table(frame, path)
    assert read_table(path).equals(frame)


def test_format_from_extension_and_override():
    assert detect_format("a.csv.gz") == "csv"
    assert detect_format("x.PARQUET") == "parquet"
    assert detect_format("x.dat", "tsv") == "tsv"
    assert detect_format("-") == "csv"
    with pytest.raises(
        RecipeError, match="unknown format 'parket' \\(did you mean 'parquet'\\?\\)"
    ):
        detect_format("x.csv", "parket")
    with pytest.raises(RecipeError, match="cannot tell the format"):
        detect_format("x.xlsx")


def test_csv_options(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("a;b\n1;NA\n2;3\n", encoding="latin-1")
    out = read_table(path, options={"separator": ";", "null_values": ["NA"], "encoding": "latin-1"})
    assert out["b"].to_list() == [None, 3]
    with pytest.raises(
        RecipeError, match="unknown CSV read option 'seperator' \\(did you mean 'separator'\\?\\)"
    ):
        read_table(path, options={"seperator": ";"})


def test_empty_missing_and_garbled_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="input file is empty"):
        read_table(empty)
    with pytest.raises(DataError, match="input file not found"):
        read_table(tmp_path / "nope.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet at all")
    with pytest.raises(DataError, match=f"cannot read {bad} as parquet"):
        read_table(bad)


def test_atomic_write_keeps_old_file_on_failure(tmp_path, frame):
    path = tmp_path / "out.csv"
    path.write_text("old contents\n")
    with pytest.raises(RecipeError):
        write_table(frame, path, options={"not_an_option": 1})
    assert path.read_text() == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary left behind
