"""`prepkit inspect --engine stream|spark`: the profile of a data set read batch by batch.

The same figures as `prepkit.inspection.inspect`, in bounded memory, from the engines' passes:

- first, the statistics requests every engine answers (`prepkit.engines.statistics`): missing
  counts, the counts of each value (up to `COUNTED` distinct ones), numbers' moments and exact
  quartiles;
- then one pass of this module's own: the histograms (the same ten bins as in memory), the
  values beyond 1.5 IQR, text lengths, the distinct values of columns with more than `COUNTED`
  (their sorted 8-byte hashes, merged batch by batch: 8 bytes per distinct value), the rows'
  hashes for duplicates (8 bytes a row, as `drop_duplicates` on the streaming engine) and a
  uniform sample of `SAMPLE_ROWS` rows (those with the smallest hash of their position).

Exact: rows, missing, distinct, top values of columns with at most `COUNTED` values, quartiles,
min, max, mean, std, histograms, IQR outliers, text lengths, duplicate rows (to 64-bit hash
collisions) and class counts. From the sample (all rows when there are at most `SAMPLE_ROWS`):
the top values of columns with more distinct values, whether text columns are free text, numbers
or dates stored as text, target leakage and the label-issue estimate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from prepkit.columns import dtype_kind, is_text
from prepkit.engines.statistics import Counts, Missing, Moments, Quantiles
from prepkit.inspection import (
    BINS,
    TOP,
    Profile,
    _plain,
    check_target,
    complete,
    present_values,
    top_values,
)
from prepkit.stats import splitmix64

COUNTED = 10_000  # distinct values counted one by one per column
SAMPLE_ROWS = 50_000
QUARTILES = (0.25, 0.5, 0.75)


def inspect_table(table: Any, target: str | None = None, *, label_issues: bool = False) -> Profile:
    """Profile a streamed or Spark table (`prepkit.engines.stream.StreamedTable`, `SparkTable`)."""
    first = table.sample()
    schema = first.schema
    check_target(target, list(schema))
    kinds = {
        name: "text" if is_text(first[name]) else dtype_kind(dtype)
        for name, dtype in schema.items()
    }
    numeric = [c for c, k in kinds.items() if k == "numeric"]
    requests = [r for c in schema for r in (Missing(c), Counts(c, COUNTED))]
    requests += [r for c in numeric for r in (Moments(c), Quantiles(c, QUARTILES))]
    answers = table.compute(requests)
    scan = _Scan(schema, kinds, answers)
    for batch in table.batches():
        scan.add(batch)
    columns = [scan.column(name) for name in schema]
    classes = None
    if target is not None:
        counts = answers[Counts(target, COUNTED)] or {}
        classes = {str(v): int(n) for v, n in sorted(counts.items(), key=lambda vn: -vn[1])}
    profile = Profile(scan.rows, columns, scan.duplicates(), target, classes)
    return complete(profile, scan.sample(), label_issues)


class _Scan:
    """The second pass: per column histograms, IQR outliers, text lengths, distinct hashes; the
    rows' hashes and the row sample."""

    def __init__(self, schema: pl.Schema, kinds: dict[str, str], answers: dict[Any, Any]) -> None:
        self.schema, self.kinds, self.answers = schema, kinds, answers
        self.rows = 0
        self.row_hashes: list[np.ndarray] = []
        self.kept: pl.DataFrame | None = None  # the sampled rows, with their position hash
        self.histograms: dict[str, np.ndarray] = {}
        self.edges: dict[str, np.ndarray] = {}
        self.outliers: dict[str, int] = {}
        self.lengths: dict[str, list[float]] = {}  # min, total, max, count
        self.distinct: dict[str, np.ndarray] = {}  # sorted unique value hashes
        self.nulls: dict[str, int] = {}
        for name in schema:
            moments = answers.get(Moments(name))
            if moments and moments["count"] and np.isfinite([moments["min"], moments["max"]]).all():
                self.edges[name] = np.histogram_bin_edges([moments["min"], moments["max"]], BINS)
                self.histograms[name] = np.zeros(BINS, dtype=np.int64)
            if answers[Counts(name, COUNTED)] is None:
                self.distinct[name] = np.empty(0, dtype=np.uint64)

    def add(self, batch: pl.DataFrame) -> None:
        from prepkit.steps.duplicates import duplicate_keys

        positions = np.arange(self.rows, self.rows + batch.height, dtype=np.uint64)
        self.rows += batch.height
        if batch.width:
            self.row_hashes.append(duplicate_keys(batch, batch.columns).hash_rows().to_numpy())
        self._sample(batch, splitmix64(positions))
        for name in batch.columns:
            series = batch[name]
            self.nulls[name] = self.nulls.get(name, 0) + series.null_count()
            if name in self.edges:
                self._numbers(name, series)
            if self.kinds.get(name) == "text":
                lengths = series.drop_nulls().str.len_chars()
                if len(lengths):
                    old = self.lengths.get(name, [np.inf, 0.0, -np.inf, 0])
                    self.lengths[name] = [min(old[0], lengths.min()), old[1] + lengths.sum(),
                                          max(old[2], lengths.max()), old[3] + len(lengths)]  # fmt: skip
            if name in self.distinct:
                hashed = present_values(series).hash().to_numpy()
                self.distinct[name] = np.union1d(self.distinct[name], hashed)

    def _numbers(self, name: str, series: pl.Series) -> None:
        values = present_values(series).cast(pl.Float64).to_numpy()
        self.histograms[name] += np.histogram(values, self.edges[name])[0]
        q25, _, q75 = self.answers[Quantiles(name, QUARTILES)]
        iqr = q75 - q25
        beyond = int(((values < q25 - 1.5 * iqr) | (values > q75 + 1.5 * iqr)).sum())
        self.outliers[name] = self.outliers.get(name, 0) + beyond

    def _sample(self, batch: pl.DataFrame, hashes: np.ndarray) -> None:
        with_hash = batch.with_columns(pl.Series("__hash", hashes), pl.Series(
            "__position", np.arange(self.rows - batch.height, self.rows)))  # fmt: skip
        both = with_hash if self.kept is None else pl.concat([self.kept, with_hash])
        self.kept = both.sort("__hash").head(SAMPLE_ROWS) if both.height > SAMPLE_ROWS else both

    def sample(self) -> pl.DataFrame:
        """The sampled rows in their order in the data (all rows when there are few)."""
        assert self.kept is not None
        return self.kept.sort("__position").drop("__hash", "__position")

    def duplicates(self) -> int:
        if not self.row_hashes:
            return 0
        hashes = np.concatenate(self.row_hashes)
        return int(len(hashes) - len(np.unique(hashes)))

    def column(self, name: str) -> dict[str, Any]:
        """One column's entry, as `inspection._column` makes it."""
        answers, rows = self.answers, self.rows
        missing = answers[Missing(name)]["missing"]
        nans = missing - self.nulls.get(name, 0)
        counts = answers[Counts(name, COUNTED)]
        if counts is None:  # many values: the top ones from the sample
            present = self.sample()[name].drop_nulls()
            top = top_values(present).iter_rows()
            distinct = len(self.distinct[name])
        else:
            present_counts = {v: n for v, n in counts.items() if v is not None and v == v}
            top = sorted(present_counts.items(), key=lambda vn: (-vn[1], vn[0]))[:TOP]
            distinct = len(present_counts)
        info: dict[str, Any] = {
            "name": name, "dtype": str(self.schema[name]), "kind": self.kinds[name],
            "nulls": missing - nans, "nans": nans, "missing": missing,
            "missing_fraction": missing / rows if rows else 0.0, "distinct": distinct,
            "top": [{"value": _plain(v), "count": int(n)} for v, n in top],
        }  # fmt: skip
        if name in self.edges:
            moments = answers[Moments(name)]
            q25, median, q75 = answers[Quantiles(name, QUARTILES)]
            n = moments["count"]
            std = float(np.sqrt(moments["var"] * n / (n - 1))) if n > 1 else 0.0
            info.update(
                min=float(moments["min"]), q25=q25, median=median, q75=q75,
                max=float(moments["max"]), mean=float(moments["mean"]), std=std,
                histogram={"counts": self.histograms[name].tolist(),
                           "edges": self.edges[name].tolist()},
                iqr_outliers=self.outliers.get(name, 0),
            )  # fmt: skip
        if name in self.lengths:
            low, total, high, count = self.lengths[name]
            info["text_length"] = {"min": int(low), "mean": total / count, "max": int(high)}
        return info


def inspect_file(
    path: str, target: str | None = None, *, fmt: str | None = None, label_issues: bool = False,
    engine: str = "auto", batch_size: int | None = None, spark: dict[str, Any] | None = None,
) -> Profile:  # fmt: skip
    """`prepkit inspect DATA`: the profile of a data file on an engine (`auto`: in memory when
    it fits comfortably, else batch by batch)."""
    from prepkit.engines import choose_engine
    from prepkit.engines.stream import DEFAULT_BATCH_SIZE, StreamedTable, scan_input
    from prepkit.inspection import inspect
    from prepkit.io import read_table

    choice = choose_engine(engine, [], None if path == "-" else path, fmt, batch_size)
    size = batch_size or DEFAULT_BATCH_SIZE
    if choice.name == "memory":
        return inspect(read_table(path, fmt), target, label_issues=label_issues)
    if choice.name == "stream":
        table: Any = StreamedTable(scan_input(path, fmt, {}, size))
    else:
        from prepkit.engines.spark import SparkSpec, SparkTable, read_input, spark_session

        spec = SparkSpec.model_validate(spark or {})
        frame, schema = read_input(spark_session(spec, size), path, fmt, {})
        table = SparkTable(frame, schema, spec)
    return inspect_table(table, target, label_issues=label_issues)
