"""FP8 weights: the live model answers from torchao's FP8 weights and swaps adapters into them (base
+ delta rounded while answers go on, copied in place), back to the base bit for bit; the rounding
the benchmark measures quality with is e4m3's with a scale a row; what cannot work says so."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from tuner.fp8_weights import Fp8Weights, _round_rows, rounded
from tuner.live_model import AdapterError, LiveModel


def test_rows_round_to_e4m3_with_their_own_scale() -> None:
    x = torch.tensor([[1.0, -0.3, 0.0071, 448.0 / 3], [1e-3, 2e-3, -4e-3, 3e-3]])
    y = _round_rows(x)
    assert y.dtype == x.dtype and y.shape == x.shape
    assert torch.equal(y.abs().amax(dim=-1), x.abs().amax(dim=-1))  # each row's largest is kept exactly
    # e4m3 keeps 3 bits of mantissa: within 1/16 of each value, relative to the row's scale.
    assert torch.all((y - x).abs() <= x.abs() / 16 + x.abs().amax(dim=-1, keepdim=True) * 2**-9 / 448)
    assert not torch.equal(y, x)  # something was rounded
    assert torch.equal(_round_rows(y), y)  # what is representable stays


def test_the_rounding_is_torchaos_own_on_float32_weights() -> None:
    """What the quality benchmark measures is what torchao's FP8 weights hold (float32 weights, as
    the benchmark reads them; in bf16 torchao divides in bf16 first, so a few values differ)."""
    torch.manual_seed(0)
    weight = torch.randn(64, 96) * 0.05
    assert torch.equal(_fp8_of(weight).dequantize(), _round_rows(weight))


def test_rounding_a_model_changes_its_linear_layers_only(babbler: str) -> None:
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[5, 9, 3, 7, 2, 8]])
    plain = AutoModelForCausalLM.from_pretrained(babbler, dtype=torch.float32)
    results = {}
    for kind in ("fp8_weights", "fp8"):
        model = AutoModelForCausalLM.from_pretrained(babbler, dtype=torch.float32)
        rounded(model, kind)
        changed = {n for n, p in model.named_parameters() if not torch.equal(p, plain.get_parameter(n))}
        assert changed and all(n.endswith("proj.weight") for n in changed), changed
        results[kind] = model(input_ids=ids).logits
    reference = plain(input_ids=ids).logits
    assert not torch.equal(results["fp8_weights"], reference)
    assert not torch.equal(results["fp8"], results["fp8_weights"])  # the inputs were rounded too
    with pytest.raises(ValueError, match="unknown weights 'int3'"):
        rounded(plain, "int3")


def _fp8_of(weight: torch.Tensor) -> Any:
    """torchao's FP8 weight-only rounding of `weight`, as the live model's layers hold it."""
    from torchao.quantization import Float8WeightOnlyConfig, quantize_

    layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    layer.weight = torch.nn.Parameter(weight.clone(), requires_grad=False)
    quantize_(layer, Float8WeightOnlyConfig())
    return layer.weight


def _parts(weight: Any) -> list[torch.Tensor]:
    return [getattr(weight, name).clone() for name in weight.__tensor_flatten__()[0]]


def test_the_live_model_swaps_adapters_into_fp8_weights_and_back(babbler: str, tmp_path: Path) -> None:
    """Each adapted layer becomes exactly FP8(base + the adapter's delta), in the same tensors (a
    compiled step keeps reading them); back to the base, the weights are what they were, and the
    answers too."""
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    adapter, dora = str(tmp_path / "lora"), str(tmp_path / "dora")
    for folder, use_dora in ((adapter, False), (dora, True)):
        torch.manual_seed(3)
        config = LoraConfig(
            r=4, target_modules=["q_proj", "down_proj"], init_lora_weights=False, use_dora=use_dora
        )
        get_peft_model(AutoModelForCausalLM.from_pretrained(babbler), config).save_pretrained(folder)
    model = LiveModel(babbler, max_new_tokens=6, static_cache=False, weights="fp8_weights")
    try:
        layer = model._fp8.layers["model.layers.0.self_attn.q_proj"]  # type: ignore[union-attr]
        storage = [getattr(layer.weight, n).data_ptr() for n in layer.weight.__tensor_flatten__()[0]]
        base_parts = _parts(layer.weight)
        question = [{"role": "user", "content": "what port does billing use?"}]
        before = model.generate(question).text

        model.swap(adapter, "v1")
        peft = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(babbler, dtype=torch.float32), adapter
        )
        expected = peft.merge_and_unload().get_submodule("model.layers.0.self_attn.q_proj").weight.detach()
        assert all(
            torch.equal(a, b) for a, b in zip(_parts(layer.weight), _parts(_fp8_of(expected)), strict=True)
        )
        assert [getattr(layer.weight, n).data_ptr() for n in layer.weight.__tensor_flatten__()[0]] == storage
        assert model.version == "v1" and model.last_swap_seconds is not None
        assert model._fp8.merged  # type: ignore[union-attr]
        assert model.last_swap_parts["staged"] == "host"  # no GPU here

        model.swap(None, "base")
        assert all(torch.equal(a, b) for a, b in zip(_parts(layer.weight), base_parts, strict=True))
        assert model.generate(question).text == before and not model._fp8.merged  # type: ignore[union-attr]

        from tuner.weights import save_weights

        save_weights(AutoModelForCausalLM.from_pretrained(babbler), "full", tmp_path / "full")
        with pytest.raises(AdapterError, match="peft adapters only"):
            model.swap(str(tmp_path / "full"), "v2")
        with pytest.raises(AdapterError, match="LoRA"):  # DoRA's merge is not one delta a layer
            model.swap(dora, "v3")
        assert model.version == "base"
    finally:
        model.close()


@pytest.mark.skipif(
    torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 9), reason="this GPU has FP8"
)
def test_without_an_fp8_gpu_fp8_matmuls_are_refused(babbler: str) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(babbler, dtype=torch.float32)
    with pytest.raises(RuntimeError, match=r"compute capability 8\.9"):
        Fp8Weights(model, "fp8")
    with pytest.raises(ValueError, match="unknown weights"):
        Fp8Weights(model, "fp4")


def _lora(babbler: str, folder: Path, seed: int) -> str:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(AutoModelForCausalLM.from_pretrained(babbler), config).save_pretrained(str(folder))
    return str(folder)


def test_a_model_loaded_in_fp8_serves_an_adapter_as_the_live_model_does(babbler: str, tmp_path: Path) -> None:
    """`load` quantizes a layer at a time; `serve` merges an adapter a layer at a time with no staging
    (the training child scoring it): the weights are the live model's after its swap, bit for bit,
    and back to the base exactly."""
    from tuner import fp8_weights

    adapter = _lora(babbler, tmp_path / "lora", 5)
    model, weights = fp8_weights.load(babbler, "fp8_weights", "cpu")
    assert fp8_weights.of(model) is weights and fp8_weights.of(torch.nn.Linear(2, 2)) is None
    name = "model.layers.1.mlp.down_proj"
    base_parts = _parts(weights.layers[name].weight)
    fp8_weights.serve(model, adapter, "candidate")
    live = LiveModel(babbler, max_new_tokens=4, static_cache=False, weights="fp8_weights")
    try:
        live.swap(adapter, "v1")
        for layer, served in live._fp8.layers.items():  # type: ignore[union-attr]
            assert all(
                torch.equal(a, b)
                for a, b in zip(_parts(weights.layers[layer].weight), _parts(served.weight), strict=True)
            ), layer
    finally:
        live.close()
    assert not torch.equal(_parts(weights.layers[name].weight)[0], base_parts[0])
    fp8_weights.serve(model, None, "base")
    assert all(
        torch.equal(a, b) for a, b in zip(_parts(weights.layers[name].weight), base_parts, strict=True)
    )
    from peft import PromptTuningConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM

    config = PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=4)
    get_peft_model(AutoModelForCausalLM.from_pretrained(babbler), config).save_pretrained(str(tmp_path / "p"))
    with pytest.raises(ValueError, match="not a LoRA adapter"):
        fp8_weights.serve(model, str(tmp_path / "p"), "p")


def test_the_child_scores_each_adapter_in_the_fp8_weights_the_bot_will_serve(
    babbler: str, tmp_path: Path
) -> None:
    """With the base in FP8 (the bot serves FP8), the candidate, the live adapter and the guard's
    base are each scored with their weights merged into FP8, not as a bf16 adapter on top."""
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from tuner import fp8_weights
    from tuner.evaluation import heldout_nll
    from tuner.regression import guard_increases
    from tuner.scoring import evaluate

    candidate, live = _lora(babbler, tmp_path / "candidate", 5), _lora(babbler, tmp_path / "live", 6)
    tokenizer = AutoTokenizer.from_pretrained(babbler)
    rows = [
        {
            "prompt": [{"role": "user", "content": f"which port does service {n} use?"}],
            "completion": [{"role": "assistant", "content": f"service {n} listens on port {8000 + n}"}],
        }
        for n in range(3)
    ]
    job = SimpleNamespace(
        adapter_dir=candidate,
        live_adapter=live,
        max_length=64,
        eval_max_new_tokens=4,
        general_prompts=["what is a port?"],
    )
    result = evaluate(tokenizer, job, rows, lambda: fp8_weights.load(babbler, "fp8_weights", "cpu")[0])

    def served(adapter: str | None) -> float:
        model = LiveModel(babbler, max_new_tokens=4, static_cache=False, weights="fp8_weights")
        try:
            model.swap(adapter, "v" if adapter else "base")
            return heldout_nll(model._base, tokenizer, rows, 64)["heldout_nll"]
        finally:
            model.close()

    assert result["candidate"]["heldout_nll"] == served(candidate)
    assert result["baseline"]["label"] == "live" and result["baseline"]["heldout_nll"] == served(live)
    assert result["regression"]["prompts"] >= 1 and math.isfinite(result["regression"]["increase"])
    increases = guard_increases(
        tokenizer, job, {1: live, 2: candidate}, lambda: fp8_weights.load(babbler, "fp8_weights", "cpu")[0]
    )
    assert set(increases) == {1, 2} and increases[1] != increases[2]
    assert increases[2] == pytest.approx(result["regression"]["increase"])  # the same base answers
