"""`prepkit drift REFERENCE NEW`: does new data still look like the data a recipe was fitted on?

Per column present in both: the population stability index (PSI), the Kullback-Leibler
divergence of the new distribution from the reference and the Jensen-Shannon distance (base 2),
over the reference's decile bins (numbers; open-ended first and last bins) or the categories
(text, categories, booleans); the two-sample Kolmogorov-Smirnov test (numbers) or the
chi-squared test of the 2 x K table of counts (categories); the share of new values outside the
reference's range (numbers) or never seen in it (categories); and the change of the missing-value
rate. A column drifts when a figure passes its threshold (`THRESHOLDS`, `--threshold m=v`).

The reference is data (the figures from its rows, as above: KS and PSI equal to scipy's and to
the hand-computed ones) or a fitted recipe, whose reference profile of the training data stands
in for the rows (`prepkit.reference`: categories, ranges and missing rates exact; the numbers'
distribution read off 101 percentiles, so PSI, KL, JS and KS within about 0.01 of the above).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from prepkit.columns import dtype_kind
from prepkit.frames import to_polars
from prepkit.inspection import missing_counts, present_values
from prepkit.reference import ReferenceDrift

EPSILON = 1e-4  # an empty bin's share, so that PSI and KL stay finite (the usual convention)
BINS = 10
TOP_CATEGORIES = 20  # categories a categorical result lists counts of (plus the unseen ones)
# figure -> the largest value that is not drift, by default (PSI 0.2: the usual "significant shift")
THRESHOLDS: dict[str, float] = {
    "psi": 0.2,
    "unseen_fraction": 0.01,
    "out_of_range_fraction": 0.01,
    "null_rate_change": 0.1,
}
# figures that take a threshold when one is given
FIGURES = (*THRESHOLDS, "js_distance", "kl_divergence", "ks_statistic", "chi2_statistic")


@dataclass
class DriftResult:
    """Per column figures and which columns drift."""

    columns: dict[str, dict[str, Any]]
    thresholds: dict[str, float]
    missing_columns: list[str] = field(default_factory=list)  # in the reference, not in new

    @property
    def drifted(self) -> list[str]:
        return [c for c, f in self.columns.items() if f["drifted"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "thresholds": self.thresholds,
            "drifted": self.drifted,
            "missing_columns": self.missing_columns,
        }


def drift(reference: Any, new: Any, *, thresholds: dict[str, float] | None = None) -> DriftResult:
    """Compare new data (a pandas/polars frame) with a reference, column by column.

    The reference is a frame (the figures from its rows, see the module docstring) or a fitted
    recipe (`FittedRecipe`, or its `reference_profile`): the figures from the statistics the
    artifact keeps of its training data (`prepkit.reference`).
    """
    limits = check_thresholds(thresholds)
    cur = to_polars(new)[0]
    profile = reference_profile(reference)
    if profile is not None:
        counted = ReferenceDrift(profile)
        counted.add(cur)
        return judge(counted.columns(), limits, [c for c in profile if c not in cur.columns])
    ref = to_polars(reference)[0]
    figures = {}
    for name in ref.columns:
        if name not in cur.columns:
            continue
        kind = dtype_kind(ref.schema[name])
        if kind == "numeric" and dtype_kind(cur.schema[name]) == "numeric":
            result = _numeric(ref[name], cur[name])
        elif kind in ("string", "categorical", "boolean"):
            result = _categorical(ref[name].cast(pl.String), cur[name].cast(pl.String))
        else:
            continue
        result["null_rate_change"] = _missing_rate(cur[name]) - _missing_rate(ref[name])
        figures[name] = result
    return judge(figures, limits, [c for c in ref.columns if c not in cur.columns])


def check_thresholds(given: dict[str, float] | None) -> dict[str, float]:
    """The default thresholds with those given (figure names checked)."""
    from prepkit.errors import RecipeError, suggest

    limits = dict(THRESHOLDS)
    for name, value in (given or {}).items():
        if name not in FIGURES:
            raise RecipeError(
                f"--threshold {name}: unknown figure{suggest(name, FIGURES)}",
                hint=f"figures with thresholds: {', '.join(FIGURES)}",
            )
        limits[name] = float(value)
    return limits


def judge(
    figures: dict[str, dict[str, Any]], limits: dict[str, float], missing: list[str]
) -> DriftResult:
    """The figures with, per column, whether it drifts and which figures passed their limit."""
    judged = {}
    for name, result in figures.items():
        passed = [m for m, limit in limits.items() if abs(result.get(m) or 0.0) > limit]
        judged[name] = {**result, "drifted": bool(passed), "over_threshold": passed}
    return DriftResult(judged, limits, missing)


def reference_profile(reference: Any) -> dict[str, dict[str, Any]] | None:
    """The reference profile of a fitted recipe (or a profile itself); None for data."""
    from prepkit.errors import DataError
    from prepkit.fitted import FittedRecipe

    if isinstance(reference, FittedRecipe):
        if reference.reference_profile is None:
            raise DataError(
                "this fitted recipe keeps no reference profile of its training data (it was "
                f"fitted by prepkit {reference.prepkit_version})",
                hint="refit it with `prepkit run RECIPE` to compare new data with it",
            )
        return reference.reference_profile
    if isinstance(reference, dict) and all(
        isinstance(v, dict) and "kind" in v for v in reference.values()
    ):
        return reference
    return None


def _missing_rate(series: pl.Series) -> float:
    return sum(missing_counts(series)) / len(series) if len(series) else 0.0


def _present(series: pl.Series) -> np.ndarray:
    return present_values(series).cast(pl.Float64).to_numpy()


def shares(counts: np.ndarray) -> np.ndarray:
    """Counts as shares of their total, an empty bin counted as `EPSILON`."""
    total = counts.sum()
    p = counts / total if total else np.zeros(len(counts))
    return np.where(p == 0, EPSILON, p)


def divergences(ref_counts: np.ndarray, new_counts: np.ndarray) -> dict[str, float]:
    from scipy.spatial.distance import jensenshannon

    p, q = shares(ref_counts), shares(new_counts)
    return {
        "psi": float(np.sum((q - p) * np.log(q / p))),
        "kl_divergence": float(np.sum(q * np.log(q / p))),
        "js_distance": float(jensenshannon(ref_counts, new_counts, base=2))
        if ref_counts.sum() and new_counts.sum()
        else None,
    }


def _numeric(ref: pl.Series, new: pl.Series) -> dict[str, Any]:
    from scipy import stats

    a, b = _present(ref), _present(new)
    if not len(a) or not len(b):
        return {"kind": "numeric", "rows": len(b)}
    inner = np.unique(np.quantile(a, np.linspace(0, 1, BINS + 1)[1:-1]))
    edges = np.concatenate(([-np.inf], inner, [np.inf]))
    ref_counts = np.histogram(a, edges)[0].astype(float)
    new_counts = np.histogram(b, edges)[0].astype(float)
    ks = stats.ks_2samp(a, b)
    return {
        "kind": "numeric",
        "rows": len(b),
        **divergences(ref_counts, new_counts),
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "out_of_range_fraction": float(np.mean((b < a.min()) | (b > a.max()))),
        "out_of_range_rows": int(np.sum((b < a.min()) | (b > a.max()))),
        "bins": {
            "edges": inner.tolist(),
            "reference": ref_counts.tolist(),
            "new": new_counts.tolist(),
        },
    }


def _categorical(ref: pl.Series, new: pl.Series) -> dict[str, Any]:
    ref_counts = dict(ref.drop_nulls().value_counts().iter_rows())
    new_counts = dict(new.drop_nulls().value_counts().iter_rows())
    return categorical_figures(ref_counts, new_counts, len(new))


def categorical_figures(
    ref_counts: dict[str, int], new_counts: dict[str, int], rows: int
) -> dict[str, Any]:
    """The figures of a categorical column from the counts of its values (nulls left out) in
    the reference and in the new data (`rows` of them)."""
    from scipy import stats

    categories = sorted(set(ref_counts) | set(new_counts))
    r = np.array([ref_counts.get(c, 0) for c in categories], dtype=float)
    n = np.array([new_counts.get(c, 0) for c in categories], dtype=float)
    unseen = {c: int(v) for c, v in new_counts.items() if c not in ref_counts}
    out: dict[str, Any] = {
        "kind": "categorical",
        "rows": rows,
        **divergences(r, n),
        "unseen_fraction": float(sum(unseen.values()) / n.sum()) if n.sum() else 0.0,
        "unseen_rows": sum(unseen.values()),
        "unseen": dict(sorted(unseen.items(), key=lambda kv: -kv[1])[:10]),
        "categories": _top_categories(categories, r, n, unseen),
    }
    if len(categories) > 1 and r.sum() and n.sum():
        table = np.vstack([r, n])
        chi2 = stats.chi2_contingency(table[:, table.sum(axis=0) > 0])
        out.update(chi2_statistic=float(chi2.statistic), chi2_pvalue=float(chi2.pvalue))
    return out


def _top_categories(
    categories: list[str], ref: np.ndarray, new: np.ndarray, unseen: dict[str, int]
) -> dict[str, Any]:
    """The `TOP_CATEGORIES` categories most frequent in reference and new together (most first),
    then the (at most 10) most frequent unseen ones not among them, with their counts in each and
    the counts of all values (for shares: the categories listed may be only some)."""
    order = sorted(range(len(categories)), key=lambda i: (-(ref[i] + new[i]), categories[i]))
    keep = order[:TOP_CATEGORIES]
    names = {categories[i] for i in keep}
    keep += [i for i in order if categories[i] in unseen and categories[i] not in names][:10]
    return {
        "names": [categories[i] for i in keep],
        "reference": [int(ref[i]) for i in keep],
        "new": [int(new[i]) for i in keep],
        "reference_total": int(ref.sum()),
        "new_total": int(new.sum()),
    }


def drift_files(
    reference: str, new: str, *, fmt: str | None = None, thresholds: dict[str, float] | None = None
) -> DriftResult:
    """`drift` of two files: REFERENCE a data file (any format `run` reads) or a fitted recipe
    (`*.prepkit.json`), NEW a data file."""
    from prepkit.fitted import load_fitted
    from prepkit.io import read_table

    base = load_fitted(reference) if _is_artifact(reference) else read_table(reference, fmt)
    return drift(base, read_table(new, fmt), thresholds=thresholds)


def _is_artifact(path: str) -> bool:
    """A fitted recipe: named `*.prepkit.json`, or a JSON file whose top level says so."""
    if path.endswith(".prepkit.json"):
        return True
    if not path.endswith(".json"):
        return False
    try:
        with open(path, encoding="utf-8") as f:
            return '"format": "prepkit.fitted"' in f.read(4096)
    except OSError:
        return False


def drift_warnings(result: DriftResult, profile: dict[str, dict[str, Any]]) -> list[str]:
    """What `prepkit apply` warns about: per column, the rows with categories never seen in
    training (a few named) and the values outside the training range."""
    warnings = []
    for name, f in result.columns.items():
        if f.get("unseen_rows"):
            n, examples = f["unseen_rows"], f.get("unseen") or {}
            named = ", ".join(f"'{v}' ({c:,})" for v, c in list(examples.items())[:5])
            more = " and more" if len(examples) > 5 or f.get("unseen_complete") is False else ""
            warnings.append(
                f"{name}: {n:,} row{'s' * (n > 1)} ({f['unseen_fraction']:.2%}) with categories "
                f"never seen in training: {named}{more}"
            )
        if f.get("out_of_range_rows"):
            n, ref = f["out_of_range_rows"], profile.get(name, {})
            span = f" [{ref['min']:.6g}, {ref['max']:.6g}]" if ref.get("min") is not None else ""
            warnings.append(
                f"{name}: {n:,} value{'s' * (n > 1)} ({f['out_of_range_fraction']:.2%}) outside "
                f"the training range{span}"
            )
    return warnings


def print_drift(result: DriftResult) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"drift: {len(result.drifted)} of {len(result.columns)} columns")
    for name in (
        "column",
        "kind",
        "PSI",
        "JS",
        "KS / chi2 p",
        "unseen / out of range",
        "null rate Δ",
        "drift",
    ):
        table.add_column(name)
    for name, f in result.columns.items():
        p = f.get("ks_pvalue", f.get("chi2_pvalue"))
        share = f.get("unseen_fraction", f.get("out_of_range_fraction"))
        table.add_row(
            name, f["kind"], _num(f.get("psi")), _num(f.get("js_distance")), _num(p),
            _num(share), _num(f.get("null_rate_change")),
            ("[bold red]" + ", ".join(f["over_threshold"]) + "[/]") if f["drifted"] else "",
        )  # fmt: skip
    console = Console(stderr=True)
    console.print(table)
    if result.missing_columns:
        console.print(f"not in the new data: {', '.join(result.missing_columns)}", markup=False)


def _num(value: Any) -> str:
    return "" if value is None else f"{value:.4g}"
