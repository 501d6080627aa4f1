"""Image data sets with corrupt files and without a `target:`: balancing plans from the images
that load, class folders name the label column, and OpenCV's own log lines stay quiet."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from image_helpers import RECIPE, run_cli, step_changes, write_png

import prepkit
from prepkit.errors import DataError
from prepkit.images.codec import ImageReadError, read_image
from prepkit.io.images import read_images

FLIP = [{"name": "HorizontalFlip", "p": 1.0}]
BALANCE = {"step": "augment_images", "balance": True, "transforms": FLIP}
# a PNG signature followed by junk: OpenCV logs "[ WARN...] read_chunk" and "[ERROR...] IHDR"
BROKEN_PNG = b"\x89PNG\r\n\x1a\n not really an image"


def _images(root: Path, sizes: dict[str, int], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for label, n in sizes.items():
        for i in range(n):
            write_png(root / label / f"{i:02d}.png", rng.integers(0, 256, (8, 8, 3), np.uint8))
    return root


def _truncated_tiff(path: Path) -> None:
    import cv2

    ok, data = cv2.imencode(".tiff", np.zeros((32, 32, 3), np.uint8))
    assert ok
    path.write_bytes(data.tobytes()[: len(data) // 2])


def _counts(frame: pl.DataFrame) -> dict[str, int]:
    return dict(frame.group_by("label").len().sort("label").iter_rows())


def _fit(frame: pl.DataFrame, *steps, **extra):
    recipe = prepkit.load_recipe({"seed": 3, **extra, "steps": list(steps)})
    return recipe.fit(frame), recipe.fit_transform(frame)


# -- balance: plan from the images that load ---------------------------------------------------


def test_class_with_a_corrupt_file_reaches_the_target_like_the_others(tmp_path):
    root = _images(tmp_path / "in", {"a": 40, "b": 7, "c": 12})
    (root / "b" / "06.png").write_bytes(BROKEN_PNG)
    frame = read_images(root, {})
    fitted, out = _fit(frame, BALANCE, target="label")
    assert _counts(out) == {"a": 40, "b": 40, "c": 40}  # b was 39 when the broken file counted
    assert "b/06.png" not in out["source"].to_list()
    state = fitted.to_dict()["steps"][0]["state"]
    assert state["generate"] == {"a": 0, "b": 34, "c": 28}  # 40 - 6 readable, 40 - 12

    # the same images and seeds as for the data set without the broken file
    (root / "b" / "06.png").unlink()
    _, clean = _fit(read_images(root, {}), BALANCE, target="label")
    columns = ["source", "copy", "seed", "origin"]
    assert out.select(columns).equals(clean.select(columns))


def test_corrupt_file_in_the_majority_lowers_every_target(tmp_path):
    root = _images(tmp_path / "in", {"a": 10, "b": 4})
    (root / "a" / "00.png").write_bytes(b"garbage")
    _, out = _fit(read_images(root, {}), BALANCE, target="label")
    assert _counts(out) == {"a": 9, "b": 9}


def test_corrupt_file_is_reported_once_in_the_run_report(tmp_path):
    root = _images(tmp_path / "in", {"a": 6, "b": 3})
    (root / "b" / "00.png").write_bytes(BROKEN_PNG)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: bal\ninput: in\noutput: {path: out, format: images}\nseed: 1\nsteps:\n"
        "  - step: augment_images\n    balance: true\n"
        "    transforms: [{name: HorizontalFlip, p: 1.0}]\n"
    )
    code, report, err = run_cli("run", str(recipe))
    assert code == 0, err
    changes = step_changes(report, "augment_images")
    assert changes["skipped"]["count"] == 1
    assert changes["skipped"]["files"][0].endswith("b/00.png")
    assert changes["classes_after"] == {"a": 6, "b": 6}
    assert changes["augmented"] == 4  # b: 2 readable images + 4 copies
    warnings = next(s for s in report["steps"] if s["step"] == "augment_images")["warnings"]
    assert len(warnings) == 1 and "b/00.png" in warnings[0]


def test_max_bad_fraction_still_applies_to_the_balance_plan(tmp_path):
    root = _images(tmp_path / "in", {"a": 4, "b": 2})
    (root / "b" / "00.png").write_bytes(b"garbage")
    step = {**BALANCE, "max_bad_fraction": 0.1}
    with pytest.raises(DataError, match=r"1 of 6 images \(16\.7%\) could not be read"):
        _fit(read_images(root, {}), step, target="label")


# -- balance without `target:` -----------------------------------------------------------------


def test_class_folders_balance_without_a_target(tmp_path):
    frame = read_images(_images(tmp_path / "in", {"a": 5, "b": 2, "c": 1}), {})
    fitted, out = _fit(frame, BALANCE)
    assert _counts(out) == {"a": 5, "b": 5, "c": 5}
    assert fitted.to_dict()["steps"][0]["state"]["target"] == "label"


def test_the_sample_recipe_runs_without_its_target(tmp_path):
    recipe = tmp_path / "images.yaml"
    text = RECIPE.read_text().replace("target: label\n", "")
    assert "target:" not in text
    sample = RECIPE.parent.parent / "sample_data" / "images"
    recipe.write_text(text.replace("../sample_data/images", str(sample)))
    code, report, err = run_cli("run", str(recipe), "-o", str(tmp_path / "out"))
    assert code == 0, err
    changes = step_changes(report, "augment_images")
    assert changes["classes_after"] == {"circle": 24, "square": 24, "triangle": 24}


def test_images_without_classes_need_labels(tmp_path):
    _images(tmp_path / "flat", {".": 3})  # images directly in the root: no class
    frame = read_images(tmp_path / "flat", {})
    assert frame["label"].null_count() == 3
    with pytest.raises(DataError, match="augment_images with balance: true needs class labels"):
        _fit(frame, BALANCE)


def test_a_given_target_is_still_used_and_checked(tmp_path):
    frame = read_images(_images(tmp_path / "in", {"a": 3, "b": 1}), {})
    frame = frame.with_columns(pl.lit("same").alias("group"))
    _, out = _fit(frame, BALANCE, target="group")  # one class: nothing to add
    assert out.height == 4
    with pytest.raises(DataError, match="target column 'nope' is not in the"):
        _fit(frame, BALANCE, target="nope")


def test_dedupe_without_target_warns_about_conflicting_class_folders(tmp_path):
    image = np.full((8, 8, 3), 7, np.uint8)
    write_png(tmp_path / "in" / "cat" / "x.png", image)
    write_png(tmp_path / "in" / "dog" / "x.png", image)
    recipe = prepkit.load_recipe({"steps": [{"step": "dedupe_images"}]})
    out = recipe.fit_transform(read_images(tmp_path / "in", {}))
    assert out["source"].to_list() == ["cat/x.png"]
    fitted = recipe.fit(read_images(tmp_path / "in", {}))
    assert fitted.to_dict()["steps"][0]["state"]["label"] == "label"


# -- OpenCV's log lines ------------------------------------------------------------------------


def test_reading_a_corrupt_file_prints_nothing_and_restores_the_log_level(tmp_path, capfd):
    import cv2

    (tmp_path / "broken.png").write_bytes(BROKEN_PNG)
    _truncated_tiff(tmp_path / "cut.tiff")
    before = cv2.utils.logging.getLogLevel()
    for name in ("broken.png", "cut.tiff"):
        with pytest.raises(ImageReadError, match="not a readable image"):
            read_image(tmp_path / name)
    assert cv2.utils.logging.getLogLevel() == before
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_quiet_run_with_corrupt_files_and_workers_prints_nothing(tmp_path):
    root = _images(tmp_path / "in", {"a": 40, "b": 30})  # 70 jobs: the process pool is used
    (root / "a" / "00.png").write_bytes(BROKEN_PNG)
    _truncated_tiff(root / "b" / "cut.tiff")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: q\ninput: in\noutput: {path: out, format: images}\nworkers: 2\nsteps:\n"
        "  - step: prepare_images\n    resize: [4, 4]\n"
    )
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "prepkit", "run", str(recipe), "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    manifest = pl.read_csv(tmp_path / "out" / "manifest.csv")
    assert manifest.height == 69  # 71 files, 2 unreadable
    assert not {"a/00.png", "b/cut.tiff"} & set(manifest["source"])
