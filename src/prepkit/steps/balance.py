"""Options and planning shared by the steps that add augmented items to grow classes.

`copies: N` adds N augmented items (rows, images) per item; `balance: true` adds them to the
smaller classes only, up to `target_count` or as `sampling_strategy` asks (imbalanced-learn's
meaning). This module registers no step.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from prepkit.errors import DataError
from prepkit.steps.base import StepParams


class BalanceParams(StepParams):
    """The mode options: `copies: N`, or `balance: true` with `target_count`/`sampling_strategy`."""

    copies: int | None = Field(
        None, ge=1, description="Augmented copies added per item (row or image)."
    )
    balance: bool = Field(
        False,
        description="Add augmented items to the smaller classes only, until they reach the "
        "target counts. Classes come from the recipe's `target` (images: `label` by default).",
    )
    target_count: int | None = Field(
        None, ge=1, description="Balance: items (rows or images) wanted in every smaller class."
    )
    sampling_strategy: (
        Literal["auto", "minority", "not majority", "not minority", "all"] | float | dict[str, int]
    ) = Field(
        "auto",
        description="Balance: which classes to grow, as in imbalanced-learn (auto, minority, "
        "'not majority', 'not minority', all, a ratio, or {class: items wanted}).",
    )

    @model_validator(mode="after")
    def _one_mode(self) -> BalanceParams:
        self.check_balance_mode()
        return self

    def check_balance_mode(self) -> None:
        """Raise on contradicting mode options (a subclass overriding `_one_mode` calls this)."""
        if (self.copies is None) == (not self.balance):
            raise ValueError("give either `copies: N` or `balance: true` (exactly one)")
        if not self.balance and (self.target_count is not None or self.sampling_strategy != "auto"):
            raise ValueError("target_count and sampling_strategy need `balance: true`")
        if self.target_count is not None and self.sampling_strategy != "auto":
            raise ValueError("give either target_count or sampling_strategy, not both")


def plan_balance(counts: dict[str, int], target_count: int | None, strategy: Any) -> dict[str, int]:
    """Augmented items to add per class, counted as imbalanced-learn's over-samplers count.

    counts: items per class (labelled, usable ones); target_count wins over `strategy` (a
    `sampling_strategy` value). A single class needs nothing unless `target_count` is given.
    """
    if target_count is not None:
        return {c: max(0, target_count - n) for c, n in counts.items()}
    if len(counts) < 2:
        return dict.fromkeys(counts, 0)
    from imblearn.utils import check_sampling_strategy

    y = np.repeat(np.array(list(counts), dtype=object), list(counts.values()))
    if isinstance(strategy, dict):
        unknown = [str(k) for k in strategy if str(k) not in counts]
        if unknown:
            raise DataError(
                f"sampling_strategy names class(es) not in the data: {', '.join(unknown)}",
                hint=f"classes: {', '.join(counts)}",
            )
        strategy = {str(k): int(v) for k, v in strategy.items()}
    try:
        wanted = check_sampling_strategy(strategy, y, "over-sampling")
    except ValueError as exc:
        raise DataError(f"sampling_strategy: {exc}") from None
    return {c: int(wanted.get(c, 0)) for c in counts}
