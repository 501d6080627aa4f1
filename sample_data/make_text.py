"""Write sample_data/reviews.csv: short product reviews / support tickets with an imbalanced label.

Written for prepkit from templates (no third-party text), released under CC0 1.0 (public domain
dedication). 400 rows: 390 distinct texts in three classes (praise 250, delivery 100, refund 40),
then planted near-duplicates: 8 one-word edits of earlier rows and 2 exact repeats. A few rows
hold HTML, a URL or an e-mail address for `clean_text` to clean.

    python sample_data/make_text.py       # deterministic: same file every time
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

PRODUCTS = ["kettle", "blender", "desk lamp", "backpack", "phone case", "office chair", "toaster",
            "rain jacket", "water bottle", "headphones", "coffee grinder", "yoga mat", "keyboard",
            "frying pan", "hiking boots", "smart watch", "bike light", "pillow", "umbrella"]  # fmt: skip
PRAISE_OPEN = ["Really happy with my new {p}", "The {p} exceeded my expectations",
               "Bought the {p} for my {who} and {pron} loves it", "Best {p} I have owned so far",
               "Five stars for this {p}", "I use the {p} every {when}",
               "Great value: the {p} feels {adj}"]  # fmt: skip
PRAISE_MORE = ["it is {adj} and looks {look}.", "setup took {n} minutes.",
               "the {part} is surprisingly {adj}.", "would buy again without thinking twice.",
               "my {who} already wants one too.", "much better than my old {p2}.",
               "the colour is exactly as pictured.", "battery lasts for {n} days.",
               "it arrived well packed and on time."]  # fmt: skip
DELIVERY_OPEN = ["My {p} order is {n} days late", "Parcel with the {p} never showed up",
                 "Tracking for the {p} has not updated since {day}",
                 "The courier left my {p} at the wrong address",
                 "Delivery of the {p} was rescheduled again"]  # fmt: skip
DELIVERY_MORE = ["can you tell me where it is?", "the box arrived crushed and {adj2}.",
                 "nobody answers the phone at the depot.", "I was home all {when2} waiting.",
                 "please send a new delivery date.", "order number {order}.",
                 "the driver marked it as delivered on {day}."]  # fmt: skip
REFUND_OPEN = ["I want a refund for the {p}", "Please cancel my {p} order and return my money",
               "The {p} stopped working after {n} days, refund please",
               "Requesting my money back for the broken {p}"]  # fmt: skip
REFUND_MORE = ["I already sent it back on {day}.", "the {part} snapped in half.",
               "this is my {nth} email about it.", "return label attached, order {order}.",
               "the charge appeared twice on my card."]  # fmt: skip
FILL = {
    "who": ["sister", "dad", "partner", "roommate", "grandmother", "son"],
    "pron": ["she", "he", "they"],
    "when": ["morning", "evening", "weekend", "day"],
    "when2": ["day", "morning", "afternoon"],
    "adj": ["sturdy", "quiet", "light", "solid", "comfortable", "fast", "well made"],
    "adj2": ["wet", "torn open", "dented"],
    "look": ["great", "stylish", "premium", "modern"],
    "part": ["handle", "lid", "strap", "switch", "cable", "zip"],
    "day": ["monday", "tuesday", "friday", "the 3rd", "the 12th"],
    "nth": ["second", "third", "fourth"],
}
COUNTS = {"praise": 250, "delivery": 100, "refund": 40}
TEMPLATES = {
    "praise": (PRAISE_OPEN, PRAISE_MORE),
    "delivery": (DELIVERY_OPEN, DELIVERY_MORE),
    "refund": (REFUND_OPEN, REFUND_MORE),
}
EDITS = {"really": "truly", "new": "recent", "great": "good", "late": "overdue",
         "refund": "reimbursement", "happy": "pleased", "every": "each", "order": "purchase",
         "broken": "faulty", "the": "this"}  # fmt: skip
OUT = Path(__file__).with_name("reviews.csv")


def _fill(template: str, rng: random.Random) -> str:
    values = {key: rng.choice(options) for key, options in FILL.items()}
    values["p"], values["p2"] = rng.sample(PRODUCTS, 2)
    values["n"] = str(rng.randint(2, 40))
    values["order"] = f"#{rng.randint(10000, 99999)}"
    return template.format(**values)


def _text(label: str, rng: random.Random) -> str:
    opening, more = TEMPLATES[label]
    parts = [_fill(rng.choice(opening), rng) + ","]
    parts += [_fill(sentence, rng) for sentence in rng.sample(more, rng.randint(2, 3))]
    return " ".join(parts)


def _one_word_edit(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    spots = [i for i, w in enumerate(words) if w.lower().strip(",.") in EDITS]
    i = rng.choice(spots) if spots else rng.randrange(len(words))
    word = words[i].lower().strip(",.")
    words[i] = words[i].lower().replace(word, EDITS.get(word, word + "s"))
    return " ".join(words)


def _shingles(text: str) -> set[str]:
    text = text.lower()
    return {text[i : i + 5] for i in range(max(1, len(text) - 4))}


def make(seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    seen: list[set[str]] = []
    for label, n in COUNTS.items():
        while sum(r["label"] == label for r in rows) < n:
            text = _text(label, rng)
            grams = _shingles(text)
            # keep template texts apart (Jaccard < 0.5): the only near-duplicates are planted
            if all(len(grams & g) < 0.5 * len(grams | g) for g in seen):
                rows.append({"label": label, "text": text})
                seen.append(grams)
    rng.shuffle(rows)
    # a few messy rows for clean_text
    rows[3]["text"] = "<p>" + rows[3]["text"] + "</p> <br/>More at https://shop.example.com/r/1"
    rows[10]["text"] = rows[10]["text"] + " Contact me: jo.smith@example.org"
    rows[20]["text"] = "  " + rows[20]["text"].replace(" ", "   ", 3) + " &amp; thanks  "
    # planted near-duplicates (one-word edits) and exact repeats of earlier rows
    for i in rng.sample(range(len(rows)), 8):
        rows.append({"label": rows[i]["label"], "text": _one_word_edit(rows[i]["text"], rng)})
    for i in rng.sample(range(len(rows) - 8), 2):
        rows.append(dict(rows[i]))
    for i, row in enumerate(rows):
        row["id"] = f"r{i:04d}"
    return [{"id": r["id"], "text": r["text"], "label": r["label"]} for r in rows]


if __name__ == "__main__":
    rows = make()
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {OUT}")
