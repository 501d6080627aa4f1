"""clean_text and drop_near_duplicates."""

from __future__ import annotations

import random

import numpy as np
import polars as pl
import pytest

import prepkit
from prepkit.api import fit
from prepkit.errors import DataError, RecipeError
from prepkit.steps.text import lsh_params, minhash_signatures, shingle_table


def _clean(texts: list[str | None], **options) -> list[str | None]:
    recipe = prepkit.load_recipe(
        {"steps": [{"step": "clean_text", "columns": ["text"], **options}]}
    )
    return recipe.fit_transform(pl.DataFrame({"text": texts}, schema={"text": pl.String}))[
        "text"
    ].to_list()


# -- clean_text: each option, exact strings --------------------------------------------------------
def test_defaults_normalise_strip_html_and_collapse_whitespace():
    assert _clean(["<p>Hello&nbsp;<b>W</b>orld</p><p>again</p>", "  a \t b\n\nc  ", None]) == [
        "Hello World again",
        "a b c",
        None,
    ]


def test_nfkc_normalisation():
    assert _clean(["Ｆｕｌｌ ｗｉｄｔｈ ① ﬁne"]) == ["Full width 1 fine"]
    assert _clean(["Ｆｕｌｌ"], normalize=False) == ["Ｆｕｌｌ"]


def test_strip_html_removes_scripts_comments_and_decodes_entities():
    text = "<div>a &amp; b &lt;c&gt;</div><script>var x = 1;</script><!-- note -->d"
    assert _clean([text]) == ["a & b <c> d"]
    assert _clean(["<i>x</i>  y"], strip_html=False) == ["<i>x</i> y"]


def test_lowercase():
    assert _clean(["MiXeD Case"], lowercase=True) == ["mixed case"]
    assert _clean(["MiXeD Case"]) == ["MiXeD Case"]


def test_remove_urls_emails_numbers_or_replace():
    text = "See https://x.com/a?b=1 and www.foo.org, mail jo.doe+x@mail.co.uk: 42 items at 3.50"
    assert _clean([text], remove_urls=True) == [
        "See and , mail jo.doe+x@mail.co.uk: 42 items at 3.50"
    ]
    assert _clean([text], remove_emails="<email>") == [
        "See https://x.com/a?b=1 and www.foo.org, mail <email>: 42 items at 3.50"
    ]
    assert _clean([text], remove_numbers=True) == [
        "See https://x.com/a?b= and www.foo.org, mail jo.doe+x@mail.co.uk: items at"
    ]  # numbers inside URLs go too, unless remove_urls (which runs first) took the URL
    assert _clean([text], remove_urls="<url>", remove_emails=True, remove_numbers="#") == [
        "See <url> and <url>, mail : # items at #"
    ]


def test_collapse_whitespace_off_keeps_spacing():
    assert _clean([" a  b "], collapse_whitespace=False) == [" a  b "]


def test_length_filter_drops_training_rows_only():
    frame = pl.DataFrame({"text": ["ok", "long enough text", None, "x" * 30], "y": [1, 2, 3, 4]})
    recipe = prepkit.load_recipe(
        {"steps": [{"step": "clean_text", "columns": ["text"], "min_length": 3, "max_length": 20}]}
    )
    fitted, out = fit(recipe, frame)
    assert out["y"].to_list() == [2, 3]  # null text kept
    assert fitted.report.steps[0].changes["rows_dropped_by_length"] == 2
    assert fitted.transform(frame).height == 4  # not filtered at apply time
    words = prepkit.load_recipe(
        {
            "steps": [
                {
                    "step": "clean_text",
                    "columns": ["text"],
                    "min_length": 3,
                    "length_unit": "words",
                    "filter_at_apply": True,
                }
            ]
        }  # fmt: skip
    )
    fitted = words.fit(frame)
    assert fitted.transform(frame)["y"].to_list() == [2, 3]


def test_clean_text_round_trip_and_tiny_frames(tmp_path):
    frame = pl.DataFrame({"text": ["<b>A</b>  b", "C"], "n": [1, 2]})
    recipe = prepkit.load_recipe(
        {"steps": [{"step": "clean_text", "columns": ["text"], "lowercase": True}]}
    )
    fitted = recipe.fit(frame)
    assert fitted.state(fitted.steps[0].id) == {"columns": ["text"]}
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.json"))
    assert loaded.transform(frame).equals(fitted.transform(frame))
    assert loaded.transform(frame)["text"].to_list() == ["a b", "c"]
    assert recipe.fit_transform(frame.head(1)).height == 1
    with pytest.raises(DataError, match="has no rows"):
        recipe.fit(frame.head(0))
    assert fitted.transform(frame.head(0)).schema == frame.schema


def test_clean_text_empty_selection_is_noop_and_bad_options():
    frame = pl.DataFrame({"text": ["A  b"]})
    recipe = prepkit.load_recipe(
        {"steps": [{"step": "clean_text", "columns": {"regex": "^zzz"}, "lowercase": True}]}
    )
    assert recipe.fit_transform(frame).equals(frame)
    with pytest.raises(RecipeError, match="min_length"):
        prepkit.load_recipe({"steps": [{"step": "clean_text", "min_length": 5, "max_length": 2}]})
    with pytest.raises(RecipeError, match="lowercase"):
        prepkit.load_recipe({"steps": [{"step": "clean_text", "lowercse": True}]})
    with pytest.raises(DataError, match="needs text columns"):
        prepkit.load_recipe({"steps": [{"step": "clean_text", "columns": ["n"]}]}).fit(
            pl.DataFrame({"n": [1]})
        )


# -- drop_near_duplicates ------------------------------------------------------------------------
WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ra", "si", "tu") for b in
         ("ber", "dan", "fol", "gim", "hus", "jet", "kor", "lam", "mop", "nix")]  # fmt: skip


def _planted(n_base: int = 300, n_edits: int = 60, seed: int = 3):
    """Unrelated random texts, plus one-word edits of some of them (the true duplicates)."""
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(WORDS) for _ in range(14)) for _ in range(n_base)]
    pairs = []
    for k, i in enumerate(rng.sample(range(n_base), n_edits)):
        words = texts[i].split()
        words[rng.randrange(len(words))] = f"edit{k}"
        texts.append(" ".join(words))
        pairs.append((i, len(texts) - 1))
    return texts, pairs


def _jaccard(a: str, b: str, n: int = 5) -> float:
    sa = {a[i : i + n] for i in range(len(a) - n + 1)}
    sb = {b[i : i + n] for i in range(len(b) - n + 1)}
    return len(sa & sb) / len(sa | sb)


def test_planted_near_duplicates_recall_and_no_false_merges():
    texts, pairs = _planted()
    threshold = 0.7
    assert min(_jaccard(texts[i], texts[j]) for i, j in pairs) > threshold - 0.05
    frame = pl.DataFrame({"text": texts, "id": range(len(texts))})
    recipe = prepkit.load_recipe(
        {"steps": [{"step": "drop_near_duplicates", "threshold": threshold}]}
    )
    fitted, out = fit(recipe, frame)
    kept = set(out["id"].to_list())
    true = [(i, j) for i, j in pairs if _jaccard(texts[i], texts[j]) >= threshold]
    found = sum(1 for i, j in true if j not in kept and i in kept)
    assert found / len(true) >= 0.9
    # every removed row is a planted copy: nothing unrelated was merged
    removed = set(range(len(texts))) - kept
    assert removed <= {j for _, j in pairs}
    assert all(i in kept for i in range(300))
    changes = fitted.report.steps[0].changes
    assert changes["rows_removed"] == len(removed)
    assert changes["clusters"] == len(removed)
    assert len(changes["example_clusters"]) == 5


def test_exact_repeats_nulls_and_keep_longest():
    frame = pl.DataFrame(
        {
            "text": ["the parcel never arrived at my house", None, "the parcel never arrived at my house!!",
                     "completely different words here", None,
                     "the parcel never arrived at my house"],
            "id": [0, 1, 2, 3, 4, 5],
        }
    )  # fmt: skip
    first = prepkit.load_recipe({"steps": [{"step": "drop_near_duplicates"}]})
    assert first.fit_transform(frame)["id"].to_list() == [0, 1, 3, 4]
    longest = prepkit.load_recipe({"steps": [{"step": "drop_near_duplicates", "keep": "longest"}]})
    assert longest.fit_transform(frame)["id"].to_list() == [1, 2, 3, 4]


def test_word_shingles():
    frame = pl.DataFrame(
        {"text": ["a b c d e f g h i j", "a b c d e f g h i k", "k l m n o p q r s t"]}
    )
    recipe = prepkit.load_recipe(
        {"steps": [{"step": "drop_near_duplicates", "shingle": "word", "threshold": 0.8}]}
    )
    # word 1-gram Jaccard of the first two texts: 9/11 = 0.818
    assert recipe.fit_transform(frame).height == 2
    recipe = prepkit.load_recipe(
        {"steps": [{"step": "drop_near_duplicates", "shingle": "word", "threshold": 0.85}]}
    )
    assert recipe.fit_transform(frame).height == 3
    recipe = prepkit.load_recipe(
        {
            "steps": [
                {"step": "drop_near_duplicates", "shingle": "word", "ngram": 2, "threshold": 0.8}
            ]
        }  # fmt: skip
    )  # word 2-grams: 8/10 = 0.8
    assert recipe.fit_transform(frame)["text"].to_list() == [
        "a b c d e f g h i j",
        "k l m n o p q r s t",
    ]


def test_minhash_estimates_jaccard():
    texts, pairs = _planted(40, 10)
    table = shingle_table(pl.Series(texts), "char", 5, True)
    signatures = minhash_signatures(table, len(texts), 256, 0)
    for i, j in pairs:
        estimate = float(np.mean(signatures[i] == signatures[j]))
        assert abs(estimate - _jaccard(texts[i], texts[j])) < 0.1
    unrelated = float(np.mean(signatures[0] == signatures[1]))
    assert abs(unrelated - _jaccard(texts[0], texts[1])) < 0.1
    bands, rows = lsh_params(0.8, 128)
    assert bands * rows <= 128 and 1 - (1 - 0.8**rows) ** bands > 0.8


def test_near_duplicates_round_trip_tiny_frames_and_errors(tmp_path):
    frame = pl.DataFrame({"text": ["same text here", "same text here"], "n": [1, 2]})
    recipe = prepkit.load_recipe({"steps": [{"step": "drop_near_duplicates"}]})
    fitted, out = fit(recipe, frame)
    assert out.height == 1
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.json"))
    assert loaded.transform(frame).equals(frame)  # train_only: new data keeps its rows
    assert recipe.fit_transform(frame.head(1)).height == 1
    with pytest.raises(DataError, match="has no rows"):
        recipe.fit(frame.head(0))
    with pytest.raises(DataError, match="did you mean 'text'"):
        prepkit.load_recipe({"steps": [{"step": "drop_near_duplicates", "column": "txt"}]}).fit(
            frame
        )
    with pytest.raises(RecipeError, match="threshold"):
        prepkit.load_recipe({"steps": [{"step": "drop_near_duplicates", "threshold": 1.5}]})
    with pytest.raises(RecipeError, match="keep"):
        prepkit.load_recipe({"steps": [{"step": "drop_near_duplicates", "keep": "last"}]})
