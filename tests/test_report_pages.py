"""The `inspect` and `drift` HTML pages: their content equals the profile's and the drift result's,
they are offline (nothing loaded from anywhere, no script), and a real Chromium shows them without
a single console message. The browser check itself is tested: a page with a script error or an
image from the internet is caught."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from browser import render, require_chromium  # tests/ is on sys.path (no __init__.py)

from prepkit.drifts import drift, drift_files
from prepkit.inspection import inspect
from prepkit.io import read_table
from prepkit.report.drift_html import bin_labels, drift_html, drift_sections
from prepkit.report.inspect_html import inspect_html

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
ONLINE = [
    re.compile(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", re.I),
    re.compile(r"<script", re.I),
    re.compile(r"@import", re.I),
    re.compile(r"url\(\s*['\"]?\s*(https?:)?//", re.I),
    re.compile(r"<link\b", re.I),
]


def _profile(name: str, target: str, label_issues: bool = False) -> dict:
    return inspect(read_table(str(SAMPLE / name)), target, label_issues=label_issues).to_dict()


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, tuple[dict, str, Path]]:
    """name -> (the data shown, the page, the page's file)."""
    folder = tmp_path_factory.mktemp("pages")
    built = {
        "churn": _profile("churn.csv", "churned"),
        "reviews": _profile("reviews.csv", "label"),
        "label_noise": _profile("label_noise.csv", "team", label_issues=True),
    }
    out = {name: (p, inspect_html(p, f"{name}.csv")) for name, p in built.items()}
    churn = drift_files(str(SAMPLE / "churn.csv"), str(SAMPLE / "churn_new.csv")).to_dict()
    out["drift_churn"] = (churn, drift_html(churn, "churn.csv", "churn_new.csv"))
    shifted = drift(*_shifted_pair()).to_dict()
    out["drift_shifted"] = (shifted, drift_html(shifted, "reference", "shifted"))
    files = {}
    for name, (data, html) in out.items():
        path = folder / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        files[name] = (data, html, path)
    return files


def _shifted_pair() -> tuple[pl.DataFrame, pl.DataFrame]:
    """`x` shifts by two standard deviations, `plan` gains an unseen category, `stable` stays."""
    rng = np.random.default_rng(7)
    n = 1000
    reference = pl.DataFrame({
        "x": rng.normal(0, 1, n),
        "plan": rng.choice(["free", "basic", "pro"], n),
        "stable": rng.normal(5, 2, n),
    })  # fmt: skip
    new = pl.DataFrame({
        "x": rng.normal(2, 1, n),
        "plan": rng.choice(["free", "basic", "pro", "enterprise"], n, p=[0.3, 0.3, 0.1, 0.3]),
        "stable": rng.normal(5, 2, n),
    })  # fmt: skip
    return reference, new


def _svgs(html: str) -> int:
    return html.count("<svg")


def _section(html: str, anchor: str) -> str:
    """The markup from the heading with id `anchor` to the next h2."""
    start = html.index(f"<h2 id='{anchor}'>")
    end = html.find("<h2", start + 1)
    return html[start : end if end > 0 else len(html)]


def _table_rows(fragment: str) -> list[list[str]]:
    """The cells of the first table of `fragment` (text only), header row left out."""
    body = fragment[fragment.index("<table") : fragment.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)[1:]
    return [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)] for r in rows
    ]


# ---- content ----------------------------------------------------------------------------------


def test_the_problems_table_is_the_profiles(pages):
    import html as markup

    for name in ("churn", "reviews", "label_noise"):
        profile, page, _ = pages[name]
        rows = _table_rows(_section(page, "problems"))
        assert len(rows) == len(profile["problems"]) > 0
        for row, problem in zip(rows, profile["problems"], strict=True):
            kind, column, message, _evidence, fix = (markup.unescape(c) for c in row)
            assert (kind, message, fix) == (problem["kind"], problem["message"], problem["fix"])
            assert column == (problem["column"] or "(all rows)")
    churn = _table_rows(_section(pages["churn"][1], "problems"))
    evidence = {(r[0], r[1]): r[3] for r in churn}
    assert evidence["outliers", "support_calls"] == "count: 138"
    assert evidence["duplicate_rows", "(all rows)"] == "rows: 40"
    assert evidence["class_imbalance", "churned"] == "ratio: 8.714; minority: 1; minority rows: 210"


def test_the_inspect_pages_show_the_summary_classes_and_label_issues(pages):
    profile, page, _ = pages["churn"]
    summary = _section(page, "summary")
    assert "<th>rows</th><td class=n>2,040</td>" in summary
    assert "<th>duplicate rows</th><td class=n>40 (2.0%)</td>" in summary
    assert "<th>target</th><td class=n>churned</td>" in summary
    classes = _table_rows(_section(page, "classes"))
    assert classes == [["0", "1,830", "89.7%"], ["1", "210", "10.3%"]]
    label = pages["label_noise"][1]
    issues = pages["label_noise"][0]["label_issues"]
    assert f"<b>{issues['issues']:,}</b> rows" in _section(label, "label-issues")
    per_class = _table_rows(_section(label, "label-issues"))
    assert {r[0]: int(r[1]) for r in per_class} == issues["per_class"]
    # one card per column, and the figures of a numeric column
    assert page.count("class='card'") == len(profile["columns"])
    age = page[page.index("id='col-age'") :].split("</div>")[0]
    assert "<th>median</th><td class=n>45</td>" in age and "105 (5.1%)" in age


def test_the_inspect_pages_draw_only_charts_that_tell_something(pages):
    # churn: classes, missing values, 7 numeric histograms, 5 top-value charts
    assert _svgs(pages["churn"][1]) == 1 + 1 + 7 + 5
    # reviews: classes and the label's values; no chart for the id (every value once) nor the
    # free text; no missing-values chart (nothing is missing)
    reviews = pages["reviews"][1]
    assert _svgs(reviews) == 2 and "id='missing'" not in reviews
    # label_noise: classes, 5 histograms, 3 top-value charts (the text subject: none)
    assert _svgs(pages["label_noise"][1]) == 1 + 5 + 3
    # a constant column gets no histogram, a one-value column no bar chart, one column with
    # missing values a sentence instead of a one-bar chart, a single class no class chart
    frame = pl.DataFrame({
        "same": [3.0] * 50,
        "one": ["a"] * 50,
        "some": [None, *range(49)],
        "y": ["k"] * 50,
    })  # fmt: skip
    page = inspect_html(inspect(frame, "y").to_dict())
    assert _svgs(page) == 1  # the histogram of `some`
    assert "Only <a href='#col-some'>some</a> has missing values: 1 (2.0%)" in page
    assert "id='classes'" not in page


def test_the_drift_page_flags_the_columns_drift_result_says(pages):
    for name in ("drift_churn", "drift_shifted"):
        result, page, _ = pages[name]
        rows = _table_rows(_section(page, "drift-figures"))
        shown = [r[0] for r in rows if r[-1] != "no"]
        assert shown == result["drifted"]
        assert [r[0] for r in rows][: len(shown)] == shown  # drifted first
        assert _svgs(page) == len(result["columns"])  # one distribution per column
        cards = re.findall(r"<div class='card' id='drift-([^']+)'", page)
        assert cards[: len(shown)] == result["drifted"]
    result, page, _ = pages["drift_shifted"]
    assert result["drifted"] == ["x", "plan"]
    summary = _section(page, "drift-summary")
    assert "2 of 3 columns drifted" in summary
    assert "<th>PSI</th><td class=n>0.2</td>" in summary
    # the figures over their threshold, and only those, are highlighted
    figures = _section(page, "drift-figures")
    plan = result["columns"]["plan"]
    assert set(plan["over_threshold"]) == {"psi", "unseen_fraction"}
    assert f"<span class='bad'>{plan['unseen_fraction']:.1%}</span>" in figures
    stable = figures[figures.index("#drift-stable") :].split("</tr>")[0]
    assert "class='bad'" not in stable
    # the unseen category is on the chart, labelled
    assert "enterprise (unseen)" in page
    churn = pages["drift_churn"][1]
    assert "2 of 12 columns drifted" in churn and "out of range, PSI" in churn


def test_drift_sections_are_the_pages_body(pages):
    result, page, _ = pages["drift_shifted"]
    sections = drift_sections(result)
    assert len(sections) == 3 and all(s in page for s in sections)


def test_categorical_drift_lists_the_top_categories_and_the_unseen_ones():
    reference = pl.DataFrame({"c": [f"v{i:02d}" for i in range(30) for _ in range(30 - i)]})
    new = pl.DataFrame({"c": ["v00"] * 5 + ["v29"] * 3 + ["zz"] * 2 + ["yy"]})
    found = drift(reference, new).to_dict()["columns"]["c"]["categories"]
    assert found["names"][:3] == ["v00", "v01", "v02"] and len(found["names"]) == 22
    assert found["names"][20:] == ["zz", "yy"]  # unseen, beyond the top 20
    assert found["reference"][:2] == [30, 29] and found["new"][:2] == [5, 0]
    assert found["new"][20:] == [2, 1] and found["reference"][20:] == [0, 0]
    assert (found["reference_total"], found["new_total"]) == (465, 11)


def test_numeric_bins_are_labelled_by_their_ranges():
    assert bin_labels([1.0, 2.5, 1000.0]) == ["< 1", "1–2.5", "2.5–1,000", "≥ 1,000"]
    assert bin_labels([]) == ["all"]


def test_the_pages_are_offline(pages):
    for name, (_, page, _) in pages.items():
        for pattern in ONLINE:
            assert not pattern.search(page), f"{name}: {pattern.pattern}"


# ---- in a real browser --------------------------------------------------------------------------


def test_chromium_shows_every_page_without_a_console_message(pages, tmp_path):
    require_chromium()
    headings = {
        "churn": ["Summary", "Problems", "Class balance of 'churned'", "Missing values", "Columns"],
        "reviews": ["Summary", "Problems", "Class balance of 'label'", "Columns"],
        "label_noise": ["Summary", "Problems", "Label issues", "Class balance of 'team'"],
        "drift_churn": ["Drift summary", "Figures per column", "Distributions"],
        "drift_shifted": ["Drift summary", "Figures per column", "Distributions"],
    }
    for name, (_, page, path) in pages.items():
        shown = render(path)
        assert shown.console == [], name
        found = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<h2[^>]*>(.*?)</h2>", shown.dom)]
        found = [h.replace("&#x27;", "'").replace("&#39;", "'") for h in found]
        assert all(h in found for h in headings[name]), (name, found)
        assert shown.dom.count("<svg") == _svgs(page)
    png = tmp_path / "shot.png"
    render(pages["drift_shifted"][2], screenshot=png, width=1000, height=700)
    assert struct.unpack(">II", png.read_bytes()[16:24]) == (1000, 700)


def test_the_browser_check_catches_script_errors_and_requests_to_the_internet(tmp_path):
    require_chromium()
    script = tmp_path / "script.html"
    script.write_text(
        "<!doctype html><title>t</title><h1>x</h1><script>console.error('boom')</script>"
    )
    image = tmp_path / "image.html"
    image.write_text("<!doctype html><title>t</title><img src='http://example.com/x.png'>")
    thrown = tmp_path / "thrown.html"
    thrown.write_text("<!doctype html><title>t</title><script>nothing.here()</script>")
    assert render(script).console == ["console.error: boom"]
    [blocked] = render(image).console  # the network is blocked: the name does not resolve
    assert "ERR_NAME_NOT_RESOLVED" in blocked and "http://example.com/x.png" in blocked
    [error] = render(thrown).console
    assert error.startswith("uncaught: ReferenceError: nothing is not defined")


def test_the_browser_blocks_the_network(tmp_path, monkeypatch):
    """Even a server on this machine is out of reach: every host name fails to resolve. Without
    the resolver rule the same page loads its image (so the rule is what blocks it)."""
    import functools
    import http.server
    import threading

    import browser

    require_chromium()
    (tmp_path / "x.png").write_bytes(sorted(SAMPLE.glob("images/*/*.png"))[0].read_bytes())
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            requests.append(self.path)

    handler = functools.partial(Handler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        page = tmp_path / "local.html"
        address = f"http://localhost:{server.server_port}/x.png"
        page.write_text(f"<!doctype html><title>t</title><img src='{address}'>")
        assert render(page).console == [
            f"network error: Failed to load resource: net::ERR_NAME_NOT_RESOLVED ({address})"
        ]
        assert requests == []
        open_flags = [f for f in browser.FLAGS if not f.startswith("--host-resolver-rules")]
        monkeypatch.setattr(browser, "FLAGS", open_flags)
        assert render(page).console == []
        server.shutdown()
    assert requests == ["/x.png"]
