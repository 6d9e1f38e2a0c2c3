"""FP8 weights (tuner/fp8_weights.py): how fast tunebot's live model answers on them, against bf16
in the same process, and what the rounding costs in quality.

    python -m tests.bench.fp8_serving --shape 8b --tokenizer DIR          # speed, on a Hopper GPU
    python -m tests.bench.fp8_serving --quality                           # quality, any machine

Speed: the 8B-shaped model with random weights (tests/bench/train_memory.py), served by
`LiveModel(weights=...)` with its compiled static decode, for each of `--weights` (bf16 first, the
baseline): one request alone (`--runs` after a warm-up) and 8 at once, tokens a second and the
ratio to bf16's; the bound is the GPU's copy bandwidth over the bytes of weights a step reads;
then a swap to a random LoRA adapter (r=16, every linear layer) and back, each timed, with one
answer after it. Each precision runs in a process of its own (`--phase-timeout` stops one that
takes too long, keeping what it measured).
Quality: the bundled SmolLM2-135M (real weights) reads the project's docs (docs/*.md, its README:
English text it was not trained on), and the mean NLL a token with each rounding (`fp8_weights.rounded`,
the rounding torchao's kernels do, on float32 weights) is compared with the unrounded model's.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from tests.bench.serve_speed import _ask, _summary, copy_bandwidth, make_adapter, question, weights_read
from tests.bench.train_memory import add_checkpoint_arguments, build_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def speed(path: Path, weights: str, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """Each figure as soon as it is measured (a run cut short keeps what it measured)."""
    from tuner.live_model import LiveModel

    started = time.perf_counter()
    model = LiveModel(
        str(path),
        max_new_tokens=args.new_tokens,
        max_batch=8,
        weights=weights,
        tune_single=not args.untuned_single,
    )
    rng = random.Random(args.seed)
    single: list[dict[str, Any]] = []
    for _ in range(args.runs + 1):  # the first waits for the compile
        _ask(model, question(rng), args.new_tokens, single)
    yield {
        "variant": f"{weights}_start",
        "seconds": round(time.perf_counter() - started, 1),
        "warm_up_s": model.warm_up_seconds,  # None: the step was not compiled (answered eagerly)
    }
    yield {"variant": f"{weights}_weights", "bytes_read_per_step": weights_read(model._base)}
    yield _summary(f"{weights}_single", single[1:], sum(a["seconds"] for a in single[1:]))
    for version, adapter in (("v1", args.adapter), ("base", None)):  # a promotion, then a rollback
        model.swap(adapter, version)
        swapped: list[dict[str, Any]] = []
        _ask(model, question(rng), args.new_tokens, swapped)
        answer = swapped[0]
        yield {
            "variant": f"{weights}_swap_{version}",
            "swap_s": round(model.last_swap_seconds or 0, 4),
            **model.last_swap_parts,
            "answered": answer.get("version"),
            "tokens_per_s": round(answer["tokens"] / answer["seconds"], 2) if "tokens" in answer else None,
        }
    for label in ("first_", ""):
        burst: list[dict[str, Any]] = []
        threads = [
            threading.Thread(target=_ask, args=(model, question(rng), args.new_tokens, burst))
            for _ in range(8)
        ]
        begun = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        yield _summary(f"{weights}_{label}burst_8", burst, time.perf_counter() - begun)
    model.close()
    del model
    gc.collect()
    torch.cuda.empty_cache()


def _phase(weights: str, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """`speed` for one precision in a new process (what one compiled and kept, CUDA graph pools
    included, cannot change the next one's figures), its lines as they come; an error line where it
    fails or outlasts --phase-timeout."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "tests.bench.fp8_serving", "--only", weights, "--shape", args.shape]
    command += ["--cache", args.cache, "--new-tokens", str(args.new_tokens), "--runs", str(args.runs)]
    command += ["--seed", str(args.seed)] + (["--tokenizer", args.tokenizer] if args.tokenizer else [])
    command += ["--stacks-every", str(args.stacks_every)] if args.stacks_every else []
    command += ["--untuned-single"] if args.untuned_single else []
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    timer = threading.Timer(args.phase_timeout or 0, child.kill)
    if args.phase_timeout:
        timer.start()
    assert child.stdout is not None
    try:
        for line in child.stdout:
            if line.startswith("{"):
                yield json.loads(line)
            else:
                print(line, end="", flush=True)
    finally:
        timer.cancel()
        code = child.wait()
    if code != 0:
        why = (
            f"did not finish in {args.phase_timeout:g} s"
            if code == -9 and args.phase_timeout
            else f"exit {code}"
        )
        yield {"variant": f"{weights}_error", "error": why}


def quality(args: argparse.Namespace) -> list[dict[str, Any]]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tuner.base_model import _converted_bundled_model
    from tuner.fp8_weights import rounded

    folder = _converted_bundled_model(Path(args.cache) / "tunebot-bundled-model")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    texts = [p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))] + [(ROOT / "README.md").read_text()]
    ids = [tokenizer.encode(text) for text in texts]
    windows = [
        row[i : i + 512] for row in ids for i in range(0, len(row) - 1, 512) if len(row[i : i + 512]) > 1
    ]
    results = []
    for weights in ("unrounded", *args.weights.split(",")):
        model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
        if weights != "unrounded":
            rounded(model, weights)
        total, tokens = 0.0, 0
        with torch.no_grad():
            for window in windows:
                row = torch.tensor([window])
                loss = model(input_ids=row, labels=row).loss
                total += float(loss) * (len(window) - 1)
                tokens += len(window) - 1
        results.append({"variant": f"{weights}_nll", "nll": round(total / tokens, 5), "tokens": tokens})
        print(f"{weights}: NLL {total / tokens:.5f} a token over {tokens} tokens", flush=True)
    base = results[0]["nll"]
    for r in results:
        r["nll_change"] = round(r["nll"] - base, 5)
        r["perplexity_ratio"] = round(math.exp(r["nll"] - base), 4)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_checkpoint_arguments(parser)
    parser.add_argument("--weights", default="fp8,fp8_weights", help="comma list after bf16: fp8,fp8_weights")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=4, help="timed single requests (after one warm-up)")
    parser.add_argument("--seed", type=int, default=2, help="the questions (nothing was chosen on any seed)")
    parser.add_argument("--quality", action="store_true", help="the NLL cost on the bundled model (no GPU)")
    parser.add_argument("--out", help="append the JSON lines to this file")
    parser.add_argument("--label", default="")
    parser.add_argument(
        "--stacks-every",
        type=float,
        help="print every thread's Python stack to stderr every this many seconds (where a compile hangs)",
    )
    parser.add_argument(
        "--phase-timeout",
        type=float,
        help="stop a precision's process after this many seconds (its figures so far are kept)",
    )
    parser.add_argument(
        "--untuned-single",
        action="store_true",
        help="compile the batch of one's step without coordinate-descent tuning (static_decode.TUNED), "
        "every precision alike",
    )
    parser.add_argument("--only", help=argparse.SUPPRESS)  # one precision, in a process of its own
    args = parser.parse_args(argv)
    if args.stacks_every:
        import faulthandler

        faulthandler.dump_traceback_later(args.stacks_every, repeat=True)
    shape = "bundled SmolLM2-135M" if args.quality else args.shape

    def emit(result: dict[str, Any]) -> None:
        print(json.dumps(result), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps({"label": args.label, "shape": shape, **result}) + "\n")

    if args.quality:
        for result in quality(args):
            emit(result)
        return 0
    path = build_checkpoint(args.shape, Path(args.cache), args.tokenizer)
    args.adapter = str(Path(args.cache) / "bench-adapter-1")
    if args.only:
        for result in speed(path, args.only, args):
            print(json.dumps(result), flush=True)
        return 0
    make_adapter(path, Path(args.adapter), seed=1)
    bandwidth = copy_bandwidth()
    results = [{"variant": "copy_bandwidth", "bytes_per_s": bandwidth}]
    emit(results[0])
    for weights in ("bf16", *args.weights.split(",")):
        print(f"{weights}: loading and compiling (a process of its own)", flush=True)
        for result in _phase(weights, args):
            results.append(result)
            emit(result)
    by = {r["variant"]: r for r in results}
    base = by.get("bf16_single", {}).get("per_request_tokens_per_s")
    print("\n| weights | one request tok/s | of the bound | vs bf16 | 8 at once tok/s | vs bf16 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for weights in ("bf16", *args.weights.split(",")):
        one, burst = by.get(f"{weights}_single"), by.get(f"{weights}_burst_8")
        if not one or not burst or not base or not bandwidth:
            continue
        rate = one["per_request_tokens_per_s"]
        bound = bandwidth / by[f"{weights}_weights"]["bytes_read_per_step"]
        all8, base8 = burst["aggregate_tokens_per_s"], by["bf16_burst_8"]["aggregate_tokens_per_s"]
        cells = [weights, rate, f"{rate / bound:.2f}", f"{rate / base:.2f}x", all8, f"{all8 / base8:.2f}x"]
        print("| " + " | ".join(map(str, cells)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
