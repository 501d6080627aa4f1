"""End to end: `prepkit run recipes/images.yaml` and `prepkit apply` on image data sets."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from image_helpers import RECIPE, SAMPLE, run_cli, step_changes, tree_digest
from PIL import Image

import prepkit.images.parallel as parallel
from prepkit.cli import app


def _manifest(out: Path) -> pl.DataFrame:
    return pl.read_csv(out / "manifest.csv", schema_overrides={"seed": pl.Int64})


def test_recipes_images_yaml_balances_the_sample(tmp_path):
    before = tree_digest(SAMPLE)
    out = tmp_path / "balanced"
    code, report, err = run_cli("run", str(RECIPE), "-o", str(out))
    assert code == 0, err
    assert tree_digest(SAMPLE) == before  # inputs never modified

    manifest = _manifest(out)
    counts = dict(manifest.group_by("label").len().sort("label").iter_rows())
    assert counts == {"circle": 24, "square": 24, "triangle": 24}  # auto: up to the majority
    origins = dict(manifest.group_by("origin").len().sort("origin").iter_rows())
    assert origins == {"augmented": 14 + 19, "original": 39}
    # the manifest lists exactly the files written
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert files == set(manifest["path"]) | {"manifest.csv"}
    assert manifest.filter(pl.col("origin") == "original")["seed"].null_count() == 39
    assert manifest.filter(pl.col("origin") == "augmented")["seed"].null_count() == 0

    # every image opens, 64x64, in the colour mode of its source
    for row in manifest.iter_rows(named=True):
        with Image.open(out / row["path"]) as image, Image.open(SAMPLE / row["source"]) as src:
            assert image.size == (64, 64)
            assert image.mode == src.mode, row
            if row["origin"] == "original" and src.size == (64, 64):
                # untouched originals are copied byte for byte
                assert (out / row["path"]).read_bytes() == (SAMPLE / row["source"]).read_bytes()
    modes = {Image.open(out / p).mode for p in manifest["path"]}
    assert modes == {"L", "RGB", "RGBA"}

    augment = step_changes(report, "augment_images")
    assert augment["classes_before"] == {"circle": 24, "square": 10, "triangle": 5}
    assert augment["classes_after"] == {"circle": 24, "square": 24, "triangle": 24}
    assert augment["augmented"] == 33
    assert augment["skipped"] == {"count": 0, "files": []}
    assert augment["images_per_second"] > 0
    prepare = step_changes(report, "prepare_images")
    assert prepare["converted"] == 4  # the four 80x80 images
    assert (tmp_path / "balanced.prepkit.json").is_file()


def test_one_and_two_workers_give_identical_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "POOL_MIN_JOBS", 0)  # use the process pool on 39 images
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        code, report, err = run_cli(
            "run", str(RECIPE), "-o", str(out), "--set", f"workers={workers}",
            "--set", "steps.3.copies=2", "--set", "steps.3.balance=false",
        )  # fmt: skip
        assert code == 0, err
        assert step_changes(report, "augment_images")["augmented"] == 78
        outs.append(tree_digest(out))
    assert outs[0] == outs[1]
    assert len(outs[0]) == 39 * 3 + 1


def test_corrupt_file_is_skipped_and_reported(sample, tmp_path):
    (sample / "square" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    out = tmp_path / "out"
    code, report, err = run_cli("run", str(RECIPE), "-i", str(sample), "-o", str(out))
    assert code == 0, err
    skipped = step_changes(report, "prepare_images")["skipped"]
    assert skipped["count"] == 1
    assert skipped["files"][0].endswith("square/broken.png")
    warnings = next(s for s in report["steps"] if s["step"] == "prepare_images")["warnings"]
    assert "broken.png" in warnings[0]
    manifest = _manifest(out)
    assert "square/broken.png" not in manifest["source"].to_list()
    assert dict(manifest.group_by("label").len().sort("label").iter_rows())["square"] == 24


def test_max_bad_fraction_and_all_unreadable_fail(sample, tmp_path):
    (sample / "square" / "broken.png").write_bytes(b"garbage")
    code, _, err = run_cli(
        "run", str(RECIPE), "-i", str(sample), "-o", str(tmp_path / "o"),
        "--set", "steps.1.max_bad_fraction=0.01",
    )  # fmt: skip
    assert code == 1
    assert "1 of 40 images (2.5%) could not be read" in err
    assert "broken.png" in err
    bad = tmp_path / "bad"
    (bad / "a").mkdir(parents=True)
    (bad / "a" / "x.png").write_bytes(b"garbage")
    code, _, err = run_cli("run", str(RECIPE), "-i", str(bad), "-o", str(tmp_path / "o2"))
    assert code == 1
    assert "none of the 1 images could be read" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o2").exists()


@pytest.mark.parametrize("entry", ["../outside.png", "/etc/passwd", "circle/../../x.png"])
def test_manifest_path_outside_its_folder_is_refused(sample, tmp_path, entry):
    (tmp_path / "outside.png").write_bytes((sample / "circle" / "circle_00.png").read_bytes())
    manifest = sample / "manifest.csv"
    manifest.write_text(f"path,label\ncircle/circle_00.png,circle\n{entry},square\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"input: {{path: {manifest}, format: images}}\ntarget: label\n"
        "steps: [{step: prepare_images}]\n"
    )
    code, _, err = run_cli("run", str(recipe), "-o", str(tmp_path / "out"))
    assert code == 1
    assert "point outside the manifest's folder" in err and entry in err


def test_manifest_input_with_custom_columns_and_manifest_layout(sample, tmp_path):
    rows = ["file,kind,note"] + [
        f"{p.relative_to(sample).as_posix()},{p.parent.name},n{i}"
        for i, p in enumerate(sorted(sample.rglob("*.*")))
    ]
    (sample / "list.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"input: {{path: {sample / 'list.csv'}, format: images,"
        " options: {path_column: file, label_column: kind}}\n"
        f"output: {{path: {out}, format: images, options: {{layout: manifest}}}}\n"
        "target: label\nseed: 3\nsteps:\n"
        "  - {step: augment_images, copies: 1, transforms: [{name: VerticalFlip, p: 1}]}\n"
    )
    code, report, err = run_cli("run", str(recipe))
    assert code == 0, err
    manifest = _manifest(out)
    assert manifest.height == 78
    assert manifest.columns == ["path", "label", "source", "origin", "copy", "seed", "note"]
    assert manifest["path"][0] == "images/circle/circle_00.png"
    flipped = manifest.filter(pl.col("source") == "circle/circle_00.png", pl.col("copy") == 1)
    assert flipped["path"].item() == "images/circle/circle_00__aug1.png"
    assert flipped["note"].item() == "n0"  # extra manifest columns follow their image
    with (
        Image.open(out / flipped["path"].item()) as aug,
        Image.open(sample / "circle/circle_00.png") as src,
    ):
        assert np.array_equal(np.asarray(aug), np.asarray(src)[::-1])
    from prepkit.io.images import read_images

    again = read_images(out / "manifest.csv", {})  # the output reads back as a data set
    assert again.height == 78 and set(again["label"]) == {"circle", "square", "triangle"}


def test_output_never_overwrites_the_input(sample, tmp_path):
    before = tree_digest(sample)
    for target in (sample, sample / "circle", sample.parent):
        code, _, err = run_cli("run", str(RECIPE), "-i", str(sample), "-o", str(target))
        assert code == 1, target
        assert "would overwrite the input" in err
    assert tree_digest(sample) == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    code, _, err = run_cli("run", str(RECIPE), "-i", str(sample), "-o", str(other))
    assert code == 1 and "is not a prepkit image output" in err
    assert (other / "keep.txt").read_text() == "mine"


def test_misspelled_transform_is_a_recipe_error_with_suggestion(tmp_path):
    text = RECIPE.read_text().replace("HorizontalFlip", "HorizntalFlip")
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(text)
    code, _, err = run_cli("validate", str(recipe))
    assert code == 2
    assert (
        "unknown albumentations transform 'HorizntalFlip' (did you mean 'HorizontalFlip'?)" in err
    )
    assert ":21:" in err  # the YAML line of the step's option
    recipe.write_text(RECIPE.read_text().replace("limit: 15", "limt: 15"))
    code, _, err = run_cli("validate", str(recipe))
    assert code == 2 and "unknown parameter 'limt' for Rotate (did you mean 'limit'?)" in err
    recipe.write_text(RECIPE.read_text().replace("limit: 15", "limit: abc"))
    code, _, err = run_cli("validate", str(recipe))
    assert code == 2 and "invalid albumentations pipeline" in err and "limit" in err
    recipe.write_text(RECIPE.read_text().replace("name: GaussNoise", "name: GausNoise"))
    code, _, err = run_cli("validate", str(recipe))
    assert code == 2 and "transforms[4] > OneOf[1]" in err and "'GaussNoise'" in err


def test_split_and_apply_resize_new_images(sample, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        RECIPE.read_text().replace("seed: 42", "seed: 42\nsplit: {valid: 0.2, stratify: true}")
    )
    out = tmp_path / "ds"
    code, report, err = run_cli("run", str(recipe), "-i", str(sample), "-o", str(out))
    assert code == 0, err
    train, valid = _manifest(tmp_path / "ds_train"), _manifest(tmp_path / "ds_valid")
    assert set(valid["origin"]) == {"original"}  # no augmentation outside training data
    assert set(train.group_by("label").len()["len"]) == {19}  # balanced on the train part
    assert valid.height == 8
    # `prepkit apply`: prepare_images (resize) runs, augment/dedupe are skipped
    from typer.testing import CliRunner

    new = tmp_path / "new"
    (new / "unlabelled").mkdir(parents=True)
    Image.new("RGB", (100, 50), "red").save(new / "unlabelled" / "a.jpg")
    applied = tmp_path / "applied"
    result = CliRunner().invoke(
        app, ["apply", str(tmp_path / "ds.prepkit.json"), str(new), "-o", str(applied), "-q"]
    )
    assert result.exit_code == 0, result.stderr
    with Image.open(applied / "unlabelled" / "a.jpg") as image:
        assert image.size == (64, 64) and image.mode == "RGB"
