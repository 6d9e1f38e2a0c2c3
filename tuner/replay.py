"""Replay against forgetting: the base model's own answers to general prompts, trained on with the
team's examples so an adapter learns facts without unlearning how to talk (rehearsal).

The answers depend only on the base model, the prompts and the answer length, so they are cached
in the data folder and generated once.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuner.chat_format import chat_messages
from tuner.evaluation import generate_replies

ANSWER_TOKENS = 64
# `training.replay_examples: auto`: this share of the team's training examples, at least AUTO_MIN
# (chosen on the learning family's tune seeds: docs/learning.md).
AUTO_SHARE = 0.5
AUTO_MIN = 8
MIN_CHARS = 30  # shorter remains of a cut answer (e.g. "1.") teach nothing
_SENTENCE_END = re.compile(r"(?s)^(.*[.!?)\]`])[^.!?)\]`]*$")


def replay_count(policy: Any, train_examples: int) -> int:
    """How many replay prompts a cycle trains on: the policy's number, or for `auto` a share of the
    training examples (the prompts file may hold fewer: all of them, then)."""
    if policy.replay_examples == "auto":
        return max(AUTO_MIN, math.ceil(train_examples * AUTO_SHARE))
    return int(policy.replay_examples)


def replay_rows(load_base: Callable[[], tuple[Any, Any]], job: Any) -> list[dict[str, Any]]:
    """One training row per replay prompt the base model answered (answers cut at a sentence end).
    `load_base` gives (model, tokenizer); it is called only when the answers are not cached."""
    chats = [chat_messages([{"role": "user", "content": prompt}]) for prompt in job.replay_prompts]
    cache = _cache_path(job)
    if cache is not None and cache.exists():
        answers = json.loads(cache.read_text())
    else:
        model, tokenizer = load_base()
        answers = [_whole_sentences(a) for a in generate_replies(model, tokenizer, chats, ANSWER_TOKENS)]
        del model
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(json.dumps(answers))
            tmp.replace(cache)
    return [
        {"prompt": chat, "completion": [{"role": "assistant", "content": answer}]}
        for chat, answer in zip(chats, answers, strict=True)
        if answer
    ]


def _whole_sentences(text: str) -> str:
    """An answer cut off by the length limit, back to its last complete sentence (or nothing)."""
    match = _SENTENCE_END.match(text.strip())
    kept = match.group(1).strip() if match else ""
    return kept if len(kept) >= MIN_CHARS else ""


def _cache_path(job: Any) -> Path | None:
    if not job.replay_cache:
        return None
    key = json.dumps([job.base_model, job.replay_prompts, ANSWER_TOKENS]).encode()
    return Path(job.replay_cache) / f"replay-{hashlib.sha256(key).hexdigest()[:16]}.json"
