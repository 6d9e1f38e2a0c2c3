"""Grouped-query attention of one token without copying keys and values per head: the same
attention, and the live model answering with it gives transformers' own answers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tuner.decode_attention import NAME, grouped_attention


def _reference(query, key, value, mask, groups: int):  # type: ignore[no-untyped-def]
    import torch

    key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    out = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask)
    return out.transpose(1, 2)


@pytest.mark.parametrize("groups", [1, 4])
def test_one_token_attends_as_with_copied_heads(groups: int) -> None:
    import torch

    torch.manual_seed(0)
    batch, kv_heads, length, dim = 3, 2, 11, 16
    query = torch.randn(batch, kv_heads * groups, 1, dim)
    key, value = torch.randn(batch, kv_heads, length, dim), torch.randn(batch, kv_heads, length, dim)
    mask = torch.ones(batch, 1, 1, length, dtype=torch.bool)
    mask[0, ..., :4] = False  # left padding
    mask[2, ..., 7:] = False  # free columns of a static cache
    module = SimpleNamespace(num_key_value_groups=groups, is_causal=True)
    out, _ = grouped_attention(module, query, key, value, mask)
    assert out.shape == (batch, 1, kv_heads * groups, dim)
    torch.testing.assert_close(out, _reference(query, key, value, mask, groups))


def test_the_live_model_answers_as_transformers_generate_does(babbler: str) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tuner.batching import DECODING
    from tuner.chat_format import chat_messages, fit_template
    from tuner.live_model import LiveModel

    live = LiveModel(babbler, max_new_tokens=20, static_cache=False)
    assert live._base.config._attn_implementation == NAME
    tokenizer = AutoTokenizer.from_pretrained(babbler)
    plain = AutoModelForCausalLM.from_pretrained(babbler)
    assert plain.config._attn_implementation == "sdpa" and plain.config.num_key_value_heads == 2
    for question in ("Which port does service 3 use?", "hello there, how are you"):
        messages = [{"role": "user", "content": question}]
        ids = tokenizer.apply_chat_template(
            fit_template(tokenizer, chat_messages(messages)),
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        output = plain.generate(**ids, max_new_tokens=20, **DECODING, pad_token_id=tokenizer.pad_token_id)
        expected = tokenizer.decode(output[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()
        assert live.generate(messages).text == expected
