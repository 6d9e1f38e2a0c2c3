"""The decoding step's compile at start, on an empty compile cache and then from it.

    python -m tests.bench.compile_start [--shape 1b] [--weights bf16] [--tokenizer DIR] [--out FILE]

Two processes one after the other, each building `LiveModel` with the compiled static decode
(inductor; CUDA graphs on a GPU) and answering one question, both pointed at the same new,
empty `TORCHINDUCTOR_CACHE_DIR` (what tuner/compile_cache.py points at the data dir): the first
compiles from nothing, the second reads what the first kept. Prints each one's warm-up seconds
(`LiveModel.warm_up_seconds`) and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _start(path: Path, weights: str) -> dict[str, object]:
    from transformers import CompileConfig

    from tuner.live_model import LiveModel

    started = time.perf_counter()
    live = LiveModel(
        str(path), max_new_tokens=4, max_batch=2, cache_tokens=256, weights=weights,
        compile_config=CompileConfig(dynamic=False), tune_single=False,
    )  # fmt: skip
    live.generate([{"role": "user", "content": "hi"}])  # waits for the warm-up
    return {"start_s": round(time.perf_counter() - started, 1), "warm_up_s": live.warm_up_seconds}


def main(argv: list[str] | None = None) -> int:
    from tests.bench.train_memory import add_checkpoint_arguments, build_checkpoint

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_checkpoint_arguments(parser)
    parser.set_defaults(shape="1b")
    parser.add_argument("--weights", default="bf16", help="bf16, fp8_weights or fp8")
    parser.add_argument("--out", help="append the JSON lines to this file")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: one start
    args = parser.parse_args(argv)
    path = build_checkpoint(args.shape, Path(args.cache), args.tokenizer)
    if args.one:
        print(json.dumps(_start(path, args.weights)), flush=True)
        return 0
    command = [sys.executable, "-m", "tests.bench.compile_start", "--one", "--shape", args.shape]
    command += ["--cache", args.cache, "--weights", args.weights]
    command += ["--tokenizer", args.tokenizer] if args.tokenizer else []
    lines = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
        for run in ("cold", "warm"):
            out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
            line = {"run": run, "shape": args.shape, "weights": args.weights}
            line.update(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(line), flush=True)
            lines.append(line)
    cold, warm = (line["warm_up_s"] for line in lines)
    if isinstance(cold, float) and isinstance(warm, float):
        print(f"warm-up from the cache: {warm / cold:.2f}x ({warm:.1f} s against {cold:.1f} s)")
    if args.out:
        with open(args.out, "a") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
