"""Adapters prepared beside the serving model and merged into it: peft's own result, the base
untouched until the merge, every weight where it was, and the base back bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.factories import save_tiny_model
from tuner.merging import BaseWeights, merge, prepare


@pytest.fixture(scope="module")
def base_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_tiny_model(tmp_path_factory.mktemp("tiny"), biases=True)


def _load(path: str):  # type: ignore[no-untyped-def]
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).eval().requires_grad_(False)


def _adapter(base_path: str, folder: Path, config) -> str:  # type: ignore[no-untyped-def]
    from peft import get_peft_model

    torch.manual_seed(3)
    peft = get_peft_model(_load(base_path), config)
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "ia3_l" in name:  # IA3 starts at ones: make it change something
                param.normal_(1.0, 0.3)
    peft.save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("kind", ["lora", "dora", "ia3"])
def test_a_prepared_adapter_merges_as_peft_merges_it(kind: str, base_path: str, tmp_path: Path) -> None:
    from peft import IA3Config, LoraConfig, PeftModel
    from peft.tuners.tuners_utils import BaseTunerLayer

    targets = ["q_proj", "v_proj", "down_proj"]
    config = (
        IA3Config(target_modules=targets, feedforward_modules=["down_proj"])
        if kind == "ia3"
        else LoraConfig(r=4, target_modules=targets, init_lora_weights=False, use_dora=kind == "dora")
    )
    path = _adapter(base_path, tmp_path / kind, config)
    expected = PeftModel.from_pretrained(_load(base_path), path).merge_and_unload().state_dict()

    model = _load(base_path)
    original = {name: value.clone() for name, value in model.state_dict().items()}
    addresses = {name: param.data_ptr() for name, param in model.named_parameters()}
    prepared = prepare(model, path, "v1")
    assert prepared is not None and len(prepared.layers) == 2 * len(targets)
    # Prepared beside the model: its modules and weights are as they were.
    assert not any(isinstance(module, BaseTunerLayer) for module in model.modules())
    assert all(torch.equal(value, original[name]) for name, value in model.state_dict().items())

    kept = BaseWeights()
    merge(prepared, kept)
    merged = model.state_dict()
    assert all(torch.equal(merged[name], expected[name]) for name in expected), kind
    assert any(not torch.equal(merged[name], original[name]) for name in original)
    assert {name: param.data_ptr() for name, param in model.named_parameters()} == addresses

    kept.restore(model)
    assert all(torch.equal(value, original[name]) for name, value in model.state_dict().items())
    assert not kept.merged


def test_soft_prompts_and_whole_modules_are_not_merged(base_path: str, tmp_path: Path) -> None:
    """Soft prompts have no weights to merge; an adapter that also trains whole modules
    (modules_to_save) is served by peft's wrapper instead."""
    from peft import LoraConfig, PromptTuningConfig

    prompts = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4)
    with_head = LoraConfig(r=4, target_modules=["q_proj"], modules_to_save=["lm_head"])
    for name, config in (("prompt", prompts), ("lora-and-head", with_head)):
        assert prepare(_load(base_path), _adapter(base_path, tmp_path / name, config), "v1") is None, name
