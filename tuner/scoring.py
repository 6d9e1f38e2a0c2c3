"""The gate's numbers, computed in the training child: the candidate and the baseline (the live
adapter, else the base model) on the same held-out examples, and the regression guard.

Models are scored as the live model serves them: a full-precision base (bf16 on a GPU) with the
weights on it, whatever precision trained them. Where the candidate is a peft adapter, the baseline
is scored in the same model (the live adapter loaded next to it, or the adapter disabled);
otherwise (bitfit, full, or a live adapter of another kind) on a fresh copy of the base model.
Where the bot serves FP8 weights (`gpu.serving_weights`), the base comes in FP8 and each LoRA
adapter is merged into it as the bot merges it (tuner/fp8_weights.py), one after the other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Any

from tuner import fp8_weights
from tuner.evaluation import score_heldout
from tuner.regression import regression_scores
from tuner.weights import load_biases, loads_alongside, weights_kind

LoadBase = Callable[[], Any]  # a fresh full-precision base model on the evaluation device


def evaluate(tokenizer: Any, job: Any, heldout: list[dict], load_base: LoadBase) -> dict[str, Any]:
    """Score the weights in `job.adapter_dir` as the live model will serve them (a full-precision
    base with the weights on it), the baseline on the same examples, and the regression guard."""
    started = time.monotonic()
    scores = partial(score_heldout, max_length=job.max_length, max_new_tokens=job.eval_max_new_tokens)
    kind = weights_kind(job.adapter_dir)
    base = load_base()
    if fp8_weights.of(base) is not None:
        return _evaluate_fp8(tokenizer, job, heldout, base, scores, started)
    model = with_weights(base, job.adapter_dir)
    candidate = scores(model, tokenizer, heldout)
    base_only = _base_only(model, kind, load_base)
    live = job.live_adapter
    if live and kind == "peft" and loads_alongside(model.peft_config[model.active_adapter], live):
        name = model.active_adapter
        model.load_adapter(live, adapter_name="live")
        model.set_adapter("live")
        baseline = {**scores(model, tokenizer, heldout), "label": "live"}
        model.set_adapter(name)
    elif live:
        baseline = {**scores(with_weights(load_base(), live), tokenizer, heldout), "label": "live"}
    else:
        with base_only() as base:
            baseline = {**scores(base, tokenizer, heldout), "label": "base"}
    return _scored(tokenizer, job, model, candidate, baseline, base_only, started)


def _evaluate_fp8(
    tokenizer: Any, job: Any, heldout: list[dict], model: Any, scores: Any, started: float
) -> dict[str, Any]:
    """`evaluate` on a base with FP8 weights: the candidate, the live adapter (or the base) and the
    regression guard's base each merged in turn into the same weights."""
    fp8_weights.serve(model, job.adapter_dir, "candidate")
    candidate = scores(model, tokenizer, heldout)

    @contextmanager
    def base_only() -> Iterator[Any]:
        fp8_weights.serve(model, None, "base")
        yield model
        fp8_weights.serve(model, job.adapter_dir, "candidate")

    if job.live_adapter:
        fp8_weights.serve(model, job.live_adapter, "live")
        baseline = {**scores(model, tokenizer, heldout), "label": "live"}
        fp8_weights.serve(model, job.adapter_dir, "candidate")
    else:
        with base_only() as base:
            baseline = {**scores(base, tokenizer, heldout), "label": "base"}
    return _scored(tokenizer, job, model, candidate, baseline, base_only, started)


def _scored(
    tokenizer: Any,
    job: Any,
    model: Any,
    candidate: dict[str, Any],
    baseline: dict[str, Any],
    base_only: Callable[[], AbstractContextManager[Any]],
    started: float,
) -> dict[str, Any]:
    """The scores with the regression guard's (the candidate in `model`, the base from `base_only`)."""
    regression = None
    if job.general_prompts:
        regression = regression_scores(
            model,
            tokenizer,
            job.general_prompts,
            base_only,
            max_length=job.max_length,
            max_new_tokens=job.eval_max_new_tokens,
        )
    return {
        "candidate": candidate,
        "baseline": baseline,
        "regression": regression,
        "eval_seconds": round(time.monotonic() - started, 2),
    }


def _base_only(model: Any, kind: str, load_base: LoadBase) -> Callable[[], AbstractContextManager[Any]]:
    """A context yielding the base model: the peft adapter disabled, or a fresh copy of the base."""
    fresh: list[Any] = []

    @contextmanager
    def base_only() -> Iterator[Any]:
        if kind == "peft":
            with model.disable_adapter():
                yield model
        else:
            if not fresh:
                fresh.append(load_base())
            yield fresh[0]

    return base_only


def with_weights(base: Any, folder: str) -> Any:
    """`base` with the trained weights in `folder` on it (a whole model replaces it)."""
    kind = weights_kind(folder)
    if kind == "peft":
        from peft import PeftModel

        return PeftModel.from_pretrained(base, folder)
    if kind == "bitfit":
        load_biases(base, folder)
        return base
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=base.dtype).to(base.device)
