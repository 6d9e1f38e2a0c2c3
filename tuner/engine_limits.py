"""What a serving engine can load (`TUNEBOT_ENGINE_URL`): the adapters a cycle trains must pass the
checks vLLM makes when `POST /v1/load_lora_adapter` reads one (vllm/lora/peft_helper.py), or the
registry would move on to a version no replica can serve.

vLLM takes LoRA adapters only: no DoRA, no `modules_to_save`, no bias, and no rank (nor any layer's
rank in `rank_pattern`) above the `--max-lora-rank` it was started with (16 unless set), which the
bot cannot ask it for: `TUNEBOT_ENGINE_MAX_LORA_RANK` says it. `tunebot engine` takes more (it
merges any peft adapter), but a bot does not tell engines apart, so the same limits hold for both.

Checked when `tunebot serve` starts and by `tunebot doctor` (the policy's method and rank), when a
cycle starts (a method given on the command line too: the run fails before training), and before an
approval or a rollback puts a saved adapter live (its adapter_config.json: one trained before
answers moved to an engine may not load): a rollback to a named version is refused, one to "the
previous adapter" (an admin's, or an erasure's) passes over those the engine cannot load, down to
the base model, so the erased adapter never stays live for want of a loadable one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from policies.schema import PLAIN_LORA_METHODS, LoraSpec

VLLM_MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the values --max-lora-rank accepts


def training_problem(method: str, lora: LoraSpec, max_lora_rank: int) -> str | None:
    """Why adapters trained by `method` with `lora` could not be served by the engine, or None."""
    if method not in PLAIN_LORA_METHODS:
        return (
            f"{method} adapters cannot be loaded by a serving engine (vLLM serves LoRA adapters "
            f"only): with TUNEBOT_ENGINE_URL set, train with one of {', '.join(PLAIN_LORA_METHODS)}"
        )
    if lora.r > max_lora_rank:
        larger = next((r for r in VLLM_MAX_LORA_RANKS if r >= lora.r), None)
        more = f", or start vLLM with --max-lora-rank {larger} (and TUNEBOT_ENGINE_MAX_LORA_RANK={larger})"
        return (
            f"training.lora.r is {lora.r} and the engine takes ranks up to {max_lora_rank} "
            "(TUNEBOT_ENGINE_MAX_LORA_RANK, vLLM's --max-lora-rank): lower training.lora.r"
            + (more if larger is not None else "")
        )
    return None


def adapter_problem(adapter_dir: str | Path, max_lora_rank: int) -> str | None:
    """Why the engine would refuse the adapter saved in `adapter_dir`, in vLLM's words, or None."""
    path = Path(adapter_dir) / "adapter_config.json"
    if not path.exists():
        return "it is not a peft adapter (a whole model, or bias terms); vLLM loads LoRA adapters only"
    try:
        config: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return f"its adapter_config.json cannot be read ({exc})"
    if config.get("peft_type") != "LORA":
        return f"it is a {config.get('peft_type') or 'full-model'} adapter; vLLM loads LoRA adapters only"
    problems = []
    if config.get("modules_to_save"):
        problems.append("vLLM only supports modules_to_save being None.")
    if config.get("use_dora"):
        problems.append("vLLM does not yet support DoRA.")
    rank = max([int(config.get("r") or 0), *(int(r) for r in (config.get("rank_pattern") or {}).values())])
    if rank > max_lora_rank:
        problems.append(f"LoRA rank {rank} is greater than max_lora_rank {max_lora_rank}.")
    if config.get("bias", "none") != "none":
        problems.append("Adapter bias is not supported.")
    if config.get("trainable_token_indices"):
        problems.append("Trainable token indices are not supported.")
    return " ".join(problems) or None
