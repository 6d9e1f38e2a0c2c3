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

    def __init__(self, model: Any, kind: str, device: Any = None) -> None:
        """Quantize `model`'s decoder linear layers in place (the embeddings and the output layer
        stay as they are), keeping their weights as they were in host memory. With `device`, the
        decoder layers (still in host memory) are moved there one at a time, each quantized as it
        arrives: the device never holds the model's bf16 layers at once (`load`). Both kinds need
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
            name: layer.weight.detach().cpu().pin_memory()  # a copy (pinning copies)
            if pin
            else layer.weight.detach().clone()
            for name, layer in self.layers.items()
        }
        for layer in model.get_decoder().layers:
            if device is not None:
                layer.to(device)
            quantize_(layer, self.config)
        self.merged: set[str] = set()  # layers that hold an adapter's weights now

    def stage(self, prepared: Any) -> tuple[dict[str, list[Any]], set[str]]:
        """FP8 weights for serving `prepared` (tuner/merging.py's PreparedAdapter; None: the base):
        base + the adapter's delta for each layer it changes, the base for each other layer that
        holds an adapter now, and the layers that will then hold the adapter's weights. Done while
        answers go on, one layer at a time; `apply` puts them in place. Staged on the GPU where this
        process has room for them beyond its plan (tuner/gpu_budget.py's `spare_on_gpu`: `apply`
        then takes milliseconds), else in pinned host memory (a copy over the bus: for all the
        linear layers of an 8B model, ~7 GB, a fraction of a second)."""
        import torch

        names, merged, layer_weights = self._changes(prepared)
        on_gpu = True
        if names and torch.cuda.is_available():
            from tuner.gpu_budget import spare_on_gpu

            size = sum(_fp8_bytes(self.layers[name].weight) for name in names)
            on_gpu = size <= spare_on_gpu(self.layers[names[0]].weight.device)
        staged = {}
        for name in names:
            parts = _parts(layer_weights(name))
            if not on_gpu:
                parts = [torch.empty_like(t, device="cpu").pin_memory().copy_(t) for t in parts]
            staged[name] = parts
        return staged, merged

    def apply(self, staged: dict[str, list[Any]], merged: set[str]) -> None:
        """Copy staged FP8 weights into the live ones in place (nothing generating)."""
        import torch

        for name, parts in staged.items():
            for live, new in zip(_parts(self.layers[name].weight), parts, strict=True):
                live.copy_(new, non_blocking=True)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.merged = merged

    def put(self, prepared: Any) -> None:
        """`stage` and `apply` at once, a layer at a time, with nothing generating (the training
        child scoring each adapter as the bot will serve it): no room for staged weights needed."""
        names, merged, layer_weights = self._changes(prepared)
        for name in names:
            self.apply({name: _parts(layer_weights(name))}, self.merged)
        self.merged = merged

    def _changes(self, prepared: Any) -> tuple[list[str], set[str], Any]:
        """The layers whose weights change for `prepared`, the layers that then hold its weights,
        and a function making a layer's new FP8 weight (on its device)."""
        import torch
        from peft.tuners.lora import LoraLayer

        adapted: dict[str, Any] = {}  # each layer's delta is made when its weight is (one at a time)
        for name, layer in prepared.layers if prepared is not None else ():
            version = prepared.version
            plain = isinstance(layer, LoraLayer) and not layer.use_dora.get(version)
            if name not in self.layers or not plain or layer.lora_bias.get(version):
                raise ValueError(f"{name}: only LoRA adapters on linear layers merge into FP8 weights")
            adapted[name] = layer

        def layer_weight(name: str) -> Any:
            live = self.layers[name]
            weight = self._base[name].to(live.weight.device, non_blocking=True)
            if name in adapted:
                weight = weight + adapted[name].get_delta_weight(prepared.version).to(weight.dtype)
            temporary = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False, device=weight.device)
            temporary.weight = torch.nn.Parameter(weight, requires_grad=False)
            self._quantize(temporary, self.config)
            return temporary.weight

        return sorted(self.merged | set(adapted)), set(adapted), layer_weight


def load(base_model: str, kind: str, device: str) -> tuple[Any, Fp8Weights]:
    """`base_model` in bf16 (float32 on a CPU) with FP8 decoder linear weights, on `device`: read
    into host memory, everything but the decoder layers moved, then each layer moved and quantized
    in turn, so the device holds one layer in bf16 at most (an 8B model: ~9 GB in FP8, where a
    load in bf16 first would need 16)."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if device != "cpu" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype)
    _move_all_but(model, model.get_decoder().layers, device)
    weights = Fp8Weights(model, kind, device=device)
    model.__dict__[_HANDLE] = weights  # found again by `of` (not a module or a parameter)
    return model, weights


_HANDLE = "tunebot_fp8_weights"


def of(model: Any) -> Fp8Weights | None:
    """The FP8 weights of a model `load` made (None for any other model)."""
    return model.__dict__.get(_HANDLE)


def serve(model: Any, adapter_path: str | None, name: str) -> None:
    """Make a model `load` made hold FP8(base + the LoRA adapter at `adapter_path`) in every layer
    (None: the base), as the live model would serve it, a layer at a time (nothing generating)."""
    from tuner.merging import prepare

    weights = of(model)
    assert weights is not None, "not a model with FP8 weights"
    prepared = None if adapter_path is None else prepare(model, adapter_path, name)
    if adapter_path is not None and prepared is None:
        raise ValueError(f"{adapter_path}: not a LoRA adapter; FP8 weights serve LoRA adapters only")
    weights.put(prepared)


def _move_all_but(module: Any, skip: Any, device: str) -> None:
    """Move `module`'s parameters and buffers to `device`, except those under `skip`."""
    if module is skip:
        return
    for param in module.parameters(recurse=False):
        param.data = param.data.to(device)
    for name, buffer in module.named_buffers(recurse=False):
        module._buffers[name] = buffer.to(device)
    for child in module.children():
        _move_all_but(child, skip, device)


def _parts(weight: Any) -> list[Any]:
    """The plain tensors an FP8 weight is made of (its FP8 values and its scales)."""
    return [getattr(weight, part) for part in weight.__tensor_flatten__()[0]]


def _fp8_bytes(weight: Any) -> int:
    return sum(t.numel() * t.element_size() for t in _parts(weight))


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
