"""Run jobs in order, in worker processes when they are many, with a progress bar on long runs.

`run_pool(fn, shared, jobs, ...)` is `[fn(shared, job) for job in jobs]`: results come back in job
order whatever the number of workers, and callers seed every random choice per job, so the output
never depends on `workers`. `fn` must be a top-level function (it is pickled by reference).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any

# Workers fork from a clean "forkserver" process, never from the caller: a forked copy of a process
# running polars' or OpenCV's thread pools can deadlock. The server imports the `preload` modules
# once, so each new pool starts in milliseconds instead of a second per worker ("spawn").
START_METHOD = "forkserver"

Task = Callable[[Any, Any], Any]  # fn(shared, job) -> result; top-level, so it pickles by name


def default_workers(requested: int | None, context_workers: int | None) -> int:
    """The step's `workers`, else the recipe's, else the number of CPU cores."""
    return max(1, requested or context_workers or os.cpu_count() or 1)


@contextmanager
def progress(
    total: int, label: str, quiet: bool, min_total: int = 0
) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`; a transient rich bar on stderr only for `total` >= `min_total` on a tty."""
    if quiet or total < min_total or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _run_chunk(fn: Task, shared: Any, jobs: list[Any]) -> list[Any]:
    return [fn(shared, job) for job in jobs]


def run_pool(
    fn: Task,
    shared: Any,
    jobs: list[Any],
    *,
    workers: int,
    quiet: bool = True,
    label: str = "",
    weight: Callable[[Any], int] | None = None,
    progress_min: int = 0,
    pool_min_jobs: int = 0,
    jobs_per_worker: int = 0,
    chunk_max: int = 32,
    preload: Sequence[str] = (),
    initializer: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
) -> list[Any]:
    """`[fn(shared, job) for job in jobs]`, over `workers` processes when the jobs are many.

    weight: a job's share of the progress bar (default 1); progress_min: smallest total weight
    that shows a bar. The calling process does the work itself when `workers` is 1 or there are
    fewer than `pool_min_jobs` jobs or fewer than `jobs_per_worker` per worker (a pool costs more
    than it saves). Jobs go out in chunks of at most `chunk_max`. preload: modules the forkserver
    imports once; initializer: run in each worker; env: variables set (unless already set) before
    the pool starts, inherited by the server and the workers.
    """
    weigh = weight or (lambda job: 1)
    workers = max(1, min(workers, len(jobs)))
    total = sum(weigh(job) for job in jobs)
    with progress(total, label, quiet, progress_min) as advance:
        if workers == 1 or len(jobs) < max(pool_min_jobs, jobs_per_worker * workers):
            results = []
            for job in jobs:
                results.append(fn(shared, job))
                advance(weigh(job))
            return results
        size = max(1, min(chunk_max, math.ceil(len(jobs) / (workers * 8))))
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        for key, value in (env or {}).items():
            os.environ.setdefault(key, value)
        context = multiprocessing.get_context(START_METHOD)
        if START_METHOD == "forkserver":
            context.set_forkserver_preload(list(preload))
        with ProcessPoolExecutor(workers, mp_context=context, initializer=initializer) as pool:
            futures = {
                pool.submit(_run_chunk, fn, shared, chunk): sum(weigh(job) for job in chunk)
                for chunk in chunks
            }
            for future in as_completed(futures):
                advance(futures[future])
            return [result for future in futures for result in future.result()]
