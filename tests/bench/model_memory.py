"""GPU memory that serving and training need with the shipped defaults, computed for the model sizes
teams run (docs/models.md prints this table), from each model's published architecture.

    python -m tests.bench.model_memory

Serving (tuner/live_model.py): bf16 weights, the static KV caches (a batch of one and a batch of
`max_batch` 8, each CACHE_TOKENS long), and a workspace for prefill, CUDA graphs and cuBLAS; merging
an adapter keeps the base's values of the layers it changes aside, on the GPU only while a quarter
of the card stays free (else in pinned CPU memory). Training (the child process, qlora): NF4 linear
layers, bf16 embeddings and output layer, LoRA r16 on every linear layer in fp32 with its gradient
and AdamW's two moments, and activations for a step of `--tokens` tokens (gradient checkpointing),
scaled by layers x hidden size from the one figure measured on a GPU: the 8B Llama-3 shape's
training peak of 6.93 GiB with steps of up to 2,286 tokens (H200, docs/perf-notes.md).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from tuner.static_decode import CACHE_TOKENS

GIB = 1024**3
MAX_BATCH = 8
WORKSPACE_GIB = 1.0  # prefill activations, CUDA graph pools, cuBLAS workspace (not measured apart)
NF4_BYTES = 0.5 + 4 / 64 / 8 * 4 * 0.25  # 4 bits, plus double-quantized absmax per block of 64
LORA_RANK = 16
LORA_BYTES = 16  # fp32 weight, gradient, two AdamW moments
MEASURED_8B = (6.93, 2286)  # GiB, longest step's tokens


@dataclass(frozen=True)
class Shape:
    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool

    def linear_shapes(self) -> list[tuple[int, int]]:
        """(in, out) of each linear layer of one decoder layer."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        h, i = self.hidden, self.intermediate
        return [(h, q), (h, kv), (h, kv), (q, h), (h, i), (h, i), (i, h)]

    def linear_params(self) -> int:
        return self.layers * sum(a * b for a, b in self.linear_shapes())

    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)

    def params(self) -> int:
        return self.linear_params() + self.embedding_params()

    def kv_bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * 2


SHAPES = [  # published configs (hidden, layers, heads, kv heads, head dim, MLP, vocabulary, tied)
    Shape("1B (Llama 3.2 1B)", 2048, 16, 32, 8, 64, 8192, 128256, True),
    Shape("3B (Llama 3.2 3B)", 3072, 28, 24, 8, 128, 8192, 128256, True),
    Shape("8B (Llama 3.1 8B)", 4096, 32, 32, 8, 128, 14336, 128256, False),
    Shape("14B (Qwen 2.5 14B)", 5120, 48, 40, 8, 128, 13824, 152064, False),
    Shape("32B (Qwen 2.5 32B)", 5120, 64, 40, 8, 128, 27648, 152064, False),
    Shape("70B (Llama 3.1 70B)", 8192, 80, 64, 8, 128, 28672, 128256, False),
]


def serving(shape: Shape) -> dict[str, float]:
    weights = shape.params() * 2 / GIB
    kv = (1 + MAX_BATCH) * CACHE_TOKENS * shape.kv_bytes_per_token() / GIB
    return {
        "weights": weights,
        "kv": kv,
        "serving": weights + kv + WORKSPACE_GIB,
        "kept_aside": shape.linear_params() * 2 / GIB,
    }


def _fixed_training(shape: Shape) -> float:
    lora = shape.layers * sum((a + b) * LORA_RANK for a, b in shape.linear_shapes())
    return (shape.linear_params() * NF4_BYTES + shape.embedding_params() * 2 + lora * LORA_BYTES) / GIB


def _activation_gib_per_unit() -> float:
    """GiB per (token x layer x hidden), from the measured 8B peak."""
    eight = next(s for s in SHAPES if s.name.startswith("8B"))
    peak, tokens = MEASURED_8B
    return (peak - _fixed_training(eight)) / (tokens * eight.layers * eight.hidden)


def training(shape: Shape, tokens: int) -> float:
    return _fixed_training(shape) + _activation_gib_per_unit() * tokens * shape.layers * shape.hidden


def table(tokens: int) -> str:
    rows = [
        "| model | parameters | serving: bf16 weights + KV caches + workspace "
        "| base layers kept aside while an adapter is merged | "
        f"training ({tokens:,} tokens a step) | both on one GPU | smallest card that holds both |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for shape in SHAPES:
        serve = serving(shape)
        train = training(shape, tokens)
        both = serve["serving"] + train
        card = next((f"{c} GB" for c in (24, 48, 80, 141) if both <= c * 1e9 / GIB * 0.92), "none (> 141 GB)")
        rows.append(
            f"| {shape.name} | {shape.params() / 1e9:.1f}B | {serve['serving']:.1f} GiB "
            f"({serve['weights']:.1f} + {serve['kv']:.1f} + {WORKSPACE_GIB:.0f}) "
            f"| {serve['kept_aside']:.1f} GiB "
            f"(on the GPU only with a quarter of it free) | {train:.1f} GiB | {both:.1f} GiB | {card} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=2048, help="tokens in a training step (default 2048)")
    args = parser.parse_args(argv)
    print(table(args.tokens))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
