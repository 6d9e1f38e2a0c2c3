"""FP8 weights for answering on Hopper (issue 20's optional path; measured, not yet a policy option).

torchao replaces the decoder layers' linear weights with FP8 (e4m3) ones and a scale a row:
`fp8` also rounds each token's activations to FP8 and multiplies in FP8 (cuBLAS's scaled matmul);
`fp8_weights` turns the weights back to bf16 inside the compiled step, so the decode reads half
the bytes and multiplies in bf16. What this costs in quality is `rounded` on a CPU: the same
rounding, undone, so a model's NLL can be compared with its bf16 one (tests/bench/fp8_serving.py).

Adapters are merged into bf16 weights (tuner/merging.py); peft merges into torchao's int8 weights
only, so a live model on FP8 weights serves its base alone (`LiveModel.swap` says so).
"""

from __future__ import annotations

from typing import Any

KINDS = ("fp8", "fp8_weights")


def _check(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown weights {kind!r}: one of bf16, {', '.join(KINDS)}")


def _config(kind: str) -> Any:
    _check(kind)
    from torchao.quantization import (
        Float8DynamicActivationFloat8WeightConfig,
        Float8WeightOnlyConfig,
        PerRow,
    )

    if kind == "fp8":
        return Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())
    return Float8WeightOnlyConfig()


def quantize(model: Any, kind: str) -> None:
    """Replace the weights of `model`'s decoder layers' linear layers in place (the embeddings and
    the output layer stay bf16). Needs a GPU of compute capability 8.9 or later and torchao."""
    import torch

    _check(kind)
    if not torch.cuda.is_available() or torch.cuda.get_device_capability() < (8, 9):
        raise RuntimeError(f"{kind} weights need a GPU with FP8 (compute capability 8.9 or later)")
    try:
        from torchao.quantization import quantize_
    except ImportError as exc:
        raise RuntimeError(f"{kind} weights need torchao (pip install torchao)") from exc
    config = _config(kind)
    decoder = model.get_decoder()
    quantize_(decoder.layers, config)


def rounded(model: Any, kind: str) -> None:
    """What `quantize` does to `model`'s numbers, on any device: each decoder linear weight rounded
    to FP8 with a scale a row and turned back (and, for `fp8`, each input row likewise on its way
    in), so its outputs can be compared with the unrounded model's."""
    import torch

    _check(kind)
    for module in model.get_decoder().layers.modules():
        if isinstance(module, torch.nn.Linear):
            module.weight.data = _round_rows(module.weight.data)
            if kind == "fp8":
                module.register_forward_pre_hook(lambda _m, args: (_round_rows(args[0]), *args[1:]))


def _round_rows(x: Any) -> Any:
    """x rounded to float8_e4m3fn with one scale a row (its largest magnitude at e4m3's largest)."""
    import torch

    largest = torch.finfo(torch.float8_e4m3fn).max
    scale = x.abs().amax(dim=-1, keepdim=True).float().clamp(min=1e-12) / largest
    return ((x.float() / scale).to(torch.float8_e4m3fn).float() * scale).to(x.dtype)
