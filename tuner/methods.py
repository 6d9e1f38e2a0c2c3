"""Training methods by name: the base model each needs, its trainer, and what it saves.

Kept free of heavy imports: the CLI lists the names; `tuner.training` builds the configs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Method:
    name: str
    quantize_4bit: bool  # the base loaded in 4-bit NF4 (bitsandbytes) for training
    trainer: Literal["sft", "kto", "dpo"]  # TRL trainer
    weights: Literal["peft", "bitfit", "full"]  # a peft adapter, the bias terms, or a whole model
    padding_free: bool  # examples packed back to back; soft prompts need one example per row
    help: str

    @property
    def merges_into_fp8(self) -> bool:
        """Whether its weights are plain LoRA, one delta a linear layer: what FP8 serving weights
        take in (tuner/fp8_weights.py)."""
        from policies.schema import PLAIN_LORA_METHODS

        return self.name in PLAIN_LORA_METHODS


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("qlora", True, "sft", "peft", True, "4-bit NF4 base (double quantization) + LoRA"),
        Method("lora", False, "sft", "peft", True, "full-precision base + LoRA"),
        Method("dora", False, "sft", "peft", True, "LoRA with weight decomposition (DoRA)"),
        Method("ia3", False, "sft", "peft", True, "learned rescaling vectors (IA3)"),
        Method("prompt_tuning", False, "sft", "peft", False, "learned soft prompt tokens"),
        Method("prefix_tuning", False, "sft", "peft", False, "learned key/value prefixes in every layer"),
        Method(
            "bitfit", False, "sft", "bitfit", True, "the model's bias terms only (needs a model with biases)"
        ),
        Method("full", False, "sft", "full", True, "every weight (full fine-tuning; saves a whole model)"),
        Method("kto", True, "kto", "peft", False, "4-bit base + LoRA, KTO on approved vs corrected answers"),
        Method(
            "dpo", True, "dpo", "peft", False, "4-bit base + LoRA, DPO: correction preferred over the answer"
        ),
    )
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown training method {name!r}; choose one of {sorted(METHODS)}") from None
