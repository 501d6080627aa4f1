"""Generate prepkit's tabular sample data (synthetic, written for the project; CC0).

    python sample_data/make_sample_data.py

Writes churn.csv (training data: missing values, duplicate rows, outliers, categorical columns,
an imbalanced `churned` label) and churn_new.csv (held-out rows without duplicates, for
`prepkit apply`). The same seed always gives the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).parent


def make_churn(n: int, seed: int, start_id: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    contract = rng.choice(["month-to-month", "one year", "two year"], n, p=[0.55, 0.25, 0.20])
    payment = rng.choice(
        ["card", "bank transfer", "electronic check", "mailed check", "crypto"],
        n,
        p=[0.35, 0.3, 0.2, 0.13, 0.02],
    )
    region = rng.choice(["north", "south", "east", "west"], n)
    age = rng.normal(45, 14, n).clip(18, 90).round().astype(int)
    tenure = rng.gamma(2.0, 14.0, n).clip(0, 72).round().astype(int)
    monthly = rng.normal(65, 25, n).clip(15, 150).round(2)
    calls = rng.poisson(1.5, n)
    partner = rng.random(n) < 0.45
    # churn risk: short tenure, month-to-month, many support calls, high charges
    logit = (
        -2.6
        + 1.3 * (contract == "month-to-month")
        - 0.035 * tenure
        + 0.35 * calls
        + 0.012 * (monthly - 65)
        - 0.3 * partner
    )
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    total = (monthly * np.maximum(tenure, 1) * rng.normal(1.0, 0.03, n)).round(2)
    signup = np.datetime64("2026-10-01") - (tenure * 30.4).astype("timedelta64[D]")

    frame = pl.DataFrame(
        {
            "customer_id": np.arange(start_id, start_id + n),
            "age": age,
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls": calls,
            "contract": contract,
            "payment_method": payment,
            "region": region,
            "has_partner": partner,
            "signup_date": signup.astype("datetime64[D]"),
            "churned": churned,
        }
    )
    # missing values: MCAR gaps in numeric and categorical columns
    for column, frac in (
        ("age", 0.06),
        ("monthly_charges", 0.05),
        ("total_charges", 0.04),
        ("region", 0.03),
    ):
        mask = pl.Series(rng.random(n) < frac)
        frame = frame.with_columns(pl.when(mask).then(None).otherwise(pl.col(column)).alias(column))
    # a few data-entry outliers
    idx = rng.choice(n, size=max(3, n // 200), replace=False)
    charges = frame["monthly_charges"].to_numpy().copy()
    charges[idx] = rng.choice([999.0, 1250.0, -40.0], size=len(idx))
    return frame.with_columns(pl.Series("monthly_charges", charges))


def main() -> None:
    train = make_churn(2000, seed=7)
    rng = np.random.default_rng(11)
    dupes = train[rng.choice(train.height, 40, replace=False).tolist()]
    train = pl.concat([train, dupes]).sample(fraction=1.0, shuffle=True, seed=3)
    train.write_csv(HERE / "churn.csv")
    make_churn(300, seed=8, start_id=100_001).write_csv(HERE / "churn_new.csv")


if __name__ == "__main__":
    main()
