"""Scaling: centre and scale numeric columns with statistics learned on the training data."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Literal

import polars as pl
from pydantic import Field, model_validator

from prepkit.columns import Selector, require_numeric, select_columns
from prepkit.stats import quantiles
from prepkit.steps.base import Step, StepContext, StepParams, register

# scikit-learn's threshold for "this range is zero" (10 * float64 machine epsilon)
_TINY = 10 * 2.220446049250313e-16
_EPS = 2.220446049250313e-16


def _value(column: str) -> pl.Expr:
    """The column as float64 with NaN read as missing (as scikit-learn ignores NaN when fitting)."""
    return pl.col(column).cast(pl.Float64).fill_nan(None)


def _nonzero(scale: float) -> float:
    """scikit-learn's `_handle_zeros_in_scale`: a (near) zero scale becomes 1."""
    return 1.0 if scale < _TINY else scale


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

    def fit(self, frame: pl.DataFrame, ctx: StepContext) -> dict[str, Any]:
        p = self.params
        columns = select_columns(frame, p.columns, ctx.target)
        require_numeric(frame, columns, f"scale method '{p.method}'")
        if not columns:
            return {"method": p.method, "columns": [], "scaling": {}}
        if p.method == "robust":  # exact quantiles by selection (prepkit.stats), NaN ignored
            low, high = p.quantile_range
            found = quantiles(frame, columns, [0.5, low / 100, high / 100])
            values = {c: tuple(q) if q else (None, None, None) for c, q in found.items()}
        else:
            values = self._statistics(frame, columns, clean=False)
        if any(values[c] is None for c in columns):  # NaN seen: recompute those, NaN ignored
            values.update(
                self._statistics(frame, [c for c in columns if values[c] is None], clean=True)
            )
        scaling: dict[str, dict[str, float]] = {}
        empty = []
        for c in columns:
            stats = values[c]
            if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in stats):
                empty.append(c)  # no values at fit time: leave the column as it is
                scaling[c] = {"center": 0.0, "scale": 1.0}
                continue
            center, scale = self._center_scale(*stats)
            scaling[c] = {"center": float(center), "scale": float(scale)}
        if empty and frame.height:
            ctx.warn(f"scale: no values to learn from in {', '.join(empty)}; left unscaled")
        return {"method": p.method, "columns": columns, "scaling": scaling}

    def _statistics(
        self, frame: pl.DataFrame, columns: list[str], clean: bool
    ) -> dict[str, tuple[Any, ...] | None]:
        """Each column's statistics, all in one select: a single parallel pass over the data.

        Without `clean`, a float column holding NaN gets None (NaN would poison the statistics);
        checking costs less than reading every column through `fill_nan`.
        """
        exprs = []
        for i, c in enumerate(columns):
            x = _value(c) if clean else pl.col(c).cast(pl.Float64)
            exprs += [e.alias(f"{i}:{n}") for n, e in enumerate(self._expressions(x))]
            if not clean and frame.schema[c].is_float():
                exprs.append(pl.col(c).is_nan().any().alias(f"{i}:nan"))
        row = frame.select(exprs).row(0, named=True)
        out: dict[str, tuple[Any, ...] | None] = {}
        for i, c in enumerate(columns):
            if row.get(f"{i}:nan"):
                out[c] = None
            else:
                out[c] = tuple(
                    v for k, v in row.items() if k.startswith(f"{i}:") and k != f"{i}:nan"
                )
        return out

    def _expressions(self, x: pl.Expr) -> list[pl.Expr]:
        p = self.params
        if p.method == "standard":
            return [x.mean(), x.var(ddof=0), x.count().cast(pl.Float64)]
        if p.method == "minmax":
            return [x.min(), x.max()]
        return [x.abs().max()]

    def _center_scale(self, *values: float) -> tuple[float, float]:
        p = self.params
        if p.method == "standard":
            mean, var, n = values
            # scikit-learn's `_is_constant_feature`: the variance is within rounding error of 0
            constant = var <= n * _EPS * var + (n * mean * _EPS) ** 2
            scale = 1.0 if constant else math.sqrt(var)
            return (mean if p.with_mean else 0.0), (scale if p.with_std else 1.0)
        if p.method == "minmax":
            data_min, data_max = values
            low, high = p.feature_range
            # (x - center) / scale == x * s + m with scikit-learn's s and m
            scale = _nonzero(data_max - data_min) / (high - low)
            return data_min - low * scale, scale
        if p.method == "robust":
            median, q_low, q_high = values
            scale = 1.0
            if p.with_scaling:
                scale = _nonzero(q_high - q_low)
                if p.unit_variance:
                    normal = NormalDist()
                    q_min, q_max = p.quantile_range
                    scale /= normal.inv_cdf(q_max / 100) - normal.inv_cdf(q_min / 100)
            return (median if p.with_centering else 0.0), scale
        (maxabs,) = values
        return 0.0, _nonzero(maxabs)

    def apply(self, frame: pl.DataFrame, state: dict[str, Any], ctx: StepContext) -> pl.DataFrame:

        columns = state["columns"]
        require_numeric(frame, columns, "scale")
        low, high = self.params.feature_range
        exprs = []
        for c in columns:
            center, scale = state["scaling"][c]["center"], state["scaling"][c]["scale"]
            expr = pl.col(c).cast(pl.Float64)
            if center != 0.0:
                expr = expr - center
            if scale != 1.0:
                expr = expr / scale
            if state["method"] == "minmax" and self.params.clip:
                expr = expr.clip(low, high)
            exprs.append(expr.alias(c))
        return frame.with_columns(exprs) if exprs else frame

    def learned(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"method": state["method"], "scaled": state["scaling"]}
