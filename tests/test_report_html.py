"""The HTML run report: its numbers are those of the data, and the page is self-contained."""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from prepkit.io import read_table
from prepkit.recipe import load_recipe
from prepkit.report import RunReport, StepReport, merge_step_reports
from prepkit.report.figures import MISSING_LABEL, collecting, step_figures
from prepkit.report.html import render_html
from prepkit.runner import run_recipe
from prepkit.split import split_frame

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
SAMPLE = ROOT / "sample_data"
sys.path.insert(0, str(Path(__file__).parent))


class _Tables(HTMLParser):
    """The page's tables as lists of rows of cell texts, and its tags' attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.attrs: list[tuple[str, dict[str, str | None]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(page: str) -> _Tables:
    parser = _Tables()
    parser.feed(page)
    return parser


def table_with(page: str, *headers: str) -> list[dict[str, str]]:
    """The first table whose header row starts with `headers`, as dicts by header."""
    for rows in parse(page).tables:
        if rows and rows[0][: len(headers)] == list(headers):
            return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    raise AssertionError(f"no table with headers {headers}")


def as_int(text: str) -> int:
    return int(text.replace(",", ""))


def run(recipe: str, tmp: Path, data: pl.DataFrame | None = None, **extra):
    """The recipe run into `tmp`, its report collected and written as HTML."""
    loaded = load_recipe(RECIPES / f"{recipe}.yaml")
    output = tmp / (recipe if recipe == "images" else f"{recipe}.parquet")
    with collecting():
        result = run_recipe(
            loaded, data, output=output, report_path=tmp / "report.html",
            fitted_path=tmp / "fitted.json", **extra,
        )  # fmt: skip
    return loaded, result, (tmp / "report.html").read_text()


def missing(frame: pl.DataFrame) -> dict[str, int]:
    """Null and NaN values per column, by polars, for the columns with any."""
    nulls = frame.null_count().row(0, named=True)
    for c, t in frame.schema.items():
        if t.is_float():
            nulls[c] += int(frame[c].is_nan().sum())
    return {c: n for c, n in nulls.items() if n}


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("imbalanced")
    recipe, result, page = run("imbalanced", tmp)
    spec = recipe.spec
    parts = split_frame(read_table(SAMPLE / "churn.csv"), spec.split, spec.target, spec.seed)
    return result, page, parts


@pytest.fixture(scope="module")
def label_noise(tmp_path_factory):
    """The label-noise recipe on its first 500 rows: fewer issues than the page lists."""
    tmp = tmp_path_factory.mktemp("label_noise")
    frame = read_table(SAMPLE / "label_noise.csv").head(500)
    recipe, result, page = run("label_noise", tmp, frame)
    spec = recipe.spec
    parts = split_frame(frame, spec.split, spec.target, spec.seed)
    return result, page, parts


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    _, result, page = run("text", tmp_path_factory.mktemp("text"))
    return result, page, None


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    _, result, page = run("images", tmp_path_factory.mktemp("images"))
    return result, page, None


# each fixture: (the run's result, its HTML page, the parts before the steps or None)
PAGES = ["imbalanced", "label_noise", "text", "images"]


def test_missing_values_are_polars_counts_of_each_part_before_and_after(imbalanced):
    result, page, parts = imbalanced
    rows = {r["column"]: r for r in table_with(page, "column", "train before")}
    for part in ("train", "valid", "test"):
        before, after = missing(parts[part]), missing(result.outputs[part])
        assert set(rows) == set(missing(parts["train"])) | set(missing(result.outputs["train"]))
        for column, row in rows.items():
            assert as_int(row[f"{part} before"]) == before.get(column, 0), (part, column)
            assert as_int(row[f"{part} after"]) == after.get(column, 0), (part, column)
    # smote's synthetic rows have no id or date: the table says so
    assert as_int(rows["customer_id"]["train after"]) == 1134
    assert "<h2>Missing values</h2>" in page and page.count("missing values</text>") >= 1


def test_smote_class_counts_are_the_outputs_value_counts(imbalanced):
    result, page, parts = imbalanced
    card = page[page.index("data-step='smote_3'") :]
    rows = table_with(card, "class", "before", "after", "change")
    counts = dict(result.outputs["train"]["churned"].value_counts().iter_rows())
    given = dict(parts["train"]["churned"].value_counts().iter_rows())
    assert {int(r["class"]): as_int(r["after"]) for r in rows} == counts
    assert {int(r["class"]): as_int(r["before"]) for r in rows} == given
    assert counts[0] == counts[1] == 1281  # balanced
    # per part at the input and output: valid and test keep their real balance
    balance = {r["class"]: r for r in table_with(page, "class", "train before")}
    for part in ("valid", "test"):
        real = dict(parts[part]["churned"].value_counts().iter_rows())
        for label in ("0", "1"):
            assert as_int(balance[label][f"{part} before"]) == real[int(label)]
            assert as_int(balance[label][f"{part} after"]) == real[int(label)]


def test_flagged_rows_are_exactly_the_rows_dropped(label_noise):
    result, page, parts = label_noise
    step = result.report.steps[0]
    listed = table_with(page, "row", "ticket_id", "given", "suggested", "quality")
    train_in, train_out = parts["train"], result.outputs["train"]
    removed = train_in.join(train_out.select("ticket_id"), on="ticket_id", how="anti")
    assert 0 < removed.height == step.changes["dropped"] <= 50
    assert {int(r["ticket_id"]) for r in listed} == set(removed["ticket_id"].to_list())
    labels = dict(train_in.select("ticket_id", "team").iter_rows())
    for r in listed:
        assert r["given"] == labels[int(r["ticket_id"])]
        assert int(train_in["ticket_id"][int(r["row"])]) == int(r["ticket_id"])
    scores = [float(r["quality"]) for r in listed]
    assert scores == sorted(scores)  # worst first
    assert step.figures["id_column"] == "ticket_id" and "flagged_rows" not in step.changes


def test_flagged_rows_are_bounded_and_worst_first(tmp_path):
    _, result, page = run("label_noise", tmp_path)
    changes, figures = result.report.steps[0].changes, result.report.steps[0].figures
    listed = table_with(page, "row", "ticket_id", "given", "suggested", "quality")
    assert changes["issues"] > 50 and len(listed) == len(figures["flagged_rows"]) == 50
    dropped = set(
        read_table(SAMPLE / "label_noise.csv")["ticket_id"].to_list()
    ) - set(result.outputs["train"]["ticket_id"].to_list()) - set(
        result.outputs["valid"]["ticket_id"].to_list() + result.outputs["test"]["ticket_id"].to_list()
    )  # fmt: skip
    assert {int(r["ticket_id"]) for r in listed} <= dropped
    assert f"50 of {changes['issues']} listed" in page


def test_augmented_texts_are_shown_cut_and_are_in_the_output(text):
    result, page, _ = text
    step = next(s for s in result.report.steps if s.step == "augment_text")
    rows = table_with(page, "original", "augmented")
    assert 0 < len(rows) <= 5
    assert [(r["original"], r["augmented"]) for r in rows] == [
        (e["source"], e["augmented"]) for e in step.changes["examples"][:5]
    ]
    texts = set(result.outputs["train"]["text"].to_list())
    for r in rows:
        assert len(r["augmented"]) <= 300
        assert r["augmented"] in texts or r["augmented"].endswith("…")


def test_image_thumbnails_are_embedded(images):
    result, page, _ = images
    examples = next(s for s in result.report.steps if s.step == "augment_images").changes[
        "examples"
    ]
    imgs = [a for tag, a in parse(page).attrs if tag == "img"]
    assert 0 < len(examples) <= 8 and len(imgs) == 2 * len(examples)
    assert all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    assert {e["label"] for e in examples} == {"square", "triangle"}  # the classes grown
    assert all(e["copy"] >= 1 for e in examples)
    # the image data set's own columns (seed is null for originals) are no missing values
    assert "<h2>Missing values</h2>\n<p>No missing values" in page


@pytest.mark.parametrize("name", PAGES)
def test_page_is_self_contained(request, name):
    page = request.getfixturevalue(name)[1]
    assert page.startswith("<!doctype html>") and "<script" not in page.lower()
    links = [v for _, a in parse(page).attrs for k, v in a.items() if k in ("src", "href")]
    assert not [v for v in links if v and not v.startswith(("data:", "#"))]
    assert not re.search(r"@import|url\(\s*['\"]?https?:", page)


@pytest.mark.parametrize("name", PAGES)
def test_one_histogram_per_changed_column_shown(request, name):
    result, page, _ = request.getfixturevalue(name)
    shown = {
        (s.id, c)
        for s in result.report.steps_for("train")
        for c in s.figures.get("distributions", {})
    }
    cards = {
        (a["data-step"], a["data-column"])
        for tag, a in parse(page).attrs
        if tag == "div" and "dist" in (a.get("class") or "").split()
    }
    assert cards == shown
    assert page.count("class='card dist'") == len(shown)


def test_changed_columns_are_the_steps_columns(imbalanced, text):
    result = imbalanced[0]
    distributions = {
        s.id: set(s.figures.get("distributions", {})) for s in result.report.steps_for("train")
    }
    assert distributions["impute_1"] == {"age", "monthly_charges", "total_charges"}
    assert distributions["impute_2"] == {"region"}
    assert "smote_3" not in {k for k, v in distributions.items() if v}  # rows changed: classes
    region = result.report.steps[1].figures["distributions"]["region"]
    assert region["kind"] == "categorical" and MISSING_LABEL in region["before"]["top"]
    assert MISSING_LABEL not in region["after"]["top"]
    lengths = text[0].report.steps[0].figures["distributions"]["text"]
    assert lengths["kind"] == "lengths"  # free text: its lengths
    assert sum(lengths["before"]["counts"]) == 400


def test_numeric_histograms_count_every_finite_value():
    before = pl.DataFrame(
        {"x": [1.0, 2.0, None, float("nan"), 4.0], "y": ["a", "b", "a", "c", "a"]}
    )
    after = before.with_columns(pl.col("x").fill_nan(None).fill_null(2.0) * 10)
    with collecting():
        figures = step_figures(before, after, None)
    x = figures["distributions"]["x"]
    assert set(figures["distributions"]) == {"x"}  # y did not change
    assert sum(x["before"]["counts"]) == 3 and sum(x["after"]["counts"]) == 5
    assert not x["shared"]  # 1-4 and 10-40 do not overlap: each on its own edges
    assert x["after"]["edges"][0] == 10 and x["after"]["edges"][-1] == 40
    assert figures["missing_before"] == {"x": 2} and figures["missing_after"] == {}


def test_nothing_is_collected_outside_collecting():
    frame = pl.DataFrame({"x": [1.0, None]})
    assert step_figures(frame, frame.fill_null(0), None) == {}


def test_batches_add_counts_and_drop_histograms():
    def report(frame: pl.DataFrame) -> StepReport:
        with collecting():
            figures = step_figures(frame, frame.fill_null(0), "y")
        return StepReport(id="i", step="impute", phase="transform", figures=figures)

    a = report(pl.DataFrame({"x": [1, None, 3], "y": ["a", "b", "a"]}))
    b = report(pl.DataFrame({"x": [None, None, 9], "y": ["b", "b", None]}))
    merged = merge_step_reports(a, b).figures
    assert merged["missing_before"] == {"x": 3, "y": 1}
    assert merged["classes_before"] == {"a": 2, "b": 3, MISSING_LABEL: 1}
    assert "distributions" not in merged and merged["distributions_dropped"]
    page = render_html(RunReport(recipe="r", steps=[merge_step_reports(a, b)],
                                 engine={"name": "stream"}))  # fmt: skip
    assert "distributions: memory engine only" in page


def test_drift_panel(imbalanced):
    from prepkit.drifts import drift

    result = imbalanced[0]
    report = RunReport(
        recipe="r", drift=drift(imbalanced[2]["train"], imbalanced[2]["test"]).to_dict()
    )
    page = render_html(report)
    assert "Drift of the new data" in page and "monthly_charges" in page
    assert report.to_dict()["drift"] == report.drift
    assert RunReport(recipe="r").to_dict()["drift"] is None
    assert result.report.to_dict()["steps"][0]["figures"]["missing_before"]


def test_page_opens_in_chromium_without_console_messages(imbalanced, images, tmp_path):
    browser = pytest.importorskip("browser")
    browser.require_chromium()
    for name, page in (("imbalanced", imbalanced[1]), ("images", images[1])):
        path = tmp_path / f"{name}.html"
        path.write_text(page)
        rendered = browser.render(path)
        assert rendered.console == [], name
        assert "Class balance" in rendered.dom
