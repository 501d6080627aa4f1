"""`prepkit drift REFERENCE NEW`: does new data still look like the data a recipe was fitted on?

Per column present in both: the population stability index (PSI), the Kullback-Leibler
divergence of the new distribution from the reference and the Jensen-Shannon distance (base 2),
over the reference's decile bins (numbers; open-ended first and last bins) or the categories
(text, categories, booleans); the two-sample Kolmogorov-Smirnov test (numbers) or the
chi-squared test of the 2 x K table of counts (categories); the share of new values outside the
reference's range (numbers) or never seen in it (categories); and the change of the missing-value
rate. A column drifts when a figure passes its threshold (`THRESHOLDS`, `--threshold m=v`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from prepkit.columns import dtype_kind
from prepkit.frames import to_polars
from prepkit.inspection import missing_counts, present_values

EPSILON = 1e-4  # an empty bin's share, so that PSI and KL stay finite (the usual convention)
BINS = 10
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
    """Compare two pandas/polars frames column by column (see the module docstring)."""
    from prepkit.errors import RecipeError, suggest

    limits = dict(THRESHOLDS)
    for name, value in (thresholds or {}).items():
        if name not in FIGURES:
            raise RecipeError(
                f"--threshold {name}: unknown figure{suggest(name, FIGURES)}",
                hint=f"figures with thresholds: {', '.join(FIGURES)}",
            )
        limits[name] = float(value)
    ref, cur = to_polars(reference)[0], to_polars(new)[0]
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
        passed = [m for m, limit in limits.items() if abs(result.get(m) or 0.0) > limit]
        figures[name] = {**result, "drifted": bool(passed), "over_threshold": passed}
    missing = [c for c in ref.columns if c not in cur.columns]
    return DriftResult(figures, limits, missing)


def _missing_rate(series: pl.Series) -> float:
    return sum(missing_counts(series)) / len(series) if len(series) else 0.0


def _present(series: pl.Series) -> np.ndarray:
    return present_values(series).cast(pl.Float64).to_numpy()


def shares(counts: np.ndarray) -> np.ndarray:
    """Counts as shares of their total, an empty bin counted as `EPSILON`."""
    total = counts.sum()
    p = counts / total if total else np.zeros(len(counts))
    return np.where(p == 0, EPSILON, p)


def _divergences(ref_counts: np.ndarray, new_counts: np.ndarray) -> dict[str, float]:
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
        **_divergences(ref_counts, new_counts),
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "out_of_range_fraction": float(np.mean((b < a.min()) | (b > a.max()))),
        "bins": {
            "edges": inner.tolist(),
            "reference": ref_counts.tolist(),
            "new": new_counts.tolist(),
        },
    }


def _categorical(ref: pl.Series, new: pl.Series) -> dict[str, Any]:
    from scipy import stats

    ref_counts = dict(ref.drop_nulls().value_counts().iter_rows())
    new_counts = dict(new.drop_nulls().value_counts().iter_rows())
    categories = sorted(set(ref_counts) | set(new_counts))
    r = np.array([ref_counts.get(c, 0) for c in categories], dtype=float)
    n = np.array([new_counts.get(c, 0) for c in categories], dtype=float)
    unseen = {c: int(v) for c, v in new_counts.items() if c not in ref_counts}
    out: dict[str, Any] = {
        "kind": "categorical",
        "rows": len(new),
        **_divergences(r, n),
        "unseen_fraction": sum(unseen.values()) / n.sum() if n.sum() else 0.0,
        "unseen": dict(sorted(unseen.items(), key=lambda kv: -kv[1])[:10]),
    }
    if len(categories) > 1 and r.sum() and n.sum():
        table = np.vstack([r, n])
        chi2 = stats.chi2_contingency(table[:, table.sum(axis=0) > 0])
        out.update(chi2_statistic=float(chi2.statistic), chi2_pvalue=float(chi2.pvalue))
    return out


def drift_files(
    reference: str, new: str, *, fmt: str | None = None, thresholds: dict[str, float] | None = None
) -> DriftResult:
    """`drift` of two data files (any format `run` reads)."""
    from prepkit.errors import DataError
    from prepkit.io import read_table

    if reference.endswith(".prepkit.json"):
        raise DataError(
            f"{reference} is a fitted artifact: drift against an artifact needs the training "
            "data's reference profile, which artifacts do not keep yet",
            hint="give the training data file as REFERENCE",
        )
    return drift(read_table(reference, fmt), read_table(new, fmt), thresholds=thresholds)


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
