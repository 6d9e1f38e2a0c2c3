"""Training's GPU speed levers, on the CPU: they must not change what is learned.

`training.compile` (each decoder layer compiled, dynamic shapes) and the attention kernels training
may use (not cuDNN's, which plans every new sequence length). What they gain on a GPU is measured by
tests/bench/train_memory.py (docs/perf-notes.md), not here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from torch._dynamo.utils import counters

from tests.tuner.test_memory_levers import _job, train_tiny
from tuner.trainers import compile_decoder_layers, training_attention
from tuner.training import cpu_has_bf16


def _train(tmp: Path, base: str, compiled: bool) -> tuple[list[float], int, dict[str, Any]]:
    job = replace(_job(tmp, base), max_steps=6, batch_size=3)
    layers: list[int] = []

    def prepare(trainer: Any) -> None:
        layers.append(compile_decoder_layers(trainer.model) if compiled else 0)
        torch._dynamo.reset()
        counters.clear()

    losses, trainer = train_tiny(job, tmp / str(compiled), prepare)
    weights = {k: v.detach().clone() for k, v in trainer.model.state_dict().items() if "lora_" in k}
    return losses, layers[0], weights


def test_compiled_decoder_layers_train_like_eager_layers(tmp_path: Path, tiny_model: str) -> None:
    # A failed compile fails here. (config.patch, not monkeypatch: pytest's undo deletes the
    # attribute from torch's config module, and every later compile in the process then fails.)
    with torch._dynamo.config.patch(suppress_errors=False):
        eager, _, eager_weights = _train(tmp_path, tiny_model, compiled=False)
        compiled, layers, compiled_weights = _train(tmp_path, tiny_model, compiled=True)
    assert layers == 2  # the tiny model's decoder layers
    # Six steps of different lengths (padding-free rows) and both layers share the dynamic graphs
    # (2 with torch 2.13), not one per step or layer; none broke.
    assert 1 <= counters["stats"]["unique_graphs"] <= 2, dict(counters["stats"])
    assert not counters["graph_break"], dict(counters["graph_break"])
    assert compiled == pytest.approx(eager, rel=1e-4), (eager, compiled)
    # The same adapter, under the same names: saving reads the compiled model as it reads eager.
    # (Adam divides by the gradients' size, so a last-bit difference in a near-zero gradient moves
    # a weight by up to a step: 1% of them differ by at most 5e-4 after 6 steps at 2e-3.)
    assert compiled_weights.keys() == eager_weights.keys()
    for name, value in eager_weights.items():
        torch.testing.assert_close(compiled_weights[name], value, rtol=0.05, atol=1e-3)


def test_training_attention_leaves_out_cudnn_on_a_gpu_only() -> None:
    assert torch.backends.cuda.cudnn_sdp_enabled()
    with training_attention(True):
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.flash_sdp_enabled() and torch.backends.cuda.mem_efficient_sdp_enabled()
    assert torch.backends.cuda.cudnn_sdp_enabled()
    with training_attention(False):
        assert torch.backends.cuda.cudnn_sdp_enabled()


@pytest.mark.skipif(torch.cuda.is_available() or not cpu_has_bf16(), reason="a CPU with native bf16")
def test_bf16_compute_on_the_cpu_trains_like_float32_and_keeps_the_weights_dtype(
    tmp_path: Path, tiny_model: str
) -> None:
    def run(on: bool) -> tuple[list[float], dict[str, torch.Tensor], set[torch.dtype]]:
        job = replace(_job(tmp_path, tiny_model), max_steps=6, batch_size=3, cpu_bf16=on)
        seen: set[torch.dtype] = set()

        def watch(trainer: Any) -> None:
            # Attention gives bf16 only under autocast: what the 4-bit o_proj is handed. (TRL keeps
            # a 4-bit model's LoRA weights in bf16 either way, so their outputs say nothing here.)
            for name, module in trainer.model.named_modules():
                if name.endswith("o_proj.base_layer"):
                    module.register_forward_pre_hook(lambda _m, args: seen.add(args[0].dtype))

        losses, trainer = train_tiny(job, tmp_path / str(on), watch)
        weights = {k: v.detach() for k, v in trainer.model.state_dict().items() if "lora_" in k}
        return losses, weights, seen

    fp32, fp32_weights, fp32_seen = run(False)
    bf16, bf16_weights, bf16_seen = run(True)
    assert fp32_seen == {torch.float32} and bf16_seen == {torch.bfloat16}  # the switch is in effect
    # the trained weights keep the dtype they have without the switch (what is saved and served)
    assert {w.dtype for w in bf16_weights.values()} == {w.dtype for w in fp32_weights.values()}
    assert bf16[0] == pytest.approx(fp32[0], rel=2e-2)  # the same model and data, bf16 rounding
    assert bf16[-1] < bf16[0] and bf16[-1] == pytest.approx(fp32[-1], rel=0.1), (fp32, bf16)
