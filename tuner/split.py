"""Which side of the train / held-out split an example is on.

Examples are grouped by the answer they teach (the target, normalized): paraphrases of one fact
share a group. A group of two or more always keeps its oldest example on the training side, so a
fact is never held out entirely (it could be neither learned nor fairly scored); every other
example's side is a hash of its stable key. Sides are stable across cycles: an example can only
move from held-out to training (when a paraphrase of a fact that was taught once arrives, or the
oldest paraphrase is erased), never from training to held-out, so no candidate is ever scored on
what the adapter it is compared with trained on.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol

_NOT_WORD = re.compile(r"[^\w<>]+")


class Keyed(Protocol):
    @property
    def key(self) -> str: ...  # "channel:reply_ts", stable across cycles

    @property
    def target(self) -> str: ...


def is_heldout(key: str, heldout_percent: int) -> bool:
    """The hash side of an example: a pure function of its stable key."""
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % 100
    return bucket < heldout_percent


def answer_group(target: str) -> str:
    """What groups paraphrases of one fact: the answer's words, case and punctuation aside."""
    return " ".join(_NOT_WORD.sub(" ", target.lower()).split())


def _age(key: str) -> tuple[float, str]:
    """Slack's message ts in the key ("C0123:1767000005.000200") orders examples by creation."""
    _, _, ts = key.rpartition(":")
    try:
        return float(ts), key
    except ValueError:
        return float("inf"), key


def heldout_keys(examples: Iterable[Keyed], heldout_percent: int) -> set[str]:
    """The keys of the held-out side."""
    groups: dict[str, list[str]] = defaultdict(list)
    for example in examples:
        groups[answer_group(example.target)].append(example.key)
    held: set[str] = set()
    for keys in groups.values():
        anchor = min(keys, key=_age) if len(keys) >= 2 else None
        held.update(k for k in keys if k != anchor and is_heldout(k, heldout_percent))
    return held
