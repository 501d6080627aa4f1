"""How an evaluation is shown: a rich table (terminal), an HTML summary (notebooks) and a
self-contained HTML report with PR and ROC curves drawn by matplotlib (inline SVG)."""

from __future__ import annotations

import html
import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from prepkit.evaluation.compare import TEST
from prepkit.evaluation.metrics import METRICS, summary

if TYPE_CHECKING:
    from rich.table import Table

    from prepkit.evaluation import Evaluation

_STYLE = {"better": "green", "worse": "bold red"}


_SHORT = {"no significant difference": "n.s."}


def _cell(values: list[float]) -> str:
    s = summary(values)
    return f"{s['mean']:.3f}±{s['std']:.3f}"


def _interval(c: dict[str, Any]) -> str:
    if math.isnan(c["low"]):
        return f"{c['mean']:+.3f}"
    return f"{c['mean']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]"


def tables(result: Evaluation) -> list[Table]:
    """One table per comparison: metric, both variants' mean ± std, the difference and verdict."""
    from rich.table import Table

    recipe = result.variant("recipe")
    out = []
    title = (
        f"{result.recipe}: {result.model}, {result.cv}-fold x {result.repeats} "
        f"({result.rows} rows, minority class {result.minority!r})"
    )
    if len(result.variants) == 1:
        table = Table(title=title)
        table.add_column("metric")
        table.add_column("recipe (mean ± std)", justify="right")
        for metric in METRICS:
            table.add_row(metric, _cell(recipe.metrics[metric]))
        return [table]
    seen: list[list[str]] = []
    for other in result.variants[1:]:
        steps = [s.id for s in other.recipe.steps]
        if steps in seen:  # an ablation that is the baseline: the same numbers again
            continue
        seen.append(steps)
        table = Table(
            title=title if not out else None,
            caption=f"{other.name}: {other.description}; n.s.: no significant difference",
        )
        table.add_column("metric", no_wrap=True)
        table.add_column("recipe", justify="right")
        table.add_column(other.name, justify="right")
        table.add_column(f"difference [{result.confidence:.0%} CI]", justify="right")
        table.add_column("p", justify="right")
        table.add_column("verdict")
        for metric in METRICS:
            c = result.comparison(metric, "recipe", other.name)
            style = _STYLE.get(c["verdict"], "")
            table.add_row(
                metric, _cell(recipe.metrics[metric]), _cell(other.metrics[metric]),
                _interval(c), "" if math.isnan(c["p_value"]) else f"{c['p_value']:.3f}",
                f"[{style}]{c['verdict']}[/]" if style else _SHORT.get(c["verdict"], c["verdict"]),
            )  # fmt: skip
        out.append(table)
    return out


def print_tables(result: Evaluation) -> None:
    from rich.console import Console

    console = Console(stderr=True)
    for table in tables(result):
        console.print(table)
    unused = result.variant("recipe").unused
    if unused:
        names = ", ".join(f"{k} ({v})" for k, v in unused.items())
        console.print(f"not model inputs (not numeric): {names}", markup=False, highlight=False)
    fits = result.cv * result.repeats
    for variant in result.variants:
        for message, count in variant.warnings.items():
            console.print(
                f"{variant.name}: the model warned in {count} of {fits} fits: {message}",
                markup=False, highlight=False, soft_wrap=True,
            )  # fmt: skip
    console.print(f"test: {TEST}", markup=False, highlight=False)


def summary_html(result: Evaluation) -> str:
    """The comparison tables as an HTML fragment (Jupyter's `_repr_html_`)."""
    parts = [
        f"<p><b>{html.escape(result.recipe)}</b>: {html.escape(result.model)}, {result.cv}-fold "
        f"x {result.repeats}, {result.rows} rows, minority class "
        f"{html.escape(repr(result.minority))}</p>"
    ]
    recipe = result.variant("recipe")
    for other in result.variants[1:] or [recipe]:
        rows = []
        for metric in METRICS:
            if other is recipe:
                rows.append(f"<tr><td>{metric}</td><td>{_cell(recipe.metrics[metric])}</td></tr>")
                continue
            c = result.comparison(metric, "recipe", other.name)
            rows.append(
                f"<tr><td>{metric}</td><td>{_cell(recipe.metrics[metric])}</td>"
                f"<td>{_cell(other.metrics[metric])}</td><td>{_interval(c)}</td>"
                f"<td class='{c['verdict'].split()[0]}'>{c['verdict']}</td></tr>"
            )
        head = (
            "<tr><th>metric</th><th>recipe</th></tr>"
            if other is recipe
            else f"<tr><th>metric</th><th>recipe</th><th>{html.escape(other.name)}</th>"
            f"<th>difference [{result.confidence:.0%} CI]</th><th>verdict</th></tr>"
        )
        caption = "" if other is recipe else f"<caption>{html.escape(other.description)}</caption>"
        parts.append(f"<table class='prepkit-eval'>{caption}{head}{''.join(rows)}</table>")
    return "\n".join(parts)


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def curves_svg(result: Evaluation, y: np.ndarray) -> str:
    """PR and ROC curves of the minority class from the first repeat's out-of-fold scores."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    minority = result.classes.index(result.minority)
    positive = (y == minority).astype(int)
    figure, (pr, roc) = plt.subplots(1, 2, figsize=(10, 4.2))
    for variant in result.variants:
        if variant.oof is None:
            continue
        score = variant.oof[:, minority]
        precision, recall, _ = precision_recall_curve(positive, score)
        pr.plot(
            recall, precision, label=f"{variant.name} (AP-like area {auc(recall, precision):.3f})"
        )
        fpr, tpr, _ = roc_curve(positive, score)
        roc.plot(fpr, tpr, label=f"{variant.name} (AUC {auc(fpr, tpr):.3f})")
    pr.axhline(positive.mean(), color="grey", linestyle=":", label="chance")
    roc.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    pr.set(title="precision-recall (out of fold)", xlabel="recall", ylabel="precision")
    roc.set(title="ROC (out of fold)", xlabel="false positive rate", ylabel="true positive rate")
    for axis in (pr, roc):
        axis.legend(loc="lower left" if axis is pr else "lower right", fontsize=8)
    svg = _svg(figure)
    plt.close(figure)
    return svg


def report_html(result: Evaluation, y: np.ndarray) -> str:
    """A self-contained page: the tables, the curves and the confusion matrices."""
    matrices = []
    for variant in result.variants:
        if variant.confusion is None:
            continue
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in result.classes)
        rows = "".join(
            f"<tr><th>{html.escape(str(c))}</th>"
            + "".join(f"<td>{n}</td>" for n in variant.confusion[i])
            + "</tr>"
            for i, c in enumerate(result.classes)
        )
        matrices.append(
            f"<table class='prepkit-eval'><caption>{html.escape(variant.name)}: true (rows) x "
            f"predicted, summed over {result.cv * result.repeats} folds</caption>"
            f"<tr><th></th>{head}</tr>{rows}</table>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>prepkit evaluate: {html.escape(result.recipe)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table.prepkit-eval {{ border-collapse: collapse; margin: 1em 0; }}
.prepkit-eval td, .prepkit-eval th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
.prepkit-eval caption {{ text-align: left; font-style: italic; }}
td.better {{ color: #157a2c; font-weight: bold; }} td.worse {{ color: #b00020; font-weight: bold; }}
</style></head><body>
<h1>prepkit evaluate</h1>
{summary_html(result)}
<p>Paired differences: {html.escape(TEST)}, {result.confidence:.0%} intervals.</p>
<h2>Curves</h2>
{curves_svg(result, y)}
<h2>Confusion matrices</h2>
{"".join(matrices)}
</body></html>
"""
