import pandas as pd
import polars as pl
import pytest

import prepkit
from prepkit.errors import DataError, RecipeError


def recipe(**params):
    return prepkit.load_recipe({"target": "y", "steps": [{"step": "drop_duplicates", **params}]})


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [1, 2, 1, 3, 2, 1, 4, None, None],
            "city": ["a", "b", "a", "c", "b", "x", "d", "e", "e"],
            "y": [0, 1, 0, 1, 0, 1, 0, 1, 1],
        }
    )


@pytest.mark.parametrize("keep", ["first", "last", "none"])
@pytest.mark.parametrize("subset", [None, ["id", "city"], ["id"]])
def test_matches_pandas_drop_duplicates(frame, keep, subset):
    params = {"keep": keep} if subset is None else {"keep": keep, "subset": subset}
    out = recipe(**params).fit_transform(frame)
    expected = frame.to_pandas().drop_duplicates(
        subset=subset, keep=False if keep == "none" else keep
    )
    pd.testing.assert_frame_equal(
        out.to_pandas(), expected.reset_index(drop=True), check_dtype=False
    )


def test_hand_computed_first_and_report(frame):
    fitted = recipe().fit(frame)
    # rows 2 (copy of 0) and 8 (copy of 7, nulls compare equal) go; row 4 differs in y
    assert fitted.report.steps[0].changes == {"duplicates_removed": 2}
    assert recipe().fit_transform(frame)["city"].to_list() == ["a", "b", "c", "b", "x", "d", "e"]


def test_subset_selector_and_last(frame):
    out = recipe(subset={"regex": "^id$"}, keep="last").fit_transform(frame)
    assert out["city"].to_list() == ["c", "b", "x", "d", "e"]


def test_train_only_unless_at_apply(frame):
    fitted = recipe().fit(frame)
    assert fitted.steps[0].phase == "train_only" and not fitted.steps[0].runs_at_apply
    assert fitted.transform(frame).equals(frame)
    fitted = recipe(at_apply=True).fit(frame)
    assert fitted.transform(frame).height == 7
    # new data without the target: compared on the other columns
    assert fitted.transform(frame.drop("y")).height == 6


def test_backends_agree(frame, backend):
    out = backend.to_polars(recipe(subset=["id"], keep="none").fit_transform(backend.make(frame)))
    assert out["city"].to_list() == ["c", "d"]


def test_json_round_trip(frame, tmp_path):
    fitted = recipe(subset=["city"], keep="last", at_apply=True).fit(frame)
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.json"))
    assert loaded.steps[0].runs_at_apply
    assert loaded.transform(frame).equals(fitted.transform(frame))
    assert loaded.transform(frame)["city"].to_list() == ["a", "c", "b", "x", "d", "e"]


def test_zero_and_one_row(frame, zero_rows):
    zero_rows(recipe(), frame)
    assert recipe(keep="none").fit_transform(frame.head(1)).equals(frame.head(1))


def test_empty_subset_is_a_noop_with_warning(frame):
    fitted = recipe(subset={"regex": "^nothing$"}).fit(frame)
    assert fitted.report.steps[0].changes == {"duplicates_removed": 0}
    assert "selects no columns" in fitted.report.steps[0].warnings[0]


def test_bad_options(frame):
    with pytest.raises(RecipeError, match="did you mean 'last'"):
        recipe(keep="lst")
    with pytest.raises(DataError, match="did you mean 'city'"):
        recipe(subset=["cty"]).fit(frame)
    fitted = recipe(subset=["id"], at_apply=True).fit(frame)
    with pytest.raises(DataError, match="id"):
        fitted.transform(frame.drop("id"))


def _tricky(rows: int = 5000) -> pl.DataFrame:
    """Repeated rows with -0.0 / 0.0, NaN, null and text, in shuffled order."""
    import numpy as np

    rng = np.random.default_rng(3)
    x = rng.choice([0.0, -0.0, float("nan"), 1.5, -2.25], rows)
    s = rng.choice(["a", "b", "ç"], rows).astype(object)
    s[rng.random(rows) < 0.1] = None
    n = pl.Series("n", rng.integers(0, 4, rows)).scatter(
        np.flatnonzero(rng.random(rows) < 0.1), None
    )
    return pl.DataFrame({"x": x, "s": list(s), "n": n})


@pytest.mark.parametrize("keep", ["first", "last", "none"])
def test_hashed_dedup_matches_polars_unique(keep):
    # the fast path compares rows only where their hashes repeat: it must agree with polars'
    # exact `unique` (which treats -0.0 as 0.0, all NaNs alike, and null as equal to null)
    frame = _tricky()
    out = prepkit.load_recipe({"steps": [{"step": "drop_duplicates", "keep": keep}]}).fit_transform(
        frame
    )
    expected = frame.unique(keep="none" if keep == "none" else keep, maintain_order=True)
    assert out.height == expected.height < frame.height
    assert out.equals(expected)


@pytest.mark.parametrize("keep", ["first", "last", "none"])
def test_hash_collisions_never_merge_different_rows(monkeypatch, keep):
    # every row hashed alike (a collision everywhere): the exact comparison decides alone
    frame = _tricky(500)
    expected = frame.unique(keep="none" if keep == "none" else keep, maintain_order=True)
    monkeypatch.setattr(
        pl.DataFrame,
        "hash_rows",
        lambda self, *a, **k: pl.Series([7] * self.height, dtype=pl.UInt64),
    )
    out = prepkit.load_recipe({"steps": [{"step": "drop_duplicates", "keep": keep}]}).fit_transform(
        frame
    )
    assert out.equals(expected)


def test_mostly_repeated_rows_are_compared_whole(monkeypatch):
    from prepkit.steps import duplicates

    frame = pl.concat([_tricky(300), _tricky(300)])  # every row repeats
    calls = []
    exact = duplicates.keep_exact
    monkeypatch.setattr(
        duplicates, "keep_exact", lambda keys, keep: calls.append(keys.height) or exact(keys, keep)
    )
    out = prepkit.load_recipe({"steps": [{"step": "drop_duplicates"}]}).fit_transform(frame)
    assert out.equals(frame.unique(maintain_order=True))
    assert calls == [600]  # one comparison of all rows, no picking out
