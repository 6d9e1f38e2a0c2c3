"""One GPU, both jobs: the plan the bot and the training child make alike from gpu.memory_budget_gib."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from transformers import LlamaConfig

from policies import Policies
from policies.schema import GpuPolicy
from tests.bench.model_memory import SHAPES
from tests.bench.train_memory import SHAPES as CONFIGS
from tuner.gpu_budget import (
    CACHE_TOKENS,
    GIB,
    BudgetTooSmall,
    ModelShape,
    child_bytes,
    plan,
    serving_bytes,
    serving_choices,
    weight_bytes,
)

LLAMA_8B = LlamaConfig(**CONFIGS["8b"])
EIGHT_B, THREE_B = dict(SHAPES)["8B (Llama 3.1 8B)"], dict(SHAPES)["3B (Llama 3.2 3B)"]
CARD = 80 * GIB


def test_the_shape_counts_what_the_model_holds(tiny_model: str) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, StaticCache

    assert (
        ModelShape.of(LLAMA_8B) == EIGHT_B and EIGHT_B.weights == 8_030_261_248
    )  # Llama 3 8B's parameter count
    config = AutoConfig.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    shape = ModelShape.of(config)
    assert shape.weights == sum(p.numel() for p in model.parameters())
    cache = StaticCache(config=config, max_cache_len=64)
    with torch.inference_mode():  # the cache's tensors exist once the model has written to it
        model(input_ids=torch.tensor([[1, 2, 3]]), past_key_values=cache, use_cache=True)
    cached = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    assert cached == shape.kv_bytes_per_token(dtype_bytes=4) * 64  # float32 on the CPU


def test_an_8b_model_plans_within_the_card_and_a_48_gib_budget() -> None:
    shape = EIGHT_B
    whole = plan(shape, CARD)
    assert (whole.budget, whole.max_batch, whole.cache_tokens) == (CARD, 8, CACHE_TOKENS[0])
    assert whole.serving + whole.training == CARD
    assert whole.serving > 2 * shape.weights  # the bf16 weights and more
    # The training child's share is at least what it needs (the bf16 model it evaluates with).
    assert whole.training >= child_bytes(shape) > 2 * shape.weights
    half = plan(shape, CARD, 48 * GIB)
    assert half.serving == whole.serving and half.training == 48 * GIB - half.serving
    assert half.share(half.serving) == pytest.approx(half.serving / CARD)
    assert plan(shape, CARD, 500 * GIB).budget == CARD  # never more than the card


def test_a_tight_budget_shortens_the_caches_first_then_the_batch() -> None:
    shape = EIGHT_B
    floor = child_bytes(shape)
    between = (serving_bytes(shape, 8, 2048) + serving_bytes(shape, 8, 4096)) // 2 + floor
    assert (plan(shape, CARD, between).max_batch, plan(shape, CARD, between).cache_tokens) == (8, 2048)
    tighter = serving_bytes(shape, 8, 1024) + floor - 1
    smaller = plan(shape, CARD, tighter)
    assert smaller.max_batch < 8 and smaller.serving + floor <= tighter


def test_a_model_that_cannot_answer_and_train_is_refused_with_what_it_needs() -> None:
    with pytest.raises(BudgetTooSmall) as refused:
        plan(EIGHT_B, CARD, 24 * GIB)
    message = str(refused.value)
    assert "24.0 GiB" in message and "gpu.memory_budget_gib" in message and "smaller model" in message
    small = plan(THREE_B, CARD, 24 * GIB)  # the 3B shape fits a 24 GiB budget
    assert small.serving + small.training == 24 * GIB and small.training >= child_bytes(THREE_B)


def test_the_budget_is_a_policy_setting() -> None:
    assert Policies().gpu.memory_budget_gib is None  # the whole card
    assert GpuPolicy(memory_budget_gib=48).memory_budget_gib == 48
    with pytest.raises(ValidationError):
        GpuPolicy(memory_budget_gib=0)


def test_on_a_cpu_there_is_no_plan_and_the_child_runs_as_before(tiny_model: str) -> None:
    import torch
    from transformers import AutoConfig

    from tuner.gpu_budget import plan_for_model
    from tuner.sizing import cuda_token_budget

    if torch.cuda.is_available():
        pytest.skip("on a GPU the plan exists")
    assert plan_for_model(AutoConfig.from_pretrained(tiny_model), 48) is None
    assert cuda_token_budget(object(), limit=GIB) is None


def test_fp8_serving_counts_a_byte_a_weight_and_a_scale_a_row(tiny_model: str) -> None:
    """What the plan counts for FP8 serving weights is what torchao's weights hold."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from tuner.fp8_weights import Fp8Weights

    shape = ModelShape.of(AutoConfig.from_pretrained(tiny_model))
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    Fp8Weights(model, "fp8_weights")
    held = 0
    for tensor in model.state_dict().values():
        fp8 = hasattr(tensor, "qdata")
        parts = [getattr(tensor, n) for n in tensor.__tensor_flatten__()[0]] if fp8 else []
        held += sum(p.numel() * p.element_size() for p in parts) or tensor.numel() * 2  # the rest in bf16
    tied = 2 * shape.vocab * shape.hidden if shape.tied else 0  # the state dict lists a tied table twice
    assert held - tied == weight_bytes(shape, "fp8_weights") == weight_bytes(shape, "fp8")
    assert weight_bytes(shape, "bf16") == 2 * shape.weights
    assert weight_bytes(EIGHT_B, "fp8_weights") < 0.6 * weight_bytes(EIGHT_B)
    with pytest.raises(ValueError, match="unknown serving weights 'int4'"):
        weight_bytes(shape, "int4")


def test_a_24_gib_budget_serves_an_8b_model_in_fp8_where_allowed() -> None:
    """bf16 first, at any batch; FP8 weights only where bf16 cannot fit at all, and then the
    training child's share counts the FP8 model it evaluates with."""
    auto = ("bf16", "fp8_weights")
    assert plan(EIGHT_B, CARD, 48 * GIB, weights=auto).weights == "bf16"
    floor = child_bytes(EIGHT_B)
    one_at_a_time = plan(EIGHT_B, CARD, serving_bytes(EIGHT_B, 1, 1024) + floor, weights=auto)
    assert (one_at_a_time.weights, one_at_a_time.max_batch) == ("bf16", 1)  # slower FP8 only past this
    small = plan(EIGHT_B, CARD, 24 * GIB, weights=auto)
    assert (small.weights, small.max_batch) == ("fp8_weights", 8)
    assert small.serving == serving_bytes(EIGHT_B, 8, small.cache_tokens, "fp8_weights")
    assert small.training >= child_bytes(EIGHT_B, weights="fp8_weights")
    assert child_bytes(EIGHT_B, weights="fp8_weights") < child_bytes(EIGHT_B)
    assert "(fp8_weights, 8 at once" in small.summary()
    with pytest.raises(BudgetTooSmall, match="serve FP8 weights"):  # bf16 only: the way out is named
        plan(EIGHT_B, CARD, 24 * GIB)
    with pytest.raises(BudgetTooSmall) as refused:  # FP8 tried too: nothing more to suggest there
        plan(EIGHT_B, CARD, 12 * GIB, weights=auto)
    assert "in fp8_weights" in str(refused.value) and "serve FP8" not in str(refused.value)


def test_auto_serves_fp8_only_with_torchao_and_a_lora_method(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    assert serving_choices("auto", "qlora") == ("bf16", "fp8_weights")  # torchao is in the dev set
    assert serving_choices("auto", "dora") == ("bf16",)  # DoRA does not merge into FP8 weights
    assert serving_choices("fp8", "qlora") == ("fp8",) and serving_choices("bf16", "lora") == ("bf16",)
    monkeypatch.setitem(sys.modules, "torchao", None)  # what Python does for a package it cannot import
    assert serving_choices("auto", "qlora") == ("bf16",)


def test_the_serving_precision_is_a_policy_setting() -> None:
    assert Policies().gpu.serving_weights == "bf16"
    assert Policies.model_validate({"gpu": {"serving_weights": "fp8"}}).gpu.serving_weights == "fp8"
    with pytest.raises(ValidationError, match="LoRA adapters only"):
        Policies.model_validate({"gpu": {"serving_weights": "fp8_weights"}, "training": {"method": "ia3"}})
    with pytest.raises(ValidationError):
        GpuPolicy(serving_weights="int8")  # type: ignore[arg-type]
