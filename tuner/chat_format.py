"""The chat layout shared by training, evaluation and serving, so an adapter sees what it learned."""

from __future__ import annotations

SYSTEM_PROMPT = "You are tunebot, a helpful assistant in a team's Slack workspace. Answer briefly."


def chat_messages(turns: list[dict[str, str]]) -> list[dict[str, str]]:
    """System prompt + the conversation turns (each {"role": user|assistant, "content": text})."""
    return [{"role": "system", "content": SYSTEM_PROMPT}, *turns]


def bounded_turns(turns: list[dict[str, str]], max_chars: int) -> list[dict[str, str]]:
    """The newest turns that fit in `max_chars` (the last one always kept, cut if needed)."""
    kept: list[dict[str, str]] = []
    budget = max_chars
    for turn in reversed(turns):
        if kept and len(turn["content"]) > budget:
            break
        content = turn["content"] if len(turn["content"]) <= budget else turn["content"][-budget:]
        kept.append({"role": turn["role"], "content": content})
        budget -= len(content)
    return list(reversed(kept))
