"""Training batches: tokenized like the held-out scoring, and padding-free without changing the loss."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from tuner.trainers import sft_dataset as tokenized

ROWS = [
    {
        "prompt": [{"role": "user", "content": "Which port does billing use?"}],
        "completion": [{"role": "assistant", "content": "Billing listens on port 8443."}],
    },
    {
        "prompt": [
            {"role": "user", "content": "And orders?"},
            {"role": "assistant", "content": "Not sure."},
            {"role": "user", "content": "Please check the runbook for the orders service."},
        ],
        "completion": [{"role": "assistant", "content": "Orders uses 9090."}],
    },
]


def test_only_the_reply_is_learned_and_long_examples_are_cut(tiny_model: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = tokenized(ROWS, tokenizer, max_length=1024).to_list()
    assert len(rows) == 2
    first = rows[0]
    reply = [t for t, m in zip(first["input_ids"], first["completion_mask"], strict=True) if m]
    assert tokenizer.decode(reply).startswith("Billing listens on port 8443.")
    assert first["completion_mask"][0] == 0 and first["completion_mask"][-1] == 1
    # A limit that cuts into the prompt leaves no reply to learn: that example is dropped.
    assert len(tokenized(ROWS, tokenizer, max_length=12).to_list()) == 0


def test_padding_free_batch_has_the_padded_batch_loss(tiny_model: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="sdpa").eval()
    rows = [
        {
            "input_ids": r["input_ids"],
            "labels": [t if m else -100 for t, m in zip(r["input_ids"], r["completion_mask"], strict=True)],
        }
        for r in tokenized(ROWS, tokenizer, max_length=1024).to_list()
    ]  # what SFTTrainer makes of the completion mask
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    padded = DataCollatorForLanguageModeling(pad_token_id=pad)(rows)
    flat = DataCollatorForLanguageModeling(pad_token_id=pad, padding_free=True)(rows)
    assert flat["input_ids"].shape[0] == 1 and "position_ids" in flat
    assert flat["input_ids"].shape[1] == sum(len(r["input_ids"]) for r in rows) < padded["input_ids"].numel()
    with torch.no_grad():
        loss_padded = model(**padded).loss
        # use_cache=False, as SFTTrainer passes it: with a cache transformers does not mask across examples.
        loss_flat = model(
            input_ids=flat["input_ids"],
            position_ids=flat["position_ids"],
            labels=flat["labels"],
            use_cache=False,
        ).loss
    assert torch.allclose(loss_padded, loss_flat, rtol=1e-6), (loss_padded, loss_flat)
