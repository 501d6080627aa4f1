"""Text augmentation helpers for `augment_text`: nlpaug augmenters built offline, run per row.

- `augmenters`: the augmenters a recipe may name, their options, and how to build them with nlpaug
  without any download;
- `wordnet`: finding (or installing) WordNet data for `synonym` / `antonym` without the network;
- `worker`: the per-row task (seeded per output row) and a process pool whose output does not
  depend on the number of workers.
"""

from __future__ import annotations

import hashlib


def row_seed(seed: int, step_id: str, row: int, copy: int, attempt: int = 0) -> int:
    """A 32-bit seed from (recipe seed, step id, source row, copy, attempt): worker-independent."""
    key = f"{seed}\x00{step_id}\x00{row}\x00{copy}\x00{attempt}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little")
