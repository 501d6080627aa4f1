"""Text columns: clean them (`clean_text`) and drop near-duplicate texts (`drop_near_duplicates`)."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from prepkit.columns import Selector, require_columns, select_columns
from prepkit.engines.statistics import Request
from prepkit.errors import DataError
from prepkit.steps.base import Column, Step, StepContext, StepParams, StepState, register

# -- clean_text -----------------------------------------------------------------------------------
# Rust-regex patterns (polars). Inline tags vanish ("H<b>e</b>llo" -> "Hello"); other tags
# separate words ("<p>a</p><p>b</p>" -> "a b").
SCRIPT_STYLE = r"(?is)<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->"
INLINE_TAG = r"(?i)</?(?:a|abbr|b|code|em|font|i|mark|small|span|strong|sub|sup|u)\b[^>]*>"
ANY_TAG = r"<[^>]*>"
ENTITIES = (
    ("&nbsp;", " "),
    ("&lt;", "<"),
    ("&gt;", ">"),
    ("&quot;", '"'),
    ("&#39;", "'"),
    ("&apos;", "'"),
    ("&amp;", "&"),
)  # fmt: skip  (&amp; last: "&amp;lt;" -> "&lt;")
EMAIL = r"(?i)[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
URL = r"(?i)\b(?:https?://|ftp://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]"  # no trailing punctuation
NUMBER = r"[+-]?\b\d+(?:[.,:/]\d+)*\b"


def _replacement(option: bool | str) -> str | None:
    """`true` removes (empty replacement), a string replaces, `false` keeps."""
    if option is False:
        return None
    return "" if option is True else option


@register("clean_text")
class CleanText(Step):
    """Clean free-text columns: Unicode NFKC, HTML, URLs/emails/numbers, case, whitespace.

    Operations run in this order, each when enabled: Unicode NFKC normalisation (full-width
    letters, ligatures, circled digits become plain characters); HTML stripping (script/style
    blocks and comments removed, inline tags such as <b> removed, other tags become a space, the
    common entities &amp; &lt; &gt; &quot; &#39; &nbsp; decoded); removing emails, then URLs
    (http://, https://, ftp://, www.), then numbers (a string option replaces instead of removing,
    e.g. `remove_urls: "<url>"`); lowercasing; collapsing runs of whitespace to one space and
    trimming the ends. Null texts stay null.

    `min_length` / `max_length` (characters, or words with `length_unit: words`, counted after
    cleaning) drop training rows whose cleaned text in any selected column is outside the range;
    null texts are kept. The cleaning itself is a `transform` (it runs at apply time and on
    valid/test parts too); the length filter runs only while fitting, unless
    `filter_at_apply: true` also filters new data.

    ```yaml
    - step: clean_text
      columns: [review]
      lowercase: true
      remove_urls: "<url>"
      remove_emails: true
      min_length: 10
    ```
    """

    class Params(StepParams):
        columns: Selector = Field("text", description="Text columns to clean (selector).")
        normalize: bool = Field(True, description="Unicode NFKC normalisation.")
        strip_html: bool = Field(True, description="Remove HTML tags, decode common entities.")
        remove_urls: bool | str = Field(
            False, description="Remove URLs (true) or replace them with this string."
        )
        remove_emails: bool | str = Field(
            False, description="Remove email addresses (true) or replace them with this string."
        )
        remove_numbers: bool | str = Field(
            False, description="Remove numbers (true) or replace them with this string."
        )
        lowercase: bool = Field(False, description="Lowercase the text.")
        collapse_whitespace: bool = Field(
            True, description="Collapse runs of whitespace to one space and trim the ends."
        )
        min_length: int | None = Field(
            None, ge=0, description="Drop training rows whose cleaned text is shorter."
        )
        max_length: int | None = Field(
            None, ge=0, description="Drop training rows whose cleaned text is longer."
        )
        length_unit: Literal["chars", "words"] = Field(
            "chars", description="Unit of min_length / max_length."
        )
        filter_at_apply: bool = Field(
            False, description="Also apply the length filter to new data at apply time."
        )

        @model_validator(mode="after")
        def _range(self) -> CleanText.Params:
            if (
                self.min_length is not None
                and self.max_length is not None
                and self.min_length > self.max_length
            ):
                raise ValueError(
                    f"min_length ({self.min_length}) is larger than max_length ({self.max_length})"
                )
            return self

    @property
    def keeps_rows(self) -> bool:
        # the length filter drops rows (and reports the rows it kept)
        return self.params.min_length is None and self.params.max_length is None

    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Request]:
        return []  # the columns come from the frame's schema

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        columns = select_columns(frame, self.params.columns, ctx.protected)
        schema = frame.schema  # once: `frame.schema` builds a new object on every call
        bad = [c for c in columns if schema[c] not in (pl.String, pl.Null)]
        if bad:
            raise DataError(
                "clean_text needs text columns, but got "
                + ", ".join(f"'{c}' ({schema[c]})" for c in bad),
                hint="select string columns (columns: text), or cast them first",
            )
        return {"columns": columns}

    def _clean(self, column: str) -> pl.Expr:
        p = self.params
        text = pl.col(column).cast(pl.String)
        if p.normalize:
            text = text.str.normalize("NFKC")
        if p.strip_html:
            text = (
                text.str.replace_all(SCRIPT_STYLE, " ")
                .str.replace_all(INLINE_TAG, "")
                .str.replace_all(ANY_TAG, " ")
            )
            for entity, char in ENTITIES:
                text = text.str.replace_all(entity, char, literal=True)
        for pattern, option in (
            (EMAIL, p.remove_emails),
            (URL, p.remove_urls),
            (NUMBER, p.remove_numbers),
        ):
            replacement = _replacement(option)
            if replacement is not None:
                text = text.str.replace_all(pattern, replacement.replace("$", "$$"))
        if p.lowercase:
            text = text.str.to_lowercase()
        if p.collapse_whitespace:
            text = text.str.replace_all(r"\s+", " ").str.strip_chars()
        return text.alias(column)

    class State(StepState):
        columns: list[Column]

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        p = self.params
        columns = state["columns"]
        if not columns:
            ctx.record(values_changed={}, rows_dropped_by_length=0)
            return frame
        out = frame.with_columns(self._clean(c) for c in columns)
        changed = out.select(
            (pl.col(c).ne_missing(frame[c].cast(pl.String))).sum().alias(c) for c in columns
        ).row(0, named=True)
        dropped = 0
        if (p.min_length is not None or p.max_length is not None) and (
            ctx.fitting or p.filter_at_apply
        ):
            keep = pl.lit(True)
            for c in columns:
                size = (
                    pl.col(c).str.count_matches(r"\S+")
                    if p.length_unit == "words"
                    else pl.col(c).str.len_chars()
                )
                ok = pl.lit(True)
                if p.min_length is not None:
                    ok = ok & (size >= p.min_length)
                if p.max_length is not None:
                    ok = ok & (size <= p.max_length)
                keep = keep & (pl.col(c).is_null() | ok)
            before = out.height
            out = ctx.filter_rows(out, keep)
            dropped = before - out.height
        ctx.record(
            values_changed={c: int(n) for c, n in changed.items()},
            rows_dropped_by_length=dropped,
        )
        return out


# -- drop_near_duplicates ---------------------------------------------------------------------------
FP_WEIGHT, FN_WEIGHT = 0.05, 0.95  # candidates are verified exactly: favour recall in the LSH
MAX_BUCKET = 200  # members of one LSH bucket paired with each other; larger buckets pair in a chain
BLOCK_SHINGLES = 1 << 14  # shingles per numpy block: 32 permutations x 16k x 8 bytes = 4 MiB
PERM_CHUNK = 32
EXAMPLE_CLUSTERS = 5


@cache
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) minimising weighted false positive / negative areas of the S-curve.

    As datasketch's `MinHashLSH` chooses them, with the weights tilted towards recall because every
    candidate pair is verified with the exact Jaccard similarity afterwards.
    """
    best: tuple[float, int, int] | None = None
    low, high = np.linspace(0, threshold, 200), np.linspace(threshold, 1, 200)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = np.trapezoid(1 - (1 - low**rows) ** bands, low)
            fn = np.trapezoid((1 - high**rows) ** bands, high)
            error = FP_WEIGHT * fp + FN_WEIGHT * fn
            if best is None or error < best[0]:
                best = (error, bands, rows)
    assert best is not None
    return best[1], best[2]


def shingle_table(texts: pl.Series, kind: str, n: int, lowercase: bool) -> pl.DataFrame:
    """One row per distinct (text index `r`, 64-bit shingle hash `h`), sorted by `r`."""
    text = pl.col("t").str.replace_all(r"\s+", " ").str.strip_chars()
    if lowercase:
        text = text.str.to_lowercase()
    frame = pl.DataFrame({"t": texts}).select(text).with_row_index("r")
    if kind == "char":
        size = pl.col("t").str.len_chars().cast(pl.Int64)
        shingles = (
            frame.select("r", "t", pl.int_ranges(0, pl.max_horizontal(size - n + 1, 1)).alias("o"))
            .explode("o")
            .select("r", pl.col("t").str.slice(pl.col("o"), n).alias("s"))
        )
    else:
        words = frame.select("r", pl.col("t").str.split(" ").alias("w")).explode("w")
        words = words.with_columns(
            pl.int_range(pl.len()).over("r").alias("i"), pl.len().over("r").alias("k")
        )
        joined = pl.concat_str(
            [pl.col("w").shift(-j).over("r") for j in range(n)], separator=" ", ignore_nulls=True
        )
        shingles = words.filter((pl.col("i") <= pl.col("k") - n) | (pl.col("i") == 0)).select(
            "r", joined.alias("s")
        )
    return shingles.select("r", pl.col("s").hash(seed=0x5EED).alias("h")).unique().sort("r", "h")


def minhash_signatures(table: pl.DataFrame, count: int, num_perm: int, seed: int) -> np.ndarray:
    """(count, num_perm) uint32 MinHash signatures, vectorised over shingles with numpy.

    Permutation i maps a 64-bit shingle hash h to the top 32 bits of `a_i * h + b_i` (mod 2^64,
    multiply-shift hashing with odd a_i); a text's signature is the minimum over its shingles.
    """
    rng = np.random.default_rng([seed, num_perm])
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    rows = table["r"].to_numpy()
    hashes = table["h"].to_numpy()
    signatures = np.full((num_perm, count), np.iinfo(np.uint32).max, dtype=np.uint32)
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if len(rows) else np.zeros(0, int)
    bounds = np.r_[starts, len(rows)]
    a, b = a[:, None], b[:, None]
    block = 0
    # (permutations x shingles) blocks that fit in cache; minimum over each text's shingles
    while block < len(starts):
        end = int(np.searchsorted(bounds, bounds[block] + BLOCK_SHINGLES, side="right")) - 1
        end = min(max(end, block + 1), len(starts))
        lo, hi = bounds[block], bounds[end]
        h = hashes[None, lo:hi]
        local = starts[block:end] - lo
        texts = rows[starts[block:end]]
        buffer = np.empty((min(PERM_CHUNK, num_perm), hi - lo), dtype=np.uint64)
        for p in range(0, num_perm, PERM_CHUNK):
            out = buffer[: min(PERM_CHUNK, num_perm - p)]
            np.multiply(a[p : p + PERM_CHUNK], h, out=out)
            np.add(out, b[p : p + PERM_CHUNK], out=out)
            np.right_shift(out, np.uint64(32), out=out)
            signatures[p : p + PERM_CHUNK, texts] = np.minimum.reduceat(out, local, axis=1)
        block = end
    return np.ascontiguousarray(signatures.T)


def candidate_pairs(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(k, 2) pairs i < j sharing an LSH bucket in at least one band."""
    count = signatures.shape[0]
    pairs = []
    mix = np.random.default_rng(0).integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        for band in range(bands):
            part = signatures[:, band * rows : (band + 1) * rows].astype(np.uint64)
            keys = (part * mix[None, :]).sum(axis=1) if count else np.zeros(0, np.uint64)
            order = np.argsort(keys, kind="stable")
            sorted_keys = keys[order]
            edges = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1], True])
            sizes = np.diff(edges)
            for start, size in zip(edges[:-1][sizes > 1], sizes[sizes > 1], strict=True):
                members = np.sort(order[start : start + size])
                if size <= MAX_BUCKET:
                    i, j = np.triu_indices(size, 1)
                    pairs.append(np.stack([members[i], members[j]], axis=1))
                else:  # a huge bucket: neighbours in a chain keep it connected, cheaply
                    pairs.append(np.stack([members[:-1], members[1:]], axis=1))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(pairs).astype(np.int64), axis=0)


def verified_pairs(table: pl.DataFrame, pairs: np.ndarray, threshold: float) -> np.ndarray:
    """The candidate pairs whose exact Jaccard similarity of shingle sets is >= threshold."""
    if len(pairs) == 0:
        return pairs
    edges = pl.DataFrame({"i": pairs[:, 0], "j": pairs[:, 1]}).with_row_index("p")
    left = edges.join(table, left_on="i", right_on="r").select("p", "h")
    right = edges.join(table, left_on="j", right_on="r").select("p", "h")
    sizes = table.group_by("r").len()
    common = left.join(right, on=["p", "h"]).group_by("p").len(name="common")
    scored = (
        edges.join(sizes.rename({"r": "i", "len": "ni"}), on="i")
        .join(sizes.rename({"r": "j", "len": "nj"}), on="j")
        .join(common, on="p", how="left")
        .with_columns(pl.col("common").fill_null(0))
        .filter(pl.col("common") >= threshold * (pl.col("ni") + pl.col("nj") - pl.col("common")))
        .sort("p")
    )
    return scored.select("i", "j").to_numpy()


def clusters_of(count: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components (union-find over verified pairs): a cluster label per text."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(count, count)
    )
    return connected_components(graph, directed=False)[1]


@register("drop_near_duplicates")
class DropNearDuplicates(Step):
    """Drop training rows whose text nearly repeats another row's text (MinHash + LSH).

    Texts (whitespace collapsed, lowercased unless `lowercase: false`) become sets of shingles:
    character n-grams (`shingle: char`, `ngram` default 5) or word n-grams (`shingle: word`,
    `ngram` default 1). MinHash signatures (`num_perm` permutations, computed vectorised with
    numpy) and LSH banding find candidate pairs; every candidate pair is then verified with the
    exact Jaccard similarity of the two shingle sets, so unrelated texts are never merged. Pairs
    at or above `threshold` are joined into clusters (connected components: a chain A~B, B~C is one
    cluster) and one row per cluster is kept: the first in data order (`keep: first`) or the one
    with the longest text (`keep: longest`, ties to the first). Exact repeats are clusters too.
    Null texts and blank texts ("" or whitespace only: nothing to compare) are never dropped;
    blank ones are counted in the report (`blank_texts`) with a warning. Phase `train_only`; new
    data is not deduplicated.

    ```yaml
    - step: drop_near_duplicates
      column: text
      shingle: char
      ngram: 5
      threshold: 0.8
      keep: longest
    ```
    """

    phase = "train_only"
    keeps_rows = False  # drops rows (and reports which it kept)

    class Params(StepParams):
        column: str = Field("text", description="The text column compared.")
        shingle: Literal["char", "word"] = Field(
            "char", description="Shingles: character n-grams or word n-grams."
        )
        ngram: int | None = Field(
            None, ge=1, description="Shingle length (default 5 characters or 1 word)."
        )
        threshold: float = Field(
            0.8, gt=0, le=1, description="Jaccard similarity at which two texts are duplicates."
        )
        num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations.")
        keep: Literal["first", "longest"] = Field(
            "first", description="Row kept per cluster: first in data order, or longest text."
        )
        lowercase: bool = Field(True, description="Compare texts case-insensitively.")

    class State(StepState):
        column: Column
        shingle: Literal["char", "word"]
        ngram: int = Field(ge=1)
        threshold: float = Field(gt=0, le=1)
        num_perm: int = Field(ge=16, le=1024)
        bands: int = Field(ge=1)
        rows: int = Field(ge=1)
        keep: Literal["first", "longest"]
        lowercase: bool
        seed: int

        @model_validator(mode="after")
        def _bands(self) -> DropNearDuplicates.State:
            if self.bands * self.rows > self.num_perm:
                raise ValueError(f"bands * rows is more than num_perm ({self.num_perm})")
            return self

    def required_columns(self, state: dict[str, Any]) -> list[str]:
        return [state["column"]]

    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        p = self.params
        require_columns(frame, [p.column])
        if frame.schema[p.column] not in (pl.String, pl.Null):
            raise DataError(
                f"drop_near_duplicates: column '{p.column}' holds {frame.schema[p.column]}, "
                "not text",
                hint="pick a string column",
            )
        ngram = p.ngram or (5 if p.shingle == "char" else 1)
        bands, rows = lsh_params(p.threshold, p.num_perm)
        return {
            "column": p.column,
            "shingle": p.shingle,
            "ngram": ngram,
            "threshold": p.threshold,
            "num_perm": p.num_perm,
            "bands": bands,
            "rows": rows,
            "keep": p.keep,
            "lowercase": p.lowercase,
            "seed": ctx.seed,
        }

    def cluster(self, texts: pl.Series, state: dict[str, Any]) -> tuple[np.ndarray, int]:
        """A cluster id per row (-1 for null and blank texts; equal ids are near-duplicates) and
        the number of LSH candidate pairs that were verified.

        Blank texts ("" or whitespace only) have no words to compare: all of them would share one
        empty shingle and look like copies of each other, so they are left out like null.
        """
        present = texts.str.contains(r"\S").fill_null(False).to_numpy()
        labels = np.full(len(texts), -1, dtype=np.int64)
        values = texts.filter(pl.Series(present))
        if len(values) == 0:
            return labels, 0
        # distinct texts only: exact repeats share their signature and cluster
        distinct = pl.DataFrame({"t": values}).with_columns(
            pl.col("t").rank("dense").cast(pl.Int64).sub(1).alias("u")
        )
        unique_texts = distinct.unique("u").sort("u")["t"]
        table = shingle_table(unique_texts, state["shingle"], state["ngram"], state["lowercase"])
        signatures = minhash_signatures(
            table, len(unique_texts), state["num_perm"], int(state["seed"])
        )
        candidates = candidate_pairs(signatures, state["bands"], state["rows"])
        pairs = verified_pairs(table, candidates, state["threshold"])
        unique_labels = clusters_of(len(unique_texts), pairs)
        labels[present] = unique_labels[distinct["u"].to_numpy()]
        return labels, len(candidates)

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:
        column = state["column"]
        labels, candidates = self.cluster(frame[column].cast(pl.String), state)
        marked = frame.select(
            pl.Series("_c", labels),
            pl.int_range(pl.len(), dtype=pl.Int64).alias("_i"),
            pl.col(column).cast(pl.String).str.len_chars().fill_null(0).alias("_n"),
        )
        if state["keep"] == "longest":
            order = marked.sort(["_c", "_n", "_i"], descending=[False, True, False])
            first = order.group_by("_c", maintain_order=True).first()["_i"]
        else:
            first = marked.group_by("_c").agg(pl.col("_i").min())["_i"]
        keep = labels < 0
        keep[first.to_numpy()] = True
        out = ctx.filter_rows(frame, pl.Series(keep))
        sizes = (
            marked.filter(pl.col("_c") >= 0)
            .group_by("_c")
            .agg(pl.len().alias("size"), pl.col("_i"))
            .filter(pl.col("size") > 1)
            .sort(pl.col("_i").list.first())
        )
        texts = frame[column].cast(pl.String)
        blank = int((~texts.str.contains(r"\S")).sum())  # null counts as neither
        if blank:
            ctx.warn(
                f"drop_near_duplicates: {blank} text{'s' * (blank > 1)} in '{column}' "
                f"{'are' if blank > 1 else 'is'} empty or whitespace only and "
                f"{'were' if blank > 1 else 'was'} kept, not compared (drop exact repeats with "
                "drop_duplicates, or short texts with clean_text's min_length)"
            )
        examples = [
            [texts[int(i)] for i in members[:3]]
            for members in sizes["_i"].head(EXAMPLE_CLUSTERS).to_list()
        ]
        ctx.record(
            clusters=sizes.height,
            rows_removed=frame.height - out.height,
            blank_texts=blank,
            candidate_pairs=candidates,
            example_clusters=examples,
        )
        return out
