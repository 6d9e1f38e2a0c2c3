"""Training methods by name: what each needs from the base model and the adapter config."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    quantize_4bit: bool
    help: str


METHODS: dict[str, Method] = {
    "qlora": Method("qlora", True, "4-bit NF4 base (bitsandbytes, double quantization) + LoRA"),
    "lora": Method("lora", False, "full-precision base + LoRA"),
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown training method {name!r}; choose one of {sorted(METHODS)}") from None
