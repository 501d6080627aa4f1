"""prepare_images, dedupe_images and augment_images on small generated image sets."""

import random

import numpy as np
import polars as pl
import pytest
from image_helpers import SAMPLE, write_png

import prepkit
from prepkit.errors import DataError, RecipeError
from prepkit.images.codec import read_image
from prepkit.images.dataset import image_seed
from prepkit.images.transforms import albumentations, build_pipeline
from prepkit.io.images import read_images

FLIP = [{"name": "HorizontalFlip", "p": 1.0}]


def _recipe(*steps, **extra):
    return prepkit.load_recipe({"target": "label", "seed": 5, **extra, "steps": list(steps)})


@pytest.fixture
def tiny(tmp_path):
    """Classes a (5 images), b (2), c (1): 8x8 RGB pictures with distinct pixels."""
    rng = np.random.default_rng(0)
    for label, n in (("a", 5), ("b", 2), ("c", 1)):
        for i in range(n):
            write_png(
                tmp_path / "tiny" / label / f"{i}.png", rng.integers(0, 256, (8, 8, 3), np.uint8)
            )
    return read_images(tmp_path / "tiny", {})


def _counts(frame: pl.DataFrame) -> dict[str, int]:
    return dict(frame.group_by("label").len().sort("label").iter_rows())


def test_read_images_folder_layout(tiny):
    assert tiny.columns == ["image_path", "source", "label", "origin", "seed", "copy", "root"]
    assert tiny["source"].to_list() == [f"a/{i}.png" for i in range(5)] + [
        "b/0.png",
        "b/1.png",
        "c/0.png",
    ]
    assert _counts(tiny) == {"a": 5, "b": 2, "c": 1}


def test_augmented_pixels_equal_albumentations_with_the_listed_seed(tiny):
    transforms = [
        {"name": "Rotate", "limit": 30, "p": 1.0},
        {"name": "RandomBrightnessContrast", "p": 1.0},
    ]
    out = _recipe({"step": "augment_images", "copies": 2, "transforms": transforms}).fit_transform(
        tiny
    )
    aug = out.filter(pl.col("origin") == "augmented")
    assert aug.height == 16
    A = albumentations()
    compose = A.from_dict(build_pipeline(transforms))
    for row in aug.iter_rows(named=True):
        assert row["seed"] == image_seed(5, "augment_images_1", row["source"], row["copy"])
        compose.set_random_state(np.random.default_rng(row["seed"]), random.Random(row["seed"]))
        src = read_image(tiny.filter(pl.col("source") == row["source"])["image_path"].item())
        expected = compose(image=src)["image"]
        assert np.array_equal(read_image(row["image_path"]), expected)
    assert aug.filter(pl.col("source") == "a/0.png")["copy"].to_list() == [1, 2]


def test_balance_spreads_copies_evenly(tiny):
    step = {"step": "augment_images", "balance": True, "transforms": FLIP}
    out = _recipe(step).fit_transform(tiny)
    assert _counts(out) == {"a": 5, "b": 5, "c": 5}
    per_source = dict(
        out.filter(pl.col("origin") == "augmented")
        .group_by("source")
        .len()
        .sort("source")
        .iter_rows()
    )
    assert per_source == {"b/0.png": 2, "b/1.png": 1, "c/0.png": 4}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"target_count": 3}, {"a": 5, "b": 3, "c": 3}),
        ({"sampling_strategy": "minority"}, {"a": 5, "b": 2, "c": 5}),
        ({"sampling_strategy": {"b": 4}}, {"a": 5, "b": 4, "c": 1}),
        ({"target_count": 3, "keep_originals": False}, {"a": 5, "b": 3, "c": 3}),
    ],
)
def test_balance_targets(tiny, options, expected):
    step = {"step": "augment_images", "balance": True, "transforms": FLIP, **options}
    out = _recipe(step).fit_transform(tiny)
    assert _counts(out) == expected
    if options.get("keep_originals") is False:
        assert set(out["origin"]) == {"augmented"}


def test_copies_without_originals(tiny):
    step = {
        "step": "augment_images",
        "copies": 1,
        "keep_originals": False,
        "pipeline": None,
        "transforms": FLIP,
    }
    out = _recipe(step).fit_transform(tiny)
    assert out.height == 8 and set(out["origin"]) == {"augmented"}
    for row in out.iter_rows(named=True):
        src = read_image(tiny.filter(pl.col("source") == row["source"])["image_path"].item())
        assert np.array_equal(read_image(row["image_path"]), src[:, ::-1])


def test_serialized_pipeline_is_accepted_and_checked(tiny):
    A = albumentations()
    serialized = A.to_dict(A.Compose([A.VerticalFlip(p=1.0)]))
    out = _recipe({"step": "augment_images", "copies": 1, "pipeline": serialized}).fit_transform(
        tiny
    )
    row = out.filter(pl.col("origin") == "augmented").row(0, named=True)
    assert np.array_equal(read_image(row["image_path"]), read_image(tiny["image_path"][0])[::-1])
    bad = {
        "transform": {
            "__class_fullname__": "Compose",
            "transforms": [{"__class_fullname__": "VerticalFlp"}],
        }
    }
    with pytest.raises(RecipeError, match="did you mean 'VerticalFlip'"):
        _recipe({"step": "augment_images", "copies": 1, "pipeline": bad})


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"step": "augment_images", "copies": 1}, "give either `transforms:` or `pipeline:`"),
        (
            {"step": "augment_images", "transforms": FLIP},
            "give either `copies: N` or `balance: true`",
        ),
        (
            {"step": "augment_images", "copies": 1, "transforms": FLIP, "target_count": 3},
            "need `balance: true`",
        ),
        (
            {"step": "augment_images", "copies": 1, "transforms": [{"p": 1}]},
            "each transform is a mapping with a `name:`",
        ),
        (
            {"step": "augment_images", "copies": 1, "transforms": [{"name": "OneOf"}]},
            "needs a non-empty `transforms:`",
        ),
        (
            {"step": "prepare_images", "to_rgb": True, "to_grayscale": True},
            "either to_rgb or to_grayscale",
        ),
        ({"step": "prepare_images", "resize": [0, 3]}, "resize"),
        ({"step": "dedupe_images", "method": "exakt"}, "did you mean 'exact'"),
    ],
)
def test_bad_options_are_recipe_errors(step, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _recipe(step)


def test_unknown_class_in_sampling_strategy(tiny):
    step = {
        "step": "augment_images",
        "balance": True,
        "transforms": FLIP,
        "sampling_strategy": {"z": 9},
    }
    with pytest.raises(DataError, match="not in the data: z"):
        _recipe(step).fit(tiny)


def test_prepare_images_converts_and_keeps_untouched_files(tmp_path):
    write_png(tmp_path / "d" / "x" / "gray.png", np.full((10, 20), 7, np.uint8))
    write_png(tmp_path / "d" / "x" / "rgb.png", np.full((4, 4, 3), 9, np.uint8))
    frame = read_images(tmp_path / "d", {})
    out = _recipe({"step": "prepare_images", "resize": [4, 4], "to_rgb": True}).fit_transform(frame)
    gray, rgb = (read_image(p) for p in out["image_path"])
    assert gray.shape == (4, 4, 3) and (gray == 7).all()
    assert out["image_path"][1] == frame["image_path"][1]  # already right: file kept
    out = _recipe({"step": "prepare_images", "to_grayscale": True, "format": "bmp"}).fit_transform(
        frame
    )
    assert [read_image(p).shape for p in out["image_path"]] == [(10, 20), (4, 4)]
    assert all(p.endswith(".bmp") for p in out["image_path"])


def test_prepare_images_round_trip_and_tiny_frames(tiny, tmp_path):
    recipe = _recipe({"step": "prepare_images", "resize": [4, 6]})
    with pytest.raises(DataError, match="has no rows"):
        recipe.fit(tiny.head(0))
    for frame in (tiny, tiny.head(1)):
        fitted = recipe.fit(frame)
        loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.json"))
        a, b = fitted.transform(frame), loaded.transform(frame)
        assert a.drop("image_path").equals(b.drop("image_path"))
        assert [read_image(p).tobytes() for p in a["image_path"]] == [
            read_image(p).tobytes() for p in b["image_path"]
        ]
        assert all(read_image(p).shape == (4, 6, 3) for p in a["image_path"])
    assert loaded.state("prepare_images_1") == {
        "resize": [4, 6],
        "to_rgb": False,
        "to_grayscale": False,
        "format": "same",
    }


def test_augment_on_tiny_frames_and_state_is_json(tiny, tmp_path):
    recipe = _recipe({"step": "augment_images", "balance": True, "transforms": FLIP})
    one = recipe.fit_transform(tiny.head(1))
    assert one.height == 1  # a single class: nothing to balance
    fitted = recipe.fit(tiny)
    loaded = prepkit.load_fitted(fitted.save(tmp_path / "f.json"))
    assert loaded.state("augment_images_1")["generate"] == {"a": 0, "b": 3, "c": 4}
    assert loaded.transform(tiny).equals(tiny)  # train-only: skipped at apply time


def test_image_steps_need_an_image_frame():
    frame = pl.DataFrame({"x": [1.0], "label": ["a"]})
    for step in ({"step": "prepare_images"}, {"step": "dedupe_images"}):
        with pytest.raises(DataError, match="needs an image data set"):
            _recipe(step).fit(frame)


def test_dedupe_exact_and_perceptual(tmp_path):
    import cv2

    rng = np.random.default_rng(1)
    base = cv2.GaussianBlur(rng.integers(0, 256, (32, 32, 3), np.uint8), (7, 7), 0)
    write_png(tmp_path / "d" / "a" / "0.png", base)
    cv2.imwrite(str(tmp_path / "d" / "a" / "1.bmp"), cv2.cvtColor(base, cv2.COLOR_RGB2BGR))
    near = base.copy()
    near[0, 0] ^= 1  # one pixel off by one: perceptually the same picture
    write_png(tmp_path / "d" / "b" / "2.png", near)
    write_png(tmp_path / "d" / "b" / "3.png", rng.integers(0, 256, (32, 32, 3), np.uint8))
    frame = read_images(tmp_path / "d", {})
    exact = _recipe({"step": "dedupe_images"})
    fitted = exact.fit(frame)
    out = exact.fit_transform(frame)
    assert out["source"].to_list() == ["a/0.png", "b/2.png", "b/3.png"]
    changes = fitted.report.steps[0].changes
    assert changes["duplicates_removed"] == 1 and changes["duplicates"] == ["a/1.bmp = a/0.png"]
    perceptual = _recipe({"step": "dedupe_images", "method": "perceptual", "max_distance": 4})
    fitted = perceptual.fit(frame)
    assert perceptual.fit_transform(frame)["source"].to_list() == ["a/0.png", "b/3.png"]
    assert fitted.report.steps[0].changes["conflicting_labels"] == 1  # b/2.png looks like a/0.png
    assert "different labels" in fitted.report.steps[0].warnings[0]


def test_sample_data_is_small_and_imbalanced():
    frame = read_images(SAMPLE, {})
    assert _counts(frame) == {"circle": 24, "square": 10, "triangle": 5}
    assert sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file()) < 1_000_000


def test_write_images_keeps_odd_labels_inside_the_output(tiny, tmp_path):
    from prepkit.io.images import write_images

    frame = tiny.head(2).with_columns(pl.Series("label", ["..", "a/b"]))
    write_images(frame, tmp_path / "out", {})
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert [p for p in written if p.startswith("out/")] == ["out/_../a__0.png", "out/a_b/a__1.png"]
    assert not (tmp_path / "0.png").exists()
