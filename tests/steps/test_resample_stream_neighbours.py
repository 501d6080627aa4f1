"""adasyn and borderline_smote on `--engine stream`: the rows, fitted states and report counts of
`--engine memory` (imbalanced-learn's ADASYN / BorderlineSMOTE on the whole frame).

Both samplers read, for each row of a class they grow, its nearest rows among ALL rows: the
stream engine finds them batch by batch (`prepkit.steps.neighbours.StreamedNeighbours`) and
hands them to imbalanced-learn (`KnownNeighbours`). On continuous data (no two rows at exactly
the same distance) the rows added are equal; with ties, scikit-learn's order is its search's,
so the stream engine says so in a warning (tested at the end).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.neighbors import NearestNeighbors
from typer.testing import CliRunner

import prepkit
from prepkit.cli import app
from prepkit.engines import blocking_steps
from prepkit.errors import DataError
from prepkit.steps.neighbours import KnownNeighbours, StreamedNeighbours, search_algorithm

NAMES = np.array(["zebra", "apple", "mango"])  # not sorted: class codes follow sorted classes
TIES = "have rows at exactly the same distance"


def classes(
    rows: int = 5_000, n_classes: int = 2, seed: int = 0, n_features: int = 4
) -> pl.DataFrame:
    """Overlapping classes (so rows near the border exist), 4 features with gaps in x0 (impute
    first), an id and a text column that are not features (null in synthetic rows)."""
    weights = [0.85, 0.15] if n_classes == 2 else [0.78, 0.16, 0.06]
    X, y = make_classification(
        n_samples=rows, n_features=n_features, n_informative=3, n_redundant=0, n_classes=n_classes,
        weights=weights, class_sep=0.8, random_state=seed,
    )  # fmt: skip
    frame = pl.DataFrame({f"x{i}": X[:, i] for i in range(n_features)})
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 17 == 0).then(None).otherwise(pl.col("x0")).alias("x0"),
        id=pl.int_range(pl.len()),
        note=pl.lit("n") + pl.int_range(pl.len()).cast(pl.String),
        y=pl.Series(NAMES[y]),
    )


def recipe(step: dict, target: str = "y") -> prepkit.Recipe:
    features = {"regex": "^x[0-9]+$"}
    steps = [
        {"step": "impute", "columns": features},
        {"columns": features, **step},
        {"step": "scale", "columns": features},
    ]
    return prepkit.load_recipe({"target": target, "seed": 11, "steps": steps})


def same_state(a, b, path="state") -> None:
    """Plain JSON data equal, floats to 1e-12 relative (integers and text exactly)."""
    if isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=0), (path, a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), (path, a, b)
        for key in a:
            same_state(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same_state(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def assert_same_run(r: prepkit.Recipe, frame: pl.DataFrame, batch_size: int = 700):
    """Both engines: equal rows (1e-12), fitted states, report rows in/out, changes and
    warnings; returns (memory, stream) outputs."""
    memory = r.run(frame, write=False, engine="memory")
    stream = r.run(frame, write=False, engine="stream", batch_size=batch_size)
    assert stream.report.engine["name"] == "stream"
    out_m, out_s = memory.outputs["train"], stream.outputs["train"]
    assert_frame_equal(out_s, out_m, rel_tol=1e-12, abs_tol=1e-12)
    a, b = memory.fitted.to_dict(), stream.fitted.to_dict()
    assert a["output_schema"] == b["output_schema"]
    for sa, sb in zip(a["steps"], b["steps"], strict=True):
        same_state(sa["state"], sb["state"], sa["id"])
    for ra, rb in zip(memory.fitted.report.steps, stream.fitted.report.steps, strict=True):
        assert (ra.rows_in, ra.rows_out) == (rb.rows_in, rb.rows_out), ra.id
        assert ra.changes == rb.changes, ra.id
        assert ra.warnings == rb.warnings, ra.id
    return out_m, out_s


CASES = {
    "adasyn-binary": (2, {"step": "adasyn", "n_neighbors": 4}),
    # 16 features: scikit-learn searches all rows by brute force (distances rounded otherwise)
    "adasyn-binary-16-features": (2, {"step": "adasyn"}),
    "adasyn-3-classes": (3, {"step": "adasyn"}),
    "adasyn-one-class-of-3": (3, {"step": "adasyn", "sampling_strategy": {"mango": 1_500}}),
    "borderline-1-binary": (2, {"step": "borderline_smote", "mark_synthetic": True}),
    "borderline-1-3-classes": (3, {"step": "borderline_smote", "m_neighbors": 7}),
    "borderline-2-binary": (2, {"step": "borderline_smote", "kind": "borderline-2"}),
    "borderline-2-3-classes": (
        3,
        {"step": "borderline_smote", "kind": "borderline-2", "k_neighbors": 3},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_stream_equals_memory(name):
    n_classes, step = CASES[name]
    frame = classes(n_classes=n_classes, n_features=16 if "16" in name else 4)
    memory, stream = assert_same_run(recipe(step), frame)
    added = stream.height - frame.height
    assert added > 1_000  # the minority classes grown, over rows from every batch
    assert stream.head(frame.height)["id"].to_list() == list(range(frame.height))
    assert stream.tail(added)["id"].null_count() == added  # synthetic rows follow, ids null
    if step.get("mark_synthetic"):
        assert stream["synthetic"].to_list() == [False] * frame.height + [True] * added


def test_borderline_2_interpolates_toward_other_classes():
    """borderline-2 is not borderline-1 under another name: same rows in danger (so the same
    number of rows added), other synthetic values."""
    frame = classes(n_classes=3)
    one = assert_same_run(recipe({"step": "borderline_smote"}), frame)[1]
    two = assert_same_run(recipe({"step": "borderline_smote", "kind": "borderline-2"}), frame)[1]
    assert one.height == two.height
    assert not one.tail(one.height - frame.height).equals(two.tail(two.height - frame.height))


def test_boolean_target_and_a_float_ratio():
    frame = classes(n_classes=2).with_columns(y=pl.col("y") == "apple")
    step = {"step": "adasyn", "sampling_strategy": 0.5, "mark_synthetic": True}
    memory, stream = assert_same_run(recipe(step), frame, batch_size=1_300)
    assert stream["y"].dtype == pl.Boolean and stream.height > frame.height


def test_classes_already_balanced_pass_unchanged():
    """Nothing to grow: the rows come out as they came in (marked as originals), on both."""
    rng = np.random.default_rng(4)
    frame = pl.DataFrame({"x0": rng.normal(size=1_000), "x1": rng.normal(size=1_000)})
    frame = frame.with_columns(y=pl.Series(["a", "b"] * 500))
    features = {"regex": "^x[0-9]+$"}
    samplers = [
        {"step": "borderline_smote", "kind": "borderline-1"},
        {"step": "borderline_smote", "kind": "borderline-2"},
        {"step": "adasyn"},
        {"step": "smote"},
        {"step": "oversample"},
    ]
    for step in samplers:
        alone = prepkit.load_recipe(
            {"target": "y", "steps": [{"columns": features, "mark_synthetic": True, **step}]}
        )
        stream = assert_same_run(alone, frame, batch_size=300)[1]
        assert_frame_equal(stream, frame.with_columns(synthetic=pl.lit(False)))


def test_cli_stream_equals_memory(tmp_path: Path):
    data = tmp_path / "in.parquet"
    classes(4_000, n_classes=3, seed=2).write_parquet(data)
    (tmp_path / "r.yaml").write_text(
        "target: y\nsteps:\n"
        "  - {step: impute, columns: [x0, x1, x2, x3]}\n"
        "  - {step: borderline_smote, columns: [x0, x1, x2, x3], kind: borderline-2}\n"
        "  - {step: adasyn, columns: [x0, x1, x2, x3], sampling_strategy: {zebra: 3500}}\n"
        "  - {step: scale, columns: [x0, x1, x2, x3]}\n"
    )
    reports, outs = {}, {}
    for engine in ("memory", "stream"):
        out = tmp_path / engine / "out.parquet"
        result = CliRunner().invoke(
            app,
            ["run", str(tmp_path / "r.yaml"), "-i", str(data), "-o", str(out), "--engine",
             engine, "--batch-size", "1000", "--json", "--quiet"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        reports[engine], outs[engine] = json.loads(result.stdout), pl.read_parquet(out)
    assert reports["stream"]["engine"]["name"] == "stream"
    assert_frame_equal(outs["stream"], outs["memory"], rel_tol=1e-12, abs_tol=1e-12)
    for a, b in zip(reports["memory"]["steps"], reports["stream"]["steps"], strict=True):
        assert (a["rows_in"], a["rows_out"], a["changes"]) == (
            b["rows_in"], b["rows_out"], b["changes"],
        )  # fmt: skip
    assert reports["stream"]["steps"][2]["changes"]["rows_synthesized"] > 0


def test_they_no_longer_block_the_stream_engine():
    r = prepkit.load_recipe(
        {"target": "y", "steps": [
            {"step": "adasyn"}, {"step": "borderline_smote"},
            {"step": "borderline_smote", "kind": "borderline-2"}, {"step": "svm_smote"},
        ]}
    )  # fmt: skip
    assert [s.name for s in blocking_steps(r.steps)] == ["svm_smote"]


# -- memory checks ---------------------------------------------------------------------------------
def test_refused_when_the_grown_classes_cannot_fit(monkeypatch):
    frame = classes(3_000)
    monkeypatch.setattr("prepkit.engines.available_memory", lambda: 2**16)
    for step in ({"step": "adasyn"}, {"step": "borderline_smote"}):
        with pytest.raises(DataError) as error:
            recipe(step).run(frame, write=False, engine="stream", batch_size=700)
        minority = int((frame["y"] == "apple").sum())
        assert f"holds the classes it grows in memory: 'apple' ({minority:,} rows)" in str(
            error.value
        )
        assert "grow fewer rows" in error.value.hint


def test_borderline_2_refused_when_the_rows_it_interpolates_toward_cannot_fit(monkeypatch):
    """The grown class fits (first check), the other-class neighbours of its rows in danger
    do not (second check, before they are read)."""
    answers = iter([2**40, 2**12])
    monkeypatch.setattr("prepkit.engines.available_memory", lambda: next(answers))
    step = {"step": "borderline_smote", "kind": "borderline-2"}
    with pytest.raises(DataError, match=r"also holds the [\d,]+ rows of other classes") as error:
        recipe(step).run(classes(3_000), write=False, engine="stream", batch_size=700)
    assert "kind: borderline-1" in error.value.hint and next(answers, None) is None


def test_adasyn_without_other_class_neighbours_fails_alike_on_both_engines():
    """Classes far apart: imbalanced-learn's ADASYN refuses (no neighbour of another class);
    both engines turn that into the same DataError naming the step."""
    rng = np.random.default_rng(0)
    frame = pl.DataFrame(
        {
            "x0": np.r_[rng.normal(0, 1, 900), rng.normal(100, 1, 100)],
            "y": ["a"] * 900 + ["b"] * 100,
        }
    )
    r = prepkit.load_recipe({"target": "y", "steps": [{"step": "adasyn"}]})
    messages = []
    for engine in ("memory", "stream"):
        with pytest.raises(DataError, match="Not any neigbours belong to the majority") as error:
            r.run(frame, write=False, engine=engine, batch_size=300)
        messages.append(error.value.message.split(": ", 1)[1])
    assert messages[0].split("RuntimeError")[1] == messages[1].split("RuntimeError")[1]


# -- the neighbour search --------------------------------------------------------------------------
@pytest.mark.parametrize("n_features", [3, 20])  # k-d tree and brute force on all rows
def test_streamed_neighbours_equal_scikit_learns_search_on_all_rows(n_features):
    rng = np.random.default_rng(n_features)
    X = rng.normal(size=(5_000, n_features))
    queries = X[rng.choice(len(X), 400, replace=False)]
    k = 11
    algorithm = search_algorithm(len(X), n_features, k)
    assert algorithm == ("kd_tree" if n_features == 3 else "brute")
    search = StreamedNeighbours(queries, k, algorithm)
    edges = [0, 5, 700, 1_400, 2_000, 2_003, 4_100, 5_000]  # a batch of 3 rows, fewer than k
    for lo, hi in zip(edges, edges[1:], strict=False):
        search.add(X[lo:hi], values=np.arange(lo, hi) * 7)
    distances, positions = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(queries)
    np.testing.assert_array_equal(search.positions, positions)
    np.testing.assert_array_equal(search.distances, distances)  # bit for bit
    np.testing.assert_array_equal(search.values, positions * 7)
    assert not search.label_ties(k - 1).any() and not search.equal_pairs(k - 1).any()


@pytest.mark.parametrize(
    ("rows", "features", "k"), [(5_000, 4, 6), (5_000, 16, 6), (40, 4, 20), (41, 4, 20)]
)
def test_search_algorithm_is_scikit_learns_choice(rows, features, k):
    fitted = NearestNeighbors(n_neighbors=k).fit(
        np.random.default_rng(0).normal(size=(rows, features))
    )
    assert search_algorithm(rows, features, k) == fitted._fit_method


def test_exact_duplicates_are_ordered_by_position():
    """Rows at exactly the same distance (here: exact copies) come in stream order; the
    distances and the set of rows within each tie are scikit-learn's, whose own order among
    them is that of its search (not asserted: it is not part of its contract)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3_000, 3))
    copies = np.r_[350:500, 2_000:2_150]  # of the first 300 rows: in their batch and a later one
    X[copies] = X[:300]
    search = StreamedNeighbours(X[:300], 5, "kd_tree")
    for lo in range(0, len(X), 700):
        search.add(X[lo : lo + 700], values=np.zeros(min(700, len(X) - lo), dtype=np.int64))
    distances, positions = NearestNeighbors(n_neighbors=5).fit(X).kneighbors(X[:300])
    np.testing.assert_array_equal(search.distances, distances)
    np.testing.assert_array_equal(search.positions[:, :2], np.c_[np.arange(300), copies])
    np.testing.assert_array_equal(np.sort(search.positions[:, :2]), np.sort(positions[:, :2]))
    tied = search.equal_pairs(4)  # neighbours among the first 300 rows have copies too
    assert tied[:, 0].all() and tied[:, 1:].any()
    assert (search.positions[:, :4][tied] < search.positions[:, 1:5][tied]).all()
    assert not search.label_ties(4).any()  # copies of one value: no order changes a label


def test_known_neighbours_answer_only_what_they_know():
    X = np.random.default_rng(0).normal(size=(10, 2))
    known = [(np.array([1, 4]), np.array([[1, 0, 2], [4, 9, 8]]))]
    est = clone(KnownNeighbours(3, rows=10, known=known))  # imbalanced-learn clones it
    assert est.known[0][1].tolist() == [[1, 0, 2], [4, 9, 8]]
    assert est.fit(X).kneighbors(X[[1, 4]], return_distance=False).tolist() == known[0][1].tolist()
    with pytest.raises(ValueError, match="no known neighbours for these 2 queries"):
        est.kneighbors(X[[1, 5]], return_distance=False)
    # fitted on other rows (one class), it searches like NearestNeighbors
    real = NearestNeighbors(n_neighbors=3).fit(X[:6]).kneighbors(X[:6], return_distance=False)
    assert est.fit(X[:6]).kneighbors(X[:6], return_distance=False).tolist() == real.tolist()


# -- ties: what the stream engine says when scikit-learn's order could matter ----------------------
def test_whole_row_duplicates_give_the_memory_rows():
    """Copies of whole rows (features and label) are at the same distance as their originals,
    but any order of them gives the same labels and the same features: rows equal, no warning."""
    frame = classes(3_000).with_columns(pl.col("x0").fill_null(0.0))
    frame = pl.concat([frame, frame.head(900)])
    for step in ({"step": "adasyn"}, {"step": "borderline_smote", "kind": "borderline-2"}):
        assert_same_run(recipe(step), frame)


@pytest.mark.parametrize("kind", ["cross-class copies", "whole numbers"])
def test_ties_that_can_change_the_rows_are_reported(kind):
    """Rows copied with another label, or features rounded to whole numbers (many rows at equal
    distances): which tied row comes first is scikit-learn's search order in memory and row
    order here, so the rows may differ; the stream engine warns and counts the rows affected."""
    frame = classes(3_000).with_columns(pl.col("x0").fill_null(0.0))
    if kind == "cross-class copies":
        relabelled = frame.head(600).with_columns(
            y=pl.when(pl.col("y") == "zebra").then(pl.lit("apple")).otherwise(pl.lit("zebra"))
        )
        frame = pl.concat([frame, relabelled])
    else:
        frame = frame.with_columns(pl.col(f"x{i}").round(0) for i in range(4))
    for step in ({"step": "adasyn"}, {"step": "borderline_smote", "kind": "borderline-2"}):
        run = recipe(step).run(frame, write=False, engine="stream", batch_size=700)
        warnings = [w for s in run.report.steps for w in s.warnings if TIES in w]
        assert len(warnings) == 1, run.report.steps[1].warnings
        assert int(warnings[0].split(" rows")[0].replace(",", "")) > 50
        memory = recipe(step).run(frame, write=False, engine="memory")
        assert not any(TIES in w for s in memory.report.steps for w in s.warnings)
