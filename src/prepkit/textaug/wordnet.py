"""WordNet for the `synonym` and `antonym` augmenters, found on disk and never downloaded.

NLTK reads WordNet from `<root>/corpora/wordnet` where `<root>` is one of `nltk.data.path`
(`$NLTK_DATA`, `~/nltk_data`, `/usr/share/nltk_data`, ...). nlpaug falls back to
`nltk.download(...)` when WordNet or the POS tagger is missing; prepkit never lets that happen:
it finds the data itself, raises a clear error when it is absent, and tags words with WordNet
itself when NLTK's tagger data is not installed.

Installing WordNet offline from Debian/Ubuntu's `wordnet-base` package (WordNet 3.0, Princeton
licence)::

    apt-get install wordnet-base
    python -m prepkit.textaug.wordnet ~/nltk_data      # copies /usr/share/wordnet, adds lexnames
    export NLTK_DATA=~/nltk_data                        # or `wordnet_path: ~/nltk_data` in the step

The package lacks the `lexnames` file NLTK opens; it is the fixed list of WordNet's 45 lexicographer
files, written here.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

from prepkit.errors import DataError

# WordNet 3.0's lexicographer files, in file-number order (wndb(5WN), lexnames(5WN)).
LEXNAMES = (
    ("adj.all", 3), ("adj.pert", 3), ("adv.all", 4), ("noun.Tops", 1), ("noun.act", 1),
    ("noun.animal", 1), ("noun.artifact", 1), ("noun.attribute", 1), ("noun.body", 1),
    ("noun.cognition", 1), ("noun.communication", 1), ("noun.event", 1), ("noun.feeling", 1),
    ("noun.food", 1), ("noun.group", 1), ("noun.location", 1), ("noun.motive", 1),
    ("noun.object", 1), ("noun.person", 1), ("noun.phenomenon", 1), ("noun.plant", 1),
    ("noun.possession", 1), ("noun.process", 1), ("noun.quantity", 1), ("noun.relation", 1),
    ("noun.shape", 1), ("noun.state", 1), ("noun.substance", 1), ("noun.time", 1),
    ("verb.body", 2), ("verb.change", 2), ("verb.cognition", 2), ("verb.communication", 2),
    ("verb.competition", 2), ("verb.consumption", 2), ("verb.contact", 2), ("verb.creation", 2),
    ("verb.emotion", 2), ("verb.motion", 2), ("verb.perception", 2), ("verb.possession", 2),
    ("verb.social", 2), ("verb.stative", 2), ("verb.weather", 2), ("adj.ppl", 3),
)  # fmt: skip
# the files NLTK's reader opens when it loads (cntlist.rev is optional: read only for counts)
WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv", "index.noun", "index.verb",
                 "index.adj", "index.adv", "index.sense", "adj.exc", "adv.exc", "noun.exc",
                 "verb.exc")  # fmt: skip
OPTIONAL_FILES = ("cntlist.rev",)
HOW_TO_INSTALL = (
    "install WordNet offline: `apt-get install wordnet-base`, then "
    "`python -m prepkit.textaug.wordnet ~/nltk_data` and set NLTK_DATA=~/nltk_data "
    "(or give the step `wordnet_path: <folder holding corpora/wordnet>`); "
    "or copy an nltk_data folder with corpora/wordnet from a machine that has one"
)


def _candidates(wordnet_path: str | None, base_dir: Path | None) -> list[Path]:
    if wordnet_path is not None:
        path = Path(os.path.expanduser(wordnet_path))
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return [path]
    import nltk

    env = [Path(p) for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    return env + [Path(p) for p in nltk.data.path]


def _root_of(path: Path) -> Path | None:
    """The nltk_data root for `path` (a root holding corpora/wordnet, or the wordnet folder)."""
    if (path / "corpora" / "wordnet").is_dir():
        return path
    if path.name == "wordnet" and path.parent.name == "corpora" and path.is_dir():
        return path.parent.parent
    return None


def find_wordnet(wordnet_path: str | None = None, base_dir: Path | None = None) -> str:
    """The nltk_data root holding `corpora/wordnet`; a DataError explains how to install it."""
    for candidate in _candidates(wordnet_path, base_dir):
        root = _root_of(candidate)
        if root is None:
            continue
        folder = root / "corpora" / "wordnet"
        missing = [f for f in WORDNET_FILES if not (folder / f).is_file()]
        if missing:
            raise DataError(
                f"WordNet at {folder} is incomplete: missing {', '.join(missing)}",
                hint=HOW_TO_INSTALL,
            )
        if not (folder / "lexnames").is_file():
            raise DataError(
                f"WordNet at {folder} has no `lexnames` file (Debian's wordnet-base lacks it)",
                hint=f"run `python -m prepkit.textaug.wordnet {root}` to write it",
            )
        return str(root.resolve())
    where = wordnet_path if wordnet_path is not None else "NLTK_DATA / nltk.data.path"
    raise DataError(
        f"the synonym/antonym augmenters need WordNet data, not found in {where}; "
        "prepkit never downloads it",
        hint=HOW_TO_INSTALL,
    )


_READERS: dict[str, Any] = {}


def load_wordnet(root: str) -> Any:
    """An NLTK WordNet reader for `<root>/corpora/wordnet` (cached per process)."""
    if root not in _READERS:
        import nltk
        from nltk.corpus.reader.wordnet import WordNetCorpusReader

        # NLTK only reads corpora under nltk.data.path; first place so it shadows any other copy
        if root not in nltk.data.path:
            nltk.data.path.insert(0, root)
        folder = Path(root) / "corpora" / "wordnet"
        with warnings.catch_warnings():  # "multilingual functions are not available": no OMW
            warnings.simplefilter("ignore", UserWarning)
            _READERS[root] = WordNetCorpusReader(str(folder), None)
    return _READERS[root]


def _nltk_tagger() -> Any:
    """NLTK's perceptron tagger when its data is installed, else None (never downloaded)."""
    import nltk

    for name in ("taggers/averaged_perceptron_tagger_eng/", "taggers/averaged_perceptron_tagger/"):
        try:
            nltk.data.find(name)
        except LookupError:
            continue
        return nltk.pos_tag
    return None


def wordnet_tags(reader: Any, tokens: list[str]) -> list[tuple[str, str | None]]:
    """Penn-style tags guessed from WordNet: the first of adjective, verb, adverb, noun it knows."""
    tags = []
    for token in tokens:
        tag = None
        for pos, penn in (("a", "JJ"), ("s", "JJ"), ("v", "VB"), ("r", "RB"), ("n", "NN")):
            if reader.synsets(token, pos=pos):
                tag = penn
                break
        tags.append((token, tag))
    return tags


def offline_model(root: str, lang: str, is_synonym: bool) -> Any:
    """An nlpaug WordNet model reading `root`, that never calls `nltk.download`."""
    from nlpaug.model.word_dict import WordNet

    reader = load_wordnet(root)
    tagger = _nltk_tagger()

    class OfflineWordNet(WordNet):
        def read(self) -> Any:
            return reader

        @classmethod
        def pos_tag(cls, tokens: list[str]) -> Any:
            return tagger(tokens) if tagger is not None else wordnet_tags(reader, tokens)

    return OfflineWordNet(lang=lang, is_synonym=is_synonym)


def install(dest: str | Path, source: str | Path = "/usr/share/wordnet") -> Path:
    """Copy a WordNet 3.0 database (e.g. Debian's wordnet-base) to `dest/corpora/wordnet`.

    Writes the `lexnames` file NLTK needs and empty optional files that the source lacks.
    """
    source, folder = Path(source), Path(dest) / "corpora" / "wordnet"
    missing = [f for f in WORDNET_FILES if f.startswith(("data.", "index.")) and f != "index.sense"]
    missing = [f for f in missing if not (source / f).is_file()]
    if missing:
        raise DataError(
            f"{source} is not a WordNet database (missing {', '.join(missing)})",
            hint="install Debian's wordnet-base (`apt-get install wordnet-base`) or give its folder",
        )
    folder.mkdir(parents=True, exist_ok=True)
    for name in WORDNET_FILES + OPTIONAL_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, folder / name)
        elif not (folder / name).exists():
            (folder / name).write_text("")
    if (source / "lexnames").is_file():
        shutil.copyfile(source / "lexnames", folder / "lexnames")
    else:
        lines = [f"{i:02d}\t{name}\t{pos}\n" for i, (name, pos) in enumerate(LEXNAMES)]
        (folder / "lexnames").write_text("".join(lines))
    return folder


if __name__ == "__main__":  # python -m prepkit.textaug.wordnet DEST [SOURCE]
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m prepkit.textaug.wordnet DEST [SOURCE=/usr/share/wordnet]")
    try:
        print(f"WordNet written to {install(*sys.argv[1:])}; set NLTK_DATA={sys.argv[1]}")
    except DataError as exc:
        sys.exit(str(exc))
