"""GPU memory that serving and training need with the shipped defaults, computed for the model sizes
teams run (docs/models.md prints this table), from each model's published architecture, with the
estimates the bot and the training child plan by (tuner/gpu_budget.py, `gpu.memory_budget_gib`).

    python -m tests.bench.model_memory

Serving (tuner/live_model.py): bf16 weights, the static KV caches (a batch of one and a batch of 8,
each 4,096 tokens long), a workspace (CUDA graph pools, cuBLAS) and the peak of a full batch's
prompts going through a layer at once; merging an adapter keeps the base's values of the layers it
changes aside, on the GPU only while a quarter of the card stays free (else in pinned CPU memory).
Training (the child process, qlora): the step's peak, NF4 linear layers, bf16 embeddings and output
layer, LoRA r16 on every linear layer in fp32 with its gradient and AdamW's two moments, and
activations for a step of `--tokens` tokens, scaled by layers x hidden size from the one figure
measured on a GPU (the 8B Llama-3 shape's 6.93 GiB with steps of up to 2,286 tokens, H200,
docs/perf-notes.md). The child's share in a plan is more: its own sizing's reserves, and the bf16
model it loads apart to evaluate (the "child's least" column).
"""

from __future__ import annotations

import argparse

from tuner.gpu_budget import GIB, ModelShape, child_bytes, serving_bytes, training_peak

MAX_BATCH = 8
CACHE_TOKENS = 4096
SHAPES = [  # published configs (layers, hidden, MLP, heads, kv heads, head dim, vocabulary, tied)
    ("1B (Llama 3.2 1B)", ModelShape(16, 2048, 8192, 32, 8, 64, 128256, True)),
    ("3B (Llama 3.2 3B)", ModelShape(28, 3072, 8192, 24, 8, 128, 128256, True)),
    ("8B (Llama 3.1 8B)", ModelShape(32, 4096, 14336, 32, 8, 128, 128256, False)),
    ("14B (Qwen 2.5 14B)", ModelShape(48, 5120, 13824, 40, 8, 128, 152064, False)),
    ("32B (Qwen 2.5 32B)", ModelShape(64, 5120, 27648, 40, 8, 128, 152064, False)),
    ("70B (Llama 3.1 70B)", ModelShape(80, 8192, 28672, 64, 8, 128, 128256, False)),
]


def table(tokens: int) -> str:
    rows = [
        "| model | parameters | serving: bf16 weights + KV caches + workspace and peak "
        "| base layers kept aside while an adapter is merged | "
        f"training ({tokens:,} tokens a step) | the child's least (evaluating in bf16) "
        "| both on one GPU | smallest card that holds both |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, shape in SHAPES:
        weights = 2 * shape.weights / GIB
        kv = (1 + MAX_BATCH) * CACHE_TOKENS * shape.kv_bytes_per_token() / GIB
        serve = serving_bytes(shape, MAX_BATCH, CACHE_TOKENS) / GIB
        child = child_bytes(shape) / GIB
        both = serve + child
        card = next((f"{c} GB" for c in (24, 48, 80, 141) if both <= c * 1e9 / GIB * 0.92), "none (> 141 GB)")
        rows.append(
            f"| {name} | {shape.weights / 1e9:.1f}B | {serve:.1f} GiB "
            f"({weights:.1f} + {kv:.1f} + {serve - weights - kv:.1f}) "
            f"| {2 * shape.linear_weights / GIB:.1f} GiB (on the GPU only with a quarter of it free) "
            f"| {training_peak(shape, tokens) / GIB:.1f} GiB | {child:.1f} GiB | {both:.1f} GiB | {card} |"
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
