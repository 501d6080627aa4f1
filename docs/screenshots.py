"""Screenshots of prepkit's HTML reports for the docs: `python docs/screenshots.py [NAME ...]`.

Each entry of `PAGES` builds one report page from the sample data; the page is written to a
temporary folder, opened in headless Chromium (tests/browser.py) and its top `WIDTH` x `HEIGHT`
pixels saved as docs/NAME.png. A page that writes anything to the browser console stops the run.
Add a report by adding a function `name -> page HTML` to `PAGES`.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
WIDTH, HEIGHT = 1280, 1600
sys.path.insert(0, str(ROOT / "tests"))  # the Chromium helper the tests use

from browser import chromium, render  # noqa: E402


def inspect_page() -> str:
    """`prepkit inspect sample_data/churn.csv --target churned`."""
    from prepkit.inspection import inspect
    from prepkit.io import read_table
    from prepkit.report.inspect_html import inspect_html

    profile = inspect(read_table(str(SAMPLE / "churn.csv")), "churned")
    return inspect_html(profile.to_dict(), "sample_data/churn.csv")


def drift_page() -> str:
    """`prepkit drift sample_data/churn.csv sample_data/churn_new.csv`."""
    from prepkit.drifts import drift_files
    from prepkit.report.drift_html import drift_html

    result = drift_files(str(SAMPLE / "churn.csv"), str(SAMPLE / "churn_new.csv"))
    return drift_html(result.to_dict(), "sample_data/churn.csv", "sample_data/churn_new.csv")


def _report_page(*args: str) -> str:
    """The HTML report of a `prepkit` command (its --report, in a temporary folder)."""
    from typer.testing import CliRunner

    from prepkit.cli import app

    with tempfile.TemporaryDirectory(prefix="prepkit-report-") as folder:
        report = Path(folder) / "report.html"
        done = CliRunner().invoke(app, [*(a.replace("{tmp}", folder) for a in args),
                                        "--report", str(report), "-q"])  # fmt: skip
        if done.exit_code != 0:
            raise SystemExit(f"prepkit {' '.join(args)} failed: {done.output}")
        return report.read_text(encoding="utf-8")


def run_page() -> str:
    """`prepkit run recipes/imbalanced.yaml --report run.html`."""
    return _report_page("run", str(ROOT / "recipes" / "imbalanced.yaml"), "-o", "{tmp}/out.csv",
                        "--fitted", "{tmp}/out.prepkit.json")  # fmt: skip


def apply_page() -> str:
    """`prepkit apply` of the tabular recipe to sample_data/churn_new.csv, with its drift."""
    from typer.testing import CliRunner

    from prepkit.cli import app

    with tempfile.TemporaryDirectory(prefix="prepkit-fit-") as folder:
        fitted = f"{folder}/churn.prepkit.json"
        CliRunner().invoke(app, ["run", str(ROOT / "recipes" / "tabular.yaml"), "-o",
                                 f"{folder}/churn.parquet", "--fitted", fitted, "-q"])  # fmt: skip
        return _report_page("apply", fitted, str(SAMPLE / "churn_new.csv"), "-o",
                            "{tmp}/new.csv")  # fmt: skip


PAGES: dict[str, Callable[[], str]] = {
    "inspect": inspect_page,
    "drift": drift_page,
    "run": run_page,
    "apply": apply_page,
}


def main(names: list[str]) -> int:
    if chromium() is None:
        print("Chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 1
    unknown = [n for n in names if n not in PAGES]
    if unknown:
        print(f"unknown page {', '.join(unknown)}; pages: {', '.join(PAGES)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="prepkit-screenshots-") as folder:
        for name in names or list(PAGES):
            page = Path(folder) / f"{name}.html"
            page.write_text(PAGES[name](), encoding="utf-8")
            target = ROOT / "docs" / f"{name}.png"
            shown = render(page, screenshot=target, width=WIDTH, height=HEIGHT)
            if shown.console:
                print(f"{name}: the page wrote to the console:", *shown.console, sep="\n  ")
                return 1
            print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
