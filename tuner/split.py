"""Which side of the train / held-out split an example is on: a pure function of its key."""

from __future__ import annotations

import hashlib


def is_heldout(key: str, heldout_percent: int) -> bool:
    """Deterministic side for an example: a hash of its stable key, so it never changes sides."""
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % 100
    return bucket < heldout_percent
