"""How long a promotion holds the live model's lock (answers paused), first promotion and later ones.

    python -m tests.bench.swap_pause [--shape 1b|8b] [--tokenizer DIR] [--out FILE]

A Llama-shaped model with random bf16 weights (tests/bench/train_memory.py's shapes: `1b`, the
default, is about 1.1B parameters, minutes to build once on a CPU; `8b` for a GPU) is served by
`LiveModel` on this machine's device, uncompiled; random LoRA adapters (r=16, every linear layer)
are swapped in: v1, the base, v2, v1 again. Each line gives the seconds the lock was held
(`locked_s`: restoring the base, merging), the preparation before it (`prepare`, answers going
on), where the base's weights were kept (`kept`) and the whole call. The first promotion is where
the base's weights are copied aside (tuner/merging.py's `BaseWeights`); compare two commits by
running this on each, one after the other. `--share-gib` caps the process's allocator as a bot
under `gpu.memory_budget_gib` is capped at its share (8B within 48 GiB: about 23.6): the copies
then go to host memory where the share has no room for them, and the restores come from there.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from tests.bench.train_memory import add_checkpoint_arguments

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_checkpoint_arguments(parser)
    parser.set_defaults(shape="1b")
    parser.add_argument("--share-gib", type=float, help="cap the allocator at this many GiB (a capped bot)")
    parser.add_argument("--label", default="")
    parser.add_argument("--out", help="append the JSON lines to this file")
    args = parser.parse_args(argv)

    import torch

    from tests.bench.serve_speed import make_adapter
    from tests.bench.train_memory import build_checkpoint
    from tuner.live_model import LiveModel

    path = build_checkpoint(args.shape, Path(args.cache), args.tokenizer)
    if args.share_gib and torch.cuda.is_available():
        from tuner.gpu_budget import GIB, cap_process

        torch.cuda.empty_cache()  # what building the checkpoint left reserved
        cap_process(args.share_gib * GIB / torch.cuda.get_device_properties(0).total_memory)
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
            "share_gib": args.share_gib,
            "model": path.name,
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "version": version,
            "call_s": round(time.perf_counter() - started, 4),
            "locked_s": round(live.last_swap_seconds or 0, 4),
            **live.last_swap_parts,
        }
        print(json.dumps(line), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
