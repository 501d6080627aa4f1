"""Helpers for the image tests: paths, CLI runs, file digests, tiny generated images."""

import hashlib
import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from prepkit.cli import app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "images"
RECIPE = ROOT / "recipes" / "images.yaml"


def tree_digest(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under `folder`."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_cli(*args: str) -> tuple[int, dict | None, str]:
    """Run `prepkit ARGS --json -q`; return exit code, the JSON report (if any) and stderr."""
    extra = ["--json", "-q"] if args[0] == "run" else ["-q"]
    result = CliRunner().invoke(app, [*args, *extra])
    report = None
    if result.exit_code == 0 and result.stdout.strip():
        report = json.loads(result.stdout)
    return result.exit_code, report, result.stderr


def step_changes(report: dict, step: str, part: str = "train") -> dict:
    return next(s for s in report["steps"] if s["step"] == step and s["part"] == part)["changes"]


def write_png(path: Path, image: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), bgr)
