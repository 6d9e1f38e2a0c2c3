"""The chat layout shared by training, evaluation and serving, so an adapter sees what it learned."""

from __future__ import annotations

from collections.abc import Callable

SYSTEM_PROMPT = "You are tunebot, a helpful assistant in a team's Slack workspace. Answer briefly."


def chat_messages(turns: list[dict[str, str]]) -> list[dict[str, str]]:
    """System prompt + the conversation turns (each {"role": user|assistant, "content": text})."""
    return [{"role": "system", "content": SYSTEM_PROMPT}, *turns]


def bounded_turns(
    turns: list[dict[str, str]],
    max_tokens: int,
    encode: Callable[[str], list[int]],
    decode: Callable[[list[int]], str],
) -> list[dict[str, str]]:
    """The newest turns that fit in `max_tokens` (the last one always kept, its end if too long)."""
    kept: list[dict[str, str]] = []
    budget = max_tokens
    for turn in reversed(turns):
        ids = encode(turn["content"])
        if kept and len(ids) > budget:
            break
        content = turn["content"] if len(ids) <= budget else decode(ids[-budget:])
        kept.append({"role": turn["role"], "content": content})
        budget -= min(len(ids), budget)
    return list(reversed(kept))
