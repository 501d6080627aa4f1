"""Throughput of `augment_images`: 1 vs 2 workers, next to a plain albumentations loop.

Every contender does the same work per image: decode a 256x256 RGB PNG, run a flip + rotate +
colour pipeline, encode the result as PNG and write it. prepkit's time is the whole
`augment_images` step (planning, per-image seeds, process pool start-up, the new rows).

    python bench/bench_images.py [--images 800] [--repeat 3]

Results are recorded in bench/results_images.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

TRANSFORMS = [
    {"name": "HorizontalFlip", "p": 0.5},
    {"name": "Rotate", "limit": 15, "p": 1.0},
    {"name": "ColorJitter", "p": 1.0},
]


def make_images(root: Path, count: int) -> None:
    import cv2

    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        image = cv2.GaussianBlur(rng.integers(0, 256, (256, 256, 3), np.uint8), (9, 9), 0)
        cv2.imwrite(str(folder / f"{i:05d}.png"), image)


def plain_loop(root: Path, out: Path) -> float:
    """The baseline: a for loop over the files with albumentations, as one would write by hand."""
    import cv2

    from prepkit.images.transforms import albumentations

    A = albumentations()
    compose = A.Compose(
        [A.HorizontalFlip(p=0.5), A.Rotate(limit=15, p=1.0), A.ColorJitter(p=1.0)], seed=0
    )
    out.mkdir(parents=True)
    start = time.perf_counter()
    for i, path in enumerate(sorted(root.rglob("*.png"))):
        image = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
        result = compose(image=image)["image"]
        cv2.imwrite(
            str(out / f"{i}.png"),
            cv2.cvtColor(result, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_PNG_COMPRESSION, 3],
        )
    return time.perf_counter() - start


def prepkit_step(root: Path, workers: int, workdir: Path) -> float:
    import prepkit
    from prepkit.fitted import fit_frame
    from prepkit.io.images import read_images
    from prepkit.pipeline import context_for

    recipe = prepkit.load_recipe(
        {
            "target": "label",
            "workers": workers,
            "steps": [{"step": "augment_images", "copies": 1, "transforms": TRANSFORMS}],
        }
    )
    frame = read_images(root, {})
    start = time.perf_counter()
    _, out = fit_frame(recipe, frame, context_for(recipe, workdir=workdir))
    seconds = time.perf_counter() - start
    assert out.height == 2 * frame.height
    return seconds


def busy_cores(seconds: float = 3.0) -> float | None:
    """Cores kept busy by other processes while this one sleeps (Linux); shared machines vary."""
    try:

        def sample() -> tuple[int, int]:
            fields = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
            return sum(fields) - fields[3] - fields[4], sum(fields)

        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except OSError:
        return None
    return (os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=800)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="prepkit-bench-"))
    try:
        make_images(tmp / "in", args.images)
        random.seed(0)
        times: dict[str, list[float]] = {
            "plain loop": [],
            "prepkit 1 worker": [],
            "prepkit 2 workers": [],
        }
        background = busy_cores()
        cold = prepkit_step(tmp / "in", 2, tmp / "cold")  # first pool: starts the fork server
        for r in range(args.repeat):
            times["plain loop"].append(plain_loop(tmp / "in", tmp / f"plain{r}"))
            times["prepkit 1 worker"].append(prepkit_step(tmp / "in", 1, tmp / f"w1_{r}"))
            times["prepkit 2 workers"].append(prepkit_step(tmp / "in", 2, tmp / f"w2_{r}"))
        print(f"{args.images} images 256x256 RGB PNG, flip+rotate+colour, median of {args.repeat}")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
        if background is not None:
            print(f"cores busy with other work before the run: {background:.2f}")
        base = statistics.median(times["plain loop"])
        one = statistics.median(times["prepkit 1 worker"])
        print("| contender | seconds | images/s | vs plain loop |")
        print("| --- | ---: | ---: | ---: |")
        for name, values in times.items():
            seconds = statistics.median(values)
            print(
                f"| {name} | {seconds:.2f} | {args.images / seconds:.0f} | {base / seconds:.2f}x |"
            )
        print(
            f"| prepkit 2 workers, cold (fork server start) | {cold:.2f} | {args.images / cold:.0f} | {base / cold:.2f}x |"
        )
        two = statistics.median(times["prepkit 2 workers"])
        print(f"\noverhead at 1 worker: {100 * (one - base) / base:+.1f}%")
        print(f"speed-up 2 vs 1 worker: {one / two:.2f}x (cold: {one / cold:.2f}x)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
