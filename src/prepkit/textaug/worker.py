"""Augment texts row by row in worker processes; the output never depends on the worker count.

nlpaug draws from the global `random` and `numpy.random` generators, so both are seeded before
every output row with a seed derived from (recipe seed, step id, source row, copy, attempt). Jobs
come back in order; chunks are independent, so any split over processes gives the same rows.
"""

from __future__ import annotations

import json
import random
from typing import Any

from prepkit.parallel import run_pool
from prepkit.textaug import row_seed

POOL_MIN_JOBS = 200  # fewer rows are augmented faster here than worker processes start
PROGRESS_MIN_JOBS = 500
CHUNK_MAX = 256
# modules the forkserver (see prepkit.parallel) imports once, so each pool starts quickly
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


def _copies(job: tuple[int, str, int, int]) -> int:
    return job[3]


def run_jobs(
    config: dict[str, Any], jobs: list[Any], *, workers: int, quiet: bool = True, label: str = ""
) -> list[list[tuple[str, bool]]]:
    """`[augment_job(config, job) for job in jobs]`, over `workers` processes when worth it."""
    return run_pool(
        augment_job,
        config,
        jobs,
        preload=PRELOAD,
        pool_min_jobs=POOL_MIN_JOBS,
        chunk_max=CHUNK_MAX,
        weight=_copies,  # the progress bar counts output rows
        progress_min=PROGRESS_MIN_JOBS,
        workers=workers,
        quiet=quiet,
        label=label or "augment_text",
    )
