"""Run per-image tasks in order, in worker processes, with a progress bar on long runs.

Results come back in job order whatever the number of workers, and every random choice is seeded
per image by the caller, so the output does not depend on `workers`.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any

# Workers fork from a clean "forkserver" process, never from the caller: a forked copy of a process
# running polars' or OpenCV's thread pools can deadlock. The server imports the image libraries
# once, so each new pool starts in milliseconds instead of a second per worker ("spawn").
START_METHOD = "forkserver"
PRELOAD = [
    "cv2",
    "albumentations",
    "imagehash",
    "prepkit.images.tasks",
    "prepkit.images.transforms",
]
POOL_MIN_JOBS = 64  # fewer images are done faster in the calling process than a pool starts
PROGRESS_MIN_JOBS = 100


def resolve_workers(requested: int | None, context_workers: int | None) -> int:
    """The step's `workers`, else the recipe's, else the number of CPU cores."""
    return max(1, requested or context_workers or os.cpu_count() or 1)


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # the processes are the parallelism; avoid oversubscribing cores


def _run_chunk(fn: Callable[[Any, Any], Any], shared: Any, jobs: list[Any]) -> list[Any]:
    return [fn(shared, job) for job in jobs]


@contextmanager
def _progress(total: int, label: str, quiet: bool) -> Iterator[Callable[[int], None]]:
    if quiet or total < PROGRESS_MIN_JOBS or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def run_tasks(
    fn: Callable[[Any, Any], Any],
    shared: Any,
    jobs: list[Any],
    *,
    workers: int,
    quiet: bool = True,
    label: str = "images",
) -> list[Any]:
    """`[fn(shared, job) for job in jobs]`, in parallel when `workers` > 1 and jobs are many."""
    workers = min(workers, len(jobs))
    with _progress(len(jobs), label, quiet) as advance:
        if workers <= 1 or len(jobs) < max(POOL_MIN_JOBS, 2 * workers):
            results = []
            for job in jobs:
                results.append(fn(shared, job))
                advance(1)
            return results
        size = max(1, min(32, math.ceil(len(jobs) / (workers * 8))))
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # inherited by the server
        context = multiprocessing.get_context(START_METHOD)
        if START_METHOD == "forkserver":
            context.set_forkserver_preload(PRELOAD)
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
            futures = {pool.submit(_run_chunk, fn, shared, chunk): len(chunk) for chunk in chunks}
            for future in as_completed(futures):
                advance(futures[future])
            return [result for future in futures for result in future.result()]
