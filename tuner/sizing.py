"""How many examples an optimizer step takes (`training.batch_size: auto`), from the dataset and,
on a GPU, from the memory left once the model is loaded.

A step is one padding-free row: its examples back to back. Its memory is the model's (already
loaded), the LoRA optimizer state (small) and the activations, which grow with the step's tokens.
With gradient checkpointing each layer keeps its input per token, and one layer at a time is
recomputed with its attention and MLP intermediates; TRL's fused LM head scores the vocabulary in
tiles, so the logits do not grow with the step. `bytes_per_token` estimates that from the model's
shape (0.84 MiB per token for the Llama-3-8B shape; docs/perf-notes.md has what was measured), and
a fixed and a relative reserve keep room for the allocator's fragmentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIN_BATCH = 4  # the CPU default and the smallest automatic batch (what the learning benchmark used)
MAX_BATCH = 64
STEPS_PER_EPOCH = 32  # a small dataset still gets this many steps per epoch, up to MAX_BATCH
HEADROOM_BYTES = 2 * 2**30  # CUDA context growth, kernels' workspaces, the optimizer's first step
HEADROOM_SHARE = 0.1


@dataclass(frozen=True)
class StepSize:
    batch_size: int  # examples per optimizer step
    token_budget: int | None  # the most tokens a step may hold (None: memory not measured, CPU)
    longest_step_tokens: int  # tokens in the largest step this batch size can make

    def describe(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "token_budget": self.token_budget,
            "longest_step_tokens": self.longest_step_tokens,
        }


def bytes_per_token(config: Any, dtype_bytes: int = 2) -> int:
    """Activation bytes one token of a step needs in training with gradient checkpointing."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = int(text.hidden_size)
    layers = int(text.num_hidden_layers)
    intermediate = int(getattr(text, "intermediate_size", 4 * hidden))
    return step_bytes_per_token(hidden, layers, intermediate, dtype_bytes)


def step_bytes_per_token(hidden: int, layers: int, intermediate: int, dtype_bytes: int = 2) -> int:
    """`bytes_per_token` from the shape's numbers."""
    kept = layers * hidden  # each layer's checkpointed input
    recomputed = 8 * hidden + 4 * intermediate  # one layer's q/k/v/o, MLP and their gradients
    return 2 * dtype_bytes * (kept + recomputed)


def token_budget(free_bytes: int, per_token: int) -> int:
    """Tokens a step may hold in `free_bytes` of device memory, after a fixed and a relative reserve."""
    usable = free_bytes * (1 - HEADROOM_SHARE) - HEADROOM_BYTES
    return max(0, int(usable // per_token))


def choose_batch_size(lengths: list[int], budget: int | None) -> StepSize:
    """Examples per step: enough for STEPS_PER_EPOCH steps per epoch (at least MIN_BATCH, at most
    MAX_BATCH), then lowered until the longest examples together fit the token budget."""
    if not lengths:
        return StepSize(MIN_BATCH, budget, 0)
    wanted = max(MIN_BATCH, min(MAX_BATCH, len(lengths) // STEPS_PER_EPOCH))
    longest = sorted(lengths, reverse=True)
    size = min(wanted, len(lengths))
    if budget is not None:
        while size > 1 and sum(longest[:size]) > budget:
            size -= 1
    return StepSize(size, budget, sum(longest[:size]))


EXAMPLE_PASSES = 2000  # epochs auto: about this many examples seen, between 2 and 8 epochs
MIN_EPOCHS, MAX_EPOCHS = 2.0, 8.0


def choose_epochs(examples: int) -> float:
    """Passes over the data (`training.epochs: auto`): 8 for up to 250 examples (what the learning
    benchmark needs to teach a few facts), fewer as the dataset grows, 2 from 1,000 examples."""
    if examples <= 0:
        return MAX_EPOCHS
    return max(MIN_EPOCHS, min(MAX_EPOCHS, EXAMPLE_PASSES / examples))


def cuda_token_budget(model: Any, limit: int | None = None) -> int | None:
    """The token budget on the model's GPU from its free memory now, and no more than `limit`
    bytes for this process in all (its share of a GPU plan, tuner/gpu_budget.py) allow; None on a
    CPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info()
    if limit is not None:
        free = min(free, max(0, limit - torch.cuda.memory_reserved()))
    return token_budget(free, bytes_per_token(model.config))
