"""Scaling: centre and scale numeric columns with statistics learned on the training data."""

from __future__ import annotations

import math
import sys
from statistics import NormalDist
from typing import Any, Literal

import polars as pl
from pydantic import Field, FiniteFloat, model_validator

from prepkit.columns import Selector, require_numeric, select_columns
from prepkit.engines.statistics import Missing, Moments, Quantiles, Request
from prepkit.errors import DataError
from prepkit.steps.base import Column, Step, StepContext, StepParams, StepState, register

# scikit-learn's threshold for "this range is zero" (10 * float64 machine epsilon)
_TINY = 10 * 2.220446049250313e-16
_EPS = 2.220446049250313e-16
# A centre this large can make `x - center` overflow although `(x - center) / scale` fits.
_HUGE = 2.0**1000


def _nonzero(scale: float) -> float:
    """scikit-learn's `_handle_zeros_in_scale`: a (near) zero scale becomes 1."""
    return 1.0 if scale < _TINY else scale


def _span(low: float, high: float, width: float) -> float:
    """`(high - low) / width` with a zero span read as 1; finite even where `high - low`
    overflows (values near -1e308 and 1e308) if the quotient fits."""
    span = high - low
    if math.isinf(span) and math.isfinite(low) and math.isfinite(high):
        return (high / 2 - low / 2) / (width / 2)  # halving is exact: the same rounding
    return _nonzero(span) / width


def _refuse_infinite(moments: dict[str, dict[str, Any]]) -> None:
    """Infinite values are an error naming the columns (scikit-learn's scalers refuse them too)."""
    infinite = []
    for c, found in moments.items():
        up, down = found["inf"] - found["neginf"], found["neginf"]
        if up or down:
            kinds = ", ".join(f"{sign}inf: {n}" for sign, n in (("", up), ("-", down)) if n)
            infinite.append(
                f"column '{c}' has {up + down} infinite value{'s' * (up + down > 1)} ({kinds})"
            )
    if infinite:
        raise DataError(
            f"scale: {'; '.join(infinite)}; scale needs finite numbers",
            hint="clip them first (step: outliers, method: iqr, action: clip), replace them "
            "with null, or leave the column out of `columns:`",
        )


class Scaling(StepState):
    """One column's `(x - center) / scale`."""

    center: FiniteFloat
    scale: FiniteFloat

    @model_validator(mode="after")
    def _divides(self) -> Scaling:
        # fit makes no scale this small (a spread near zero becomes 1); dividing by one turns
        # every value into infinity
        if not self.scale >= sys.float_info.min:
            raise ValueError(
                f"scale must be a positive number of at least {sys.float_info.min:.1e}, "
                f"got {self.scale!r}"
            )
        if not math.isfinite(self.center / self.scale):
            raise ValueError(
                f"center {self.center!r} divided by scale {self.scale!r} is not a finite number"
            )
        return self


@register("scale")
class Scale(Step):
    """Centre and scale numeric columns: `(x - center) / scale`, learned at fit time.

    Matches scikit-learn's scalers: `standard` (StandardScaler: mean and population standard
    deviation), `minmax` (MinMaxScaler: maps the training range onto `feature_range`), `robust`
    (RobustScaler: median and interquartile range, linearly interpolated percentiles) and
    `maxabs` (MaxAbsScaler: divide by the largest absolute value). Missing values (null, NaN)
    are ignored when fitting and stay missing. A constant column gets scale 1 (as in
    scikit-learn), so it never produces NaN or infinity. Output columns are float64.

    ```yaml
    - step: scale
      columns: numeric
      method: robust
      quantile_range: [10, 90]
    ```
    """

    class Params(StepParams):
        columns: Selector = Field(
            "numeric", description="Columns to scale (selector); must be numeric."
        )
        method: Literal["standard", "minmax", "robust", "maxabs"] = Field(
            "standard",
            description="Scaler: standard, minmax, robust or maxabs (as in scikit-learn).",
        )
        with_mean: bool = Field(True, description="standard: subtract the mean.")
        with_std: bool = Field(
            True, description="standard: divide by the standard deviation (ddof=0)."
        )
        feature_range: tuple[float, float] = Field(
            (0.0, 1.0), description="minmax: the [min, max] the training range is mapped onto."
        )
        clip: bool = Field(
            False, description="minmax: clip transformed values of new data to feature_range."
        )
        quantile_range: tuple[float, float] = Field(
            (25.0, 75.0),
            description="robust: the percentiles [low, high] whose distance is the scale.",
        )
        with_centering: bool = Field(True, description="robust: subtract the median.")
        with_scaling: bool = Field(True, description="robust: divide by the quantile range.")
        unit_variance: bool = Field(
            False,
            description="robust: also divide by the normal distribution's quantile range, so "
            "normally distributed data ends with variance 1.",
        )

        @model_validator(mode="after")
        def _check(self) -> Scale.Params:
            low, high = self.feature_range
            if low >= high:
                raise ValueError(
                    f"feature_range must be [min, max] with min < max, got [{low}, {high}]"
                )
            q_low, q_high = self.quantile_range
            if not 0 <= q_low <= q_high <= 100:
                raise ValueError(
                    f"quantile_range must satisfy 0 <= low <= high <= 100, got [{q_low}, {q_high}]"
                )
            if self.method != "minmax" and (self.clip or self.feature_range != (0.0, 1.0)):
                raise ValueError("feature_range and clip only apply to method: minmax")
            return self

    def statistics(self, frame: pl.DataFrame, ctx: StepContext) -> list[Request]:
        p = self.params
        columns = select_columns(frame, p.columns, ctx.protected)
        require_numeric(frame, columns, f"scale method '{p.method}'")
        if not columns:
            return []
        # moments count infinite values (refused) for every method; robust: exact quantiles (NaN
        # ignored), as scikit-learn's percentiles
        requests: list[Request] = [Missing(columns[0]), *(Moments(c) for c in columns)]
        if p.method == "robust":
            requests += [self._quantiles(c) for c in columns]
        return requests

    def fit_from(
        self, frame: pl.DataFrame, answers: dict[Any, Any], ctx: StepContext
    ) -> dict[str, Any]:
        p = self.params
        columns = select_columns(frame, p.columns, ctx.protected)
        if not columns:
            return {"method": p.method, "columns": [], "scaling": {}}
        _refuse_infinite({c: answers[Moments(c)] for c in columns})
        scaling: dict[str, dict[str, float]] = {}
        empty = []
        too_wide = []
        for c in columns:
            found = self._center_scale(c, answers)
            if found is None:
                empty.append(c)  # no values at fit time: leave the column as it is
                scaling[c] = {"center": 0.0, "scale": 1.0}
                continue
            center, scale = found
            if not (math.isfinite(center) and math.isfinite(scale)):
                too_wide.append(c)
            scaling[c] = {"center": float(center), "scale": float(scale)}
        if too_wide:
            raise DataError(
                f"scale method '{p.method}': the values of "
                + ", ".join(f"column '{c}'" for c in too_wide)
                + " span more than the largest float64 (about 1.8e308), so the scale is not "
                "a finite number",
                hint="divide the column by a constant first, or clip its outliers "
                "(step: outliers, action: clip)",
            )
        if empty and answers[Missing(columns[0])]["rows"]:
            ctx.warn(f"scale: no values to learn from in {', '.join(empty)}; left unscaled")
        return {"method": p.method, "columns": columns, "scaling": scaling}

    def _quantiles(self, column: str) -> Quantiles:
        """robust: the median and the quantile range's ends."""
        low, high = self.params.quantile_range
        return Quantiles(column, (0.5, low / 100, high / 100))

    def _center_scale(self, column: str, answers: dict[Any, Any]) -> tuple[float, float] | None:
        """The column's centre and scale from the answers; None when it has no values."""
        p = self.params
        if p.method == "robust":
            found = answers[self._quantiles(column)]
            if not found:
                return None
            median, q_low, q_high = found
            scale = 1.0
            if p.with_scaling:
                scale = _span(q_low, q_high, 1.0)
                if p.unit_variance:
                    normal = NormalDist()
                    q_min, q_max = p.quantile_range
                    scale /= normal.inv_cdf(q_max / 100) - normal.inv_cdf(q_min / 100)
            return (median if p.with_centering else 0.0), scale
        moments = answers[Moments(column)]
        if not moments["count"]:
            return None
        if p.method == "standard":
            mean, var, std = moments["mean"], moments["var"], moments["std"]
            # scikit-learn's `_is_constant_feature`: the variance is within rounding error of 0.
            # Tested at a power-of-two scale near 1, which decides exactly the same but cannot
            # overflow (var itself can, for values near 1e308: then from std at that scale)
            size = max(abs(mean), std)
            k = math.frexp(size)[1] if 0 < size < math.inf else 0
            m = math.ldexp(mean, -k)
            v = math.ldexp(var, -2 * k) if math.isfinite(var) else math.ldexp(std, -k) ** 2
            n = moments["count"]
            constant = v <= n * _EPS * v + (n * m * _EPS) ** 2
            scale = 1.0 if constant else std
            return (mean if p.with_mean else 0.0), (scale if p.with_std else 1.0)
        if p.method == "minmax":
            low, high = p.feature_range
            # (x - center) / scale == x * s + m with scikit-learn's s and m
            scale = _span(moments["min"], moments["max"], high - low)
            return moments["min"] - low * scale, scale
        return 0.0, _nonzero(max(abs(moments["min"]), abs(moments["max"])))

    class State(StepState):
        method: Literal["standard", "minmax", "robust", "maxabs"]
        columns: list[Column]
        scaling: dict[Column, Scaling]

        @model_validator(mode="after")
        def _complete(self) -> Scale.State:
            self.entry_for_each(self.columns, self.scaling, "scaling", "center and scale")
            return self

        def made(self, step: Step, columns: dict[str, str]) -> dict[str, str]:
            return dict.fromkeys(self.columns, "numeric")

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:

        columns = state["columns"]
        require_numeric(frame, columns, "scale")
        low, high = self.params.feature_range
        exprs = []
        for c in columns:
            center, scale = state["scaling"][c]["center"], state["scaling"][c]["scale"]
            x = expr = pl.col(c).cast(pl.Float64)
            if center != 0.0:
                expr = expr - center
            if scale != 1.0:
                expr = expr / scale
                if abs(center) >= _HUGE:  # x - center overflowed although the result fits
                    overflow = (x - center).is_infinite() & x.is_finite()
                    expr = pl.when(overflow).then(x / scale - center / scale).otherwise(expr)
            if state["method"] == "minmax" and self.params.clip:
                expr = expr.clip(low, high)
            exprs.append(expr.alias(c))
        return frame.with_columns(exprs) if exprs else frame

    def learned(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"method": state["method"], "scaled": state["scaling"]}
