"""Engines: where a recipe's frames live and how a pass over them runs.

- `memory`: the whole input as one polars frame (every step; the default for small inputs).
- `stream`: batch by batch in bounded memory (`prepkit.engines.stream`): steps fit from
  statistics that merge over batches (`prepkit.engines.statistics`, `partials`), so the fitted
  artifact is the one the memory engine makes.
- `spark`: the same passes per partition of a Spark DataFrame (`prepkit.engines.spark`), only
  when asked for.
- `auto`: `memory` when the input fits comfortably in memory and every step can run there,
  else `stream`; the choice and its reason go into the report.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prepkit.errors import RecipeError, suggest
from prepkit.io.parts import is_glob

ENGINES = ("auto", "memory", "stream", "spark")
# peak memory of an in-memory run, as a multiple of the frame's size (measured: 10.2 GB for a
# 2.6 GB frame with the standard recipe)
PEAK_FACTOR = 4.0


@dataclass(frozen=True)
class EngineChoice:
    name: str
    reason: str
    batch_size: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason, "batch_size": self.batch_size}


def check_engine(name: str) -> str:
    if name not in ENGINES:
        raise RecipeError(
            f"unknown engine '{name}'{suggest(name, list(ENGINES))}",
            hint=f"engines: {', '.join(ENGINES)}",
        )
    return name


def blocking_steps(steps: list[Any]) -> list[Any]:
    """Steps the streaming engine cannot fit: they need all training rows at once."""
    from prepkit.steps.base import Step

    return [
        s
        for s in steps
        if type(s).statistics is Step.statistics and s.name != "drop_duplicates"
        and (s.phase == "train_only" or type(s).fit is not Step.fit
             or type(s).fit_transform is not Step.fit_transform)
    ]  # fmt: skip


def available_memory() -> int | None:
    """Bytes of memory this process may still use: MemAvailable, or its cgroup's limit less its
    usage when lower (a container, `systemd-run -p MemoryMax=...`)."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    for limit, usage in _cgroup_files():
        try:
            text, used = limit.read_text().strip(), usage.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60 and used.isdigit():
            found.append(max(int(text) - int(used), 0))
    return min(found) if found else None


def _cgroup_files() -> list[tuple[Path, Path]]:
    """(limit, usage) files of this process's memory cgroup, v2 and v1."""
    root = Path("/sys/fs/cgroup")
    pairs = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if controllers == "":  # v2: the unified hierarchy
            for base in (root, root / "unified"):
                pairs.append((base / relative / "memory.max", base / relative / "memory.current"))
        elif "memory" in controllers.split(","):
            folder = root / "memory" / relative
            pairs.append((folder / "memory.limit_in_bytes", folder / "memory.usage_in_bytes"))
    return pairs


def estimated_frame_bytes(path: str | Path, fmt: str | None) -> int | None:
    """About how many bytes the input takes as a polars frame (Parquet: the uncompressed sizes
    from its metadata; other files: their size on disk). None when it cannot be told."""
    text = str(path)
    if text == "-":
        return None
    p = Path(text)
    files = (
        [f for f in p.rglob("*") if f.is_file()] if p.is_dir()
        else [Path(f) for f in sorted(glob.glob(text))] if is_glob(text)
        else [p] if p.is_file() else []
    )  # fmt: skip
    if not files:
        return None
    total = 0
    for f in files:
        if f.suffix == ".parquet" or fmt == "parquet":
            try:
                import pyarrow.parquet as pq

                meta = pq.ParquetFile(f).metadata
                total += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
                continue
            except Exception:  # not Parquet after all: its size on disk
                pass
        total += f.stat().st_size
    return total


def choose_engine(
    requested: str, steps: list[Any], source: str | Path | None, fmt: str | None,
    batch_size: int | None,
) -> EngineChoice:  # fmt: skip
    """The engine for a run, and why (recorded in the report)."""
    from prepkit.engines.stream import DEFAULT_BATCH_SIZE
    from prepkit.io import uses_images

    check_engine(requested)
    size = batch_size or DEFAULT_BATCH_SIZE
    if requested == "memory":
        return EngineChoice("memory", "asked for (--engine memory)")
    images = uses_images(steps) or fmt == "images"
    blocking = blocking_steps(steps)
    if requested in ("stream", "spark"):
        if images:
            raise RecipeError(
                "image data sets run on the memory engine (their steps keep a process pool)",
                hint=f"drop --engine {requested} (or `engine:` in the recipe)",
            )
        return EngineChoice(requested, f"asked for (--engine {requested})", size)
    if source is None:
        return EngineChoice("memory", "the data is a frame in memory")
    if images:
        return EngineChoice("memory", "an image data set")
    if blocking:
        return EngineChoice("memory", f"step '{blocking[0].id}' needs all training rows at once")
    estimate = estimated_frame_bytes(source, fmt)
    available = available_memory()
    if estimate is None or available is None:
        return EngineChoice("memory", "the input's size cannot be told before reading it")
    need = estimate * PEAK_FACTOR
    if need <= available * 0.8:
        return EngineChoice(
            "memory",
            f"the input (about {describe_bytes(estimate)} in memory) fits in {describe_bytes(available)}",
        )
    return EngineChoice(
        "stream",
        f"the input (about {describe_bytes(estimate)} in memory, about {describe_bytes(need)} to fit it whole) does "
        f"not fit comfortably in {describe_bytes(available)} available",
        size,
    )


def describe_bytes(n: float) -> str:
    """A memory size as people read it: 880 MiB, 1.4 GiB."""
    if n >= 2**30:
        return f"{n / 2**30:,.1f} GiB"
    return f"{n / 2**20:,.0f} MiB" if n >= 2**20 else "under 1 MiB"
