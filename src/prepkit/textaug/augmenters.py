"""The augmenters `augment_text` accepts, their options, and how nlpaug builds them offline.

A recipe names augmenters by short names (`keyboard`, `random_word`, ...) with nlpaug's own option
names (`aug_p`, `aug_char_p`, `action`, ...). Options are checked when the recipe is loaded,
without importing nlpaug; the augmenters themselves are built inside each worker process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prepkit.errors import DataError, RecipeError, suggest

_CHAR = {"aug_char_min", "aug_char_max", "aug_char_p", "aug_word_p", "aug_word_min",
         "aug_word_max", "stopwords", "stopwords_regex", "min_char"}  # fmt: skip
_WORD = {"aug_min", "aug_max", "aug_p", "stopwords", "stopwords_regex"}
_MODEL = {"model_path", "aug_min", "aug_max", "aug_p", "stopwords", "top_k", "device"}

# name -> (nlpaug module, class, accepted options, allowed actions or None)
AUGMENTERS: dict[str, tuple[str, str, set[str], tuple[str, ...] | None]] = {
    "keyboard": ("char", "KeyboardAug", _CHAR | {"include_special_char", "include_numeric",
                 "include_upper_case", "lang", "model_path"}, None),
    "ocr": ("char", "OcrAug", _CHAR | {"dict_of_path"}, None),
    "random_char": ("char", "RandomCharAug", _CHAR | {"action", "include_upper_case",
                    "include_lower_case", "include_numeric", "swap_mode", "spec_char",
                    "candidates"}, ("insert", "substitute", "swap", "delete")),
    "random_word": ("word", "RandomWordAug", _WORD | {"action", "target_words"},
                    ("swap", "delete", "crop", "substitute")),
    "split_word": ("word", "SplitAug", _WORD | {"min_char"}, None),
    "spelling": ("word", "SpellingAug", _WORD | {"dict_path", "include_reverse"}, None),
    "synonym": ("word", "SynonymAug", _WORD | {"lang"}, None),
    "antonym": ("word", "AntonymAug", _WORD | {"lang"}, None),
    "word_embs": ("word", "WordEmbsAug", _MODEL | {"model_type", "action"},
                  ("insert", "substitute")),
    "contextual_word_embs": ("word", "ContextualWordEmbsAug", _MODEL | {"model_type", "action",
                             "batch_size"}, ("insert", "substitute")),
    "back_translation": ("word", "BackTranslationAug", {"model_path", "to_model_path", "device",
                         "batch_size", "max_length"}, None),
}  # fmt: skip
WORDNET = ("synonym", "antonym")
NEEDS_MODEL = {
    "word_embs": "a word2vec/GloVe/fastText file (model_type: word2vec | glove | fasttext)",
    "contextual_word_embs": "a Hugging Face model folder (e.g. bert-base-uncased saved with "
    "save_pretrained) and the `transformers` and `torch` packages",
    "back_translation": "two Hugging Face translation model folders (model_path: en->xx, "
    "to_model_path: xx->en) and the `transformers`, `torch` and `sacremoses` packages",
}
PATH_OPTIONS = ("model_path", "to_model_path", "dict_path", "dict_of_path")


def check_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Validate one `{name: ..., option: value}` entry; raises ValueError (a recipe error)."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(f"each augmenter is a mapping with a `name`, got {spec!r}")
    name = spec["name"]
    if name not in AUGMENTERS:
        raise ValueError(
            f"unknown augmenter '{name}'{suggest(name, AUGMENTERS)}; "
            f"choose from {', '.join(AUGMENTERS)}"
        )
    _, _, options, actions = AUGMENTERS[name]
    for key in spec:
        if key != "name" and key not in options:
            raise ValueError(
                f"augmenter '{name}' has no option '{key}'{suggest(key, options)}; "
                f"options: {', '.join(sorted(options))}"
            )
    if actions is not None and "action" in spec and spec["action"] not in actions:
        raise ValueError(
            f"augmenter '{name}': action '{spec['action']}' is not one of {', '.join(actions)}"
        )
    if (
        name == "random_word"
        and spec.get("action") == "substitute"
        and not spec.get("target_words")
    ):
        raise ValueError("random_word with action: substitute needs `target_words: [...]`")
    needed = ("model_path", "to_model_path") if name == "back_translation" else ("model_path",)
    if name in NEEDS_MODEL and any(spec.get(key) is None for key in needed):
        raise ValueError(
            f"augmenter '{name}' needs {' and '.join(f'`{k}`' for k in needed)}: local model "
            f"files, never downloaded; get {NEEDS_MODEL[name]} on a connected machine, copy it "
            "here and point the option at it"
        )
    return spec


def resolve_paths(spec: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Model/dictionary paths relative to the recipe; models must be given and exist."""
    spec = dict(spec)
    for key in PATH_OPTIONS:
        if spec.get(key) is not None:
            path = Path(os.path.expanduser(str(spec[key])))
            spec[key] = str(path if path.is_absolute() else base_dir / path)
    name = spec["name"]
    if name in NEEDS_MODEL:
        keys = ("model_path", "to_model_path") if name == "back_translation" else ("model_path",)
        for key in keys:
            if spec.get(key) is None:
                raise RecipeError(
                    f"augmenter '{name}' needs `{key}`: a local model (prepkit never downloads)",
                    hint=f"download {NEEDS_MODEL[name]} on a connected machine, copy it here "
                    f"and set `{key}: path/to/it` in the augmenter",
                )
            if not Path(spec[key]).exists():
                raise DataError(
                    f"augmenter '{name}': {key} {spec[key]} does not exist",
                    hint=f"put {NEEDS_MODEL[name]} there, or fix the path",
                )
    return spec


@contextmanager
def no_downloads() -> Iterator[None]:
    """Make nltk.download and Hugging Face hub lookups fail instead of reaching the network."""
    import nltk

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise DataError(
            f"nlpaug tried to download {args[0] if args else 'data'}; prepkit never downloads",
            hint="install the data offline (see the augment_text documentation)",
        )

    saved = nltk.download
    saved_env = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    nltk.download = refuse
    os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    try:
        yield
    finally:
        nltk.download = saved
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def build_one(spec: dict[str, Any], wordnet_root: str | None) -> Any:
    """One nlpaug augmenter from a checked, path-resolved spec."""
    import importlib

    module_name, class_name, _, _ = AUGMENTERS[spec["name"]]
    module = importlib.import_module(f"nlpaug.augmenter.{module_name}")
    options = {k: v for k, v in spec.items() if k != "name"}
    name = spec["name"]
    if name in WORDNET:
        from prepkit.textaug.wordnet import offline_model

        assert wordnet_root is not None
        base = getattr(module, class_name)
        model = offline_model(wordnet_root, options.get("lang", "eng"), name == "synonym")

        class Offline(base):  # type: ignore[misc, valid-type]
            @classmethod
            def get_model(cls, *args: Any, **kwargs: Any) -> Any:
                return model

        return Offline(**options)
    if name == "back_translation":
        options["from_model_name"] = options.pop("model_path")
        options["to_model_name"] = options.pop("to_model_path")
    if name in ("contextual_word_embs", "back_translation"):
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError:
            raise DataError(
                f"augmenter '{name}' needs the `transformers` and `torch` packages",
                hint="pip install transformers torch (from a local wheel house when offline)",
            ) from None
    augmenter = getattr(module, class_name)(**options)
    if name == "spelling":
        # nlpaug de-duplicates misspellings with list(set(...)): an order that changes with each
        # process's string hash seed; sorted, the same seed gives the same text in any process
        for key, values in augmenter.model.dict.items():
            augmenter.model.dict[key] = sorted(values)
    return augmenter


def build_flow(specs: list[dict[str, Any]], mode: str, probability: float, root: str | None) -> Any:
    """The augmenters chained: one as is, several in nlpaug's Sequential or Sometimes flow."""
    import nlpaug.flow as naf

    with no_downloads():
        augs = [build_one(spec, root) for spec in specs]
    if mode == "sometimes":
        return naf.Sometimes(augs, aug_p=probability)
    return augs[0] if len(augs) == 1 else naf.Sequential(augs)
