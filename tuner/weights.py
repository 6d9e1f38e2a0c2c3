"""What a trained folder holds and how it goes onto a base model.

- peft: a peft adapter (`adapter_config.json` + `adapter_model.safetensors`): LoRA, QLoRA, DoRA,
  IA3, prompt and prefix tuning, and the KTO/DPO adapters.
- bitfit: `bias.safetensors`, the model's bias terms after training, written over the base's.
- full: a whole model (`config.json` + weights), loaded instead of the base.
`tunebot_weights.json` names the kind; a folder without it is a peft adapter (older runs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MARKER = "tunebot_weights.json"
BIAS_FILE = "bias.safetensors"


def weights_kind(folder: str | Path) -> str:
    marker = Path(folder) / MARKER
    if marker.exists():
        return str(json.loads(marker.read_text())["kind"])
    return "peft"


def bias_parameters(model: Any) -> dict[str, Any]:
    return {name: p for name, p in model.named_parameters() if name.endswith(".bias")}


def save_weights(model: Any, kind: str, folder: str | Path) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    if kind == "peft":
        model.save_pretrained(folder)
        return
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "bitfit":
        tensors = {name: p.detach().cpu().contiguous() for name, p in bias_parameters(model).items()}
        save_file(tensors, str(folder / BIAS_FILE))
    elif kind == "full":
        model.save_pretrained(folder)
    else:
        raise ValueError(f"unknown weights kind {kind!r}")
    (folder / MARKER).write_text(json.dumps({"kind": kind}))


def check_weights(folder: str | Path) -> None:
    """Read the config and every tensor, so a damaged folder fails before anything is swapped."""
    from safetensors.torch import load_file

    folder = Path(folder)
    kind = weights_kind(folder)
    if kind == "peft":
        config = json.loads((folder / "adapter_config.json").read_text())
        if not isinstance(config, dict) or "peft_type" not in config:
            raise ValueError("adapter_config.json has no peft_type")
        load_file(folder / "adapter_model.safetensors")
    elif kind == "bitfit":
        if not load_file(folder / BIAS_FILE):
            raise ValueError(f"{BIAS_FILE} holds no tensors")
    elif kind == "full":
        json.loads((folder / "config.json").read_text())
        files = sorted(folder.glob("*.safetensors"))
        if not files:
            raise ValueError("no *.safetensors weights")
        for file in files:
            load_file(file)
    else:
        raise ValueError(f"unknown weights kind {kind!r}")


def load_biases(model: Any, folder: str | Path) -> dict[str, Any]:
    """Write the folder's biases over `model`'s in place; returns the ones they replaced."""
    import torch
    from safetensors.torch import load_file

    tensors = load_file(str(Path(folder) / BIAS_FILE))
    params = bias_parameters(model)
    missing = sorted(set(tensors) - set(params))
    if missing:
        raise ValueError(f"bias terms {missing[:3]} are not in this model")
    replaced = {}
    with torch.no_grad():
        for name, value in tensors.items():
            replaced[name] = params[name].detach().clone()
            params[name].copy_(value.to(params[name].dtype))
    return replaced


def restore_biases(model: Any, saved: dict[str, Any]) -> None:
    import torch

    params = bias_parameters(model)
    with torch.no_grad():
        for name, value in saved.items():
            params[name].copy_(value)


def loads_alongside(config: Any, folder: str | Path) -> bool:
    """Whether the peft adapter in `folder` can be loaded next to an adapter with peft `config` in
    the same wrapper (same peft type, not soft prompts); otherwise the wrapper is rebuilt."""
    if config is None or weights_kind(folder) != "peft":
        return False
    new_type = json.loads((Path(folder) / "adapter_config.json").read_text())["peft_type"]
    current = str(getattr(config.peft_type, "value", config.peft_type))
    return not config.is_prompt_learning and current == new_type
