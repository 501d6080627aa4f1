"""What the HTML run report draws, summarised per step from the frames before and after it.

`step_figures(before, after, target)` gives a small JSON-able dict (`StepReport.figures`):

- `missing_before` / `missing_after`: missing values (null, and NaN in float columns) per column,
  only the columns that have any;
- `classes_before` / `classes_after`: rows per class of the target, when the frame has it (null
  labels under `MISSING_LABEL`);
- figures a step adds itself (`record`), such as label_issues' `flagged_rows`;
- `distributions`: for a step that keeps the row count and changed a column's values, the
  column before and after: histograms (numbers; the lengths of free text) or its most frequent
  values (anything else), for at most `MAX_COLUMNS` columns (`distributions_more`: how many
  more changed).

The counts add up over the batches of the streaming engine (`merge_figures`); histograms do
not (each batch has its own bin edges), so they are made only where the whole part is one frame:
`collecting(distributions=False)` turns them off, and merging two batches drops them and says
so (`distributions_dropped`).

Collecting costs a few passes over the frames, so it runs only inside `collecting()`, which the
runner enters when a report is asked for.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl

from prepkit.images import COLUMNS as IMAGE_COLUMNS
from prepkit.images import IMAGE_PATH

MAX_COLUMNS = 6  # distributions kept per step
BINS = 30  # bins of a numeric histogram
TOP = 10  # values of a categorical column kept
MISSING_LABEL = "(missing)"  # the key of null values in class and category counts

# "off": nothing collected; "counts": missing values and classes; "all": histograms too
_COLLECT: contextvars.ContextVar[str] = contextvars.ContextVar("prepkit_figures", default="off")


# the last frame summarised and its counts, while collecting: the next step's input is
# usually the last step's output (a strong reference, dropped when collecting ends)
_LAST: contextvars.ContextVar[tuple[pl.DataFrame, dict[str, Any]] | None] = contextvars.ContextVar(
    "prepkit_figures_last", default=None
)


@contextlib.contextmanager
def collecting(distributions: bool = True) -> Iterator[None]:
    """Collect figures for the steps run inside; `distributions=False` for engines that see a
    part batch by batch (their counts add up, histograms do not)."""
    token = _COLLECT.set("all" if distributions else "counts")
    last = _LAST.set(None)
    try:
        yield
    finally:
        _LAST.reset(last)
        _COLLECT.reset(token)


def collected() -> str:
    """What is collected now: "off", "counts" or "all"."""
    return _COLLECT.get()


# the key of `ctx.changes` under which a step leaves figures of its own (`record`); the pipeline
# moves them to `StepReport.figures`, so that `changes` stay what both engines report alike
FROM_STEP = "_figures"


def record(ctx: Any, **figures: Any) -> None:
    """A step's own figures for the report (such as rows it flagged), when collecting."""
    if _COLLECT.get() != "off":
        ctx.changes.setdefault(FROM_STEP, {}).update(figures)


def step_figures(
    before: pl.DataFrame, after: pl.DataFrame, target: str | None, training: bool = True
) -> dict[str, Any]:
    """The figures of one step (see the module docstring); {} when collecting is off.
    Distributions are drawn for the training part only (`training`)."""
    mode = _COLLECT.get()
    if mode == "off":
        return {}
    start = _counts_of(before, target)
    end = start if after is before else _counts_of(after, target, before, start)
    _LAST.set((after, end))
    figures: dict[str, Any] = {
        **{f"{k}_before": v for k, v in start.items()},
        **{f"{k}_after": v for k, v in end.items()},
    }
    if mode == "all" and training and after is not before and after.height == before.height:
        changed = changed_columns(before, after, exclude=target)
        figures["distributions"] = {
            c: distribution(before[c], after[c]) for c in changed[:MAX_COLUMNS]
        }
        figures["distributions_more"] = max(0, len(changed) - MAX_COLUMNS)
    return figures


def _counts_of(
    frame: pl.DataFrame, target: str | None, before: pl.DataFrame | None = None,
    counted: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """{"missing": ..., "classes": ...} of `frame` (classes when it has the target); those of
    the last frame summarised when it is that frame, and the classes of `before` (`counted`)
    when `frame` has the same rows and labels."""
    last = _LAST.get()
    if last is not None and last[0] is frame:
        return last[1]
    counts: dict[str, Any] = {"missing": missing_counts(frame)}
    if target is not None and target in frame.columns:
        same = (
            before is not None and counted is not None and "classes" in counted
            and before.height == frame.height and _same(before[target], frame[target])
        )  # fmt: skip
        counts["classes"] = counted["classes"] if same else class_counts(frame[target])
    return counts


def missing_counts(frame: pl.DataFrame) -> dict[str, int]:
    """Missing values per column (null, and NaN in float columns); only columns with some (an
    image data set's own columns left out: `seed` is null for every original)."""
    if IMAGE_PATH in frame.columns:  # an image data set: its own columns are bookkeeping
        frame = frame.drop([c for c in IMAGE_COLUMNS if c in frame.columns])
    if frame.width == 0:
        return {}
    nulls = frame.null_count().row(0)
    counts = dict(zip(frame.columns, (int(n) for n in nulls), strict=True))
    floats = [c for c, t in frame.schema.items() if t.is_float()]
    if floats and frame.height:
        nans = frame.select(pl.col(floats).is_nan().sum()).row(0)
        for c, n in zip(floats, nans, strict=True):
            counts[c] += int(n or 0)
    return {c: n for c, n in counts.items() if n}


def class_counts(labels: pl.Series) -> dict[str, int]:
    """Rows per class, in the order of the classes (as text; null labels under MISSING_LABEL,
    last)."""
    name = labels.name
    counts = labels.value_counts(sort=False).sort(name, nulls_last=True)
    return {
        (MISSING_LABEL if v is None else _text(v)): int(n)
        for v, n in zip(counts[name].to_list(), counts["count"].to_list(), strict=True)
    }


def changed_columns(
    before: pl.DataFrame, after: pl.DataFrame, exclude: str | None = None
) -> list[str]:
    """The columns in both frames (same row count) whose values or type differ, in `after`'s
    order (but `exclude`, and an image data set's own columns: where its pixels are)."""
    skip = {exclude, *IMAGE_COLUMNS} if IMAGE_PATH in after.columns else {exclude}
    both = [c for c in after.columns if c in before.columns and c not in skip]
    return [c for c in both if not _same(before[c], after[c])]


def _same(a: pl.Series, b: pl.Series) -> bool:
    if a.dtype != b.dtype:
        return False
    try:
        return a.equals(b)
    except pl.exceptions.PolarsError:  # types equals cannot compare: treat as unchanged
        return True


def distribution(before: pl.Series, after: pl.Series) -> dict[str, Any]:
    """A column before and after a step: a histogram of each (numbers; the lengths of texts
    mostly distinct from each other, such as free text) or its most frequent values."""
    if _numeric(before) and _numeric(after):
        return numeric_histograms(before, after)
    if _free_text(before) and _free_text(after):
        lengths = numeric_histograms(before.str.len_chars(), after.str.len_chars())
        return {**lengths, "kind": "lengths"}
    return {"kind": "categorical", "before": top_values(before), "after": top_values(after)}


def _free_text(s: pl.Series, sample: int = 10_000) -> bool:
    """A text column whose values are mostly distinct (judged on its first `sample` values)."""
    if s.dtype != pl.String:
        return False
    head = s.head(sample).drop_nulls()
    return head.len() > 0 and head.n_unique() > max(TOP, head.len() // 2)


def _numeric(s: pl.Series) -> bool:
    return s.dtype.is_numeric()


def _finite(s: pl.Series) -> np.ndarray:
    values = s.drop_nulls().cast(pl.Float64).to_numpy()
    return values[np.isfinite(values)]


def numeric_histograms(before: pl.Series, after: pl.Series, bins: int = BINS) -> dict[str, Any]:
    """Histograms of the finite values before and after, on shared bin edges when the two
    ranges overlap over at least half their union (else each on its own: a scaled column is
    drawn in its new units). Missing and infinite values are left out."""
    b, a = _finite(before), _finite(after)
    ranges = [(float(x.min()), float(x.max())) for x in (b, a) if x.size]
    shared = True
    if len(ranges) == 2:
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        overlap = min(r[1] for r in ranges) - max(r[0] for r in ranges)
        shared = hi == lo or overlap / (hi - lo) >= 0.5
    if shared:
        edges = _edges(np.concatenate([b, a]), bins)
        before_edges = after_edges = edges
    else:
        before_edges, after_edges = _edges(b, bins), _edges(a, bins)
    return {
        "kind": "numeric",
        "shared": shared,
        "before": {"edges": before_edges, "counts": _counts(b, before_edges)},
        "after": {"edges": after_edges, "counts": _counts(a, after_edges)},
    }


def _edges(values: np.ndarray, bins: int) -> list[float]:
    if not values.size:
        return [0.0, 1.0]
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return [float(e) for e in np.linspace(lo, hi, bins + 1)]


def _counts(values: np.ndarray, edges: list[float]) -> list[int]:
    """Values per bin, the last bin closed (as numpy's histogram), with uniform `edges`."""
    n = len(edges) - 1
    if not values.size:
        return [0] * n
    lo, width = edges[0], (edges[-1] - edges[0]) / n
    index = np.clip(((values - lo) / width).astype(np.int64), 0, n - 1)
    return [int(c) for c in np.bincount(index, minlength=n)]


def top_values(s: pl.Series, most: int = TOP) -> dict[str, Any]:
    """The `most` most frequent values (as text, null as MISSING_LABEL) and the rows of the
    others."""
    counts = s.value_counts(sort=True)
    values, numbers = counts[s.name].to_list(), counts["count"].to_list()
    top = {
        (MISSING_LABEL if v is None else _text(v)): int(n)
        for v, n in zip(values[:most], numbers[:most], strict=True)
    }
    return {"top": top, "other": int(sum(numbers[most:])), "distinct": len(values)}


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return str(value)


def merge_figures(first: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """The figures of two batches of a step: counts added, histograms dropped (their bin edges
    differ), `distributions_dropped` set when either batch had some."""
    if not first or not other:
        return dict(first or other)
    merged: dict[str, Any] = {}
    for key in ("missing_before", "missing_after", "classes_before", "classes_after"):
        if key in first or key in other:
            a, b = first.get(key, {}), other.get(key, {})
            merged[key] = {k: a.get(k, 0) + b.get(k, 0) for k in {**a, **b}}
    dropped = any(f.get("distributions") or f.get("distributions_dropped") for f in (first, other))
    if dropped:
        merged["distributions_dropped"] = True
    return merged
