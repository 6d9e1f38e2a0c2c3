"""Adapters prepared beside the serving model and merged into it: peft's own result, the base
untouched until the merge, every weight where it was, and the base back bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.factories import save_tiny_model
from tuner.merging import BaseWeights, merge, prepare, warm_up


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
    warm_up(prepared)
    # Prepared (and warmed up) beside the model: its modules and weights are as they were.
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


def test_the_weight_copies_are_made_before_the_merge_and_biases_at_it(base_path: str, tmp_path: Path) -> None:
    """`keep_weights` (before the model lock) copies the weight matrices an adapter will merge into,
    so the merge under the lock copies none; biases, which a live BitFit adapter may have changed in
    place, are kept by the merge, after the swap put the base's back."""
    from peft import LoraConfig

    config = LoraConfig(r=4, target_modules=["q_proj", "down_proj"], init_lora_weights=False)
    path = _adapter(base_path, tmp_path / "lora", config)
    model = _load(base_path)
    original = {name: value.clone() for name, value in model.state_dict().items()}
    prepared = prepare(model, path, "v1")
    assert prepared is not None
    biases = [
        module.bias for _, layer in prepared.layers if (module := layer.get_base_layer()).bias is not None
    ]
    assert biases  # the tiny model's q_proj has one
    with torch.no_grad():
        for bias in biases:
            bias.add_(1.0)  # a BitFit adapter serving while the next adapter is prepared

    kept = BaseWeights()
    kept.keep_weights(prepared)
    names = sorted(kept._kept)
    assert names == sorted(f"{name}.weight" for name, _ in prepared.layers)
    copies = {name: kept._kept[name] for name in names}
    assert all(torch.equal(copy, original[name]) for name, copy in copies.items())

    with torch.no_grad():  # under the lock: the swap restores BitFit's biases, then merges
        for bias in biases:
            bias.sub_(1.0)
    merge(prepared, kept)
    assert all(kept._kept[name] is copy for name, copy in copies.items())  # not copied again
    assert set(kept._kept) - set(copies) == {
        f"{name}.bias" for name, layer in prepared.layers if layer.get_base_layer().bias is not None
    }
    kept.restore(model)
    assert all(torch.equal(value, original[name]) for name, value in model.state_dict().items())


def test_warming_up_computes_one_delta_a_kind_and_shape_of_layer(
    base_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`warm_up` (before the model lock) runs a thread's first matrix products of each shape, not
    the whole merge's: one delta for each distinct layer, none for the others; a layer whose delta
    fails there is left to the merge."""
    from peft import LoraConfig
    from peft.tuners.lora.layer import Linear

    config = LoraConfig(r=4, target_modules=["q_proj", "k_proj", "down_proj"], init_lora_weights=False)
    path = _adapter(base_path, tmp_path / "lora", config)
    prepared = prepare(_load(base_path), path, "v1")
    assert prepared is not None
    computed: list[tuple[int, ...]] = []
    original = Linear.get_delta_weight

    def counted(self: Linear, adapter: str) -> torch.Tensor:
        computed.append(tuple(self.get_base_layer().weight.shape))
        return original(self, adapter)

    monkeypatch.setattr(Linear, "get_delta_weight", counted)
    warm_up(prepared)
    shapes = {tuple(layer.get_base_layer().weight.shape) for _, layer in prepared.layers}
    assert sorted(computed) == sorted(shapes)
    assert len(computed) < len(prepared.layers)  # the tiny model's layers repeat those shapes

    def fails(self: Linear, adapter: str) -> torch.Tensor:
        raise RuntimeError("no delta here")

    monkeypatch.setattr(Linear, "get_delta_weight", fails)
    warm_up(prepared)  # only a head start: the merge meets (and reports) what fails
