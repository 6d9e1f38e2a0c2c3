"""FP8 weights: the rounding the benchmark measures quality with is e4m3's with a scale a row, the
activations' too for `fp8`; a machine without FP8 says so, and an unknown kind is refused."""

from __future__ import annotations

import pytest
import torch

from tuner.fp8_weights import _round_rows, quantize, rounded


def test_rows_round_to_e4m3_with_their_own_scale() -> None:
    x = torch.tensor([[1.0, -0.3, 0.0071, 448.0 / 3], [1e-3, 2e-3, -4e-3, 3e-3]])
    y = _round_rows(x)
    assert y.dtype == x.dtype and y.shape == x.shape
    assert torch.equal(y.abs().amax(dim=-1), x.abs().amax(dim=-1))  # each row's largest is kept exactly
    # e4m3 keeps 3 bits of mantissa: within 1/16 of each value, relative to the row's scale.
    assert torch.all((y - x).abs() <= x.abs() / 16 + x.abs().amax(dim=-1, keepdim=True) * 2**-9 / 448)
    assert not torch.equal(y, x)  # something was rounded
    assert torch.equal(_round_rows(y), y)  # what is representable stays


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


@pytest.mark.skipif(
    torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 9), reason="this GPU has FP8"
)
def test_without_fp8_the_live_weights_say_so(babbler: str) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(babbler, dtype=torch.float32)
    with pytest.raises(RuntimeError, match=r"compute capability 8\.9"):
        quantize(model, "fp8")
