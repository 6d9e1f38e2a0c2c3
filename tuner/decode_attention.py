"""Attention for answering: transformers' scaled-dot-product attention, except for one query token
of a model whose query heads share key/value heads (grouped-query attention: Llama 3, Qwen,
Mistral, Gemma...). There the heads of a group are attended as that many queries against their
key/value head, as `pack_gqa` does, instead of copying every key and value once per query head
(`repeat_kv`). transformers packs only outside torch.compile; in tunebot's compiled decoding step
the copies (the whole cache, four times over for Llama 3 8B, written and read again every token)
were most of a step's memory traffic at a batch of eight.
"""

from __future__ import annotations

from typing import Any

NAME = "tunebot_grouped"
# A keyword the decoding step passes through the model to its attention: attend only the cache's
# first this many columns (the rest are masked for every row: not read at all).
ATTENDED_COLUMNS = "tunebot_attended_columns"


def use_decode_attention(model: Any) -> bool:
    """Switch `model` (loaded with sdpa) to this attention. False where it keeps its own (eager,
    flash, flex): those choose their kernels themselves."""
    if getattr(model.config, "_attn_implementation", None) != "sdpa":
        return False
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, grouped_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)  # the same masks as sdpa
    model.set_attn_implementation(NAME)
    return True


def grouped_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """(batch, heads, 1, dim) queries against (batch, kv_heads, length, dim) keys and values, packed
    as (batch, kv_heads, heads per kv head, dim): a group's heads are that many queries against
    their key/value head. The mask of a single token is the same for every head of the group
    (broadcast). Anything else is transformers' sdpa. `tunebot_attended_columns` (ATTENDED_COLUMNS)
    in the keywords: only the cache's first that many columns are read."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    columns = kwargs.pop(ATTENDED_COLUMNS, None)
    if columns is not None and columns < key.shape[2]:
        key, value = key[:, :, :columns], value[:, :, :columns]
        if attention_mask is not None:
            attention_mask = attention_mask[..., :columns]
    groups = int(getattr(module, "num_key_value_groups", 1))
    batch, heads, q_length, dim = query.shape
    plain = (
        q_length != 1
        or groups == 1
        or dropout
        or kwargs.get("position_bias") is not None
        or kwargs.get("softcap") is not None
        or (attention_mask is not None and attention_mask.shape[1] != 1)
    )
    if plain:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    packed = query.reshape(batch, heads // groups, groups, dim)
    # Two batched matrix products: every column of the cache in parallel, as cuBLAS splits them.
    # (PyTorch's sdpa kernel on the packed heads was slower on an H200 and an H100, 2026-12-06.)
    scores = torch.matmul(packed, key.transpose(-1, -2)).float() * (scaling or dim**-0.5)
    if attention_mask is not None and attention_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
    elif attention_mask is not None:
        scores = scores + attention_mask
    output = torch.matmul(scores.softmax(-1).to(value.dtype), value)
    return output.reshape(batch, heads, 1, value.shape[-1]).transpose(1, 2).contiguous(), None
