"""Run reports: what each step did, in counts, as data (JSON) and as a table (rich)."""

from __future__ import annotations

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


def merge_step_reports(first: StepReport, other: StepReport) -> StepReport:
    """One report for a step applied batch by batch (counts summed; rates are those of the first)."""
    return StepReport(
        id=first.id, step=first.step, phase=first.phase, part=first.part,
        rows_in=first.rows_in + other.rows_in, rows_out=first.rows_out + other.rows_out,
        columns_added=first.columns_added, columns_removed=first.columns_removed,
        changes=_add(first.changes, other.changes), learned=first.learned,
        warnings=list(dict.fromkeys(first.warnings + other.warnings)),
        seconds=round(first.seconds + other.seconds, 4), skipped=first.skipped,
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def steps_for(self, part: str) -> list[StepReport]:
        return [s for s in self.steps if s.part == part]

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]
