"""Where QLoRA training memory goes: the standard recipe, one change at a time, and a lean recipe.

    python -m tests.bench.train_memory --shape 8b --variant standard --configs 1x2048,8x512
    python -m tests.bench.train_memory --shape tiny --variant all      # CPU smoke run

Run one variant per process on a GPU, so one variant's leftovers never count in the next one's peak.

The model is Llama-3-8B-shaped, built from its config with random weights (speed and memory do not
depend on the values), saved once in bf16 and loaded in 4-bit NF4 with double quantization, as the
standard recipe does. Each variant prints one JSON line: real (non-padding) tokens per second over
the timed steps, peak GPU memory allocated and reserved, and the mean loss of the last steps.

Variants (each adds to the one before, except `lean`):
  standard   prepare_model_for_kbit_training(use_gradient_checkpointing=True), LoRA r=16 on all
             linear layers, torch AdamW; padded batches; loss from the model (full logits)
  no_gc      standard without gradient checkpointing: shows whether checkpointing was in effect
  no_upcast  standard without prepare_model_for_kbit_training's fp32 copies of embeddings, lm_head
             and norms (gradient checkpointing and input grads enabled directly)
  chunked_ce no_upcast, and the loss computed from hidden states in chunks of 1,024 tokens, each
             chunk's logits recomputed in backward instead of kept (no full logits tensor)
  lean       chunked_ce on padding-free packs: examples concatenated up to --seq tokens with
             position ids restarting per example (transformers masks across examples), and
             no LoRA dropout (an extra copy of every adapted layer's input)
  lean_liger lean with Liger's fused RMSNorm, SwiGLU and RoPE kernels (GPU only)
  standard_cache  standard, but the forward called as most scripts do: without use_cache=False
  trainer    standard run by transformers' Trainer with default TrainingArguments (bf16)
  trainer_gc trainer with TrainingArguments(gradient_checkpointing=True)
The trainer variants need a GPU (bf16).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

SHAPES: dict[str, dict[str, Any]] = {
    "8b": dict(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        max_position_embeddings=8192,
        rope_theta=500000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
    ),
    "tiny": dict(
        hidden_size=128,
        intermediate_size=344,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=4096,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
    ),
}
VARIANTS = [
    "standard",
    "no_gc",
    "no_upcast",
    "chunked_ce",
    "lean",
    "lean_liger",
    "standard_cache",
    "trainer",
    "trainer_gc",
]


def build_checkpoint(shape: str, folder: Path) -> Path:
    """Random bf16 weights saved once (on the GPU when there is one: seconds, not minutes)."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    path = folder / f"llama-{shape}-random"
    if (path / "config.json").exists():
        return path
    config = LlamaConfig(**SHAPES[shape], torch_dtype="bfloat16")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
    model.save_pretrained(path, safe_serialization=True)
    del model
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return path


def load_4bit(path: Path, attn: str = "sdpa") -> Any:
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    device_map = {"": 0} if torch.cuda.is_available() else {"": "cpu"}
    return AutoModelForCausalLM.from_pretrained(
        path,
        quantization_config=quant,
        torch_dtype=torch.bfloat16,
        device_map=device_map,
        attn_implementation=attn,
    )


def prepare(model: Any, variant: str) -> Any:
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if variant in ("standard", "no_gc", "standard_cache", "trainer", "trainer_gc"):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=variant != "no_gc")
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    lora = LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    model = get_peft_model(model, lora)
    model.train()
    return model


def chat_examples(n: int, vocab: int, max_len: int, seed: int) -> list[tuple[list[int], int]]:
    """(token ids, prompt length): lengths like short chat exchanges (median ~180 tokens)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = max(24, min(max_len, int(rng.lognormvariate(math.log(180), 0.6))))
        ids = [rng.randrange(10, vocab) for _ in range(length)]
        out.append((ids, int(length * 0.4)))
    return out


def padded_batches(
    examples: list[tuple[list[int], int]], batch: int, seq: int
) -> Iterator[tuple[dict[str, torch.Tensor], int]]:
    """The standard recipe: `batch` examples padded (right) to `seq` tokens."""
    for i in range(0, len(examples) - batch + 1, batch):
        ids = torch.zeros(batch, seq, dtype=torch.long)
        mask = torch.zeros(batch, seq, dtype=torch.long)
        labels = torch.full((batch, seq), -100, dtype=torch.long)
        real = 0
        for row, (tokens, n_prompt) in enumerate(examples[i : i + batch]):
            tokens = tokens[:seq]
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = 1
            labels[row, n_prompt : len(tokens)] = torch.tensor(tokens[n_prompt:])
            real += len(tokens)
        yield {"input_ids": ids, "attention_mask": mask, "labels": labels}, real


def packs(examples: list[tuple[list[int], int]], seq: int) -> Iterator[tuple[dict[str, torch.Tensor], int]]:
    """Padding-free: whole examples concatenated up to `seq` tokens, position ids restarting each."""
    ids: list[int] = []
    positions: list[int] = []
    labels: list[int] = []
    for tokens, n_prompt in examples:
        tokens = tokens[:seq]
        if ids and len(ids) + len(tokens) > seq:
            yield _pack(ids, positions, labels), len(ids)
            ids, positions, labels = [], [], []
        ids += tokens
        positions += list(range(len(tokens)))
        labels += [-100] * n_prompt + tokens[n_prompt:]
    if ids:
        yield _pack(ids, positions, labels), len(ids)


def _pack(ids: list[int], positions: list[int], labels: list[int]) -> dict[str, torch.Tensor]:
    return {
        "input_ids": torch.tensor([ids]),
        "position_ids": torch.tensor([positions]),
        "labels": torch.tensor([labels]),
    }


def chunked_loss(
    hidden: torch.Tensor, head: torch.nn.Module, labels: torch.Tensor, chunk: int = 1024
) -> torch.Tensor:
    """Causal LM loss without materializing all logits: each chunk's are recomputed in backward."""
    hidden = hidden[:, :-1].reshape(-1, hidden.shape[-1])
    targets = labels[:, 1:].reshape(-1)
    count = (targets != -100).sum().clamp(min=1)

    def piece(h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(head(h).float(), t, ignore_index=-100, reduction="sum")

    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.shape[0], chunk):
        h, t = hidden[start : start + chunk], targets[start : start + chunk]
        if (t != -100).any():
            total = total + checkpoint(piece, h, t, use_reentrant=False)
    return total / count


def step_loss(model: Any, inputs: dict[str, torch.Tensor], variant: str) -> torch.Tensor:
    if variant in ("chunked_ce", "lean", "lean_liger"):
        labels = inputs.pop("labels")
        out = model.base_model.model.model(**inputs, use_cache=False)
        return chunked_loss(out.last_hidden_state, model.base_model.model.lm_head, labels)
    if variant == "standard_cache":
        return model(**inputs).loss
    return model(**inputs, use_cache=False).loss


def _cuda() -> bool:
    return torch.cuda.is_available()


def _sync() -> None:
    if _cuda():
        torch.cuda.synchronize()


def run_trainer(args: argparse.Namespace, variant: str, model: Any, batch: int, seq: int) -> dict[str, Any]:
    """The standard recipe as most scripts run it: transformers' Trainer, bf16, AdamW."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    examples = chat_examples(
        (args.warmup + args.steps) * max(batch, 8), SHAPES[args.shape]["vocab_size"], seq, 1
    )
    rows = [{k: v[0] for k, v in inputs.items()} for inputs, _ in padded_batches(examples, 1, seq)]
    real = [int(r["attention_mask"].sum()) for r in rows]
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *_: Any, **__: Any) -> None:
            _sync()
            self.start = time.perf_counter()

        def on_step_end(self, *_: Any, **__: Any) -> None:
            _sync()
            times.append(time.perf_counter() - self.start)
            if len(times) == args.warmup and torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()

    training = TrainingArguments(
        output_dir="/tmp/trainer-bench",
        per_device_train_batch_size=batch,
        max_steps=args.warmup + args.steps,
        learning_rate=2e-4,
        bf16=True,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        gradient_checkpointing=variant == "trainer_gc",
        dataloader_drop_last=True,
    )
    trainer = Trainer(model=model, args=training, train_dataset=rows, callbacks=[Clock()])
    result = trainer.train()
    timed = sum(times[args.warmup :])
    tokens = sum(real[args.warmup * batch : (args.warmup + args.steps) * batch])
    return {
        "variant": variant,
        "shape": args.shape,
        "batch": batch,
        "seq": seq,
        "timed_steps": len(times) - args.warmup,
        "real_tokens_per_s": round(tokens / timed, 1) if timed else None,
        "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if _cuda() else None,
        "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2) if _cuda() else None,
        "mean_loss": round(result.training_loss, 4),
        "gradient_checkpointing": bool(getattr(model.base_model.model, "is_gradient_checkpointing", False)),
    }


def run(args: argparse.Namespace, variant: str, path: Path) -> list[dict[str, Any]]:
    """One model load, then each batch x length in --configs, peak memory measured for each."""
    cuda = torch.cuda.is_available()
    torch.manual_seed(0)
    model = prepare(load_4bit(path, args.attn), variant)
    weights_gib = torch.cuda.memory_allocated() / 2**30 if cuda else 0.0
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=2e-4, fused=cuda)
    vocab = SHAPES[args.shape]["vocab_size"]
    device = "cuda" if cuda else "cpu"
    results = []
    for config in args.configs.split(","):
        batch, seq = (int(x) for x in config.split("x"))
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        if variant.startswith("trainer"):
            results.append(
                {**run_trainer(args, variant, model, batch, seq), "weights_gib": round(weights_gib, 2)}
            )
            continue
        # The same examples for every variant: enough for warm-up + timed steps of 8 per batch.
        steps = args.warmup + args.steps
        examples = chat_examples(max(steps * max(batch, 8), steps * seq // 150), vocab, seq, seed=1)
        packed = variant.startswith("lean")
        batches = packs(examples, seq) if packed else padded_batches(examples, batch, seq)
        losses, real_tokens, timed = [], 0, 0.0
        for steps, (inputs, real) in enumerate(batches, start=1):
            if steps > args.warmup + args.steps:
                break
            inputs = {k: v.to(device) for k, v in inputs.items()}
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            loss = step_loss(model, inputs, variant)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if cuda:
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            if steps > args.warmup:
                timed += elapsed
                real_tokens += real
                losses.append(float(loss))
        results.append(
            {
                "variant": variant,
                "attn": args.attn,
                "shape": args.shape,
                "batch": 1 if packed else batch,
                "seq": seq,
                "timed_steps": len(losses),
                "real_tokens_per_s": round(real_tokens / timed, 1) if timed else None,
                "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
                "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2) if cuda else None,
                "weights_gib": round(weights_gib, 2),
                "mean_loss": round(sum(losses) / len(losses), 4) if losses else None,
                "gradient_checkpointing": bool(
                    getattr(model.base_model.model, "is_gradient_checkpointing", False)
                ),
            }
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", choices=sorted(SHAPES), default="8b")
    parser.add_argument("--variant", choices=[*VARIANTS, "all"], default="all")
    parser.add_argument(
        "--configs", default="1x2048,8x512", help="batch x length list: padded batches, or packs of length"
    )
    parser.add_argument("--steps", type=int, default=8, help="timed steps (default 8)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--attn", default="sdpa", help="attention implementation: sdpa (default) or eager")
    parser.add_argument(
        "--discard-first", action="store_true", help="the first config only warms up (first-use costs)"
    )
    parser.add_argument("--cache", default=os.environ.get("TMPDIR", "/tmp"), help="where random weights go")
    args = parser.parse_args(argv)
    path = build_checkpoint(args.shape, Path(args.cache))
    for variant in VARIANTS if args.variant == "all" else [args.variant]:
        results = run(args, variant, path)
        for result in results[1:] if args.discard_first else results:
            print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
