"""One GPU, both jobs (`gpu.memory_budget_gib`): the bot and the training child plan their memory
together instead of each taking what looks free.

The bot answers from bf16 weights (or FP8 ones, `gpu.serving_weights`) with static KV caches (one
for a batch of one and one for a full batch, `tuner/static_decode.py`); the training child loads
the model again in 4 bits with LoRA and sizes its steps from what it may use (`tuner/sizing.py`).
The plan, from the model's shape alone:

1. serving: the weights in the serving precision, both caches at `cache_tokens` columns a row, and
   the bot's peak (a full batch's prompts going through a layer at once);
2. the training child: the 4-bit weights, LoRA's weights and optimizer state, and a step of
   `MIN_STEP_TOKENS` tokens as the child's own sizing reckons it (with its reserves); or, when it
   is more, the model it loads apart, in the serving precision, to answer the replay and guard
   prompts and to evaluate;
3. if both do not fit the budget, the caches get shorter (4,096, 2,048, 1,024 columns) and then
   the batch smaller, until they do; then, where FP8 is allowed (`gpu.serving_weights: auto`,
   torchao installed, adapters that merge into FP8), the same in FP8 weights (a byte a weight,
   where answers may be slower: docs/perf-notes.md); if nothing fits, `BudgetTooSmall` says by how
   much.

The child then sizes its steps from the plan's `training` share (never more than the GPU has free),
so a cycle
leaves the bot its share; with a budget set (an emulated smaller card, or a GPU shared with other
work) each process also caps its allocator at its share (`torch.cuda.set_per_process_memory_fraction`).
Estimates from the shapes, calibrated on one measured training peak; docs/models.md prints them
for the common model sizes (`python -m tests.bench.model_memory`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tuner.sizing import HEADROOM_BYTES, HEADROOM_SHARE, step_bytes_per_token

GIB = 2**30
CACHE_TOKENS = (4096, 2048, 1024)  # the serving caches' columns, longest first
MIN_STEP_TOKENS = 2048  # the smallest training step worth planning for (the longest examples)
SERVING_RESERVE = GIB  # CUDA context, the compiled graphs' memory pool, the allocator's slack
NF4_BYTES_PER_WEIGHT = 0.5 + 4 / 64 / 8 * 4 * 0.25  # 4 bits, a double-quantized scale a block of 64
SERVING_WEIGHTS = ("bf16", "fp8_weights", "fp8")  # tuner/fp8_weights.py has the FP8 kinds


class BudgetTooSmall(ValueError):
    """The model cannot both answer and train within the budget."""


@dataclass(frozen=True)
class ModelShape:
    """What memory depends on, read from a transformers config."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool

    @classmethod
    def of(cls, config: Any) -> ModelShape:
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        hidden = int(text.hidden_size)
        heads = int(text.num_attention_heads)
        return cls(
            layers=int(text.num_hidden_layers),
            hidden=hidden,
            intermediate=int(getattr(text, "intermediate_size", 4 * hidden)),
            heads=heads,
            kv_heads=int(getattr(text, "num_key_value_heads", None) or heads),
            head_dim=int(getattr(text, "head_dim", None) or hidden // heads),
            vocab=int(text.vocab_size),
            tied=bool(getattr(config, "tie_word_embeddings", False)),
        )

    @property
    def linear_weights(self) -> int:
        """Weights of the decoder layers' linear layers (what 4-bit training quantizes)."""
        attention = 2 * self.hidden * (self.heads + self.kv_heads) * self.head_dim
        return self.layers * (attention + 3 * self.hidden * self.intermediate)

    @property
    def linear_rows(self) -> int:
        """Output rows of those layers (FP8 keeps a float32 scale for each)."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        return self.layers * (q + 2 * kv + self.hidden + 2 * self.intermediate + self.hidden)

    @property
    def embedding_weights(self) -> int:
        """The input embeddings and the output layer (one table when tied)."""
        return self.vocab * self.hidden * (1 if self.tied else 2)

    @property
    def weights(self) -> int:
        return self.linear_weights + self.embedding_weights + (2 * self.layers + 1) * self.hidden

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        """Keys and values of every layer for one token of one row."""
        return 2 * self.layers * self.kv_heads * self.head_dim * dtype_bytes


def weight_bytes(shape: ModelShape, weights: str = "bf16") -> int:
    """The serving model's weights: all bf16, or the decoder layers' linear weights in FP8 (a byte
    each and a float32 scale a row) with the embeddings, output layer and norms in bf16."""
    if weights not in SERVING_WEIGHTS:
        raise ValueError(f"unknown serving weights {weights!r}: one of {', '.join(SERVING_WEIGHTS)}")
    if weights == "bf16":
        return 2 * shape.weights
    return shape.linear_weights + 4 * shape.linear_rows + 2 * (shape.weights - shape.linear_weights)


def serving_bytes(shape: ModelShape, max_batch: int, cache_tokens: int, weights: str = "bf16") -> int:
    """The weights (`weight_bytes`), the caches for a batch of one and a full batch, a workspace
    (CUDA graph pools, cuBLAS), and the bot's peak: a full batch's prompts through one layer at once
    (hidden states, the MLP's intermediates; the prompts' logits are never built, only the last
    position's). An FP8 swap stages its new weights on the GPU only where the bot's share has room
    left for them, else in host memory (tuner/fp8_weights.py): nothing counted for it here."""
    weight = weight_bytes(shape, weights)
    caches = shape.kv_bytes_per_token() * cache_tokens * (max_batch + (1 if max_batch > 1 else 0))
    prefill = 2 * max_batch * cache_tokens * (2 * shape.hidden + 3 * shape.intermediate)
    return weight + caches + prefill + SERVING_RESERVE


def training_peak(shape: ModelShape, step_tokens: int, lora_rank: int = 16) -> int:
    """What a qlora step of `step_tokens` holds at its peak: NF4 linear layers, bf16 embeddings and
    output layer, LoRA on every linear layer (weight, gradient, two AdamW moments, float32), and the
    activations, scaled by tokens x layers x hidden size from the one peak measured on a GPU
    (MEASURED_8B: the Llama-3-8B shape, H200, docs/perf-notes.md)."""
    return int(
        _fixed_training(shape, lora_rank) + _activation_per_unit() * step_tokens * shape.layers * shape.hidden
    )


def child_bytes(shape: ModelShape, step_tokens: int = MIN_STEP_TOKENS, weights: str = "bf16") -> int:
    """The training child's least share: the model in 4 bits with room for a step of `step_tokens`
    as its own sizing reckons it (tuner/sizing.py: its per-token estimate and reserves), or the
    model it loads apart, in the serving precision `weights`, to answer the replay and guard prompts
    and to evaluate, whichever is more."""
    fixed = _fixed_training(shape, 16)
    per_token = step_bytes_per_token(shape.hidden, shape.layers, shape.intermediate)
    step = (step_tokens * per_token + HEADROOM_BYTES) / (1 - HEADROOM_SHARE)
    return int(max(fixed + step, weight_bytes(shape, weights) + HEADROOM_BYTES))


MEASURED_8B = (6.93 * GIB, 2286)  # the Llama-3-8B shape's training peak, its longest step's tokens
LLAMA_8B = ModelShape(
    layers=32, hidden=4096, intermediate=14336, heads=32, kv_heads=8, head_dim=128, vocab=128256, tied=False
)


def _fixed_training(shape: ModelShape, lora_rank: int) -> float:
    q, kv = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    h, i = shape.hidden, shape.intermediate
    lora = (
        shape.layers
        * lora_rank
        * sum(a + b for a, b in ((h, q), (h, kv), (h, kv), (q, h), (h, i), (h, i), (i, h)))
    )
    return NF4_BYTES_PER_WEIGHT * shape.linear_weights + 2 * shape.embedding_weights + 16 * lora


def _activation_per_unit() -> float:
    """Bytes per token x layer x hidden size of a checkpointed step, from MEASURED_8B."""
    peak, tokens = MEASURED_8B
    return (peak - _fixed_training(LLAMA_8B, 16)) / (tokens * LLAMA_8B.layers * LLAMA_8B.hidden)


@dataclass(frozen=True)
class GpuPlan:
    budget: int  # bytes for both jobs
    card: int  # the GPU's memory
    serving: int  # the bot's share: weights, caches, peaks
    training: int  # what is left for the training child
    cache_tokens: int  # the serving caches' columns a row
    max_batch: int  # conversations a batch decodes at once
    weights: str = "bf16"  # the serving precision, which the child also evaluates in

    def share(self, part: int) -> float:
        """`part` as a fraction of the card (what set_per_process_memory_fraction takes)."""
        return min(1.0, part / self.card)

    def describe(self) -> dict[str, Any]:
        sizes = ("budget", "card", "serving", "training")
        return {k: round(v / GIB, 2) if k in sizes else v for k, v in asdict(self).items()}

    def summary(self) -> str:
        return (
            f"{self.budget / GIB:.1f} GiB for both jobs: answering {self.serving / GIB:.1f} GiB "
            f"({self.weights}, {self.max_batch} at once, {self.cache_tokens}-token caches), "
            f"training {self.training / GIB:.1f} GiB"
        )


def plan(
    shape: ModelShape,
    card: int,
    budget: int | None = None,
    max_batch: int = 8,
    weights: tuple[str, ...] = ("bf16",),
) -> GpuPlan:
    """The first serving precision of `weights`, then the largest batch, then the longest caches
    with which serving and the smallest training step both fit `budget` (default: the card)."""
    budget = card if budget is None else min(budget, card)
    batches = sorted({b for b in (max_batch, 4, 2, 1) if b <= max_batch}, reverse=True)
    for weight in weights:
        floor = child_bytes(shape, weights=weight)
        for batch in batches:
            for tokens in CACHE_TOKENS:
                serving = serving_bytes(shape, batch, tokens, weight)
                if serving + floor <= budget:
                    return GpuPlan(budget, card, serving, budget - serving, tokens, batch, weight)
    least = serving_bytes(shape, 1, CACHE_TOKENS[-1], weights[-1])
    floor = child_bytes(shape, weights=weights[-1])
    fp8 = ", serve FP8 weights (gpu.serving_weights: auto; needs torchao)," if weights[-1] == "bf16" else ""
    raise BudgetTooSmall(
        f"this model needs about {(least + floor) / GIB:.1f} GiB to answer ({least / GIB:.1f} GiB in "
        f"{weights[-1]}, one conversation at a time) and train ({floor / GIB:.1f} GiB), and the "
        f"budget is {budget / GIB:.1f} GiB: raise gpu.memory_budget_gib (the card has "
        f"{card / GIB:.1f} GiB){fp8} or pick a smaller model"
    )


def serving_choices(serving_weights: str, method: str) -> tuple[str, ...]:
    """The precisions the plan may serve in, in order, for the `gpu.serving_weights` setting:
    `auto` is bf16, then FP8 weights where torchao is installed and the training method's adapters
    merge into FP8 ones (plain LoRA); any other setting is itself."""
    import importlib.util

    from tuner.methods import get_method

    if serving_weights != "auto":
        return (serving_weights,)
    if get_method(method).merges_into_fp8 and importlib.util.find_spec("torchao") is not None:
        return ("bf16", "fp8_weights")
    return ("bf16",)


def plan_for_model(
    config: Any, budget_gib: float | None, max_batch: int = 8, weights: tuple[str, ...] = ("bf16",)
) -> GpuPlan | None:
    """The plan on this process's GPU (None on a CPU); `weights`: `serving_choices`."""
    import torch

    if not torch.cuda.is_available():
        return None
    _free, card = torch.cuda.mem_get_info()
    budget = None if budget_gib is None else int(budget_gib * GIB)
    return plan(ModelShape.of(config), card, budget, max_batch, weights)


def cap_process(share: float) -> None:
    """Cap this process's CUDA allocator at `share` of the card (an allocation past it fails as
    out of memory in this process, not in the other job's)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(share)


def spare_on_gpu(device: Any = None) -> int:
    """Bytes this process could still take on its GPU beyond a quarter of what it may use: within
    its allocator's cap (`cap_process`) and what the card has free, with what the allocator holds
    unused counted in. Where a copy is kept that the plan did not count (an adapter's base weights,
    staged FP8 weights), it goes on the GPU only into this; else into host memory."""
    import torch

    total = torch.cuda.get_device_properties(device).total_memory
    allowed = int(torch.cuda.get_per_process_memory_fraction(device) * total)
    free, _ = torch.cuda.mem_get_info(device)
    reserved, allocated = torch.cuda.memory_reserved(device), torch.cuda.memory_allocated(device)
    room = min(free, allowed - reserved) + reserved - allocated
    return room - allowed // 4
