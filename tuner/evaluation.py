"""Held-out evaluation: mean per-token NLL of the reference replies given their prompts."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

from tuner.chat_format import fit_template

F = TypeVar("F", bound=Callable[..., Any])


def _inference_mode(fn: F) -> F:
    """torch.inference_mode, imported when called (the bot's commands import this module)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import torch

        with torch.inference_mode():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def reply_token_ids(tokenizer: Any, prompt: list[dict], completion: list[dict], max_length: int):
    """(input ids, number of prompt tokens) laid out as in training: the template's turns."""
    prompt = fit_template(tokenizer, prompt)
    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
    full_ids = tokenizer.apply_chat_template(prompt + completion, tokenize=True)
    prompt_ids = _ids(prompt_ids)
    full_ids = _ids(full_ids)[:max_length]
    return full_ids, min(len(prompt_ids), len(full_ids))


def _ids(encoded: Any) -> list[int]:
    if isinstance(encoded, dict) or hasattr(encoded, "input_ids"):
        encoded = encoded["input_ids"]
    return list(encoded)


@_inference_mode
def heldout_nll(model: Any, tokenizer: Any, rows: list[dict], max_length: int) -> dict[str, Any]:
    """Token-weighted mean NLL over all held-out replies, plus each example's own mean."""
    import torch

    device = next(model.parameters()).device
    total, tokens, per_example = 0.0, 0, []
    was_training = model.training
    model.eval()
    for row in rows:
        ids, n_prompt = reply_token_ids(tokenizer, row["prompt"], row["completion"], max_length)
        if len(ids) - n_prompt < 1:
            per_example.append(math.nan)  # keeps examples aligned across models; ignored in the mean
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
        "examples": sum(1 for loss in per_example if math.isfinite(loss)),
        "per_example": per_example,
    }


@_inference_mode
def generate_replies(
    model: Any, tokenizer: Any, prompts: list[list[dict]], max_new_tokens: int, batch_size: int | None = None
) -> list[str]:
    """Greedy answers to chat prompts, a batch at a time (left-padded), as the live model answers.
    Batches of 32 on a GPU (decoding there is bound by reading the weights: on an H100, 8 rows took
    1.4-1.9x the time of one a step; 32 not measured), 8 on a CPU."""
    device = next(model.parameters()).device
    batch_size = batch_size or (32 if device.type == "cuda" else 8)
    was_training, padding_side = model.training, tokenizer.padding_side
    model.eval()
    tokenizer.padding_side = "left"
    replies: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            texts = [
                tokenizer.apply_chat_template(
                    fit_template(tokenizer, p), add_generation_prompt=True, tokenize=False
                )
                for p in prompts[start : start + batch_size]
            ]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            output = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                repetition_penalty=1.1,
                use_cache=True,
                pad_token_id=tokenizer.pad_token_id,
            )
            new = output[:, batch["input_ids"].shape[1] :]
            replies += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = padding_side
        if was_training:
            model.train()
    return replies


def chrf_scores(replies: list[str], references: list[str]) -> list[float]:
    """Each reply's chrF (0-100) against its reference (sacrebleu's sentence-level chrF)."""
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    return [chrf.sentence_score(reply, [ref]).score for reply, ref in zip(replies, references, strict=True)]


_TERM = re.compile(r"[\w#@./:-]*\w")
_PLAIN = re.compile(r"[a-z]+")


def key_terms(reference: str, prompt: str) -> list[str]:
    """What a right answer must say: the reference's words that carry its fact (numbers, names,
    identifiers) and that the question did not already say."""
    asked = {t.lower() for t in _TERM.findall(prompt)}
    terms = []
    for i, token in enumerate(_TERM.findall(reference)):
        named = token[:1].isupper() and i > 0  # a name, not just the sentence's first word
        identifier = not _PLAIN.fullmatch(token.lower().replace("-", ""))  # 7781, #fire-drill, a URL
        if (named or identifier) and token.lower() not in asked:
            terms.append(token.lower())
    return terms


def answered_right(reply: str, reference: str, prompt: str) -> bool:
    """Whether a generated answer gives the reference's fact: every key term in it (case aside);
    an answer without key terms ("No, ...") counts when its chrF against the reference is 50 or more."""
    terms = key_terms(reference, prompt)
    if terms:
        said = reply.lower()
        return all(term in said for term in terms)
    return chrf_scores([reply], [reference])[0] >= 50


def score_heldout(
    model: Any, tokenizer: Any, rows: list[dict], max_length: int, max_new_tokens: int
) -> dict[str, Any]:
    """Held-out NLL, the chrF of greedy answers against the reference replies, and how many of those
    answers give the reference's fact (what a person would call right), per example."""
    scores = heldout_nll(model, tokenizer, rows, max_length)
    replies = generate_replies(model, tokenizer, [row["prompt"] for row in rows], max_new_tokens)
    references = [row["completion"][-1]["content"] for row in rows]
    chrf = chrf_scores(replies, references)
    scores["chrf"] = sum(chrf) / len(chrf) if chrf else math.nan
    scores["per_example_chrf"] = chrf
    questions = [" ".join(str(turn.get("content", "")) for turn in row["prompt"]) for row in rows]
    right = [
        answered_right(reply, ref, question)
        for reply, ref, question in zip(replies, references, questions, strict=True)
    ]
    scores["answered_right"] = sum(right)
    scores["per_example_right"] = right
    scores["per_example_reply"] = replies  # the review page shows them beside the baseline's
    return scores
