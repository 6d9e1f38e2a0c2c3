"""Merging a peft adapter into the serving weights, with the slow part done while answers go on.

Loading an adapter the usual way (`PeftModel.from_pretrained` on the serving model) wraps the
model's layers, so the model lock would be held while peft builds hundreds of wrappers and loads
their weights: about 0.5 s of a 0.6 s swap for the 8B shape with LoRA on every linear layer
(measured, docs/perf-notes.md). Instead `prepare` lets peft inject the adapter into a *shadow*
of the base: a copy of its module tree whose leaf layers are the base's own, shared, not copied,
so the serving model is not touched and no weights are duplicated. Under the lock, `merge` has
each of peft's layers merge into the real layer it wraps (peft's own merge: LoRA, DoRA, IA3...),
and `BaseWeights` puts the base's values back, bit for bit, before the next adapter merges. The
copies it keeps of the weight matrices are made before the lock too (`BaseWeights.keep_weights`:
made under it on a CPU, they held answers for most of a first promotion's pause), and so are the
thread's first matrix products of each shape (`warm_up`: on a GPU the copies took milliseconds,
and the first merge was still four times a later one's).
"""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class PreparedAdapter:
    version: str
    layers: list[tuple[str, Any]]  # (the base's module name, peft's layer wrapping that module)


def prepare(base: Any, adapter_path: str, version: str) -> PreparedAdapter | None:
    """peft's layers for the adapter at `adapter_path`, wrapping `base`'s own modules (its weights
    on their device). None where merging does not apply: soft prompts (no weights to merge) and
    adapters that also replace whole modules."""
    from peft import PeftConfig, PeftModel
    from peft.tuners.tuners_utils import BaseTunerLayer
    from peft.utils.other import AuxiliaryTrainingWrapper

    if PeftConfig.from_pretrained(adapter_path).is_prompt_learning:
        return None
    # Not low_cpu_mem_usage, though it loads faster (8B: 0.59 s, not 0.85): while it loads, peft makes every
    # parameter registered by any thread empty (it patches torch.nn.Module), and this runs beside
    # the thread that answers, which may be compiling (an FX graph module registers parameters).
    peft: Any = PeftModel.from_pretrained(_shadow(base), adapter_path, adapter_name=version)
    if any(isinstance(module, AuxiliaryTrainingWrapper) for module in peft.modules()):
        return None  # whole modules trained beside the adapter (modules_to_save): peft's wrapper serves
    layers = [
        (name.removeprefix("base_model.model."), module)
        for name, module in peft.named_modules()
        if isinstance(module, BaseTunerLayer)
    ]
    return PreparedAdapter(version, layers)


def warm_up(prepared: PreparedAdapter) -> None:
    """Compute, and drop, one layer's delta for each kind and shape of layer in `prepared`, in this
    thread and before the model lock: on a GPU a thread's first matrix products create its cuBLAS
    handle and load their kernels. An 8B model's first merge on an H100 held answers 0.25 s where
    later ones took 0.06 s, the base's weights copied beforehand (2026-12-07); that this is why is
    presumed, not yet measured. Only a head start: a layer whose delta cannot be made here is
    left to the merge."""
    import torch

    seen: set[tuple[type, tuple[int, ...]]] = set()
    cuda = False
    for _name, layer in prepared.layers:
        weight = getattr(layer.get_base_layer(), "weight", None)
        delta_weight = getattr(layer, "get_delta_weight", None)
        if weight is None or delta_weight is None or (type(layer), tuple(weight.shape)) in seen:
            continue
        seen.add((type(layer), tuple(weight.shape)))
        try:
            with torch.no_grad():
                delta = delta_weight(prepared.version)
                if isinstance(delta, torch.Tensor) and delta.shape == weight.shape:
                    delta.add_(delta)  # and the in-place add a merge makes
        except Exception:  # the merge makes it (or says why) under the lock
            log.debug("no warm-up for %s", type(layer).__name__, exc_info=True)
        cuda = cuda or weight.is_cuda
    if cuda:
        torch.cuda.synchronize()


def _shadow(module: Any) -> Any:
    """A copy of `module`'s tree of containers that shares its leaf modules (and so every weight):
    peft can replace children in it without changing `module`."""
    if not module._modules:
        return module
    clone = copy.copy(module)  # a new __dict__: attributes peft sets stay on the clone
    clone._modules = {
        name: None if child is None else _shadow(child) for name, child in module._modules.items()
    }
    clone._parameters = dict(module._parameters)
    clone._buffers = dict(module._buffers)
    return clone


def merge(prepared: PreparedAdapter, kept: BaseWeights) -> None:
    """Merge every prepared layer into the base module it wraps (call with nothing generating).
    Each parameter keeps its memory (peft replaces some, e.g. for DoRA): a compiled decoding step
    reads the weights where they were when it was captured."""
    kept.merged = True  # from the first layer on, restoring is needed
    for name, layer in prepared.layers:
        module = layer.get_base_layer()
        kept.keep(name, module)
        storage = {key: param.data for key, param in module.named_parameters(recurse=False)}
        layer.merge(adapter_names=[prepared.version])
        for key, param in module.named_parameters(recurse=False):
            if param.data.data_ptr() != storage[key].data_ptr():
                storage[key].copy_(param.data)
                param.data = storage[key]


class BaseWeights:
    """The base's own parameters of every module an adapter has been merged into, kept once (the
    base never changes): on the GPU while a copy leaves a quarter of what this process may use
    there free (`spare_on_gpu`: copying back takes milliseconds), else in pinned CPU memory (a
    fraction of a second)."""

    def __init__(self) -> None:
        self._kept: dict[str, Any] = {}  # "layers.0.self_attn.q_proj.weight" -> its base values
        self._adding = threading.Lock()  # a preparation keeps weights while a swap may restore
        self.merged = False  # whether the base holds a merged adapter now

    def keep_weights(self, prepared: PreparedAdapter) -> None:
        """Keep the weight matrices `prepared` will merge into, while answers go on (before the
        model lock). A matrix not kept yet has never had an adapter merged into it, so it holds the
        base's values whatever serves now; biases, which BitFit adapters change in place, are kept
        by `merge` under the lock, where they are the base's."""
        for name, layer in prepared.layers:
            self.keep(name, layer.get_base_layer(), only="weight")

    def keep(self, name: str, module: Any, only: str | None = None) -> None:
        import torch

        from tuner.gpu_budget import spare_on_gpu

        for key, param in module.named_parameters(recurse=False):
            full = f"{name}.{key}"
            if full in self._kept or (only is not None and key != only):
                continue
            value = param.detach()
            if value.is_cuda and value.numel() * value.element_size() > spare_on_gpu(value.device):
                kept = torch.empty_like(value, device="cpu").pin_memory().copy_(value)
            else:
                kept = value.clone()
            with self._adding:
                self._kept[full] = kept

    def placement(self) -> str:
        """Where the kept copies are: "gpu", "host", "gpu and host", or "none" (for benchmarks)."""
        with self._adding:
            places = {"gpu" if value.is_cuda else "host" for value in self._kept.values()}
        return " and ".join(sorted(places)) or "none"

    def restore(self, model: Any) -> None:
        """The base's own values back into `model`'s parameters, in place."""
        if not self.merged:
            return
        with self._adding:
            kept = list(self._kept.items())
        for name, value in kept:
            model.get_parameter(name).data.copy_(value, non_blocking=True)
        if any(value.is_cuda or value.is_pinned() for _, value in kept):
            import torch

            torch.cuda.synchronize()
        self.merged = False
