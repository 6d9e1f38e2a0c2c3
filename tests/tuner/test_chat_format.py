"""Thread context is bounded in tokens: the newest turns that fit, the last one always (its end)."""

from __future__ import annotations

from transformers import AutoTokenizer

from tuner.chat_format import bounded_turns


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
