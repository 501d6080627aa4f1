"""Generate prepkit's label-noise sample data (synthetic, written for the project; CC0).

    python sample_data/make_label_noise.py

Writes label_noise.csv: 2,000 support tickets routed to one of three teams (`team`: billing,
technical, account), with numeric features, two categorical columns and a short free-text
`subject`. The classes are cleanly separable, then 8% of the labels are flipped to another team
at random. label_noise_truth.csv holds the ground truth by `ticket_id` (`true_team`, `flipped`),
kept out of the training file so that no step can see it. The same seed always gives the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).parent
TEAMS = np.array(["account", "billing", "technical"])
FLIP_RATE = 0.08

# per team: mean of (amount_disputed, minutes_on_call, devices, days_since_signup)
CENTRES = np.array([[5.0, 6.0, 1.0, 400.0], [120.0, 9.0, 1.0, 700.0], [10.0, 25.0, 3.0, 300.0]])
SPREAD = np.array([8.0, 3.0, 0.6, 120.0])
CHANNEL = {  # how each team's tickets usually arrive
    "account": (["web", "email", "phone", "chat"], [0.55, 0.25, 0.1, 0.1]),
    "billing": (["web", "email", "phone", "chat"], [0.1, 0.6, 0.2, 0.1]),
    "technical": (["web", "email", "phone", "chat"], [0.1, 0.1, 0.3, 0.5]),
}
WORDS = {
    "account": ["password", "login", "email", "address", "username", "profile", "locked", "reset"],
    "billing": ["invoice", "charge", "refund", "payment", "card", "double", "billed", "price"],
    "technical": ["crash", "error", "router", "slow", "install", "update", "wifi", "freeze"],
}
FILLER = ["please", "help", "my", "the", "with", "urgent", "again", "issue", "since", "today"]


def make_tickets(n: int = 2000, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    true = rng.choice(len(TEAMS), n, p=[0.3, 0.35, 0.35])
    numeric = CENTRES[true] + rng.normal(0, 1, (n, 4)) * SPREAD
    numeric[:, 0] = numeric[:, 0].clip(0).round(2)
    numeric[:, 1] = numeric[:, 1].clip(1).round(1)
    numeric[:, 2] = numeric[:, 2].clip(1).round()
    numeric[:, 3] = numeric[:, 3].clip(0).round()
    channel = np.empty(n, dtype=object)
    subject = np.empty(n, dtype=object)
    for k, team in enumerate(TEAMS):  # a loop over 3 classes, vectorised within each
        rows = np.flatnonzero(true == k)
        names, p = CHANNEL[team]
        channel[rows] = rng.choice(names, len(rows), p=p)
        topic = rng.choice(WORDS[team], (len(rows), 2))
        filler = rng.choice(FILLER, (len(rows), 2))
        subject[rows] = [
            " ".join(w) for w in np.concatenate([filler[:, :1], topic, filler[:, 1:]], axis=1)
        ]
    plan = rng.choice(["free", "basic", "pro"], n, p=[0.4, 0.4, 0.2])
    given = true.copy()
    flipped = rng.random(n) < FLIP_RATE
    given[flipped] = (true[flipped] + rng.integers(1, len(TEAMS), flipped.sum())) % len(TEAMS)
    ids = np.arange(1, n + 1)
    data = pl.DataFrame(
        {
            "ticket_id": ids,
            "amount_disputed": numeric[:, 0],
            "minutes_on_call": numeric[:, 1],
            "devices": numeric[:, 2].astype(int),
            "days_since_signup": numeric[:, 3].astype(int),
            "channel": channel.astype(str),
            "plan": plan,
            "subject": subject.astype(str),
            "team": TEAMS[given],
        }
    )
    truth = pl.DataFrame({"ticket_id": ids, "true_team": TEAMS[true], "flipped": flipped})
    return data, truth


def main() -> None:
    data, truth = make_tickets()
    data.write_csv(HERE / "label_noise.csv")
    truth.write_csv(HERE / "label_noise_truth.csv")
    print(f"label_noise.csv: {data.height} rows, {int(truth['flipped'].sum())} flipped labels")


if __name__ == "__main__":
    main()
