"""Thread context is bounded in tokens: the newest turns that fit, the last one always (its end).
Chat templates that refuse what tunebot sends get the messages fitted to them."""

from __future__ import annotations

import copy

import pytest
from transformers import AutoTokenizer

from tests.factories import CHAT_FORMATS, _bundled_tokenizer
from tuner.chat_format import bounded_turns, chat_messages, fit_template


def test_newest_turns_that_fit_in_tokens(tiny_model: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)

    def encode(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False)

    def decode(ids: list[int]) -> str:
        return tokenizer.decode(ids)

    turns = [
        {"role": "user", "content": "an old question " * 40},
        {"role": "assistant", "content": "an old answer"},
        {"role": "user", "content": "the new question about billing"},
    ]
    sizes = [len(encode(t["content"])) for t in turns]
    budget = sizes[1] + sizes[2] + 3  # room for the last two, not the first
    assert bounded_turns(turns, budget, encode, decode) == turns[1:]
    assert bounded_turns(turns, 10_000, encode, decode) == turns

    only_end = bounded_turns(turns[:1], 5, encode, decode)
    assert len(encode(only_end[0]["content"])) <= 5 and turns[0]["content"].rstrip().endswith(
        only_end[0]["content"].strip()
    )


# Chat templates that refuse what tunebot sends (a system turn, two turns of one role in a row) get
# the messages fitted to them; templates that take everything get them unchanged.


@pytest.fixture(scope="module")
def gemma_like():  # type: ignore[no-untyped-def]
    tokenizer = copy.deepcopy(_bundled_tokenizer())
    template, specials, _ = CHAT_FORMATS["gemma2"]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    tokenizer.chat_template = template
    return tokenizer


def test_a_template_that_takes_everything_gets_the_messages_unchanged() -> None:
    messages = chat_messages([{"role": "user", "content": "hi"}, {"role": "user", "content": "anyone?"}])
    assert fit_template(_bundled_tokenizer(), messages) == messages


def test_the_system_prompt_opens_the_first_user_turn_and_one_roles_turns_are_joined(gemma_like) -> None:  # type: ignore[no-untyped-def]
    thread = [
        {"role": "user", "content": "Which port does billing use?"},
        {"role": "assistant", "content": "8443."},
        {"role": "user", "content": "And staging?"},
        {"role": "user", "content": "asking for Priya"},
    ]
    fitted = fit_template(gemma_like, chat_messages(thread))
    assert [m["role"] for m in fitted] == ["user", "assistant", "user"]
    assert fitted[0]["content"].startswith("You are tunebot") and fitted[0]["content"].endswith(
        "billing use?"
    )
    assert fitted[2]["content"] == "And staging?\n\nasking for Priya"
    text = gemma_like.apply_chat_template(fitted, add_generation_prompt=True, tokenize=False)
    assert text.endswith("<start_of_turn>model\n") and "system" not in text
