"""Regression guard: does the candidate still talk like the base model on general prompts?

The base model answers the shipped general prompts (greedy); the guard compares the mean per-token
NLL of those very answers under the base model and under the candidate. An adapter that forgot how
to talk (overfit into gibberish, or answering everything with company facts) finds the base model's
ordinary answers unlikely, and its NLL rises.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from tuner.chat_format import chat_messages
from tuner.evaluation import generate_replies, heldout_nll

POLICIES = Path(__file__).resolve().parent.parent / "policies"
SHIPPED_PROMPTS = POLICIES / "general_prompts.txt"
SHIPPED_REPLAY = POLICIES / "replay_prompts.txt"


def load_prompts(path: str | Path | None, shipped: Path = SHIPPED_PROMPTS) -> list[str]:
    """One prompt per line, `#` comments and blank lines skipped; None: the shipped file."""
    source = Path(path) if path else shipped
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"general prompts file {source}: {exc.strerror or exc}") from exc
    prompts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise ValueError(f"general prompts file {source} has no prompts")
    return prompts


def regression_scores(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    base_only: Callable[[], AbstractContextManager[Any]],
    *,
    max_length: int,
    max_new_tokens: int,
) -> dict[str, Any]:
    """NLL of the base model's own answers to `prompts`, under the base model and the candidate.

    `base_only()` is a context yielding the base model: `model` itself with its adapter disabled, or
    a separate copy (bitfit, full).
    """
    with base_only() as base:
        rows, base_nll = base_answers(base, tokenizer, prompts, max_length, max_new_tokens)
    candidate = heldout_nll(model, tokenizer, rows, max_length)
    return {
        "prompts": len(rows),
        "base_nll": base_nll,
        "candidate_nll": candidate["heldout_nll"],
        "increase": candidate["heldout_nll"] - base_nll,
    }


def base_answers(
    base: Any, tokenizer: Any, prompts: list[str], max_length: int, max_new_tokens: int
) -> tuple[list[dict], float]:
    """The base model's greedy answers to `prompts` as scoring rows, and its own NLL of them."""
    chats = [chat_messages([{"role": "user", "content": prompt}]) for prompt in prompts]
    answers = generate_replies(base, tokenizer, chats, max_new_tokens)
    rows = [
        {"prompt": chat, "completion": [{"role": "assistant", "content": answer}]}
        for chat, answer in zip(chats, answers, strict=True)
        if answer
    ]
    return rows, heldout_nll(base, tokenizer, rows, max_length)["heldout_nll"]


def guard_increases(
    tokenizer: Any, job: Any, checkpoints: dict[int, str], load_base: Callable[[], Any]
) -> dict[int, float]:
    """The regression guard's number for each of several peft weights (epoch -> folder), the base
    model's answers generated once: each loaded beside the others on one full-precision base (on
    FP8 weights, each merged into them in turn)."""
    from peft import PeftModel

    from tuner import fp8_weights

    epochs = sorted(checkpoints, reverse=True)
    base = load_base()
    if fp8_weights.of(base) is not None:  # the bot serves FP8: each merged in turn, as it will be
        rows, base_nll = base_answers(
            base, tokenizer, job.general_prompts, job.max_length, job.eval_max_new_tokens
        )
        increases = {}
        for epoch in epochs:
            fp8_weights.serve(base, checkpoints[epoch], f"epoch-{epoch}")
            increases[epoch] = heldout_nll(base, tokenizer, rows, job.max_length)["heldout_nll"] - base_nll
        return increases
    model = PeftModel.from_pretrained(base, checkpoints[epochs[0]], adapter_name=f"epoch-{epochs[0]}")
    with model.disable_adapter():
        rows, base = base_answers(
            model, tokenizer, job.general_prompts, job.max_length, job.eval_max_new_tokens
        )
    increases = {}
    for epoch in epochs:
        name = f"epoch-{epoch}"
        if name not in model.peft_config:
            model.load_adapter(checkpoints[epoch], adapter_name=name)
        model.set_adapter(name)
        increases[epoch] = heldout_nll(model, tokenizer, rows, job.max_length)["heldout_nll"] - base
    return increases
