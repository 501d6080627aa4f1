"""Answering statistics requests over batches of rows, in bounded memory.

Single-number statistics are computed per batch and merged (counts add; means and variances
merge by Chan, Golub and LeVeque's pairwise formula, at the larger of the batches' power-of-two
scales (see `statistics.SCALED_FROM`); minima and maxima of minima and maxima);
value counts merge by adding the counts of equal values. Exact quantiles take two passes or more,
generalising the selection of `prepkit.stats` to batches: the first pass keeps, per column, the
values of a uniform random sample of rows (the k rows with the smallest hash of their position, a
sample that merges across batches), whose order statistics bracket each wanted rank; the second
counts the values below each bracket and keeps only those inside it. A bracket that would hold
more values than the memory budget is narrowed by another sampling pass inside it. The selected
order statistics, hence the quantiles, are bit-identical to the in-memory engine's.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from prepkit.engines.statistics import (
    Counts,
    Distinct,
    Infinities,
    Missing,
    Moments,
    Quantiles,
    Request,
    Sample,
    distinct_expr,
    infinity_exprs,
    missing_expr,
    moment_answer,
    moment_exprs,
    moment_parts,
    value_counts,
)
from prepkit.stats import _SLACK, _lerp, _runs
from prepkit.stats import splitmix64 as _hash

Batches = Callable[[], Iterator[pl.DataFrame]]

SAMPLE = 1 << 16  # values kept per column by the sampling pass
WINDOW_BUDGET = 1 << 24  # values (8 bytes each) a bracket may collect, over all columns


# -- single pass: moments, missing counts, value counts ------------------------------------------
_NO_VALUES = {"count": 0, "mean": 0.0, "var": 0.0, "exp": 0, "min": None, "max": None, "inf": 0,
              "neginf": 0}  # fmt: skip


def _at(part: dict[str, Any], exp: int) -> tuple[float, float]:
    """mean and var of a part in multiples of 2**exp (exp at least the part's own)."""
    shift = part["exp"] - exp
    return math.ldexp(part["mean"], shift), math.ldexp(part["var"], 2 * shift)


def _merge_moments(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
    """Chan's merge of two `moment_parts`, at the larger of their power-of-two scales (an exact
    conversion, but for contributions below the smallest float64, which do not count anyway)."""
    if a is None or a["count"] == 0:
        return b
    if b["count"] == 0:
        return a
    n = a["count"] + b["count"]
    exp = max(a["exp"], b["exp"])
    (a_mean, a_var), (b_mean, b_var) = _at(a, exp), _at(b, exp)
    delta = b_mean - a_mean
    m2 = a_var * a["count"] + b_var * b["count"] + delta * delta * a["count"] * b["count"] / n
    return {
        "count": n,
        "mean": a_mean + delta * b["count"] / n,
        "var": m2 / n,  # NaN with infinite values: `moment_answer` reads their signs instead
        "exp": exp,
        "min": min(a["min"], b["min"]),
        "max": max(a["max"], b["max"]),
        "inf": a["inf"] + b["inf"],
        "neginf": a["neginf"] + b["neginf"],
    }


class _FirstPass:
    """One pass's partial answers to the single-number, value-count and distinct requests (and
    the quantile columns' samples): `add` a batch, `merge` the partial of the rows that follow
    (another batch range or partition), `answers` when every part is in."""

    def __init__(self, requests: list[Request], samples: list[_Search], offset: int = 0) -> None:
        self.simple = [r for r in requests if isinstance(r, (Moments, Missing, Infinities))]
        self.counted = [r for r in requests if isinstance(r, Counts)]
        self.distinct = [r for r in requests if isinstance(r, Distinct)]
        self.out: dict[Request, Any] = {}
        self.tallies: dict[Counts, pl.DataFrame | None] = {}  # None: more values than its limit
        self.values_seen: dict[Distinct, pl.Series | None] = {}
        self.samples = [s.fresh() for s in samples]
        self.offset = offset  # the position of the next row, for the samples' hashes

    def add(self, batch: pl.DataFrame) -> None:
        if self.samples:
            hashes = _hash(np.arange(self.offset, self.offset + batch.height, dtype=np.uint64))
            for s in self.samples:
                s.sample(_values(batch, s.column), hashes)
        self.offset += batch.height
        schema = batch.schema
        exprs: list[pl.Expr] = []
        for i, r in enumerate(self.simple):
            if isinstance(r, Moments):
                exprs += moment_exprs(schema, r.column, str(i))
            elif isinstance(r, Infinities):
                exprs += infinity_exprs(schema, r.column, str(i))
            else:
                exprs.append(missing_expr(schema, r.column, str(i)))
        row = batch.select(exprs).row(0, named=True) if exprs else {}
        moments = {str(i): r.column for i, r in enumerate(self.simple) if isinstance(r, Moments)}
        parts = moment_parts(batch, row, moments)
        found: dict[Request, Any] = {}
        for i, r in enumerate(self.simple):
            key = str(i)
            if isinstance(r, Moments):
                found[r] = parts[key]
            elif isinstance(r, Infinities):
                found[r] = {"inf": int(row[f"{key}:+inf"]), "-inf": int(row[f"{key}:-inf"])}
            else:
                found[r] = {"missing": int(row[f"{key}:missing"]), "rows": batch.height}
        self._merge_simple(found)
        counting = [r for r in self.counted if r not in self.tallies or self.tallies[r] is not None]
        if counting:
            for r, part in zip(counting, value_counts(batch, counting), strict=True):
                self._merge_tally(r, part)
        if self.distinct:
            _merge_distinct(batch, self.distinct, self.values_seen)

    def _merge_simple(self, found: dict[Request, Any]) -> None:
        for r, part in found.items():
            seen = self.out.get(r)
            if isinstance(r, Moments):
                self.out[r] = _merge_moments(seen, part)
            elif seen is None:
                self.out[r] = dict(part)
            else:
                self.out[r] = {k: seen[k] + part[k] for k in seen}

    def _merge_tally(self, r: Counts, part: pl.DataFrame | None) -> None:
        if r in self.tallies:
            before = self.tallies[r]
            if before is None or part is None:
                part = None
            else:
                part = (
                    pl.concat([before, part.cast(before.schema)])
                    .group_by("value")
                    .agg(pl.col("n").sum())
                )
        if part is not None and r.limit is not None and part.height > r.limit:
            part = None  # too many values: stop counting them
        self.tallies[r] = part

    def merge(self, later: _FirstPass) -> _FirstPass:
        """This partial and that of the rows after it, as one."""
        self._merge_simple(later.out)
        for r, part in later.tallies.items():
            self._merge_tally(r, part)
        for r in self.distinct:
            if r not in later.values_seen:
                continue
            before, part = self.values_seen.get(r, pl.Series([])), later.values_seen[r]
            if before is None or part is None:
                self.values_seen[r] = None
                continue
            both = pl.concat([before, part.cast(before.dtype)]) if len(before) else part
            both = both.unique(maintain_order=True)
            self.values_seen[r] = both if len(both) <= r.limit else None
        for mine, theirs in zip(self.samples, later.samples, strict=True):
            mine.merge(theirs)
        self.offset = max(self.offset, later.offset)
        return self

    def answers(self) -> dict[Request, Any]:
        out: dict[Request, Any] = {}
        for r in self.simple:
            if isinstance(r, Moments):
                out[r] = moment_answer(self.out.get(r, _NO_VALUES))
            elif isinstance(r, Infinities):
                out[r] = self.out.get(r, {"inf": 0, "-inf": 0})
            else:
                out[r] = self.out.get(r, {"missing": 0, "rows": 0})
        for r in self.counted:
            if r not in self.tallies:  # no batches
                out[r] = {}
            elif (part := self.tallies[r]) is None:
                out[r] = None
            else:
                out[r] = dict(zip(part["value"].to_list(), part["n"].to_list(), strict=True))
        for r in self.distinct:
            values = self.values_seen.get(r, pl.Series([]))
            out[r] = None if values is None else values.to_list()
        for s in self.samples:
            s.end_sample()
        return out


def _merge_distinct(
    batch: pl.DataFrame, requests: list[Distinct], seen: dict[Distinct, pl.Series | None]
) -> None:
    """Add the batch's distinct values, in order of first appearance, to those already seen;
    a request with more than its limit is done (None)."""
    schema = batch.schema
    open_requests = [r for r in requests if r not in seen or seen[r] is not None]
    if not open_requests:
        return
    found = batch.select(
        distinct_expr(schema, r.column, r.limit, str(i)) for i, r in enumerate(open_requests)
    )
    for i, r in enumerate(open_requests):
        part = found[f"{i}:distinct"][0]
        before = seen.get(r)
        if before is not None:
            part = pl.concat([before, part.cast(before.dtype)]).unique(maintain_order=True)
        seen[r] = part if len(part) <= r.limit else None


# -- exact quantiles by bracket selection over batches --------------------------------------------
def _values(batch: pl.DataFrame, column: str) -> np.ndarray:
    """float64 values with missing (null, NaN) as NaN, which no comparison selects."""
    series = batch.get_column(column).cast(pl.Float64)
    return series.fill_null(np.nan).to_numpy()


@dataclass
class _Search:
    """Where the wanted ranks of one column are being looked for.

    mode "sample": the values strictly between `lo` and `hi` (None: unbounded) are sampled;
    mode "collect": the values in [lo, hi] are collected. `ranks` are 0-based, among all values.
    """

    column: str
    ranks: list[int]
    mode: str = "sample"
    lo: float | None = None
    hi: float | None = None
    margin_scale: float = 1.0
    # results of the last pass
    at_or_below: int = 0  # values <= lo (sample) / < lo (collect)
    equal_lo: int = 0
    equal_hi: int = 0
    inside: int = 0
    kept: list[np.ndarray] = field(default_factory=list)
    kept_hash: list[np.ndarray] = field(default_factory=list)

    def fresh(self) -> _Search:
        """The same search with no results yet (a pass's partial starts from it)."""
        return _Search(self.column, self.ranks, self.mode, self.lo, self.hi, self.margin_scale)

    def merge(self, later: _Search) -> None:
        """Add the results of the same search over the rows after those seen here."""
        self.at_or_below += later.at_or_below
        self.equal_lo += later.equal_lo
        self.equal_hi += later.equal_hi
        self.inside += later.inside
        self.kept += later.kept
        self.kept_hash += later.kept_hash
        if self.mode == "sample":
            self._compact()

    def _compact(self) -> None:
        if sum(len(v) for v in self.kept) > 4 * SAMPLE:
            merged = _bottom_k(np.concatenate(self.kept), np.concatenate(self.kept_hash), SAMPLE)
            self.kept, self.kept_hash = [merged[0]], [merged[1]]

    def sample(self, x: np.ndarray, hashes: np.ndarray) -> None:
        """Keep the sampled values of one batch (the SAMPLE smallest hashes inside the bounds)."""
        inside = ~np.isnan(x)
        if self.lo is not None:
            self.at_or_below += int((x <= self.lo).sum())
            inside &= x > self.lo
        if self.hi is not None:
            inside &= x < self.hi
        self.inside += int(inside.sum())
        values, h = _bottom_k(x[inside], hashes[inside], SAMPLE)
        self.kept.append(values)
        self.kept_hash.append(h)
        self._compact()

    def end_sample(self) -> None:
        if self.kept:
            values, _ = _bottom_k(np.concatenate(self.kept), np.concatenate(self.kept_hash), SAMPLE)
            self.kept, self.kept_hash = [np.sort(values)], []


def _sorted_sample(search: _Search) -> np.ndarray:
    return search.kept[0] if search.kept else np.empty(0)


def hashed_samples(frame: pl.DataFrame, columns: list[str]) -> dict[str, np.ndarray]:
    """`Sample` of columns of one in-memory frame: the rows the streaming engine's first pass
    samples."""
    hashes = _hash(np.arange(frame.height, dtype=np.uint64))
    out = {}
    for column in columns:
        search = _Search(column, [])
        search.sample(_values(frame, column), hashes)
        search.end_sample()
        out[column] = _sorted_sample(search)
    return out


def _bottom_k(values: np.ndarray, hashes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if len(hashes) <= k:
        return values, hashes
    keep = np.argpartition(hashes, k - 1)[:k]
    return values[keep], hashes[keep]


class _SearchPass:
    """One pass's partial results of the bracket searches (see `_FirstPass` for add/merge)."""

    def __init__(self, searches: list[_Search], offset: int = 0) -> None:
        self.searches = [s.fresh() for s in searches]
        self.offset = offset

    def add(self, batch: pl.DataFrame) -> None:
        hashes = _hash(np.arange(self.offset, self.offset + batch.height, dtype=np.uint64))
        self.offset += batch.height
        columns: dict[str, np.ndarray] = {}
        for s in self.searches:
            x = columns.get(s.column)
            if x is None:
                x = columns[s.column] = _values(batch, s.column)
            if s.mode == "sample":
                s.sample(x, hashes)
            else:
                assert s.lo is not None and s.hi is not None
                s.at_or_below += int((x < s.lo).sum())
                s.equal_lo += int((x == s.lo).sum())
                if s.hi != s.lo:
                    s.equal_hi += int((x == s.hi).sum())
                s.kept.append(x[(x > s.lo) & (x < s.hi)])

    def merge(self, later: _SearchPass) -> _SearchPass:
        for mine, theirs in zip(self.searches, later.searches, strict=True):
            mine.merge(theirs)
        self.offset = max(self.offset, later.offset)
        return self

    def answers(self) -> list[_Search]:
        for s in self.searches:
            if s.mode == "sample":
                s.end_sample()
        return self.searches


Partial = _FirstPass | _SearchPass
# runs one pass: makes a partial per range of rows (`make(offset)`), adds their batches, merges
Scan = Callable[[Callable[[int], Partial]], Partial]


def local_scan(batches: Batches) -> Scan:
    """Passes over `batches()` in this process, one partial for the whole pass."""

    def scan(make: Callable[[int], Partial]) -> Partial:
        partial = make(0)
        for batch in batches():
            partial.add(batch)
        return partial

    return scan


def _order_statistics(
    scan: Scan, wanted: dict[str, list[int]], samples: dict[str, _Search]
) -> dict[str, dict[int, float]]:
    """The k-th smallest non-missing values (0-based ranks) of each column, exactly.

    `samples` holds each column's first sample, taken in the pass that counted its values.
    """
    found: dict[str, dict[int, float]] = {c: {} for c in wanted}
    first = [_Search(c, list(range(a, b + 1))) for c, ranks in wanted.items()
             for a, b in _runs(sorted(set(ranks)))]  # fmt: skip
    searches: list[_Search] = []
    for s in first:
        s.inside, s.kept = samples[s.column].inside, samples[s.column].kept
        searches += _after_sample(s, found, WINDOW_BUDGET // max(1, len(first)))
    for _ in range(64):  # each round narrows every search; a handful of rounds is the norm
        if not searches:
            return found
        done = scan(functools.partial(_SearchPass, searches)).answers()  # type: ignore[union-attr]
        following: list[_Search] = []
        budget = WINDOW_BUDGET // max(1, len(searches))
        for s in done:
            if s.mode == "sample":
                following += _after_sample(s, found, budget)
            else:
                following += _after_collect(s, found)
        searches = following
    raise RuntimeError("quantile selection did not converge")  # pragma: no cover


def _after_sample(s: _Search, found: dict[str, dict[int, float]], budget: int) -> list[_Search]:
    sample = s.kept[0] if s.kept else np.empty(0)
    size = len(sample)
    local = [k - s.at_or_below for k in s.ranks]
    if not 0 <= local[0] <= local[-1] < s.inside:  # the interval missed: start again, wider
        return [_Search(s.column, s.ranks, "sample", None, None, s.margin_scale * 4)]
    if size == s.inside:  # every value in the interval was kept: read the ranks off the sample
        found[s.column].update({k: float(sample[r]) for k, r in zip(s.ranks, local, strict=True)})
        return []
    margin = int(_SLACK * s.margin_scale * np.sqrt(size)) + 1
    at_lo = local[0] * size // s.inside - margin
    at_hi = local[-1] * size // s.inside + margin
    lo = float(sample[at_lo]) if at_lo >= 0 else (-np.inf if s.lo is None else s.lo)
    hi = float(sample[at_hi]) if at_hi < size else (np.inf if s.hi is None else s.hi)
    # values equal to a bound are counted, not kept, so heavy ties cost nothing
    expected = int(((sample > lo) & (sample < hi)).sum()) * s.inside / size
    narrower = at_lo >= 0 or at_hi < size  # (only a tiny sample brackets nothing)
    if expected <= budget or not narrower:
        return [_Search(s.column, s.ranks, "collect", lo, hi, s.margin_scale)]
    # too many values to keep: sample again inside the bracket (widened by one ulp, so that
    # values equal to its ends stay inside the open interval)
    lo_open = float(np.nextafter(lo, -np.inf)) if at_lo >= 0 else s.lo
    hi_open = float(np.nextafter(hi, np.inf)) if at_hi < size else s.hi
    return [_Search(s.column, s.ranks, "sample", lo_open, hi_open, s.margin_scale)]


def _after_collect(s: _Search, found: dict[str, dict[int, float]]) -> list[_Search]:
    inner = np.concatenate(s.kept) if s.kept else np.empty(0)
    first, last = s.ranks[0], s.ranks[-1]
    start_inner = s.at_or_below + s.equal_lo
    end = start_inner + len(inner) + s.equal_hi
    if not s.at_or_below <= first <= last < end:  # the bracket missed: sample again, wider
        return [_Search(s.column, s.ranks, "sample", None, None, s.margin_scale * 4)]
    ranks_inner = [k - start_inner for k in s.ranks if start_inner <= k < start_inner + len(inner)]
    picked = np.partition(inner, ranks_inner) if ranks_inner else inner
    for k in s.ranks:
        if k < start_inner:
            found[s.column][k] = float(s.lo)  # type: ignore[arg-type]
        elif k < start_inner + len(inner):
            found[s.column][k] = float(picked[k - start_inner])
        else:
            found[s.column][k] = float(s.hi)  # type: ignore[arg-type]
    return []


def _quantiles(
    scan: Scan, requests: list[Quantiles], counts: dict[str, int],
    samples: dict[str, _Search],
) -> dict[Request, Any]:  # fmt: skip
    wanted: dict[str, list[int]] = {}
    plans: dict[Quantiles, list[tuple[int, float]]] = {}
    for r in requests:
        n = counts[r.column]
        if n == 0:
            continue
        positions = [q * (n - 1) for q in r.qs]
        lower = [int(np.floor(p)) for p in positions]
        plans[r] = list(zip(lower, positions, strict=True))
        wanted.setdefault(r.column, []).extend(k for lo in lower for k in (lo, min(lo + 1, n - 1)))
    stats = _order_statistics(scan, wanted, samples)
    out: dict[Request, Any] = {}
    for r in requests:
        if r not in plans:
            out[r] = None
            continue
        n, found = counts[r.column], stats[r.column]
        out[r] = [_lerp(found[lo], found[min(lo + 1, n - 1)], p - lo) for lo, p in plans[r]]
    return out


def compute_batches(batches: Batches, requests: list[Request]) -> dict[Request, Any]:
    """Answer `requests` over `batches()` (called once per pass), in bounded memory."""
    return compute_scanned(local_scan(batches), requests)


def compute_scanned(scan: Scan, requests: list[Request]) -> dict[Request, Any]:
    """Answer `requests` from passes run by `scan` (in this process, or per partition of a
    Spark DataFrame, the partials merged here)."""
    unique = list(dict.fromkeys(requests))
    if not unique:  # nothing to learn from rows: no pass
        return {}
    wanted = [r for r in unique if isinstance(r, Quantiles)]
    sampled = [r for r in unique if isinstance(r, Sample)]
    first = [r for r in unique if not isinstance(r, (Quantiles, Sample))]
    first += [Moments(c) for c in dict.fromkeys(r.column for r in wanted)]
    # the first pass also takes the samples that bracket the quantiles' ranks (and answer
    # `Sample`)
    columns = list(dict.fromkeys(r.column for r in [*wanted, *sampled]))
    searches = [_Search(c, []) for c in columns]
    requested = list(dict.fromkeys(first))
    partial = scan(functools.partial(_FirstPass, requested, searches))
    assert isinstance(partial, _FirstPass)
    out = partial.answers()
    samples = dict(zip(columns, partial.samples, strict=True))
    for r in sampled:
        out[r] = _sorted_sample(samples[r.column])
    if wanted:
        counts = {r.column: out[Moments(r.column)]["count"] for r in wanted}
        out.update(_quantiles(scan, wanted, counts, samples))
    return {r: out[r] for r in unique}
