"""augment_text: offline nlpaug augmenters, copies/balance modes, seeding, workers, WordNet."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import prepkit
from prepkit.api import fit
from prepkit.errors import DataError, RecipeError

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "the delivery was late and the box arrived badly damaged",
    "great product that works exactly as the seller described",
    "please refund my order because the handle snapped after two days",
    "customer support never answered my three emails about the parcel",
]
OFFLINE = [
    {"name": "keyboard"},
    {"name": "ocr"},
    {"name": "random_char", "action": "insert"},
    {"name": "random_char", "action": "substitute"},
    {"name": "random_char", "action": "swap"},
    {"name": "random_char", "action": "delete"},
    {"name": "random_word", "action": "swap"},
    {"name": "random_word", "action": "delete"},
    {"name": "random_word", "action": "crop"},
    {"name": "random_word", "action": "substitute", "target_words": ["blah"]},
    {"name": "split_word"},
    {"name": "spelling"},
]


def _recipe(augmenters, **options) -> prepkit.Recipe:
    step = {"step": "augment_text", "column": "text", "augmenters": augmenters, **options}
    return prepkit.load_recipe({"target": "label", "seed": 5, "steps": [step]})


def _frame(n: int = 4) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "text": [TEXTS[i % 4] for i in range(n)],
            "label": [["a", "a", "b", "c"][i % 4] for i in range(n)],
            "id": list(range(n)),
        }
    )


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.mark.parametrize("spec", OFFLINE, ids=lambda s: f"{s['name']}-{s.get('action', '')}")
def test_each_offline_augmenter_changes_text_without_network(spec, no_network):
    frame = _frame()
    out = _recipe([spec], copies=2, mark_augmented=True, source_row=True, workers=1).fit_transform(
        frame
    )
    assert out.height == 12
    assert out.head(4).drop("augmented", "source_row").equals(frame)  # originals intact
    added = out.filter(pl.col("augmented"))
    assert added["source_row"].to_list() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert added["id"].to_list() == [0, 0, 1, 1, 2, 2, 3, 3]  # other columns copied
    sources = [TEXTS[r] for r in added["source_row"].to_list()]
    assert all(new != old for new, old in zip(added["text"], sources, strict=True))


def test_chained_and_sometimes_flows():
    frame = _frame()
    chain = [{"name": "keyboard", "aug_char_p": 0.1}, {"name": "random_word", "action": "swap"}]
    out = _recipe(chain, copies=1).fit_transform(frame)
    assert all(a != b for a, b in zip(out["text"][4:], TEXTS, strict=True))
    sometimes = _recipe(chain, copies=3, mode="sometimes", probability=0.5).fit_transform(frame)
    assert sometimes.height == 16


def test_same_seed_same_output_and_seed_matters():
    frame = _frame()
    spec = [{"name": "keyboard"}]
    assert (
        _recipe(spec, copies=2)
        .fit_transform(frame)
        .equals(_recipe(spec, copies=2).fit_transform(frame))
    )
    other = prepkit.load_recipe(
        {"seed": 6, "steps": [{"step": "augment_text", "augmenters": spec, "copies": 2}]}
    )
    assert not other.fit_transform(frame).equals(_recipe(spec, copies=2).fit_transform(frame))


def test_workers_one_and_two_give_identical_output():
    frame = _frame(240)  # above the pool threshold: two real worker processes
    spec = [{"name": "keyboard"}, {"name": "spelling"}]
    one = _recipe(spec, copies=1, workers=1).fit_transform(frame)
    two = _recipe(spec, copies=1, workers=2).fit_transform(frame)
    assert one.height == 480
    assert one.equals(two)


def test_balance_mode_balances_classes_and_keeps_originals():
    frame = _frame(40)  # a: 20, b: 10, c: 10
    fitted, out = fit(_recipe([{"name": "keyboard"}], balance=True, mark_augmented=True), frame)
    counts = dict(out.group_by("label").len().iter_rows())
    assert counts == {"a": 20, "b": 20, "c": 20}
    assert out.head(40).drop("augmented").equals(frame)
    assert out.filter(pl.col("augmented"))["label"].to_list() == ["b", "c"] * 10
    changes = fitted.report.steps[0].changes
    assert changes["classes_before"] == {"a": 20, "b": 10, "c": 10}
    assert changes["classes_after"] == {"a": 20, "b": 20, "c": 20}
    assert changes["augmented"] == 20
    target = _recipe([{"name": "keyboard"}], balance=True, target_count=25).fit_transform(frame)
    assert dict(target.group_by("label").len().iter_rows()) == {"a": 25, "b": 25, "c": 25}
    strategy = _recipe(
        [{"name": "keyboard"}], balance=True, sampling_strategy={"c": 13}
    ).fit_transform(frame)
    assert dict(strategy.group_by("label").len().iter_rows()) == {"a": 20, "b": 10, "c": 13}


def test_identical_outputs_are_retried_and_counted():
    frame = pl.DataFrame({"text": ["ab", "cd"], "label": ["a", "b"]})  # too short to change
    fitted, out = fit(_recipe([{"name": "split_word"}], copies=1, retries=2), frame)
    assert out["text"].to_list() == ["ab", "cd", "ab", "cd"]
    assert fitted.report.steps[0].changes["identical_to_source"] == 2
    assert "stayed identical" in fitted.report.steps[0].warnings[0]


def test_null_texts_are_not_augmented_round_trip_and_tiny_frames(tmp_path):
    frame = pl.DataFrame({"text": [TEXTS[0], None], "label": ["a", "b"]})
    recipe = _recipe([{"name": "keyboard"}], copies=1)
    fitted, out = fit(recipe, frame)
    assert out.height == 3
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.json"))
    assert loaded.transform(frame).equals(frame)  # train_only: skipped at apply time
    assert recipe.fit_transform(frame.head(1)).height == 2
    with pytest.raises(DataError, match="has no rows"):
        recipe.fit(frame.head(0))


def test_bad_options_are_clear_errors():
    with pytest.raises(RecipeError, match="did you mean 'keyboard'"):
        _recipe([{"name": "keybord"}], copies=1)
    with pytest.raises(RecipeError, match="has no option 'aug_pp'"):
        _recipe([{"name": "random_word", "aug_pp": 0.1}], copies=1)
    with pytest.raises(RecipeError, match="action 'explode'"):
        _recipe([{"name": "random_char", "action": "explode"}], copies=1)
    with pytest.raises(RecipeError, match="exactly one"):
        _recipe([{"name": "keyboard"}])
    with pytest.raises(RecipeError, match="needs `model_path`"):
        _recipe([{"name": "contextual_word_embs"}], copies=1)
    with pytest.raises(DataError, match="does not exist"):
        _recipe([{"name": "word_embs", "model_path": "/no/such.bin", "model_type": "glove"}],
                copies=1).fit(_frame())  # fmt: skip
    with pytest.raises(RecipeError, match="needs a target"):
        prepkit.load_recipe(
            {"steps": [{"step": "augment_text", "augmenters": [{"name": "ocr"}], "balance": True}]}
        ).fit(_frame())
    with pytest.raises(DataError, match="did you mean 'text'"):
        _recipe([{"name": "ocr"}], copies=1, column="txt").fit(_frame())


# -- WordNet: a tiny database written here (our own data), in NLTK's format ----------------------
SYNSETS = [
    ("a", ["good", "beneficial"], {"good": "bad"}),
    ("a", ["bad", "poor"], {"bad": "good"}),
    ("n", ["car", "automobile", "auto"], {}),
    ("n", ["parcel", "package"], {}),
    ("v", ["love", "adore"], {"love": "hate"}),
    ("v", ["hate", "detest"], {"hate": "love"}),
]


def _data_line(mine: list, offsets: list[int], pos: str, lexfile: int, k: int) -> str:
    """One synset line of a data.* file; antonyms are lexical pointers ("!") by word number."""
    _, words, antonyms = mine[k]
    pointers = [
        f"! {offsets[j]:08d} {pos} {w:02x}{mine[j][1].index(antonyms[word]) + 1:02x}"
        for w, word in enumerate(words, 1)
        if word in antonyms
        for j in range(len(mine))
        if antonyms[word] in mine[j][1]
    ]
    lemmas = " ".join(f"{word} 0" for word in words)
    frames = " 00" if pos == "v" else ""
    head = f"{offsets[k]:08d} {lexfile:02d} {pos} {len(words):02x} {lemmas}"
    return f"{head} {len(pointers):03d} {' '.join(pointers)}{frames} | gloss\n"


def write_wordnet(root: Path) -> Path:
    """A WordNet database in wndb(5WN) format (byte offsets as synset ids) under root/corpora."""
    from prepkit.textaug.wordnet import LEXNAMES

    folder = root / "corpora" / "wordnet"
    folder.mkdir(parents=True)
    lex = "".join(f"{i:02d}\t{name}\t{pos}\n" for i, (name, pos) in enumerate(LEXNAMES))
    (folder / "lexnames").write_text(lex)
    for name in ("index.sense", "adj.exc", "adv.exc", "noun.exc", "verb.exc"):
        (folder / name).write_text("")
    for pos, suffix, lexfile in (("n", "noun", 3), ("v", "verb", 29), ("a", "adj", 0),
                                 ("r", "adv", 2)):  # fmt: skip
        mine = [s for s in SYNSETS if s[0] == pos]
        offsets = [0] * len(mine)

        position = 0
        for k in range(len(mine)):  # fixed-width fields: each line's length is known up front
            offsets[k] = position
            position += len(_data_line(mine, offsets, pos, lexfile, k).encode())
        (folder / f"data.{suffix}").write_text(
            "".join(_data_line(mine, offsets, pos, lexfile, k) for k in range(len(mine)))
        )
        index: dict[str, list[int]] = {}
        for k, (_, words, _) in enumerate(mine):
            for word in words:
                index.setdefault(word, []).append(offsets[k])
        (folder / f"index.{suffix}").write_text(
            "".join(
                f"{w} {pos} {len(o)} 0 {len(o)} 0 {' '.join(f'{x:08d}' for x in o)}\n"
                for w, o in sorted(index.items())
            )
        )
    return root


@pytest.fixture(scope="module")
def wordnet_root(tmp_path_factory) -> Path:
    return write_wordnet(tmp_path_factory.mktemp("nltk_data"))


def test_synonym_and_antonym_with_offline_wordnet(wordnet_root, no_network):
    frame = pl.DataFrame({"text": ["i love this good car"], "label": ["a"]})
    synonyms = {"love": {"adore"}, "good": {"beneficial"}, "car": {"automobile", "auto"}}
    out = _recipe(
        [{"name": "synonym", "aug_p": 1.0}], copies=3, wordnet_path=str(wordnet_root)
    ).fit_transform(frame)
    for text in out["text"][1:]:
        changed = [
            (a, b)
            for a, b in zip("i love this good car".split(), text.split(), strict=True)
            if a != b
        ]
        assert changed and all(new in synonyms[old] for old, new in changed)
    out = _recipe(
        [{"name": "antonym", "aug_p": 1.0}], copies=1, wordnet_path=str(wordnet_root)
    ).fit_transform(frame)
    assert out["text"][1] == "i hate this bad car"


DEBIAN_WORDNET = Path("/usr/share/wordnet/data.noun")


@pytest.mark.skipif(not DEBIAN_WORDNET.exists(), reason="Debian wordnet-base is not installed")
def test_synonyms_with_real_wordnet_installed_from_debian(tmp_path, no_network):
    from prepkit.textaug.wordnet import find_wordnet, install, load_wordnet

    install(tmp_path / "nltk_data")
    reader = load_wordnet(find_wordnet(str(tmp_path / "nltk_data")))
    frame = pl.DataFrame({"text": ["a good car"], "label": ["a"]})
    out = _recipe(
        [{"name": "synonym", "aug_p": 1.0}], copies=2, wordnet_path=str(tmp_path / "nltk_data")
    )
    for text in out.fit_transform(frame)["text"][1:]:
        for old, new in zip(["good", "car"], text.split()[-2:], strict=True):
            if old != new:  # every replacement is one of WordNet's own lemmas for the word
                lemmas = {
                    lemma.name().replace("_", " ")
                    for s in reader.synsets(old)
                    for lemma in s.lemmas()
                }
                assert new in {w.split()[0] for w in lemmas}, (old, new)


def test_missing_wordnet_is_a_clear_error_and_never_downloads(tmp_path, monkeypatch):
    import nltk

    def download(*args, **kwargs):
        raise AssertionError("nltk.download called")

    monkeypatch.setattr(nltk, "download", download)
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    monkeypatch.setenv("NLTK_DATA", str(tmp_path))
    with pytest.raises(DataError, match="need WordNet data") as info:
        _recipe([{"name": "synonym"}], copies=1).fit(_frame())
    assert "wordnet-base" in info.value.hint
    incomplete = tmp_path / "corpora" / "wordnet"
    incomplete.mkdir(parents=True)
    with pytest.raises(DataError, match="incomplete"):
        _recipe([{"name": "antonym"}], copies=1, wordnet_path=str(tmp_path)).fit(_frame())


def test_install_from_a_debian_style_folder_writes_lexnames(wordnet_root, tmp_path):
    from prepkit.textaug.wordnet import find_wordnet, install

    source = wordnet_root / "corpora" / "wordnet"
    debian = tmp_path / "usr_share_wordnet"
    debian.mkdir()
    for f in source.iterdir():
        if f.name.startswith(("data.", "index.")) and f.name != "index.sense":
            (debian / f.name).write_bytes(f.read_bytes())
    folder = install(tmp_path / "nltk_data", debian)
    assert (folder / "lexnames").read_text().splitlines()[5] == "05\tnoun.animal\t1"
    assert find_wordnet(str(tmp_path / "nltk_data")) == str((tmp_path / "nltk_data").resolve())


def test_text_recipe_runs_from_the_cli(tmp_path, no_network):
    from prepkit.cli import app

    out = tmp_path / "text.csv"
    result = CliRunner().invoke(app, ["run", str(ROOT / "recipes/text.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = pl.read_csv(out)
    counts = dict(data.group_by("label").len().iter_rows())
    assert counts == {"praise": 250, "delivery": 250, "refund": 250}
    originals = data.filter(~pl.col("augmented"))
    assert originals.height == 390  # 400 - 8 planted near-duplicates - 2 exact repeats
    added = data.filter(pl.col("augmented"))
    sources = originals["text"].to_list()
    assert all(t != sources[r] for t, r in zip(added["text"], added["source_row"], strict=True))
