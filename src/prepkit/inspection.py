"""`prepkit inspect`: a profile of a data set and the problems a recipe should fix.

Per column: dtype, missing values (nulls, and NaN for floats), distinct values, the top values,
numbers' min/quantiles/max/mean/std and a histogram, text length for free text. Problems found
carry their evidence and the step that fixes them. This first version reads the data into memory
(the engines' bounded-memory passes are not used yet).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from prepkit.columns import dtype_kind, is_text
from prepkit.frames import to_polars

TOP = 5  # top values shown per column
BINS = 10  # histogram bins for numbers
NEAR_CONSTANT = 0.99  # share of the most frequent value
MOSTLY_MISSING = 0.5
HIGH_CARDINALITY = 50  # distinct values of a categorical column
PARSED = 0.95  # share of text values that parse as numbers or dates to call them stored as text
IMBALANCE = 3.0  # majority / minority class size
LEAKAGE = 0.99  # a single column's accuracy (or ROC-AUC) on the target
ID_LIKE = 0.95  # distinct values per row of an id column (copies of rows repeat ids)


@dataclass
class Problem:
    """Something a recipe should deal with: where, what, the evidence and the step that fixes it."""

    kind: str
    column: str | None
    message: str
    evidence: dict[str, Any]
    fix: str


@dataclass
class Profile:
    """What `inspect` found; `to_dict()` is plain JSON data."""

    rows: int
    columns: list[dict[str, Any]]
    duplicate_rows: int
    target: str | None
    classes: dict[str, int] | None
    problems: list[Problem] = field(default_factory=list)
    label_issues: dict[str, Any] | None = None  # with `label_issues=True`

    def column(self, name: str) -> dict[str, Any]:
        return next(c for c in self.columns if c["name"] == name)

    def problem_kinds(self, column: str | None = None) -> list[str]:
        return [p.kind for p in self.problems if column is None or p.column == column]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "columns": self.columns,
            "duplicate_rows": self.duplicate_rows,
            "target": self.target,
            "classes": self.classes,
            "problems": [asdict(p) for p in self.problems],
            "label_issues": self.label_issues,
        }


def inspect(data: Any, target: str | None = None, *, label_issues: bool = False) -> Profile:
    """Profile a pandas/polars frame (see the module docstring). `label_issues`: also estimate
    the share of mislabelled rows by confident learning, as the `label_issues` step does."""
    frame = to_polars(data)[0]
    check_target(target, frame.columns)
    columns = [_column(frame[name]) for name in frame.columns]
    duplicates = frame.height - frame.unique().height if frame.width else 0
    classes = None
    if target is not None:
        counts = frame[target].value_counts(sort=True)
        classes = {str(v): int(n) for v, n in counts.iter_rows()}
    profile = Profile(frame.height, columns, duplicates, target, classes)
    return complete(profile, frame, label_issues)


def check_target(target: str | None, columns: list[str]) -> None:
    from prepkit.errors import DataError, suggest

    if target is not None and target not in columns:
        raise DataError(
            f"target column '{target}' is not in the data{suggest(target, columns)}",
            hint=f"columns: {', '.join(columns[:30])}",
        )


def complete(profile: Profile, frame: pl.DataFrame, label_issues: bool) -> Profile:
    """The problems of a profile (and the label-issue estimate), from its figures and the rows of
    `frame`: all of them, or a uniform sample when the data was profiled batch by batch."""
    from prepkit.errors import DataError

    profile.problems = _problems(frame, profile)
    if label_issues:
        if profile.target is None:
            raise DataError("--label-issues needs --target (the labels to check)")
        profile.label_issues = _label_issues(frame, profile)
        found = profile.label_issues["issues"]
        if found:
            profile.problems.append(Problem(
                "label_issues", profile.target,
                f"{found} rows ({profile.label_issues['fraction']:.1%}) look mislabelled",
                profile.label_issues, "label_issues",
            ))  # fmt: skip
    return profile


def _label_issues(frame: pl.DataFrame, profile: Profile) -> dict[str, Any]:
    """The `label_issues` step (cleanlab, cross-validated logistic regression, action flag) after
    dropping id-like columns and imputing by dtype; its count of issues."""
    from prepkit.recipe import load_recipe

    ids = [p.column for p in profile.problems if p.kind in ("id_like", "all_missing")]
    steps: list[dict[str, Any]] = [{"step": "drop", "columns": ids}] if ids else []
    steps += [
        {"step": "impute", "columns": "numeric", "strategy": "median"},
        {"step": "impute", "columns": "categorical", "strategy": "most_frequent"},
        {"step": "label_issues", "action": "flag"},
    ]
    recipe = load_recipe({"target": profile.target, "seed": 0, "steps": steps})
    from prepkit.fitted import fit_frame

    fitted = fit_frame(recipe, frame, profile=False)[0]
    changes = fitted.report.steps[-1].changes
    issues = int(changes.get("issues", 0))
    return {
        "issues": issues,
        "fraction": issues / frame.height if frame.height else 0.0,
        "per_class": changes.get("issues_per_class", {}),
        "method": "cleanlab find_label_issues, 5-fold logistic regression, after median / "
        "most-frequent imputation" + (f"; dropped {', '.join(ids)}" if ids else ""),
    }


def missing_counts(series: pl.Series) -> tuple[int, int]:
    """(nulls, NaN): a float column's NaN are missing too, counted apart."""
    nan = int(series.is_nan().sum()) if series.dtype.is_float() else 0
    return series.null_count(), nan


def present_values(series: pl.Series) -> pl.Series:
    """The values that are neither null nor NaN."""
    present = series.drop_nulls()
    return present.filter(~present.is_nan()) if series.dtype.is_float() else present


def _column(series: pl.Series) -> dict[str, Any]:
    nulls, nans = missing_counts(series)
    rows = len(series)
    present = present_values(series)
    kind = dtype_kind(series.dtype)
    info: dict[str, Any] = {
        "name": series.name,
        "dtype": str(series.dtype),
        "kind": "text" if is_text(series) else kind,
        "nulls": nulls,
        "nans": nans,
        "missing": nulls + nans,
        "missing_fraction": (nulls + nans) / rows if rows else 0.0,
        "distinct": present.n_unique(),
        "top": [{"value": _plain(v), "count": int(n)} for v, n in top_values(present).iter_rows()],
    }
    if kind == "numeric" and len(present):
        values = present.cast(pl.Float64)
        q = [float(values.quantile(p, "linear")) for p in (0.25, 0.5, 0.75)]  # type: ignore[arg-type]
        counts, edges = np.histogram(values.to_numpy(), bins=BINS)
        iqr = q[2] - q[0]
        info.update(
            min=float(values.min()), q25=q[0], median=q[1], q75=q[2], max=float(values.max()),  # type: ignore[arg-type]
            mean=float(values.mean()), std=float(values.std()) if len(values) > 1 else 0.0,  # type: ignore[arg-type]
            histogram={"counts": counts.tolist(), "edges": edges.tolist()},
            iqr_outliers=int(((values < q[0] - 1.5 * iqr) | (values > q[2] + 1.5 * iqr)).sum()),
        )  # fmt: skip
    if info["kind"] == "text" and len(present):
        lengths = present.str.len_chars()
        info["text_length"] = {
            "min": int(lengths.min()), "mean": float(lengths.mean()), "max": int(lengths.max()),  # type: ignore[arg-type]
        }  # fmt: skip
    return info


def top_values(present: pl.Series) -> pl.DataFrame:
    """The `TOP` most frequent values and their counts, ties in the order of the values."""
    counts = present.value_counts(name="__count")
    return counts.sort(["__count", present.name], descending=[True, False]).head(TOP)


def _plain(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str)) or value is None else str(value)


def _problems(frame: pl.DataFrame, profile: Profile) -> list[Problem]:
    found: list[Problem] = []
    rows = profile.rows
    if profile.duplicate_rows:
        found.append(Problem(
            "duplicate_rows", None, f"{profile.duplicate_rows} rows are exact copies of another",
            {"rows": profile.duplicate_rows}, "drop_duplicates",
        ))  # fmt: skip
    for info in profile.columns:
        name = info["name"]
        if name == profile.target:
            continue
        found.extend(_column_problems(frame[name], info, rows))
    if profile.target is not None and profile.classes and len(profile.classes) > 1:
        sizes = list(profile.classes.values())
        ratio = max(sizes) / min(sizes)
        if ratio >= IMBALANCE:
            minority = min(profile.classes, key=profile.classes.__getitem__)
            found.append(Problem(
                "class_imbalance", profile.target,
                f"the classes are imbalanced {ratio:.1f}:1 (minority '{minority}': "
                f"{min(sizes)} rows)",
                {"ratio": ratio, "minority": minority, "minority_rows": min(sizes)},
                "smote (or class_weights)",
            ))  # fmt: skip
        found.extend(_leakage(frame, profile, {p.column for p in found if p.kind == "id_like"}))
    return found


def _column_problems(series: pl.Series, info: dict[str, Any], rows: int) -> list[Problem]:
    name, out = info["name"], []
    if info["missing"] == rows:
        return [Problem("all_missing", name, f"'{name}' has no values", {"missing": rows},
                        "drop_missing")]  # fmt: skip
    if info["missing_fraction"] > MOSTLY_MISSING:
        out.append(Problem(
            "mostly_missing", name, f"'{name}' is {info['missing_fraction']:.0%} missing",
            {"missing": info["missing"], "fraction": info["missing_fraction"]}, "drop_missing",
        ))  # fmt: skip
    present = rows - info["missing"]
    top = info["top"][0]["count"] if info["top"] else 0
    if info["distinct"] <= 1:
        out.append(Problem("constant", name, f"'{name}' has a single value",
                           {"distinct": info["distinct"]}, "drop_constant"))  # fmt: skip
    elif present and top / present >= NEAR_CONSTANT:
        out.append(Problem(
            "near_constant", name,
            f"'{name}' is {top / present:.1%} one value ({info['top'][0]['value']!r})",
            {"top_fraction": top / present}, "drop_constant (or drop)",
        ))  # fmt: skip
    kind = info["kind"]
    stored = _stored_as_text(series, name) if series.dtype == pl.String else []
    # measurements and dates stored as text are not ids, even when every value differs
    measured = bool(stored) and stored[0].evidence.get("fractional", True)
    if (
        info["distinct"] >= ID_LIKE * rows
        and rows > 1
        and kind in ("numeric", "string", "categorical")
        and not measured
    ):
        if kind != "numeric" or series.dtype.is_integer():
            out.append(Problem(
                "id_like", name, f"'{name}' has a different value on almost every row: an id?",
                {"distinct": info["distinct"], "rows": rows}, "drop",
            ))  # fmt: skip
            return out
    out.extend(stored)
    if stored and stored[0].kind != "mixed_types":
        return out
    if kind in ("string", "categorical") and HIGH_CARDINALITY < info["distinct"] < rows:
        out.append(Problem(
            "high_cardinality", name, f"'{name}' has {info['distinct']} categories",
            {"distinct": info["distinct"]},
            "encode with min_frequency / max_categories (or method: ordinal)",
        ))  # fmt: skip
    if kind == "text":
        out.append(Problem("free_text", name, f"'{name}' is free text", info.get("text_length", {}),
                           "clean_text, drop_near_duplicates (not encode)"))  # fmt: skip
    if kind == "numeric" and info.get("iqr_outliers"):
        out.append(Problem(
            "outliers", name, f"'{name}' has {info['iqr_outliers']} values beyond 1.5 IQR",
            {"count": info["iqr_outliers"]}, "outliers (method: iqr)",
        ))  # fmt: skip
    return out


def _stored_as_text(series: pl.Series, name: str) -> list[Problem]:
    values = series.drop_nulls()
    if not len(values):
        return []
    parsed = values.str.strip_chars().cast(pl.Float64, strict=False)
    numbers = parsed.is_not_null().mean()
    dates = values.str.to_date(strict=False).is_not_null().mean()
    if numbers >= PARSED:  # type: ignore[operator]
        fractional = bool((parsed.drop_nulls() % 1 != 0).any())
        return [Problem("numbers_as_text", name, f"'{name}' holds numbers stored as text",
                        {"parsed_fraction": numbers, "fractional": fractional},
                        "cast (to float64)")]  # fmt: skip
    if dates >= PARSED:  # type: ignore[operator]
        return [Problem("dates_as_text", name, f"'{name}' holds dates stored as text",
                        {"parsed_fraction": dates}, "cast (to date)")]  # fmt: skip
    if 0.2 <= numbers < PARSED:  # type: ignore[operator]
        return [Problem("mixed_types", name, f"'{name}' mixes numbers ({numbers:.0%}) and text",
                        {"numeric_fraction": numbers}, "cast with strict: false, or clean the column")]  # fmt: skip
    return []


def _leakage(frame: pl.DataFrame, profile: Profile, ids: set[str | None]) -> list[Problem]:
    """Columns that alone predict the target almost perfectly: per value the majority class
    (categories, at most rows/2 values), or the ROC-AUC of the value (numbers, binary targets)."""
    target = profile.target
    assert target is not None
    y = frame[target]
    out = []
    for info in profile.columns:
        name = info["name"]
        if name == target or info["kind"] == "text" or info["distinct"] < 2:
            continue
        if name in ids:  # unique per row: "predicts" any target
            continue
        score = None
        if info["kind"] in ("string", "categorical", "boolean") or (
            info["kind"] == "numeric" and info["distinct"] <= 20
        ):
            counts = pl.DataFrame({"x": frame[name], "y": y}).group_by("x", "y").len()
            best = counts.group_by("x").agg(pl.col("len").max())["len"].sum()
            score = best / frame.height
        elif info["kind"] == "numeric" and len(profile.classes or {}) == 2:
            from sklearn.metrics import roc_auc_score

            x = frame[name].cast(pl.Float64).fill_nan(None)
            keep = x.is_not_null()
            labels = (y.filter(keep) == y.filter(keep).mode().first()).to_numpy()
            if 0 < labels.sum() < len(labels):
                auc = roc_auc_score(labels, x.filter(keep).to_numpy())
                score = max(auc, 1 - auc)
        if score is not None and score >= LEAKAGE:
            out.append(Problem(
                "target_leakage", name,
                f"'{name}' alone predicts '{target}' {score:.1%} of the time: leakage?",
                {"score": score}, "drop (if it is known only after the outcome)",
            ))  # fmt: skip
    return out


def print_profile(profile: Profile) -> None:
    """The columns and the problems as rich tables on stderr."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{profile.rows} rows, {len(profile.columns)} columns")
    for name in ("column", "dtype", "missing", "distinct", "top values", "min / median / max"):
        table.add_column(name, justify="right" if name in ("missing", "distinct") else "left")
    for c in profile.columns:
        top = ", ".join(f"{t['value']} ({t['count']})" for t in c["top"][:3])
        spread = f"{c['min']:.4g} / {c['median']:.4g} / {c['max']:.4g}" if "min" in c else ""
        missing = f"{c['missing']} ({c['missing_fraction']:.1%})" if c["missing"] else "0"
        table.add_row(c["name"], c["dtype"], missing, str(c["distinct"]), top, spread)
    console = Console(stderr=True)
    console.print(table)
    if profile.problems:
        found = Table(title="problems")
        for name in ("problem", "column", "what", "fix with"):
            found.add_column(name)
        for p in profile.problems:
            found.add_row(p.kind, p.column or "", p.message, p.fix)
        console.print(found)
