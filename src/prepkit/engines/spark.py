"""The Spark engine: fit and apply a recipe on a Spark DataFrame, the data never on the driver.

Spark reads the input (Parquet, CSV, NDJSON: a local path or any URI Spark reads) and writes the
outputs; in between, every pass over the rows runs the same polars code as the streaming engine,
per Arrow batch, in Spark's Python workers (`mapInArrow`):

- Fitting: a step's statistics are answered by partial results per partition (the pieces the
  streaming engine merges over batches: `prepkit.engines.partials`), sent to the driver and merged
  there in partition order. So the answers are the streaming engine's, exact: quantiles by the same
  bracket selection (or `percentile_approx` when the recipe asks for `quantiles: approximate`).
- Stages that depend on a row's position in the stream (a hash split, `drop_duplicates`, the
  under-samplers) get, per partition, a summary of the rows before it (`Stage.summarize`,
  `Stage.begin`), counted in one pass when the stage is added. Rows a stage adds at the end (the
  over-samplers) follow the last partition's rows.
- `drop_duplicates` finds repeated row hashes with a Spark aggregation; only the candidate rows
  come to the driver. A train-only step's own passes (`Step.streamed`: the rows of the classes an
  over-sampler grows, the labels an under-sampler draws from) come to the driver as Arrow batches.
- The outputs are written by Spark, through `mapInArrow` with the output schema computed before
  the job (a dry run on no rows); the per-step reports and the checks' summary come back with the
  partitions' results (an accumulator).

The fitted artifact is the one the memory and streaming engines make.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import io
import os
import pickle
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prepkit.engines.partials import Partial, compute_scanned
from prepkit.engines.stages import Stage, StageFactory, Transform, run_stages
from prepkit.engines.statistics import Quantiles, Request
from prepkit.errors import DataError, RecipeError

_LOG_SETTINGS = Path(__file__).parent.parent / "data" / "spark-log4j2.properties"
# what a pass's partitions send to the driver: rows of (partition, payload); a batch too big for
# one row comes in pieces, `last` on its last
_RESULTS = "pid long, last boolean, blob binary"
# Spark's Arrow conversion has no unsigned integers: the next wider signed type
_WIDER: dict[Any, pl.DataType] = {
    pl.UInt8: pl.Int16(), pl.UInt16: pl.Int32(), pl.UInt32: pl.Int64(), pl.UInt64: pl.Decimal(20, 0),
}  # fmt: skip
_FORMATS = {"parquet": "parquet", "csv": "csv", "tsv": "csv", "ndjson": "json"}


class SparkSpec(BaseModel):
    """`spark:` in a recipe: the session and how quantiles are computed."""

    model_config = ConfigDict(extra="forbid")

    master: str | None = Field(
        None,
        description="Spark master URL (default local[*], or the session's under spark-submit)",
    )
    conf: dict[str, str | int | float | bool] = Field(
        {}, description="Spark settings, e.g. spark.executor.memory: 8g"
    )
    quantiles: Literal["exact", "approximate"] = Field(
        "exact",
        description="exact: bracket selection over partitions, as the other engines; approximate: "
        "Spark's percentile_approx (one pass; rank error up to 1/accuracy of the rows)",
    )
    accuracy: int = Field(10_000, ge=1, description="percentile_approx's accuracy")


# -- the session ----------------------------------------------------------------------------------
def spark_session(spec: SparkSpec, batch_size: int) -> Any:
    """The active Spark session (`spark-submit`, a notebook's), or a new one with the recipe's
    master (default local[*]) and settings."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise RecipeError(
            "--engine spark needs pyspark, which is not installed",
            hint='pip install "prepkit[spark]" (Spark also needs Java 17: java -version)',
        ) from None
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark(\.|$)")
    launched = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit started the JVM
    active = SparkSession.getActiveSession()
    if not launched and active is None and not _java_found():
        raise DataError(
            "--engine spark needs Java (17 or later), which is not on PATH and JAVA_HOME is unset",
            hint="install a JDK (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME",
        )
    # the workers run this interpreter (they import prepkit, polars and pyarrow)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("prepkit")
    if spec.master:
        builder = builder.master(spec.master)
    elif not launched and active is None:
        builder = builder.master("local[*]")
    settings = {
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(batch_size),
        "spark.sql.session.timeZone": "UTC",
        # one polars thread per Spark task: Spark already runs a task per core
        "spark.executorEnv.POLARS_MAX_THREADS": "1",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{_LOG_SETTINGS}",
        **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in spec.conf.items()},
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: bad settings, no Java
        raise DataError(
            f"Spark did not start: {_spark_error(exc)}",
            hint="check spark.master and spark.conf in the recipe (or --spark-master/--spark-conf)",
        ) from None
    if "spark.log.level" not in spec.conf:
        session.sparkContext.setLogLevel("ERROR")
    return session


def _spark_error(exc: BaseException) -> str:
    """The line of a Spark error that says what went wrong (the Java exception's own message,
    not py4j's "An error occurred while calling o37.load")."""
    lines = [line.strip(" :\t") for line in str(exc).splitlines()]
    lines = [line for line in lines if line and not line.startswith("An error occurred while")]
    return lines[0] if lines else type(exc).__name__


@contextlib.contextmanager
def spark_job() -> Iterator[None]:
    """A Spark job's failure as a `DataError` saying what failed (a value Spark cannot parse, the
    driver out of memory), not py4j's traceback."""
    try:
        yield
    except Exception as exc:
        if not type(exc).__module__.startswith(("py4j", "pyspark")):
            raise
        text = str(exc)
        if "OutOfMemoryError" in text:
            raise DataError(
                "Spark ran out of memory (java.lang.OutOfMemoryError)",
                hint="give Spark more: --spark-conf spark.driver.memory=4g (local mode: the "
                "driver runs the tasks too), or smaller partitions: "
                "--spark-conf spark.sql.files.maxPartitionBytes=32m",
            ) from None
        cause = [line for line in text.splitlines() if "Exception:" in line or "Error:" in line]
        detail = cause[-1].strip() if cause else _spark_error(exc)
        raise DataError(
            f"Spark failed: {detail}", hint="run with --debug for Spark's log"
        ) from None


def _java_found() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and Path(home, "bin", "java").exists()))


# -- types between polars and Spark ---------------------------------------------------------------
def sparkable(schema: pl.Schema) -> dict[str, pl.DataType]:
    """The polars types a Spark DataFrame holds a frame of `schema` in: unsigned integers widened,
    categories as text."""
    out: dict[str, pl.DataType] = {}
    for name, dtype in schema.items():
        if isinstance(dtype, (pl.Categorical, pl.Enum)):
            out[name] = pl.String()
        else:
            out[name] = _WIDER.get(dtype.base_type(), dtype)
    return out


def spark_schema(schema: pl.Schema) -> Any:
    """The Spark schema of frames with this polars schema (see `sparkable`)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    arrow = pl.DataFrame(schema=sparkable(schema)).to_arrow().schema
    return from_arrow_schema(arrow, prefer_timestamp_ntz=True)


def polars_schema(struct: Any) -> pl.Schema:
    """The polars schema of a Spark schema."""
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow = to_arrow_schema(struct, timezone="UTC")
    return pl.from_arrow(arrow.empty_table()).schema  # type: ignore[union-attr]


def _from_spark(batch: Any, schema: pl.Schema) -> pl.DataFrame:
    """A Spark Arrow batch as the polars frame the other engines read (the input's own types)."""
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    return frame.cast(dict(schema.items())) if frame.schema != schema else frame


def _to_spark(frame: pl.DataFrame, arrow_schema: Any) -> list[Any]:
    """A polars frame as Arrow batches of the Spark output schema."""
    table = frame.cast(sparkable(frame.schema)).to_arrow().select(arrow_schema.names)
    return table.cast(arrow_schema).to_batches()


# -- reading --------------------------------------------------------------------------------------
def _is_local(path: str | Path) -> bool:
    text = str(path)
    return "://" not in text or text.startswith("file://")


def check_paths(source: Any, targets: list[str | Path]) -> None:
    """Refuse, before Spark starts, what Spark cannot read or write: standard input or output."""
    if str(source) == "-":
        raise RecipeError(
            "--engine spark reads files, not standard input", hint="give the input as a path"
        )
    if any(str(t) == "-" for t in targets):
        raise RecipeError("--engine spark writes files, not standard output", hint="give -o PATH")


def read_input(
    session: Any, path: str | Path, fmt: str | None, options: dict[str, Any]
) -> tuple[Any, pl.Schema]:
    """The input as a Spark DataFrame, and the polars schema every engine reads it with (for
    local files, polars' own inference, so that the artifact does not depend on the engine)."""
    from prepkit.io import detect_format, source_name
    from prepkit.io.parts import scan_error, scan_parts

    text = str(path)
    fmt = detect_format(path, fmt, images=False)
    if fmt not in _FORMATS:
        raise RecipeError(
            f"--engine spark reads Parquet, CSV, TSV and NDJSON, not {fmt}",
            hint="convert the input, or run with --engine stream",
        )
    schema = None
    if _is_local(path):
        if not Path(text.removeprefix("file://")).exists() and not any(c in text for c in "*?["):
            raise DataError(f"input not found: {path}", hint="check the path")
        try:
            schema = scan_parts(text.removeprefix("file://"), fmt, options).collect_schema()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise scan_error(source_name(path), fmt, exc) from None
    reader = session.read
    if fmt in ("csv", "tsv"):
        reader = reader.options(**_csv_options(options, fmt, writing=False))
    if schema is not None and fmt != "parquet":
        reader = reader.schema(spark_schema(schema))
    elif schema is None and fmt != "parquet":
        reader = reader.option("inferSchema", "true")
    try:
        frame = _load(reader.format(_FORMATS[fmt]), text)
    except Exception as exc:
        raise DataError(
            f"Spark cannot read {path}: {_spark_error(exc)}", hint="check the path and format"
        ) from None
    if schema is None:
        schema = polars_schema(frame.schema)
    if fmt == "parquet" and list(frame.columns) != list(schema):
        frame = frame.select(*schema)
    return frame, schema


def _load(reader: Any, path: str) -> Any:
    """Spark reads the files of a folder or glob largest first; the other engines read them in
    name order, so a local table in many files is read file by file in that order and the parts
    put one after another (partition columns of hive folders kept through `basePath`)."""
    from prepkit.io.parts import is_many

    local = path.removeprefix("file://")
    if "://" in local or not is_many(local):
        return reader.load(path)
    folder = Path(local) if Path(local).is_dir() else None
    found = folder.rglob("*") if folder else (Path(p) for p in glob.glob(local, recursive=True))
    files = sorted(str(f) for f in found if f.is_file() and not _hidden(f, folder))
    if not files:
        return reader.load(path)  # Spark's own error
    each = reader.option("basePath", str(folder)) if folder else reader
    return functools.reduce(lambda a, b: a.unionByName(b), [each.load(f) for f in files])


def _hidden(path: Path, folder: Path | None) -> bool:
    """Files Spark and Hive skip: names starting with `_` or `.` (`_SUCCESS`, `.crc` files)."""
    parts = path.relative_to(folder).parts if folder else (path.name,)
    return any(p.startswith(("_", ".")) for p in parts)


def _csv_options(options: dict[str, Any], fmt: str, writing: bool) -> dict[str, str]:
    """polars' CSV options as Spark's."""
    out = {
        "header": str(options.get("has_header", True)).lower(),
        "sep": options.get("separator", "\t" if fmt == "tsv" else ","),
    }
    if "quote_char" in options and options["quote_char"]:
        out["quote"] = options["quote_char"]
    if not writing:
        out["mode"] = "FAILFAST"  # a value that does not parse is an error, as in polars
        if options.get("comment_prefix"):
            out["comment"] = options["comment_prefix"]
        nulls = options.get("null_values")
        if isinstance(nulls, str):
            out["nullValue"] = nulls
        if options.get("encoding") not in (None, "utf8", "utf-8"):
            out["encoding"] = options["encoding"]
    return out


# -- passes over partitions -----------------------------------------------------------------------
def _add_counts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two summaries of rows (`Stage.summarize`) as one: counts add, nested ones too."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict):
            out[key] = _add_counts(out.get(key, {}), value)
        else:
            out[key] = out.get(key, 0) + value
    return out


@dataclass(frozen=True)
class _Chain:
    """What a worker needs to run a pass: the input's polars schema, the stages (factories) and,
    per stage that counts positions, the summary of the rows before each partition."""

    schema: pl.Schema
    stages: tuple[StageFactory, ...]
    before: tuple[list[dict[str, Any]] | None, ...]
    partitions: int

    def batches(self, pid: int, batches: Iterator[Any]) -> Iterator[pl.DataFrame]:
        """Partition `pid`'s rows through the stages; the last partition ends with the rows
        stages add at the end."""
        rows = (_from_spark(b, self.schema) for b in batches)
        return run_stages(self.start(pid), rows, finish=pid == self.partitions - 1)

    def start(self, pid: int) -> list[Stage]:
        stages = [make() for make in self.stages]
        for stage, before in zip(stages, self.before, strict=True):
            if before is not None:
                stage.begin(before[pid])
        return stages


def _partition() -> int:
    from pyspark import TaskContext

    context = TaskContext.get()
    assert context is not None
    return context.partitionId()


def _sent(pid: int, value: Any) -> Iterator[Any]:
    """A partition's result as rows of pieces of at most PIECE_BYTES (see `_pieces`)."""
    # partial statistics travel from worker to driver in pickle, as Spark sends Python objects;
    # nothing pickled is ever saved (the fitted artifact is JSON)
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    for start in range(0, max(len(data), 1), PIECE_BYTES):
        yield _results(pid, data[start : start + PIECE_BYTES], start + PIECE_BYTES >= len(data))


def _results(pid: int, payload: bytes, last: bool = True) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_pydict(
        {"pid": [pid], "last": [last], "blob": [payload]},
        schema=pa.schema([("pid", pa.int64()), ("last", pa.bool_()), ("blob", pa.binary())]),
    )


PIECE_BYTES = 8 << 20  # a batch sent to the driver goes in pieces of about this size


def _pieces(pid: int, frame: pl.DataFrame) -> Iterator[Any]:
    """A batch as result rows of Arrow IPC pieces: Spark copies each row whole several times on
    its way to the driver, so a wide batch in one row exhausts a 1 GiB heap."""
    count = max(1, -(-int(frame.estimated_size()) // PIECE_BYTES))
    rows = max(1, -(-frame.height // count))
    for start in range(0, max(frame.height, 1), rows):
        sink = io.BytesIO()
        frame.slice(start, rows).write_ipc(sink)
        yield _results(pid, sink.getvalue(), last=start + rows >= frame.height)


@dataclass(frozen=True)
class SparkTable:
    """A Spark DataFrame and the stages of the steps fitted so far: the Spark counterpart of
    `stream.StreamedTable` (`fit_streamed` fits on either)."""

    frame: Any  # pyspark.sql.DataFrame, the input
    schema: pl.Schema
    spec: SparkSpec
    chain: _Chain = field(init=False)
    # quantiles answered by percentile_approx, with their error bound (shared by derived tables)
    approximations: list[dict[str, Any]] = field(default_factory=list)
    stages: tuple[StageFactory, ...] = ()
    before: tuple[list[dict[str, Any]] | None, ...] = ()

    def __post_init__(self) -> None:
        partitions = self.frame.rdd.getNumPartitions()
        chain = _Chain(self.schema, self.stages, self.before, partitions)
        object.__setattr__(self, "chain", chain)

    def then(self, make: StageFactory) -> SparkTable:
        before = self._summaries(make) if make().positional else None
        return replace(self, stages=(*self.stages, make), before=(*self.before, before))

    # one pass: each partition's rows through the chain, then `per_partition` on them
    def _run(self, per_partition: Callable[[int, Iterator[pl.DataFrame]], Iterator[Any]]) -> Any:
        chain = self.chain

        def run(batches: Iterator[Any]) -> Iterator[Any]:
            pid = _partition()
            yield from per_partition(pid, chain.batches(pid, batches))

        return self.frame.mapInArrow(run, _RESULTS)

    def _collect(
        self, per_partition: Callable[[int, Iterator[pl.DataFrame]], Iterator[Any]]
    ) -> list[Any]:
        """Every partition's results, in partition order."""
        with spark_job():
            rows = self._run(per_partition).collect()
        found: dict[int, list[bytes]] = {}
        for row in rows:  # in order within a partition
            found.setdefault(row.pid, []).append(row.blob)
        return [pickle.loads(b"".join(found[pid])) for pid in sorted(found)]

    def _summaries(self, make: StageFactory) -> list[dict[str, Any]]:
        """Per partition, the summary of the rows the new stage sees before it."""

        def count(pid: int, batches: Iterator[pl.DataFrame]) -> Iterator[Any]:
            stage, total = make(), {}
            for batch in batches:
                total = _add_counts(total, stage.summarize(batch))
            yield from _sent(pid, (pid, total))

        found = dict(self._collect(count))
        out, total = [], {}
        for pid in range(self.chain.partitions):
            out.append(total)
            total = _add_counts(total, found.get(pid, {}))
        return out

    def scan(self, make: Callable[[int], Partial]) -> Partial:
        """One pass: a partial per partition, merged here in partition order."""

        def partial(pid: int, batches: Iterator[pl.DataFrame]) -> Iterator[Any]:
            part = make(pid << 40)  # positions only seed the samples' hashes
            for batch in batches:
                part.add(batch)
            yield from _sent(pid, part)

        parts = self._collect(partial)
        merged = parts[0] if parts else make(0)
        for later in parts[1:]:
            merged = merged.merge(later)
        return merged

    def compute(self, requests: list[Request]) -> dict[Request, Any]:
        if self.spec.quantiles == "approximate":
            approximate = [r for r in requests if isinstance(r, Quantiles)]
            exact = [r for r in requests if not isinstance(r, Quantiles)]
            out = compute_scanned(self.scan, exact)
            out.update(self._approximate(approximate))
            return {r: out[r] for r in requests}
        return compute_scanned(self.scan, requests)

    def _approximate(self, requests: list[Quantiles]) -> dict[Request, Any]:
        """Spark's percentile_approx of the non-missing values (NaN is missing)."""
        if not requests:
            return {}
        from pyspark.sql import functions as F

        frame = self.dataframe()
        exprs = []
        for i, r in enumerate(requests):
            col = F.col(r.column).cast("double")
            value = F.when(F.isnan(col), None).otherwise(col)
            exprs.append(F.percentile_approx(value, list(r.qs), self.spec.accuracy).alias(str(i)))
        with spark_job():
            row = frame.agg(*exprs).collect()[0]
        for r in requests:
            self.approximations.append({
                "statistic": "quantiles", "column": r.column, "qs": list(r.qs),
                "method": "percentile_approx", "accuracy": self.spec.accuracy,
                # Spark's bound: the rank of each answer is within n / accuracy of the exact one
                "max_rank_error": 1 / self.spec.accuracy,
            })  # fmt: skip
        return {r: (None if row[str(i)] is None else [float(v) for v in row[str(i)]])
                for i, r in enumerate(requests)}  # fmt: skip

    def output_schema(self) -> pl.Schema:
        """The schema of the chain's output, from a dry run on no rows."""
        empty = pl.DataFrame(schema=self.schema)
        return next(run_stages(self.chain.start(0), iter([empty]), finish=False)).schema

    def dataframe(self) -> Any:
        """The chain's output as a Spark DataFrame."""
        chain = self.chain
        struct, arrow = _output_types(self.output_schema())

        def run(batches: Iterator[Any]) -> Iterator[Any]:
            for batch in chain.batches(_partition(), batches):
                yield from _to_spark(batch, arrow)

        return self.frame.mapInArrow(run, struct)

    def batches(self, map: Transform | None = None) -> Iterator[pl.DataFrame]:
        """The chain's output on the driver, batch by batch (one partition at a time); `map`
        (a step's filter or projection) runs on the workers, so only what it keeps travels."""

        def send(pid: int, batches: Iterator[pl.DataFrame]) -> Iterator[Any]:
            for batch in batches:
                if map is not None:
                    batch = map(batch)
                yield from _pieces(pid, batch)

        pieces: list[pl.DataFrame] = []
        with spark_job():
            for row in self._run(send).toLocalIterator():
                pieces.append(pl.read_ipc(io.BytesIO(row.blob)))
                if row.last:
                    yield pl.concat(pieces) if len(pieces) > 1 else pieces[0]
                    pieces = []

    def sample(self) -> pl.DataFrame:
        """The first batch with rows (or an empty batch with the schema), as
        `StreamedTable.sample`: each partition stops at its first batch with rows, and the driver
        fetches partitions one at a time until one has rows."""

        def first(pid: int, batches: Iterator[pl.DataFrame]) -> Iterator[Any]:
            for batch in batches:
                if batch.height:
                    yield from _pieces(pid, batch)
                    return

        pieces = []
        with spark_job():
            for row in self._run(first).toLocalIterator():
                pieces.append(pl.read_ipc(io.BytesIO(row.blob)))
                if row.last:
                    return pl.concat(pieces) if len(pieces) > 1 else pieces[0]
            if not self.frame.limit(1).count():
                raise DataError("the training data has no rows")
        return pl.DataFrame(schema=self.output_schema())

    def repeated_hashes(self, subset: list[str]) -> np.ndarray:
        """Positions (ascending) of the rows whose hash of `subset` another row shares: the
        hashes (8 bytes a row) stay in Spark, only the repeated ones' positions come back."""
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        from prepkit.steps.duplicates import duplicate_keys

        chain = self.chain

        def run(batches: Iterator[Any]) -> Iterator[Any]:
            import pyarrow as pa

            pid, seen = _partition(), 0
            for batch in chain.batches(pid, batches):
                h = duplicate_keys(batch, subset).hash_rows().to_numpy().view(np.int64)
                yield pa.RecordBatch.from_pydict(
                    {"pid": np.full(len(h), pid, np.int64),
                     "i": np.arange(seen, seen + len(h), dtype=np.int64), "h": h}
                )  # fmt: skip
                seen += len(h)

        rows = self.frame.mapInArrow(run, "pid long, i long, h long")
        rows.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            with spark_job():
                sizes = dict(rows.groupBy("pid").count().collect())
                repeated = rows.groupBy("h").count().where(F.col("count") > 1).select("h")
                found = rows.join(repeated, "h").select("pid", "i").collect()
        finally:
            rows.unpersist()
        counts = np.array([sizes.get(p, 0) for p in range(chain.partitions)], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        positions = np.array([starts[r.pid] + r.i for r in found], dtype=np.int64)
        positions.sort()
        return positions


# -- runs -----------------------------------------------------------------------------------------
# steps whose stage reads the data again while rows flow (only the driver can start a pass)
SPARK_REFUSED = ("augment_text",)


def _gather() -> Any:
    from pyspark.accumulators import AccumulatorParam

    class Gathered(AccumulatorParam):  # what each partition sends back, as a list
        def zero(self, value: list[Any]) -> list[Any]:
            return []

        def addInPlace(self, a: list[Any], b: list[Any]) -> list[Any]:  # noqa: N802 (Spark's name)
            return a + b

    return Gathered()


def _by_partition(found: list[tuple[int, Any]]) -> list[Any]:
    """Each partition's result in partition order (a task run twice counts once)."""
    return [value for _, value in sorted(dict(found).items())]


@dataclass
class _Tally:
    """What a partition's rows add to a run's report: the rows read, each step's report (counts
    summed over batches) and the checks' summary of the output."""

    rows_in: int = 0
    reports: list[Any] | None = None
    summary: Any = None  # checks.OutputSummary

    def counting(self, batches: Iterator[Any]) -> Iterator[Any]:
        for batch in batches:
            self.rows_in += batch.num_rows
            yield batch

    def add(self, out: pl.DataFrame | None, reports: list[Any], class_columns: list[str]) -> None:
        from prepkit.checks import summarize
        from prepkit.engines.stream import merge_reports

        self.reports = merge_reports(self.reports, reports)
        if out is not None:
            piece = summarize(out, class_columns)
            self.summary = piece if self.summary is None else self.summary + piece

    @classmethod
    def merged(cls, found: list[tuple[int, _Tally]]) -> _Tally:
        """The tallies of every partition, in partition order, as one."""
        from prepkit.engines.stream import merge_reports

        total = cls()
        for part in _by_partition(found):
            total.rows_in += part.rows_in
            if part.reports is not None:
                total.reports = merge_reports(total.reports, part.reports)
            if part.summary is not None:
                total.summary = (
                    part.summary if total.summary is None else total.summary + part.summary
                )
        return total


Produce = Callable[[int, Iterator[Any]], Iterator[pl.DataFrame]]
_SUFFIXES = {"parquet": ".parquet", "csv": ".csv", "tsv": ".tsv", "ndjson": ".ndjson",
             "arrow": ".arrow"}  # fmt: skip


def _write(
    frame: Any, produce: Produce, schema: pl.Schema, target: str | Path, fmt: str | None,
    options: dict[str, Any],
) -> None:  # fmt: skip
    """Run `produce` (a partition's id and Arrow batches -> the output frames) on every partition
    of `frame` and write what it yields as a folder of parts.

    A local path: each task writes its part (`part-00007.parquet`) with prepkit's own writers, in
    polars' types, into a temporary folder beside the target, committed with the run's other
    outputs (`prepkit.io.atomic`); 10x faster than handing the rows back to Spark, whose
    Arrow-to-row conversion dominates on wide outputs (bench/results_spark.md). Another URI:
    Spark writes, by its own committer (unsigned integers widened, see `sparkable`)."""
    from prepkit.io import detect_format
    from prepkit.io.atomic import atomic_dir
    from prepkit.io.stream import BatchWriter

    text = str(target)
    fmt = detect_format(target, fmt, images=False)
    known = _SUFFIXES if _is_local(target) else _FORMATS
    if fmt not in known:
        raise RecipeError(
            f"--engine spark writes {', '.join(known)}, not {fmt}",
            hint="write Parquet (-o out.parquet) and convert it",
        )
    if not _is_local(target):
        _spark_write(frame, produce, schema, text, fmt, options)
        return
    with atomic_dir(Path(text.removeprefix("file://"))) as tmp:

        def run(batches: Iterator[Any]) -> Iterator[Any]:
            pid = _partition()
            path = tmp / f"part-{pid:05d}{_SUFFIXES[fmt]}"
            with contextlib.ExitStack() as stack:
                writer = None
                for out in produce(pid, batches):
                    if not out.height:  # parts with no rows are not written
                        continue
                    if writer is None:
                        writer = stack.enter_context(BatchWriter(path, fmt, options).open())
                    writer.write(out)
            yield _results(pid, b"")

        with spark_job():
            frame.mapInArrow(run, _RESULTS).collect()
        if not any(tmp.iterdir()):  # no rows at all: one part with the columns
            with BatchWriter(tmp / f"part-00000{_SUFFIXES[fmt]}", fmt, options).open() as writer:
                writer.write(pl.DataFrame(schema=schema))


def _spark_write(
    frame: Any, produce: Produce, schema: pl.Schema, target: str, fmt: str,
    options: dict[str, Any],
) -> None:  # fmt: skip
    """What `_write` does for a URI that is not local: Spark writes the rows."""
    struct, arrow = _output_types(schema)

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        for out in produce(_partition(), batches):
            yield from _to_spark(out, arrow)

    writer = frame.mapInArrow(run, struct).write.mode("overwrite").format(_FORMATS[fmt])
    if fmt in ("csv", "tsv"):
        writer = writer.options(**_csv_options(options, fmt, writing=True))
    if fmt == "parquet" and options.get("compression"):
        writer = writer.option("compression", options["compression"])
    with spark_job():
        writer.save(target)


@dataclass
class SparkRun:
    """What a run on Spark produced (as `stream.StreamedRun`, without frames: Spark wrote them)."""

    fitted: Any
    steps: list[Any]
    parts: dict[str, dict[str, int]]
    summary: Any
    where: dict[str, Any]  # the Spark master and the input's partitions, for the report


def run_on_spark(
    recipe: Any, spec: SparkSpec, source: str | Path, fmt: str | None,
    options: dict[str, Any], base: Any, *, batch_size: int, outputs: dict[str, str | Path],
    out_fmt: str | None, out_options: dict[str, Any], class_columns: list[str],
) -> SparkRun:  # fmt: skip
    """Fit `recipe` on the input read by Spark (its training part), then write each part (train
    through every step, valid/test through the transforms) to `outputs[part]` with Spark."""
    from prepkit.checks import summarize
    from prepkit.engines.stream import TrainingApplier, _add_folds, _part_filter, fit_streamed
    from prepkit.fitted import FittedRecipe, schema_of
    from prepkit.io import source_name
    from prepkit.pipeline import require_rows, require_target
    from prepkit.split import HashSplit

    refused = [s for s in recipe.steps if s.name in SPARK_REFUSED]
    if refused:
        raise RecipeError(
            f"step '{refused[0].id}': {refused[0].name} reads the data again while adding rows, "
            "which --engine spark does not do",
            hint="run this recipe with --engine stream (or --engine memory)",
        )
    check_paths(source, list(outputs.values()))
    session = spark_session(spec, batch_size)
    if isinstance(source, (str, Path)):
        frame, schema = read_input(session, source, fmt, options)
        name = source_name(source)
    else:  # a Spark DataFrame given in Python
        frame, schema, name = source, polars_schema(source.schema), "the Spark DataFrame"
    table = SparkTable(frame, schema, spec)
    first = table.sample()
    require_rows(first, name)
    require_target(first, recipe.spec.target, name)
    split = recipe.spec.split
    hashing = (split, recipe.spec.target, recipe.spec.seed) if split is not None else None
    train = table
    if hashing is not None:
        HashSplit(*hashing)  # option errors before any pass
        train = table.then(_part_filter(hashing, 0) if not split.kfold else _add_folds(hashing))
    fit = fit_streamed(recipe.steps, train, base)

    # the training rows through every step, on the workers; reports and summaries come back
    steps, shipped = recipe.steps, replace(fit, table=None)
    befores = fit.table.before[len(train.stages) :]
    chain, last = train.chain, train.chain.partitions - 1
    dry = TrainingApplier(steps, shipped, base)
    out_schema = dry(pl.DataFrame(schema=train.output_schema()))[0].schema
    fitted = FittedRecipe(
        recipe=recipe.to_dict(), steps=steps, states=fit.states,
        input_schema={k: str(v) for k, v in fit.input_schema.items()},
        output_schema=schema_of(pl.DataFrame(schema=out_schema)),
        approximations=list(train.approximations), reference_profile=fit.profile,
    )  # fmt: skip
    gathered = session.sparkContext.accumulator([], _gather())
    chain_schema = train.output_schema()

    def train_rows(pid: int, batches: Iterator[Any]) -> Iterator[pl.DataFrame]:
        tally = _Tally()
        applier = TrainingApplier(steps, shipped, base)
        for stage, before in zip(applier.stages, befores, strict=True):
            if before is not None:
                stage.begin(before[pid])
        for batch in chain.batches(pid, tally.counting(batches)):
            out, reports = applier(batch)
            tally.add(out, reports, class_columns)
            yield out
        if pid == last:
            if tally.reports is None:  # the stages' input schemas, for the rows they add
                tally.add(*applier(pl.DataFrame(schema=chain_schema)), class_columns)
            for out, reports in applier.finish():
                tally.add(out, reports, class_columns)
                yield out
        gathered.add([(pid, tally)])

    _write(frame, train_rows, out_schema, outputs["train"], out_fmt, out_options)
    tally = _Tally.merged(gathered.value)
    summary = tally.summary or summarize(pl.DataFrame(schema=out_schema), class_columns)
    parts = {
        "input": {"rows": tally.rows_in, "columns": len(schema)},
        "train": {"rows": summary.rows, "columns": len(out_schema)},
    }
    # the training reports also carry what fitting warned and the time it took
    all_steps = list(tally.reports or [])
    for report, warned, seconds in zip(all_steps, fit.warnings, fit.seconds, strict=True):
        report.warnings = list(dict.fromkeys([*warned, *report.warnings]))
        report.seconds = round(report.seconds + seconds, 4)

    for code, part in ((1, "valid"), (2, "test")):
        if part not in outputs:
            continue
        held = replace(table, stages=(_part_filter(hashing, code),), before=(train.before[0],))
        done = _apply_part(session, held, fitted, base.workdir, base.quiet, outputs[part],
                           out_fmt, out_options, part, name)  # fmt: skip
        all_steps += done.reports or []
        parts[part] = {"rows": done.summary.rows, "columns": len(done.summary.columns)}
    fitted.report.steps = all_steps
    return SparkRun(fitted, all_steps, parts, summary, _where(session, table))


def _where(session: Any, table: SparkTable) -> dict[str, Any]:
    return {"master": session.sparkContext.master, "partitions": table.chain.partitions}


def _output_types(schema: pl.Schema) -> tuple[Any, Any]:
    """The Spark schema of frames of `schema`, and the Arrow schema of its batches."""
    from pyspark.sql.pandas.types import to_arrow_schema

    struct = spark_schema(schema)
    return struct, to_arrow_schema(struct, timezone="UTC")


def _apply_part(
    session: Any, table: SparkTable, fitted: Any, workdir: Path | None, quiet: bool,
    target: str | Path, out_fmt: str | None, out_options: dict[str, Any], part: str, source: str,
) -> _Tally:  # fmt: skip
    """`fitted`'s transforms on each batch of `table`'s output, written to `target`: the rows
    read, the per-step reports (counts summed) and the summary of the rows written."""
    chain = table.chain
    empty = pl.DataFrame(schema=table.output_schema())
    out_schema = fitted.transform_frame(empty, part=part, workdir=workdir, source=source)[0].schema
    gathered = session.sparkContext.accumulator([], _gather())

    def apply(pid: int, batches: Iterator[Any]) -> Iterator[pl.DataFrame]:
        tally = _Tally()
        for batch in chain.batches(pid, tally.counting(batches)):
            out, report = fitted.transform_frame(
                batch, part=part, workdir=workdir, quiet=quiet, source=source
            )
            tally.add(out, report.steps, [])
            yield out
        gathered.add([(pid, tally)])

    _write(table.frame, apply, out_schema, target, out_fmt, out_options)
    tally = _Tally.merged(gathered.value)
    if tally.reports is None:  # no partition saw a batch: the reports of no rows
        out, report = fitted.transform_frame(empty, part=part, workdir=workdir, source=source)
        tally.add(out, report.steps, [])
    return tally


def apply_on_spark(
    fitted: Any, spec: SparkSpec, source: str | Path, target: str | Path, fmt: str | None,
    out_fmt: str | None, options: dict[str, Any], batch_size: int, workdir: Path,
    drifting: Any = None,
) -> tuple[Any, tuple[int, int], tuple[int, int], Any]:  # fmt: skip
    """`prepkit apply --engine spark`: the fitted transforms on every batch of the input, read and
    written by Spark. Returns the report, the (rows, columns) in and out and the summary of the
    output. `drifting` (a `ReferenceDrift`) counts the input, in a pass of its own."""
    from prepkit.io import source_name
    from prepkit.report import RunReport

    check_paths(source, [target])
    session = spark_session(spec, batch_size)
    frame, schema = read_input(session, source, fmt, options)
    table = SparkTable(frame, schema, spec)
    if drifting is not None:
        profile = drifting.profile
        drifting.merge(table.scan(lambda _: type(drifting)(profile)))
    done = _apply_part(session, table, fitted, workdir, True, target, out_fmt, {}, "new",
                       source_name(source))  # fmt: skip
    report = RunReport(recipe=fitted.recipe.get("name", "recipe"), engine=_where(session, table))
    report.steps = done.reports or []
    shape_out = (done.summary.rows, len(done.summary.columns))
    return report, (done.rows_in, len(schema)), shape_out, done.summary
