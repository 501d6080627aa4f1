"""Run reports: what each step did, in counts, as data (JSON) and as a table (rich)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StepReport:
    """One step's effect on one frame (the training part, or new data at apply time)."""

    id: str
    step: str
    phase: str
    part: str = "train"
    rows_in: int = 0
    rows_out: int = 0
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)
    learned: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False
    # what the HTML report draws (see `prepkit.report.figures`); {} when not collected
    figures: dict[str, Any] = field(default_factory=dict)


def _add(a: Any, b: Any) -> Any:
    """Sum counts of two reports of the same step: numbers add, dicts add key by key."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a + b
    if isinstance(a, dict) and isinstance(b, dict):
        return {
            k: _add(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in {**a, **b}
        }
    return a


class CountedWarning(str):
    """A warning about `count` values that names a few of them, and that adds over batches.

    Applied batch by batch, a step warns once per batch; `merge_step_reports` keeps one warning
    per `key` (within the step), with the counts added and the examples joined, so the report
    says it once, with the total. `template` has the fields {count}, {s} ("s" when count > 1)
    and {examples} ("'x', 'y' and 3 more"; braces elsewhere doubled, as for `str.format`).
    `examples` are the distinct values as shown, of which there are `distinct`; up to KEPT are
    kept for merging, and once more were seen, the number of distinct values is a lower bound.
    """

    SHOWN = 5  # examples named in the text
    KEPT = 1000  # examples kept to merge with other batches' (bounded memory)

    key: str
    template: str
    count: int
    examples: tuple[str, ...]
    distinct: int
    exact: bool

    def __new__(
        cls, key: str, template: str, count: int, examples: Sequence[str], distinct: int,
        exact: bool = True,
    ) -> CountedWarning:  # fmt: skip
        more = distinct - cls.SHOWN
        named = ", ".join(examples[: cls.SHOWN])
        if more > 0:
            named += f" and {'' if exact else 'at least '}{more} more"
        text = template.format(count=count, s="s" * (count > 1), examples=named)
        self = super().__new__(cls, text)
        self.key, self.template, self.count = key, template, count
        self.examples, self.distinct, self.exact = tuple(examples[: cls.KEPT]), distinct, exact
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # copies and pickles keep the fields
        fields = (self.key, self.template, self.count, self.examples, self.distinct, self.exact)
        return (CountedWarning, fields)

    def merge(self, other: CountedWarning) -> CountedWarning:
        examples = tuple(dict.fromkeys(self.examples + other.examples))
        # the union counts the distinct values exactly only if both kept all of theirs
        complete = len(self.examples) == self.distinct and len(other.examples) == other.distinct
        distinct = len(examples) if complete else max(self.distinct, other.distinct, len(examples))
        exact = complete and self.exact and other.exact
        return CountedWarning(
            self.key, self.template, self.count + other.count, examples, distinct, exact
        )


def _merge_warnings(first: list[str], other: list[str]) -> list[str]:
    """The warnings of two batches: each once, counted warnings with the same key merged."""
    merged = list(first)
    at = {w.key: i for i, w in enumerate(merged) if isinstance(w, CountedWarning)}
    for w in other:
        if isinstance(w, CountedWarning) and w.key in at:
            merged[at[w.key]] = merged[at[w.key]].merge(w)  # type: ignore[attr-defined]
        elif w not in merged:
            if isinstance(w, CountedWarning):
                at[w.key] = len(merged)
            merged.append(w)
    return merged


def merge_step_reports(first: StepReport, other: StepReport) -> StepReport:
    """One report for a step applied batch by batch (counts summed; rates are those of the first)."""
    from prepkit.report.figures import merge_figures

    return StepReport(
        id=first.id, step=first.step, phase=first.phase, part=first.part,
        rows_in=first.rows_in + other.rows_in, rows_out=first.rows_out + other.rows_out,
        columns_added=first.columns_added, columns_removed=first.columns_removed,
        changes=_add(first.changes, other.changes), learned=first.learned,
        warnings=_merge_warnings(first.warnings, other.warnings),
        seconds=round(first.seconds + other.seconds, 4), skipped=first.skipped,
        figures=merge_figures(first.figures, other.figures),
    )  # fmt: skip


@dataclass
class CheckResult:
    metric: str
    value: float | None
    min: float | None = None
    max: float | None = None
    passed: bool = True
    message: str = ""


@dataclass
class RunReport:
    """Everything a run did: per-part step reports, outputs written, checks, timings."""

    recipe: str
    steps: list[StepReport] = field(default_factory=list)
    parts: dict[str, dict[str, int]] = field(default_factory=dict)  # part -> {rows, columns}
    outputs: dict[str, str] = field(default_factory=dict)  # part -> path written
    fitted: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "ok"
    engine: dict[str, Any] = field(default_factory=dict)  # name, reason, batch_size
    drift: dict[str, Any] | None = None  # `prepkit apply`: the new data against the training data

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def steps_for(self, part: str) -> list[StepReport]:
        return [s for s in self.steps if s.part == part]

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]
