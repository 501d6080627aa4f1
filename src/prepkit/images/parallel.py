"""Run per-image tasks in order over worker processes (see `prepkit.parallel`), image settings.

Results come back in job order whatever the number of workers, and every random choice is seeded
per image by the caller, so the output does not depend on `workers`.
"""

from __future__ import annotations

from typing import Any

from prepkit.parallel import Task, run_pool

# modules the forkserver imports once, so each new pool starts in milliseconds
PRELOAD = [
    "cv2",
    "albumentations",
    "imagehash",
    "prepkit.images.tasks",
    "prepkit.images.transforms",
]
POOL_MIN_JOBS = 64  # fewer images are done faster in the calling process than a pool starts
PROGRESS_MIN_JOBS = 100


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # the processes are the parallelism; avoid oversubscribing cores


def run_tasks(
    fn: Task, shared: Any, jobs: list[Any], *, workers: int, quiet: bool = True, label: str = ""
) -> list[Any]:
    """`[fn(shared, job) for job in jobs]`, in parallel when `workers` > 1 and jobs are many."""
    return run_pool(
        fn,
        shared,
        jobs,
        preload=PRELOAD,
        initializer=_init_worker,
        env={"NO_ALBUMENTATIONS_UPDATE": "1"},  # inherited by the forkserver: no update check
        pool_min_jobs=POOL_MIN_JOBS,
        jobs_per_worker=2,
        chunk_max=32,
        progress_min=PROGRESS_MIN_JOBS,
        workers=workers,
        quiet=quiet,
        label=label or "images",
    )
