"""Held-out evaluation: mean per-token NLL of the reference replies given their prompts."""

from __future__ import annotations

import math
from typing import Any

import torch


def reply_token_ids(tokenizer: Any, prompt: list[dict], completion: list[dict], max_length: int):
    """(input ids, number of prompt tokens) laid out as in training: the template's turns."""
    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
    full_ids = tokenizer.apply_chat_template(prompt + completion, tokenize=True)
    prompt_ids = _ids(prompt_ids)
    full_ids = _ids(full_ids)[:max_length]
    return full_ids, min(len(prompt_ids), len(full_ids))


def _ids(encoded: Any) -> list[int]:
    if isinstance(encoded, dict) or hasattr(encoded, "input_ids"):
        encoded = encoded["input_ids"]
    return list(encoded)


@torch.inference_mode()
def heldout_nll(model: Any, tokenizer: Any, rows: list[dict], max_length: int) -> dict[str, Any]:
    """Token-weighted mean NLL over all held-out replies, plus each example's own mean."""
    device = next(model.parameters()).device
    total, tokens, per_example = 0.0, 0, []
    was_training = model.training
    model.eval()
    for row in rows:
        ids, n_prompt = reply_token_ids(tokenizer, row["prompt"], row["completion"], max_length)
        if len(ids) - n_prompt < 1:
            continue
        input_ids = torch.tensor([ids], device=device)
        labels = input_ids.clone()
        labels[:, :n_prompt] = -100
        loss = model(input_ids=input_ids, labels=labels).loss.float().item()
        n = len(ids) - n_prompt
        total += loss * n
        tokens += n
        per_example.append(loss)
    if was_training:
        model.train()
    mean = total / tokens if tokens else math.nan
    return {
        "heldout_nll": mean,
        "tokens": tokens,
        "examples": len(per_example),
        "per_example": per_example,
    }
