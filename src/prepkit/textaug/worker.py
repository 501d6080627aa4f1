"""Augment texts row by row in worker processes; the output never depends on the worker count.

nlpaug draws from the global `random` and `numpy.random` generators, so both are seeded before
every output row with a seed derived from (recipe seed, step id, source row, copy, attempt). Jobs
come back in order; chunks are independent, so any split over processes gives the same rows.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import random
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any

from prepkit.textaug import row_seed

POOL_MIN_JOBS = 200  # fewer rows are augmented faster here than worker processes start
PROGRESS_MIN_JOBS = 500
CHUNK_MAX = 256
# A clean "forkserver" parent, never a fork of the caller (polars' thread pool + fork deadlocks);
# it imports nlpaug once, so each pool starts quickly.
PRELOAD = ["nlpaug.augmenter.char", "nlpaug.augmenter.word", "nlpaug.flow", __name__]

_FLOWS: dict[str, Any] = {}


def _flow(config: dict[str, Any]) -> Any:
    key = json.dumps(
        [config["augmenters"], config["mode"], config["probability"], config["wordnet"]],
        sort_keys=True,
    )
    if key not in _FLOWS:
        from prepkit.textaug.augmenters import build_flow

        _FLOWS[key] = build_flow(
            config["augmenters"], config["mode"], config["probability"], config["wordnet"]
        )
    return _FLOWS[key]


def _once(flow: Any, text: str, seed: int) -> str:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    out = flow.augment(text)
    if isinstance(out, list):
        out = out[0] if out else text
    return out if isinstance(out, str) else text


def augment_job(config: dict[str, Any], job: tuple[int, str, int, int]) -> list[tuple[str, bool]]:
    """Copies `first..first+count-1` of one source row: (text, still identical) per copy."""
    from prepkit.textaug.augmenters import no_downloads

    row, text, first, count = job
    flow = _flow(config)
    results = []
    with no_downloads():
        for copy in range(first, first + count):
            out = text
            for attempt in range(config["retries"] + 1):
                seed = row_seed(config["seed"], config["step_id"], row, copy, attempt)
                out = _once(flow, text, seed)
                if out != text:
                    break
            results.append((out, out == text))
    return results


def _run_chunk(config: dict[str, Any], jobs: list[Any]) -> list[Any]:
    return [augment_job(config, job) for job in jobs]


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


def run_jobs(
    config: dict[str, Any], jobs: list[Any], *, workers: int, quiet: bool = True, label: str = ""
) -> list[list[tuple[str, bool]]]:
    """`[augment_job(config, job) for job in jobs]`, over `workers` processes when worth it."""
    workers = max(1, min(workers, len(jobs)))
    with _progress(sum(j[3] for j in jobs), label or "augment_text", quiet) as advance:
        if workers == 1 or len(jobs) < POOL_MIN_JOBS:
            results = []
            for job in jobs:
                results.append(augment_job(config, job))
                advance(job[3])
            return results
        size = max(1, min(CHUNK_MAX, math.ceil(len(jobs) / (workers * 8))))
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = {pool.submit(_run_chunk, config, chunk): chunk for chunk in chunks}
            for future in as_completed(futures):
                advance(sum(j[3] for j in futures[future]))
            return [result for future in futures for result in future.result()]


def default_workers(requested: int | None, context_workers: int | None) -> int:
    """The step's `workers`, else the recipe's, else the number of CPU cores."""
    return max(1, requested or context_workers or os.cpu_count() or 1)
