"""How long a promotion holds the live model's lock (answers paused), first promotion and later ones.

    python -m tests.bench.swap_pause [--hidden 2048 --layers 12 | --shape 8b] [--tokenizer DIR] [--out FILE]

A Llama-shaped model with random bf16 weights (`--hidden`, `--layers`; the default is about 1.1B
parameters: minutes to build once on a CPU, saved under `--cache`; or `--shape`, one of
tests/bench/train_memory.py's, e.g. the 8B shape on a GPU) is served by `LiveModel` on
this machine's device, uncompiled; random LoRA adapters (r=16, every linear layer) are swapped in:
v1, the base, v2, v1 again. Each line gives the seconds the lock was held (`locked_s`: restoring
the base, merging), the preparation before it (`prepare`, answers going on) and the whole call.
The first promotion is where the base's weights are copied aside (tuner/merging.py's
`BaseWeights`); compare two commits by running this on each, one after the other.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def build(folder: Path, hidden: int, layers: int, tokenizer_source: str | None) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from tests.bench.train_memory import bench_tokenizer

    path = folder / f"llama-h{hidden}-l{layers}-random"
    if (path / "config.json").exists():
        return path
    tokenizer = bench_tokenizer(tokenizer_source)
    tokenizer.save_pretrained(path)
    config = LlamaConfig(
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        num_key_value_heads=max(1, hidden // 256),
        vocab_size=len(tokenizer),
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).save_pretrained(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--shape", help="one of tests/bench/train_memory.py's shapes instead (e.g. 8b)")
    parser.add_argument("--tokenizer", help="a saved tokenizer folder (default: SmolLM2's, bundled)")
    parser.add_argument("--cache", default="/tmp", help="where the random model is saved once")
    parser.add_argument("--label", default="")
    parser.add_argument("--out", help="append the JSON lines to this file")
    args = parser.parse_args(argv)

    import torch

    from tests.bench.serve_speed import make_adapter
    from tests.bench.train_memory import build_checkpoint
    from tuner.live_model import LiveModel

    if args.shape:
        path = build_checkpoint(args.shape, Path(args.cache), args.tokenizer)
    else:
        path = build(Path(args.cache), args.hidden, args.layers, args.tokenizer)
    adapters = {
        v: make_adapter(path, Path(args.cache) / f"swap-pause-{v}", seed=s) for v, s in (("v1", 1), ("v2", 2))
    }
    live = LiveModel(str(path), max_new_tokens=4, static_cache=False)
    for version, adapter in (
        ("v1", adapters["v1"]),
        ("base", None),
        ("v2", adapters["v2"]),
        ("v3", adapters["v1"]),
    ):
        started = time.perf_counter()
        live.swap(adapter, version)
        line = {
            "label": args.label,
            "model": path.name,
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "version": version,
            "call_s": round(time.perf_counter() - started, 4),
            "locked_s": round(live.last_swap_seconds, 4),
            **live.last_swap_parts,
        }
        print(json.dumps(line), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
