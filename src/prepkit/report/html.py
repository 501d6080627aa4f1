"""The run report as one self-contained HTML page (`prepkit run/apply --report x.html`).

What a data scientist looks for after a run, from the report alone: the parts and checks, the
missing values of each column at the start and end of the steps, the class balance of every part
and of each step that changed the training rows, each changed column's distribution before and
after its step, the rows label_issues flagged, a few augmented images and texts, the drift of
new data (apply), and per step its counts and details. Plots come from `prepkit.report.figures`
summaries (`StepReport.figures`), drawn by matplotlib as inline SVG; thumbnails are embedded as
`data:` URIs. Nothing is loaded from anywhere, and the page has no scripts.
"""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prepkit.report import RunReport, StepReport
from prepkit.report.page import Raw, escape, facts, number, page, plot, table

BEFORE, AFTER = "#9aa7b4", "#4c78a8"  # the colours of "before" and "after" in every plot
PARTS = ("train", "valid", "test", "new")
THUMB = 96  # pixels of a thumbnail's longer side
IMAGE_PAIRS = 8
TEXT_PAIRS = 5
LABEL = 28  # characters of an axis label


def render_html(report: RunReport) -> str:
    """The whole page for `report`."""
    applying = "new" in report.parts
    title = f"prepkit {'apply' if applying else 'run'} report: {report.recipe}"
    body = [
        _summary(report),
        _drift(report.drift),
        _missing(report),
        _classes(report),
        _distributions(report),
        _label_issues(report),
        _images(report),
        _texts(report),
        _steps(report),
    ]
    return page(title, [b for b in body if b], _subtitle(report))


# -- header ---------------------------------------------------------------------------------------
def _subtitle(report: RunReport) -> str:
    engine = report.engine.get("name")
    reason = report.engine.get("reason")
    where = f"engine {engine}" + (f" ({reason})" if reason else "") if engine else ""
    return " · ".join(p for p in (f"status {report.status}", where, f"{report.seconds:.2f} s") if p)


def _summary(report: RunReport) -> str:
    out = ["<h2>Summary</h2>"]
    pairs: list[tuple[str, Any]] = [("status", Raw(_status(report.status)))]
    if report.engine:
        pairs.append(("engine", report.engine.get("name", "")))
        if report.engine.get("reason"):
            pairs.append(("engine chosen because", report.engine["reason"]))
        if report.engine.get("batch_size"):
            pairs.append(("batch size", report.engine["batch_size"]))
    pairs.append(("seconds", round(report.seconds, 3)))
    if report.fitted:
        pairs.append(("fitted artifact", report.fitted))
    out.append(facts(pairs))
    if report.parts:
        rows = [
            [part, shape.get("rows", 0), shape.get("columns", 0), report.outputs.get(part, "")]
            for part, shape in report.parts.items()
        ]
        out.append(table(["part", "rows", "columns", "written to"], rows, numeric=(1, 2)))
    if report.checks:
        rows = [
            [c.metric, c.value, c.min, c.max, Raw(_status("pass" if c.passed else "fail")),
             c.message]
            for c in report.checks
        ]  # fmt: skip
        out.append("<h3>Checks</h3>")
        out.append(table(["metric", "value", "min", "max", "result", "check"], rows, (1, 2, 3)))
    return "\n".join(out)


def _status(status: str) -> str:
    good = status in ("ok", "pass")
    return f"<span class={'pass' if good else 'fail'}>{escape(status)}</span>"


def _drift(drift: dict[str, Any] | None) -> str:
    if not drift:
        return ""
    try:
        from prepkit.report.drift_html import drift_sections
    except ImportError:  # pragma: no cover - the drift page is another module
        detail = json.dumps(drift, indent=2, default=str)
        return f"<h2>Drift</h2><pre>{escape(detail)}</pre>"
    return "<h2>Drift of the new data</h2>\n" + "\n".join(drift_sections(drift))


# -- per part: the first and last step's figures ----------------------------------------------------
def _parts(report: RunReport) -> list[str]:
    seen = list(dict.fromkeys(s.part for s in report.steps))
    return [p for p in PARTS if p in seen] + [p for p in seen if p not in PARTS]


def _ran(report: RunReport, part: str) -> list[StepReport]:
    """The steps that ran on `part` with figures (skipped steps have none)."""
    return [s for s in report.steps_for(part) if not s.skipped and s.figures]


def _ends(report: RunReport, part: str, key: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """`key` ("missing", "classes") at the input of the part's first step and the output of its
    last step, or None when not collected."""
    ran = _ran(report, part)
    if not ran or f"{key}_before" not in ran[0].figures or f"{key}_after" not in ran[-1].figures:
        return None
    return ran[0].figures[f"{key}_before"], ran[-1].figures[f"{key}_after"]


def _not_collected(report: RunReport) -> str:
    engine = report.engine.get("name", "")
    return (
        "<p class='sub'>not collected for this run"
        + (f" (engine {escape(engine)})" if engine and engine not in ("memory", "stream") else "")
        + "</p>"
    )


def _missing(report: RunReport) -> str:
    parts = [(p, e) for p in _parts(report) if (e := _ends(report, p, "missing"))]
    out = ["<h2>Missing values</h2>"]
    if not parts:
        return "\n".join([*out, _not_collected(report)]) if report.steps else ""
    columns = list(dict.fromkeys(c for _, (b, a) in parts for c in [*b, *a]))
    if not columns:
        out.append(
            "<p>No missing values (null or NaN) in any column, before or after the steps.</p>"
        )
        return "\n".join(out)
    out.append(
        "<p class='sub'>missing values (null, and NaN in float columns) per column at the input "
        "of the first step and the output of the last step</p>"
    )
    headers = ["column"] + [f"{p} {w}" for p, _ in parts for w in ("before", "after")]
    rows = [[c] + [side.get(c, 0) for _, ends in parts for side in ends] for c in columns]
    out.append(table(headers, rows, numeric=tuple(range(1, len(headers)))))
    name, (before, after) = parts[0]
    out.append(_paired_bars(columns, before, after, "missing values", f"{name}: "))
    return "\n".join(out)


def _paired_bars(
    labels: Sequence[str], before: dict[str, Any], after: dict[str, Any], unit: str, title: str = ""
) -> str:
    """Horizontal bars of `before` and `after` per label."""
    shown = [_short(label) for label in labels]
    b = [before.get(label, 0) for label in labels]
    a = [after.get(label, 0) for label in labels]

    def draw(fig: Any, ax: Any) -> None:
        at = list(range(len(labels)))
        ax.barh([p - 0.2 for p in at], b, height=0.4, color=BEFORE, label="before")
        ax.barh([p + 0.2 for p in at], a, height=0.4, color=AFTER, label="after")
        ax.set_yticks(at, shown)
        ax.invert_yaxis()
        ax.set_xlabel(unit)
        ax.set_title(f"{title}before and after the steps" if title else "", loc="left")
        _legend(ax)

    return f"<figure class=chart>{plot(draw, 5.6, 0.8 + 0.3 * len(labels))}</figure>"


# -- classes --------------------------------------------------------------------------------------
def _classes(report: RunReport) -> str:
    parts = [(p, e) for p in _parts(report) if (e := _ends(report, p, "classes"))]
    steps = [
        s for s in report.steps_for("train")
        if not s.skipped and s.rows_in != s.rows_out and "classes_after" in s.figures
    ]  # fmt: skip
    if not parts:
        return ""
    out = ["<h2>Class balance</h2>"]
    labels = list(dict.fromkeys(k for _, (b, a) in parts for k in [*b, *a]))
    headers = ["class"] + [f"{p} {w}" for p, _ in parts for w in ("before", "after")]
    rows = [[c] + [side.get(c, 0) for _, ends in parts for side in ends] for c in labels]
    totals = ["all"] + [sum(side.values()) for _, ends in parts for side in ends]
    out.append(
        "<p class='sub'>rows per class at the input of the first step and the output of the last "
        "step of each part</p>"
    )
    out.append(table(headers, [*rows, totals], numeric=tuple(range(1, len(headers)))))
    out.append(_class_chart(labels, parts))
    if steps:
        out.append("<h3>Steps that changed the training rows</h3><div class=grid>")
        for s in steps:
            before, after = s.figures.get("classes_before", {}), s.figures["classes_after"]
            names = list(dict.fromkeys([*before, *after]))
            rows = [[c, before.get(c, 0), after.get(c, 0), after.get(c, 0) - before.get(c, 0)]
                    for c in names]  # fmt: skip
            out.append(
                f"<div class='card classes' data-step='{escape(s.id)}'><h3>{escape(s.id)} "
                f"<small>({escape(s.step)})</small></h3>"
                + table(["class", "before", "after", "change"], rows, numeric=(1, 2, 3))
                + _paired_bars(names, before, after, "rows")
                + "</div>"
            )
        out.append("</div>")
    return "\n".join(out)


def _class_chart(labels: list[str], parts: list[tuple[str, Any]]) -> str:
    """One panel per part: its class counts before and after the steps."""
    shown = [_short(label, 16) for label in labels]

    def draw(fig: Any, axes: Any) -> None:
        for ax, (part, (before, after)) in zip(_flat(axes), parts, strict=True):
            at = list(range(len(labels)))
            ax.bar([p - 0.2 for p in at], [before.get(c, 0) for c in labels], 0.4, color=BEFORE,
                   label="before")  # fmt: skip
            ax.bar([p + 0.2 for p in at], [after.get(c, 0) for c in labels], 0.4, color=AFTER,
                   label="after")  # fmt: skip
            ax.set_xticks(at, shown, rotation=30 if len(labels) > 3 else 0, ha="right"
                          if len(labels) > 3 else "center")  # fmt: skip
            ax.set_title(part)
        _flat(axes)[0].set_ylabel("rows")
        _legend(_flat(axes)[-1])

    width = min(11.0, 1.2 + (1.0 + 0.45 * len(labels)) * len(parts))
    return f"<figure class=chart>{plot(draw, width, 2.4, ncols=len(parts))}</figure>"


def _legend(ax: Any) -> None:
    """The before / after legend, right of the plot (never over the bars)."""
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _flat(axes: Any) -> list[Any]:
    return list(axes.flat) if hasattr(axes, "flat") else [axes]


# -- distributions --------------------------------------------------------------------------------
def _distributions(report: RunReport) -> str:
    train = report.steps_for("train")
    steps = [s for s in train if s.figures.get("distributions")]
    out = ["<h2>Distributions before and after each step</h2>"]
    if not steps:  # none changed (left out), or the engine saw the rows batch by batch
        dropped = any(s.figures.get("distributions_dropped") for s in train)
        batched = report.engine.get("name") not in (None, "memory")
        if dropped or (batched and any(s.figures for s in train)):
            return "\n".join([*out, "<p class='sub'>distributions: memory engine only</p>"])
        return ""
    out.append(
        "<p class='sub'>training part; each step that kept its rows and changed a column's "
        "values: the column before (grey) and after (blue). Missing values are left out of the "
        "histograms (see Missing values).</p>"
    )
    for s in steps:
        shown = s.figures["distributions"]
        more = s.figures.get("distributions_more", 0)
        out.append(f"<h3>{escape(s.id)} <small>({escape(s.step)})</small></h3><div class=grid>")
        for column, dist in shown.items():
            out.append(
                f"<div class='card dist' data-step='{escape(s.id)}' "
                f"data-column='{escape(column)}'><h3>{escape(column)}</h3>"
                f"{_distribution(dist)}</div>"
            )
        out.append("</div>")
        if more:
            out.append(f"<p class='sub'>and {more} more column{'s' * (more > 1)} changed</p>")
    return "\n".join(out)


def _distribution(dist: dict[str, Any]) -> str:
    if dist["kind"] in ("numeric", "lengths"):
        return _histograms(dist)
    return _top_values(dist)


def _histograms(dist: dict[str, Any]) -> str:
    """Before and after on one axis (shared bin edges), or side by side (each its own)."""
    b, a = dist["before"], dist["after"]
    unit = "characters" if dist["kind"] == "lengths" else ""

    def bars(ax: Any, side: dict[str, Any], colour: str, label: str) -> None:
        edges = side["edges"]
        ax.stairs(side["counts"], edges, color=colour, fill=label == "before", alpha=0.85,
                  label=label, linewidth=1.4)  # fmt: skip
        ax.tick_params(axis="x", labelsize=7)
        if unit:
            ax.set_xlabel(unit)

    if dist["shared"]:

        def draw(fig: Any, ax: Any) -> None:
            bars(ax, b, BEFORE, "before")
            bars(ax, a, AFTER, "after")
            ax.set_ylabel("rows")
            _legend(ax)

        return plot(draw, 3.2, 1.8)

    def draw_apart(fig: Any, axes: Any) -> None:
        bars(axes[0], b, BEFORE, "before")
        bars(axes[1], a, AFTER, "after")
        axes[0].set_title("before", fontsize=8)
        axes[1].set_title("after", fontsize=8)
        axes[0].set_ylabel("rows")

    return plot(draw_apart, 4.2, 1.8, ncols=2)


def _top_values(dist: dict[str, Any]) -> str:
    b, a = dist["before"], dist["after"]
    names = list(dict.fromkeys([*a["top"], *b["top"]]))[:10]
    note = ""
    rest = max(b["distinct"], a["distinct"]) - len(names)
    if rest > 0:
        note = f"<p class='sub'>{len(names)} most frequent values of {rest + len(names)}</p>"
    shown = [_short(n, 20) for n in names]

    def draw(fig: Any, ax: Any) -> None:
        at = list(range(len(names)))
        ax.barh([p - 0.2 for p in at], [b["top"].get(n, 0) for n in names], 0.4, color=BEFORE,
                label="before")  # fmt: skip
        ax.barh([p + 0.2 for p in at], [a["top"].get(n, 0) for n in names], 0.4, color=AFTER,
                label="after")  # fmt: skip
        ax.set_yticks(at, shown)
        ax.invert_yaxis()
        ax.set_xlabel("rows")
        _legend(ax)

    return plot(draw, 3.2, 0.7 + 0.25 * len(names)) + note


# -- label issues ---------------------------------------------------------------------------------
def _label_issues(report: RunReport) -> str:
    steps = [s for s in report.steps if s.step == "label_issues" and not s.skipped
             and "issues" in s.changes]  # fmt: skip
    if not steps:
        return ""
    out = ["<h2>Label issues</h2>"]
    for s in steps:
        c = s.changes
        listed = s.figures.get("flagged_rows")
        id_name = s.figures.get("id_column")
        what = "dropped" if c.get("dropped") else "relabelled" if c.get("relabelled") else "flagged"
        out.append(
            f"<h3>{escape(s.id)} <small>({escape(s.part)} part)</small></h3>"
            f"<p>{number(c['issues'])} of {number(s.rows_in)} rows flagged as probably "
            f"mislabelled ({what}); per class: "
            + escape(
                ", ".join(f"{k} {number(v)}" for k, v in c.get("issues_per_class", {}).items())
            )
            + "</p>"
        )
        if listed is None:  # the streaming engine: the state's worst rows, without ids
            listed, id_name = c.get("worst", []), None
            note = "the worst rows (positions in the step's input, no ids: memory engine only)"
        else:
            note = "worst first (lowest label quality)"
        if not listed:
            continue
        if len(listed) < c["issues"]:
            note += f"; {len(listed)} of {number(c['issues'])} listed"
        headers = ["row", *([id_name] if id_name else []), "given", "suggested", "quality"]
        rows = [
            [r["row"], *([str(r.get("id"))] if id_name else []), r["given"], r["suggested"],
             r["quality"]]
            for r in listed
        ]  # fmt: skip
        out.append(f"<p class='sub'>{escape(note)}; row: position in the step's input</p>")
        numeric = (0, len(headers) - 1)
        out.append(f"<div class=issues>{table(headers, rows, numeric=numeric)}</div>")
    return "\n".join(out)


# -- images ---------------------------------------------------------------------------------------
def _images(report: RunReport) -> str:
    steps = [s for s in report.steps if s.changes.get("examples") and s.step == "augment_images"]
    if not steps:
        return ""
    out = ["<h2>Augmented images</h2>"]
    for s in steps:
        manifest = _manifest(report.outputs.get(s.part))
        cards = []
        for example in s.changes["examples"][:IMAGE_PAIRS]:
            source, copy = example.get("source"), example.get("copy")
            original = _thumbnail(example.get("original"), manifest, source, 0)
            augmented = _thumbnail(example.get("augmented"), manifest, source, copy)
            if original is None and augmented is None:
                continue
            cards.append(
                "<div class='card pair'>"
                f"<h3>{escape(str(example.get('label') or ''))}</h3>"
                + (original or "<span class=sub>(original not kept)</span>")
                + " → "
                + (augmented or "<span class=sub>(not found)</span>")
                + f"<p class='sub'>{escape(str(source))} · copy {escape(str(copy))}</p></div>"
            )
        out.append(f"<h3>{escape(s.id)}</h3>")
        out.append(
            f"<div class=grid>{''.join(cards)}</div>"
            if cards
            else "<p class='sub'>the image files are no longer there (staged files of the run, "
            "and no output manifest lists them)</p>"
        )
    return "\n".join(out)


def _manifest(output: str | None) -> dict[tuple[str, str], Path]:
    """(source, copy) -> file of an image output folder, from its manifest.csv (when written)."""
    if not output:
        return {}
    folder = Path(output)
    path = folder / "manifest.csv"
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        return {(r["source"], str(r["copy"])): folder / r["path"] for r in csv.DictReader(f)}


def _thumbnail(
    staged: str | None, manifest: dict[tuple[str, str], Path], source: Any, copy: Any
) -> str | None:
    """An <img> of the file (the run's staged file, else the output's), or None."""
    candidates = [Path(staged)] if staged else []
    if (str(source), str(copy)) in manifest:
        candidates.append(manifest[(str(source), str(copy))])
    for path in candidates:
        uri = _data_uri(path)
        if uri:
            return f"<img class=thumb src='{uri}' alt='{escape(path.name)}'>"
    return None


def _data_uri(path: Path, size: int = THUMB) -> str | None:
    """A small PNG of the image at `path` as a data: URI (None when it cannot be read)."""
    import cv2

    from prepkit.images.codec import encode_image, read_image

    if not path.is_file():
        return None
    try:
        image = read_image(path)
    except Exception:  # a thumbnail is optional: an unreadable file is left out
        return None
    height, width = image.shape[:2]
    scale = size / max(height, width)
    if scale < 1:
        image = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA)  # fmt: skip
    data = base64.b64encode(encode_image(image, ".png")).decode("ascii")
    return f"data:image/png;base64,{data}"


# -- texts ----------------------------------------------------------------------------------------
def _texts(report: RunReport) -> str:
    steps = [s for s in report.steps if s.step == "augment_text" and s.changes.get("examples")]
    if not steps:
        return ""
    out = ["<h2>Augmented texts</h2>"]
    for s in steps:
        rows = [[e.get("source"), e.get("augmented")] for e in s.changes["examples"][:TEXT_PAIRS]]
        out.append(f"<h3>{escape(s.id)}</h3>")
        out.append(f"<div class=texts>{table(['original', 'augmented'], rows)}</div>")
    return "\n".join(out)


# -- steps ----------------------------------------------------------------------------------------
def _steps(report: RunReport) -> str:
    out = ["<h2>Steps</h2>"]
    for part in dict.fromkeys(s.part for s in report.steps):
        steps = report.steps_for(part)
        rows = []
        for i, s in enumerate(steps, 1):
            warnings = Raw("<br>".join(f"<span class=warn>{escape(w)}</span>" for w in s.warnings))
            rows.append([
                i, s.id, s.step, s.phase + (" (skipped)" if s.skipped else ""), s.rows_in,
                s.rows_out, _listed(s.columns_added), _listed(s.columns_removed),
                round(s.seconds, 3), warnings,
            ])  # fmt: skip
        out.append(f"<h3>{escape(part)}</h3>")
        headers = ["#", "id", "step", "phase", "rows in", "rows out", "columns added",
                   "columns removed", "seconds", "warnings"]  # fmt: skip
        out.append(table(headers, rows, numeric=(0, 4, 5, 8)))
        for s in steps:
            if s.skipped or not (s.changes or s.learned):
                continue
            detail = json.dumps({"changes": s.changes, "learned": s.learned}, indent=2,
                                default=str, ensure_ascii=False)  # fmt: skip
            out.append(
                f"<details><summary>{escape(s.id)}: changes and learned values</summary>"
                f"<pre>{escape(detail)}</pre></details>"
            )
    return "\n".join(out)


def _listed(names: list[str], most: int = 8) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:most])
    return f"{len(names)}: {shown}" + (f" (+{len(names) - most} more)" if len(names) > most else "")


def _short(text: Any, most: int = LABEL) -> str:
    text = str(text)
    return text if len(text) <= most else text[: most - 1] + "…"
