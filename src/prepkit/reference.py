"""The reference profile a fitted artifact keeps of its training data, and drift against it.

Per input column of the training part, statistics only, never rows:

- numbers: rows, missing (null and NaN), min, max, mean, std and the 101 percentiles
  (0, 1, ..., 100 %) of the values present (exact up to 65,536 values; beyond, those of a
  uniform sample of 65,536 of them, the rows of the smallest hashes of their positions, so the
  same rows on the in-memory and streaming engines: a percentile's rank is then off by about
  0.2 %, well inside the 1 % the figures below read them to);
- text, categories and booleans: rows, missing and the count of every value, when there are at
  most `MAX_CATEGORIES` distinct ones (else `counts` is null: too many to keep, an id or free text);
- other columns (dates, lists): rows and missing.

Every engine computes it from the same statistics requests (`prepkit.engines.statistics`), so the
profile is the same whichever engine fitted the recipe; on Spark, which numbers rows by partition,
the sample of a column of more than 65,536 values has other rows, so its percentiles differ a
little. New data is compared with it by `ReferenceDrift`, a
pass that adds up counts batch by batch (bounded memory; the streaming and Spark engines merge
the parts): per number the values below and at each percentile, per category the count of
each reference value and of each unseen one (up to `UNSEEN_KEPT` distinct, then only their total).

The figures are those of `prepkit.drifts` with the reference's distribution read off its
percentiles: the share of reference values in a decile bin, and the reference's distribution
function in the Kolmogorov-Smirnov statistic, are known to within one percentile (0.01), so
PSI, KL, Jensen-Shannon and KS are close to, not equal to, the figures against the training
data itself. Categories, ranges and missing rates are exact.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prepkit.columns import dtype_kind
from prepkit.engines.statistics import Counts, Missing, Moments, Request, Sample
from prepkit.inspection import missing_counts, present_values

PERCENTILES = tuple(i / 100 for i in range(101))
MAX_CATEGORIES = 1000
UNSEEN_KEPT = 1000  # distinct unseen categories counted one by one while applying
EXACT_KS = 10_000  # effective sample sizes whose KS p-value comes from scipy's `kstwo`
_ADDED = ("rows", "missing", "present", "below", "at_or_below", "unseen_rows")  # counts that add


def profile_kind(dtype: pl.DataType) -> str:
    kind = dtype_kind(dtype)
    if kind == "numeric" and dtype != pl.Decimal:
        return "numeric"
    return "categorical" if kind in ("string", "categorical", "boolean") else "other"


def profile_requests(schema: pl.Schema | dict[str, pl.DataType]) -> list[Request]:
    """The statistics a profile of columns with these dtypes is made of."""
    requests: list[Request] = []
    for name, dtype in schema.items():
        requests.append(Missing(name))
        kind = profile_kind(dtype)
        if kind == "numeric":
            requests += [Moments(name), Sample(name)]
        elif kind == "categorical":
            requests.append(Counts(name, MAX_CATEGORIES))
    return requests


def category_label(value: Any) -> str:
    """A category as text, as `pl.col(c).cast(pl.String)` writes it (booleans `true`/`false`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def build_profile(
    schema: pl.Schema | dict[str, pl.DataType], answers: dict[Any, Any]
) -> dict[str, dict[str, Any]]:
    """The profile (plain JSON data) from the answers to `profile_requests(schema)`."""
    out: dict[str, dict[str, Any]] = {}
    for name, dtype in schema.items():
        missing = answers[Missing(name)]
        entry: dict[str, Any] = {"kind": profile_kind(dtype), "rows": missing["rows"],
                                 "missing": missing["missing"]}  # fmt: skip
        if entry["kind"] == "numeric":
            moments = answers[Moments(name)]
            sample = answers[Sample(name)]
            entry.update(
                min=_number(moments["min"]), max=_number(moments["max"]),
                mean=_number(moments["mean"]), std=_number(moments["std"]),
                percentiles=[float(v) for v in np.quantile(sample, PERCENTILES)]
                if len(sample) else None,
            )  # fmt: skip
        elif entry["kind"] == "categorical":
            counts = answers[Counts(name, MAX_CATEGORIES)]
            entry["counts"] = None if counts is None else {
                category_label(v): int(n) for v, n in sorted(
                    ((v, n) for v, n in counts.items() if v is not None),
                    key=lambda vn: (-vn[1], category_label(vn[0])),
                )
            }  # fmt: skip
        out[name] = entry
    return out


def profile_frame(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """The profile of one in-memory frame."""
    from prepkit.engines.statistics import compute

    return build_profile(frame.schema, compute(frame, profile_requests(frame.schema)))


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


class ColumnProfile(BaseModel):
    """One column's entry in an artifact's `reference_profile` (checked when loading)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["numeric", "categorical", "other"]
    rows: int = Field(ge=0)
    missing: int = Field(ge=0)
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    percentiles: list[float] | None = Field(None, min_length=101, max_length=101)
    counts: dict[str, int] | None = None


# -- new data against a profile --------------------------------------------------------------
class ReferenceDrift:
    """Counts of new data against a profile, batch by batch (`add`), mergeable (`merge`, for the
    parts of a Spark pass), turned into drift figures by `result`."""

    def __init__(self, profile: dict[str, dict[str, Any]]) -> None:
        self.profile = profile
        self.seen: dict[str, dict[str, Any]] = {}
        self.points = {
            name: np.array(p["percentiles"], dtype=float)
            for name, p in profile.items()
            if p["kind"] == "numeric" and p.get("percentiles") is not None
        }

    def add(self, batch: pl.DataFrame) -> None:
        for name, ref in self.profile.items():
            if name not in batch.columns:
                continue
            series = batch[name]
            part: dict[str, Any] = {"rows": len(series), "missing": sum(missing_counts(series))}
            if name in self.points and dtype_kind(series.dtype) == "numeric":
                values = np.sort(present_values(series).cast(pl.Float64).to_numpy())
                part["below"] = np.searchsorted(values, self.points[name], side="left")
                part["at_or_below"] = np.searchsorted(values, self.points[name], side="right")
                part["present"] = len(values)
            elif ref["kind"] == "categorical" and ref.get("counts") is not None:
                counts = series.drop_nulls().cast(pl.String).value_counts()
                part["counts"] = dict(counts.iter_rows())
                part["unseen_rows"] = sum(
                    n for v, n in part["counts"].items() if v not in ref["counts"]
                )
                _cap_unseen(part, ref)
            self._combine(name, part)

    def merge(self, later: ReferenceDrift) -> ReferenceDrift:
        """These counts and those of other rows (another batch range or partition), as one."""
        for name, part in later.seen.items():
            self._combine(name, part)
        return self

    def _combine(self, name: str, part: dict[str, Any]) -> None:
        mine = self.seen.get(name)
        if mine is None:
            self.seen[name] = part
            return
        for key in _ADDED:
            if key in part:
                mine[key] = mine.get(key, 0) + part[key]
        if "counts" in part:
            for value, n in part["counts"].items():
                mine["counts"][value] = mine["counts"].get(value, 0) + n
            if part.get("unseen_complete") is False:
                mine["unseen_complete"] = False
            _cap_unseen(mine, self.profile[name])

    def columns(self) -> dict[str, dict[str, Any]]:
        """Per column present in the new data, the drift figures (without `drifted`)."""
        out = {}
        for name, seen in self.seen.items():
            ref = self.profile[name]
            if "present" in seen:
                result = _numeric(ref, self.points[name], seen)
            elif "counts" in seen:
                result = _categorical(ref, seen)
            else:
                result = {"kind": ref["kind"], "rows": seen["rows"]}
            result["null_rate_change"] = _rate(seen["missing"], seen["rows"]) - _rate(
                ref["missing"], ref["rows"]
            )
            out[name] = result
        return out


def _cap_unseen(seen: dict[str, Any], ref: dict[str, Any]) -> None:
    """Keep the counts of at most `UNSEEN_KEPT` distinct unseen categories (the most frequent)."""
    known = ref["counts"]
    unseen = [(v, n) for v, n in seen["counts"].items() if v not in known]
    if len(unseen) > UNSEEN_KEPT:
        dropped = sorted(unseen, key=lambda vn: -vn[1])[UNSEEN_KEPT:]
        for value, _ in dropped:
            del seen["counts"][value]
        seen["unseen_complete"] = False


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def reference_below(points: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The reference's share of values below `x`, read off its percentiles `points`
    (to within 0.01): a value a run of equal percentiles starts at has the share of the first;
    between two percentiles, the share is interpolated linearly."""
    x = np.asarray(x, dtype=float)
    k = np.searchsorted(points, x, side="left")  # first percentile >= x
    out = np.empty(len(x))
    for i, (value, first) in enumerate(zip(x, k, strict=True)):
        if first >= len(points):
            out[i] = 1.0
        elif first == 0 or points[first] == value:
            out[i] = first / 100
        else:
            low, high = points[first - 1], points[first]
            out[i] = (first - 1 + (value - low) / (high - low)) / 100
    return out


def reference_at_or_below(points: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The reference's share of values at or below `x` (the last of a run of equal
    percentiles; between two, as `reference_below`)."""
    x = np.asarray(x, dtype=float)
    last = np.searchsorted(points, x, side="right") - 1  # last percentile <= x
    below = reference_below(points, x)
    return np.where((last >= 0) & (points[np.maximum(last, 0)] == x), np.maximum(last, 0) / 100,
                    below)  # fmt: skip


def _numeric(ref: dict[str, Any], points: np.ndarray, seen: dict[str, Any]) -> dict[str, Any]:

    from prepkit.drifts import BINS, divergences

    n, present = seen["rows"], seen["present"]
    reference_present = ref["rows"] - ref["missing"]
    if not present or not reference_present:
        return {"kind": "numeric", "rows": n}
    below, at_or_below = np.asarray(seen["below"]), np.asarray(seen["at_or_below"])
    deciles = np.arange(1, BINS) * (100 // BINS)
    inner, first = np.unique(points[deciles], return_index=True)
    positions = deciles[first]  # the percentile each inner edge is
    ref_cdf = np.concatenate(([0.0], reference_below(points, inner), [1.0]))
    new_cdf = np.concatenate(([0], below[positions], [present]))
    ref_counts = np.diff(ref_cdf) * reference_present
    new_counts = np.diff(new_cdf).astype(float)
    # KS: the largest gap between the distribution functions, at and just below each percentile
    gaps = np.concatenate((
        np.abs(at_or_below / present - reference_at_or_below(points, points)),
        np.abs(below / present - reference_below(points, points)),
    ))  # fmt: skip
    ks = float(gaps.max())
    effective = round(present * reference_present / (present + reference_present))
    outside = int(below[0]) + present - int(at_or_below[-1])
    return {
        "kind": "numeric",
        "rows": n,
        **divergences(ref_counts, new_counts),
        "ks_statistic": ks,
        "ks_pvalue": _ks_pvalue(ks, max(effective, 1)),
        "out_of_range_fraction": outside / present,
        "out_of_range_rows": outside,
        "bins": {
            "edges": inner.tolist(),
            "reference": ref_counts.tolist(),
            "new": new_counts.tolist(),
        },  # fmt: skip
    }


def _ks_pvalue(statistic: float, n: int) -> float:
    """The asymptotic p-value of a KS statistic for an effective sample size `n`: scipy's
    `kstwo` up to `EXACT_KS` (as `ks_2samp`'s asymptotic mode), Kolmogorov's limit distribution
    beyond (within 0.5% of it there, where `kstwo` takes up to 0.6 s a column)."""
    from scipy import stats

    if n <= EXACT_KS:
        return float(stats.kstwo.sf(statistic, n))
    return float(stats.kstwobign.sf(statistic * np.sqrt(n)))


def _categorical(ref: dict[str, Any], seen: dict[str, Any]) -> dict[str, Any]:
    from prepkit.drifts import categorical_figures

    out = categorical_figures(ref["counts"], seen["counts"], seen["rows"])
    present = seen["rows"] - seen["missing"]
    out["unseen_rows"] = seen.get("unseen_rows", 0)
    out["unseen_fraction"] = out["unseen_rows"] / present if present else 0.0
    if seen.get("unseen_complete") is False:
        out["unseen_complete"] = False
    return out
