"""The chat layout shared by training, evaluation and serving, so an adapter sees what it learned."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SYSTEM_PROMPT = "You are tunebot, a helpful assistant in a team's Slack workspace. Answer briefly."


def chat_messages(turns: list[dict[str, str]]) -> list[dict[str, str]]:
    """System prompt + the conversation turns (each {"role": user|assistant, "content": text});
    turns that bring their own system turn (a client of `tunebot engine`) keep it."""
    if turns and turns[0].get("role") == "system":
        return list(turns)
    return [{"role": "system", "content": SYSTEM_PROMPT}, *turns]


# (chat template, the messages' roles) -> which of fit_template's three layouts the template takes:
# found by rendering once per template and shape, not at every answer.
_LAYOUT: dict[tuple[str, tuple[str, ...]], int] = {}


def fit_template(tokenizer: Any, messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The messages as the model's chat template takes them. Some templates refuse a system turn
    (Gemma 1 and 2), or two turns of one role in a row (Gemma, early Mistral): the system prompt then
    opens the first user turn, and consecutive turns of one role are joined. Templates that take
    the messages as they are (Llama 3, Qwen, SmolLM, Phi 3...) get them unchanged."""
    layouts: list[Callable[[list[dict[str, str]]], list[dict[str, str]]]] = [
        list,
        _system_in_first_user_turn,
        lambda m: _alternating(_system_in_first_user_turn(m)),
    ]
    key = (str(tokenizer.chat_template), tuple(m["role"] for m in messages))
    if key not in _LAYOUT:
        from jinja2 import TemplateError

        stand_in = [{"role": role, "content": "x"} for role in key[1]]
        _LAYOUT[key] = 0  # none fits: as they are (the template's own error is the clearest)
        for index, layout in enumerate(layouts):
            try:
                tokenizer.apply_chat_template(layout(stand_in), tokenize=False)
            except TemplateError:  # the template's raise_exception(...)
                continue
            _LAYOUT[key] = index
            break
    return layouts[_LAYOUT[key]](messages)


def _system_in_first_user_turn(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    system = [m["content"] for m in messages if m["role"] == "system"]
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = "\n\n".join([*system, rest[0]["content"]])
    elif system:
        rest.insert(0, {"role": "user", "content": "\n\n".join(system)})
    return rest


def _alternating(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    joined: list[dict[str, str]] = []
    for message in messages:
        if joined and joined[-1]["role"] == message["role"]:
            content = f"{joined[-1]['content']}\n\n{message['content']}"
            joined[-1] = {"role": message["role"], "content": content}
        else:
            joined.append(dict(message))
    return joined


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
