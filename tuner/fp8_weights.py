"""FP8 weights for answering on Hopper (issue 20's optional path; `LiveModel(weights=...)`).

torchao replaces the decoder layers' linear weights with FP8 (e4m3) ones and a scale a row:
`fp8` also rounds each token's activations to FP8 and multiplies in FP8 (cuBLAS's scaled matmul;
a GPU of compute capability 8.9 or later); `fp8_weights` turns the weights back to bf16 inside the
compiled step, so the decode reads half the bytes and multiplies in bf16. What this costs in
quality is `rounded`: the same rounding, undone (bit for bit torchao's on float32 weights; on
bf16 ones torchao divides in bf16 first, so a few values round the other way), so a model's NLL
can be compared with its own (tests/bench/fp8_serving.py).

Adapters (LoRA on linear layers: one weight delta a layer; not DoRA, IA3 or a bias) are merged by
`Fp8Weights`: it keeps the base's bf16 weights of those layers in host memory, and for a swap
computes base + delta and rounds it to FP8 while answers go on (`stage`, on the GPU: room for the
new FP8 weights of every layer the adapter changes), then copies that into the live weights in
place (`apply`, under the model lock: milliseconds), where the compiled step reads them.
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


def _linear_layers(model: Any) -> dict[str, Any]:
    """The decoder layers' linear layers, by their names in `model`."""
    import torch

    decoder = model.get_decoder()
    prefix = next(name for name, module in model.named_modules() if module is decoder.layers)
    return {
        f"{prefix}.{name}": module
        for name, module in decoder.layers.named_modules()
        if isinstance(module, torch.nn.Linear)
    }


class Fp8Weights:
    """The FP8 weights of a serving model, and what swapping adapters into them takes."""

    def __init__(self, model: Any, kind: str) -> None:
        """Quantize `model`'s decoder linear layers in place (the embeddings and the output layer
        stay as they are), keeping their weights as they were in host memory. Both kinds need
        torchao; `fp8` also a GPU of compute capability 8.9 or later (`fp8_weights` runs where
        torchao does, a CPU too: slowly, for tests)."""
        import torch

        _check(kind)
        fp8_gpu = torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 9)
        if kind == "fp8" and not fp8_gpu:
            raise RuntimeError(f"{kind} weights need a GPU with FP8 (compute capability 8.9 or later)")
        try:
            from torchao.quantization import quantize_
        except ImportError as exc:
            raise RuntimeError(f"{kind} weights need torchao (pip install torchao)") from exc
        self.config, self._quantize = _config(kind), quantize_
        self.layers = _linear_layers(model)
        pin = torch.cuda.is_available()
        self._base = {  # the bf16 weights, in host memory (pinned: copied back at the bus's speed)
            name: layer.weight.detach().to("cpu", copy=True).pin_memory()
            if pin
            else layer.weight.detach().clone()
            for name, layer in self.layers.items()
        }
        quantize_(model.get_decoder().layers, self.config)
        self.merged: set[str] = set()  # layers that hold an adapter's weights now

    def stage(self, prepared: Any) -> tuple[dict[str, Any], set[str]]:
        """FP8 weights for serving `prepared` (tuner/merging.py's PreparedAdapter; None: the base):
        base + the adapter's delta for each layer it changes, the base for each other layer that
        holds an adapter now, and the layers that will then hold the adapter's weights. Done while
        answers go on; `apply` puts them in place."""
        import torch
        from peft.tuners.lora import LoraLayer

        deltas: dict[str, Any] = {}
        for name, layer in prepared.layers if prepared is not None else ():
            version = prepared.version
            plain = isinstance(layer, LoraLayer) and not layer.use_dora.get(version)
            if name not in self.layers or not plain or layer.lora_bias.get(version):
                raise ValueError(f"{name}: only LoRA adapters on linear layers merge into FP8 weights")
            deltas[name] = layer.get_delta_weight(version)
        staged = {}
        for name in sorted(self.merged | set(deltas)):
            live = self.layers[name]
            weight = self._base[name].to(live.weight.device, non_blocking=True)
            if name in deltas:
                weight = weight + deltas[name].to(weight.dtype)
            temporary = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False, device=weight.device)
            temporary.weight = torch.nn.Parameter(weight, requires_grad=False)
            self._quantize(temporary, self.config)
            staged[name] = temporary.weight
        return staged, set(deltas)

    def apply(self, staged: dict[str, Any], merged: set[str]) -> None:
        """Copy staged FP8 weights into the live ones in place (nothing generating)."""
        for name, weight in staged.items():
            live = self.layers[name].weight
            for part in live.__tensor_flatten__()[0]:
                getattr(live, part).copy_(getattr(weight, part))
        self.merged = merged


def rounded(model: Any, kind: str) -> None:
    """What FP8 weights do to `model`'s numbers, on any device: each decoder linear weight rounded
    to FP8 with a scale a row and turned back (and, for `fp8`, each input row likewise on its way
    in), so its outputs can be compared with the unrounded model's."""
    _check(kind)
    for module in _linear_layers(model).values():
        module.weight.data = _round_rows(module.weight.data)
        if kind == "fp8":
            module.register_forward_pre_hook(lambda _m, args: (_round_rows(args[0]), *args[1:]))


def _round_rows(x: Any) -> Any:
    """x rounded to float8_e4m3fn with one scale a row (its largest magnitude at e4m3's largest)."""
    import torch

    largest = torch.finfo(torch.float8_e4m3fn).max
    scale = x.abs().amax(dim=-1, keepdim=True).float().clamp(min=1e-12) / largest
    return ((x.float() / scale).to(torch.float8_e4m3fn).float() * scale).to(x.dtype)
