"""Answer speed: the standard recipe's generation against tunebot's live model, in one process.

    python -m tests.bench.serve_speed --shape 8b --tokenizer DIR      # on a GPU
    python -m tests.bench.serve_speed --shape tiny --new-tokens 16    # CPU smoke run

The model is Llama-3-8B-shaped with random weights (tests/bench/train_memory.py builds it), with
two random LoRA adapters (r=16, all linear layers, as the standard recipe trains). Measured:
  standard       4-bit NF4 base + peft adapter + `generate`, one request (the issue's ~10 tok/s)
  standard_bf16  bf16 base + peft adapter (unmerged) + `generate`, one request (~21 tok/s)
  tunebot        tuner.live_model.LiveModel as the bot runs it: bf16, the adapter merged,
                 conversations batched, static KV caches with the decoding step compiled (on a
                 GPU; its start-up compile is reported): one request alone; 8 arriving at once; a
                 stream of arrivals (about 8 in flight), then the same while another thread swaps
                 between the two adapters every --swap-every seconds.
  tunebot_eager  the same with transformers' growing cache (nothing compiled).
Latency to the first token is from the call to the first text handed to `on_text` (what the
Slack listener posts). Every answer is counted by the tokens it really generated. The last lines
print a table and the ratios against the standard recipe measured in the same process.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import torch

from tests.bench.train_memory import add_checkpoint_arguments, build_checkpoint, load_4bit

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
WORDS = (
    "deploy billing service port staging dashboard on-call rota incident database migration "
    "token rollback cluster alert owner runbook release weekly metrics latency queue"
).split()


def make_adapter(base: Path, folder: Path, seed: int, rank: int = 16) -> str:
    """A peft LoRA adapter for every linear layer with small random weights (no model needed)."""
    from peft import LoraConfig
    from safetensors.torch import save_file
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(base)
    hidden, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    kv = config.num_key_value_heads * (hidden // config.num_attention_heads)
    shapes = {
        "self_attn.q_proj": (hidden, hidden),
        "self_attn.k_proj": (hidden, kv),
        "self_attn.v_proj": (hidden, kv),
        "self_attn.o_proj": (hidden, hidden),
        "mlp.gate_proj": (hidden, inter),
        "mlp.up_proj": (hidden, inter),
        "mlp.down_proj": (inter, hidden),
    }
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for layer in range(layers):
        for name, (fan_in, fan_out) in shapes.items():
            key = f"base_model.model.model.layers.{layer}.{name}"
            tensors[f"{key}.lora_A.weight"] = (
                torch.randn(rank, fan_in, generator=gen) / fan_in**0.5
            ).bfloat16()
            tensors[f"{key}.lora_B.weight"] = (torch.randn(fan_out, rank, generator=gen) * 0.01).bfloat16()
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=LORA_TARGETS,
        task_type="CAUSAL_LM",
        base_model_name_or_path=str(base),
    ).save_pretrained(str(folder))
    return str(folder)


def question(rng: random.Random) -> list[dict[str, str]]:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 40)))
    return [{"role": "user", "content": f"Quick question about {words}?"}]


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def standard(path: Path, adapter: str, quantized: bool, args: argparse.Namespace) -> dict[str, Any]:
    """peft + generate, one request at a time, as the standard recipe serves."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.generation.streamers import BaseStreamer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if quantized:
        base = load_4bit(path)
    else:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        base = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
    model = PeftModel.from_pretrained(base, adapter).eval()
    rng = random.Random(0)
    rates, firsts = [], []

    class First(BaseStreamer):
        def __init__(self) -> None:
            self.calls, self.at = 0, 0.0

        def put(self, value: Any) -> None:
            self.calls += 1
            if self.calls == 2:  # the first is the prompt
                self.at = time.perf_counter()

        def end(self) -> None:
            pass

    for run in range(args.runs + 1):
        inputs = tokenizer.apply_chat_template(
            question(rng), add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(model.device)
        first = First()
        _sync()
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                max_new_tokens=args.new_tokens,
                do_sample=False,
                repetition_penalty=1.1,
                pad_token_id=tokenizer.pad_token_id,
                streamer=first,
            )
        _sync()
        elapsed = time.perf_counter() - start
        new = out.shape[1] - inputs["input_ids"].shape[1]
        if run:  # the first run warms up
            rates.append(new / elapsed)
            firsts.append(first.at - start)
    del model, base
    gc.collect()
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return {
        "variant": "standard" if quantized else "standard_bf16",
        "tokens_per_s": round(statistics.median(rates), 2),
        "first_token_s": round(statistics.median(firsts), 3),
    }


def _ask(model: Any, turns: list[dict[str, str]], max_new: int, out: list[dict[str, Any]]) -> None:
    start = time.perf_counter()
    first: list[float] = []
    try:
        answer = model.generate(
            turns, max_new_tokens=max_new, on_text=lambda _t: first or first.append(time.perf_counter())
        )
        end = time.perf_counter()
        out.append(
            {
                "tokens": answer.tokens,
                "seconds": end - start,
                "first_s": (first[0] if first else end) - start,
                "generated_s": answer.first_token_s,  # the first token on the host, shown or not
                "version": answer.adapter_version,
                "start": start,
                "end": end,
            }
        )
    except Exception as exc:  # counted: the benchmark reports failed requests
        out.append({"error": f"{type(exc).__name__}: {exc}", "start": start, "end": time.perf_counter()})


def _summary(name: str, answers: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    ok = [a for a in answers if "error" not in a]
    firsts = sorted(a["first_s"] for a in ok)
    # After the first token: tokens a second while decoding (the prompt and the wait for others left out).
    generated = [a for a in ok if a.get("generated_s") is not None and a["tokens"] > 1]
    decoding = [(a["tokens"] - 1) / (a["seconds"] - a["generated_s"]) for a in generated]
    timed = {
        "first_generated_p50_s": round(statistics.median(a["generated_s"] for a in generated), 4),
        "decode_tokens_per_s": round(statistics.median(decoding), 2),
    }
    return {
        "variant": name,
        "requests": len(answers),
        "failed": len(answers) - len(ok),
        "tokens": sum(a["tokens"] for a in ok),
        "aggregate_tokens_per_s": round(sum(a["tokens"] for a in ok) / wall, 2),
        "per_request_tokens_per_s": round(statistics.median(a["tokens"] / a["seconds"] for a in ok), 2),
        "first_token_p50_s": round(firsts[len(firsts) // 2], 3),
        "first_token_p95_s": round(firsts[min(len(firsts) - 1, int(len(firsts) * 0.95))], 3),
        "versions": sorted({a["version"] for a in ok}),
        **(timed if generated else {}),
    }


def step_times(model: Any, rng: random.Random, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Milliseconds per generated token of a batch: `generate` alone, then one batching round."""
    from tuner.batching import Request, generate_round

    tokenizer, out = model._tokenizer, []
    for batch in (1, 8):
        prompts = [
            tokenizer.apply_chat_template(question(rng), add_generation_prompt=True) for _ in range(batch)
        ]
        prompts = [p["input_ids"] if isinstance(p, dict) or hasattr(p, "input_ids") else p for p in prompts]
        # Uncompiled only: the compiled step's CUDA graphs belong to the live model's own thread
        # (tunebot_single measures it).
        for how in ("generate", "round"):
            requests = [Request(list(p), args.new_tokens) for p in prompts]
            _sync()
            start = time.perf_counter()
            with torch.inference_mode():
                if how == "round":
                    generate_round(model._model, tokenizer, requests, model._device)
                    steps = max(len(r.generated) for r in requests)  # a round may end at a row's end
                else:
                    batch_ids = tokenizer.pad(
                        {"input_ids": prompts}, padding=True, padding_side="left", return_tensors="pt"
                    ).to(model._device)
                    output = model._model.generate(
                        **batch_ids,
                        max_new_tokens=args.new_tokens,
                        min_new_tokens=args.new_tokens,
                        do_sample=False,
                        repetition_penalty=1.1,
                        pad_token_id=tokenizer.pad_token_id,
                    )
                    steps = output.shape[1] - batch_ids["input_ids"].shape[1]
            _sync()
            ms = (time.perf_counter() - start) * 1000 / max(steps, 1)
            out.append({"variant": f"step_{how}_batch{batch}", "ms_per_step": round(ms, 2), "steps": steps})
            print(json.dumps(out[-1]), flush=True)
    # A static KV cache: generate compiles the decoding step (CUDA graphs). Only on the eager live
    # model: a compile here would replace the compiled live model's own.
    if args.compile and model._static is None:
        ids = tokenizer.apply_chat_template(question(rng), add_generation_prompt=True, return_tensors="pt")
        ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "input_ids") else ids
        for label in ("compile_first_call", "compiled"):
            _sync()
            start = time.perf_counter()
            with torch.inference_mode():
                model._model.generate(
                    input_ids=ids.to(model._device),
                    max_new_tokens=args.new_tokens,
                    min_new_tokens=args.new_tokens,
                    do_sample=False,
                    cache_implementation="static",
                    pad_token_id=tokenizer.pad_token_id,
                )
            _sync()
            ms = (time.perf_counter() - start) * 1000 / args.new_tokens
            out.append({"variant": f"step_static_cache_{label}_batch1", "ms_per_step": round(ms, 2)})
            print(json.dumps(out[-1]), flush=True)
    return out


def kernel_profile(
    model: Any, rng: random.Random, args: argparse.Namespace, name: str
) -> list[dict[str, Any]]:
    """Where a decoding step's GPU time goes: one request alone, then `--concurrency` at once, under
    torch.profiler (CUPTI sees the kernels the live model's thread replays from its CUDA graphs).
    Per kernel name: GPU microseconds a generated token; and the GPU busy time against the wall."""
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.cuda.is_available()

    def spent(e: Any) -> float:  # microseconds: on the GPU, or (a CPU smoke run) the op's own
        return float(e.device_time_total if cuda else e.self_cpu_time_total)

    out: list[dict[str, Any]] = []
    for batch in (1, args.concurrency):
        answers: list[dict[str, Any]] = []
        threads = [
            threading.Thread(target=_ask, args=(model, question(rng), args.new_tokens, answers))
            for _ in range(batch)
        ]
        _sync()
        start = time.perf_counter()
        with profile(activities=[ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU]) as prof:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            _sync()
        wall = time.perf_counter() - start
        steps = max((a.get("tokens", 0) for a in answers), default=0) or 1
        kernels = [e for e in prof.key_averages() if spent(e) > 0]
        busy = sum(spent(e) for e in kernels)
        top = sorted(kernels, key=lambda e: -spent(e))[:25]
        out.append(
            {
                "variant": f"{name}_profile_batch{batch}",
                "tokens_per_row": steps,
                "wall_ms_per_token": round(wall * 1000 / steps, 3),
                "gpu_busy_ms_per_token": round(busy / 1000 / steps, 3),
                "kernels": [
                    {
                        "name": e.key[:120],
                        "us_per_token": round(spent(e) / steps, 1),
                        "calls_per_token": round(e.count / steps, 1),
                    }
                    for e in top
                ],
            }
        )
        print(json.dumps(out[-1]), flush=True)
    return out


def copy_bandwidth() -> float | None:
    """The GPU's copy bandwidth in bytes a second (read and written both counted), from ten copies
    of 4 GiB: one decoding step of one request reads every weight once, so this bounds its speed."""
    if not torch.cuda.is_available():
        return None
    source = torch.empty(4 << 30, dtype=torch.uint8, device="cuda")
    target = torch.empty_like(source)
    for _ in range(2):
        target.copy_(source)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        target.copy_(source)
    end.record()
    end.synchronize()
    seconds = start.elapsed_time(end) / 1000
    del source, target
    torch.cuda.empty_cache()
    return 2 * 10 * (4 << 30) / seconds


def weights_read(model: Any) -> int:
    """Bytes of weights one decoding step reads: every parameter but the input embeddings (one row a
    token is gathered), unless the output layer shares them."""
    total = sum(_bytes(p) for p in model.parameters())
    embeddings, output = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    return total - (0 if embeddings is output else _bytes(embeddings))


def _bytes(tensor: Any) -> int:
    """A tensor's bytes; a tensor subclass's (torchao's FP8 weights) are those of the tensors it holds."""
    if hasattr(tensor, "__tensor_flatten__"):  # plain tensors have none
        names, _ = tensor.__tensor_flatten__()
        return sum(_bytes(getattr(tensor, name)) for name in names)
    return tensor.numel() * tensor.element_size()


def tunebot(path: Path, adapters: list[str], args: argparse.Namespace, static: bool) -> list[dict[str, Any]]:
    """LiveModel as the bot runs it (`static`: fixed-shape caches and, on a GPU, the compiled
    decoding step) or with transformers' growing cache (`tunebot_eager`)."""
    from tuner.live_model import LiveModel

    name = "tunebot" if static else "tunebot_eager"
    started = time.perf_counter()
    config = None
    if static and args.inductor and torch.cuda.is_available():
        from transformers import CompileConfig

        # With options, torch.compile takes no mode: CUDA graphs are asked for by name.
        options: dict[str, Any] = {"triton.cudagraphs": True}
        for item in args.inductor:
            key, _, value = item.partition("=")
            options[key] = {"true": True, "false": False}.get(value.lower(), value)
        config = CompileConfig(dynamic=False, options=options)
    model = LiveModel(
        str(path),
        max_new_tokens=args.new_tokens,
        max_batch=args.concurrency,
        static_cache=static,
        compile_config=config,
        tune_single=not args.untuned_single,
    )
    model.swap(adapters[0], "v1")  # waits for the warm-up (compiling) the model starts with
    results: list[dict[str, Any]] = [
        {
            "variant": f"{name}_start",
            "seconds": round(time.perf_counter() - started, 1),
            "warm_up_s": model.warm_up_seconds,
        }
    ]
    model.swap(None, "base")
    model.swap(adapters[0], "v1")  # the timed one: from the base, as at promotion
    results.append(
        {"variant": f"{name}_swap", "swap_s": round(model.last_swap_seconds or 0, 3), **model.last_swap_parts}
    )
    rng = random.Random(args.seed)
    if args.diagnose:
        results += step_times(model, rng, args)
    results.append({"variant": f"{name}_weights", "bytes_read_per_step": weights_read(model._base)})

    single: list[dict[str, Any]] = []
    for _ in range(args.runs + 1):
        _ask(model, question(rng), args.new_tokens, single)
    results.append(_summary(f"{name}_single", single[1:], sum(a["seconds"] for a in single[1:])))
    if args.profile:
        results += kernel_profile(model, rng, args, name)

    for label in ("first_", ""):  # the process's first full batch, then another
        burst: list[dict[str, Any]] = []
        threads = [
            threading.Thread(target=_ask, args=(model, question(rng), args.new_tokens, burst))
            for _ in range(args.concurrency)
        ]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results.append(
            _summary(f"{name}_{label}burst_{args.concurrency}", burst, time.perf_counter() - start)
        )

    # Streams at --load of the capacity the burst showed (answers a second): without swaps, then
    # with one every --swap-every seconds.
    capacity = results[-1]["aggregate_tokens_per_s"] / args.new_tokens
    for swap_every in (0.0, args.swap_every):
        results += _stream(model, adapters, args, rng, 1 / (args.load * capacity), swap_every, name)
    model.close()
    del model
    gc.collect()
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return results


def _stream(
    model: Any,
    adapters: list[str],
    args: argparse.Namespace,
    rng: random.Random,
    gap: float,
    swap_every: float,
    name: str,
) -> list[dict[str, Any]]:
    """--stream requests arriving at random (mean `gap` s apart); a swap every `swap_every` s."""
    results: list[dict[str, Any]] = []
    stream: list[dict[str, Any]] = []
    swaps: list[float] = []
    stop = threading.Event()
    model.batch_sizes.clear()
    model.joined = 0

    def swapper() -> None:
        i = 0
        while swap_every and not stop.wait(swap_every):
            i += 1
            began = time.perf_counter()
            model.swap(adapters[i % 2], f"v{i % 2 + 1}")
            swaps.append(time.perf_counter() - began)
            results.append(
                {
                    "variant": f"{name}_swap_under_load",
                    "swap_s": round(model.last_swap_seconds or 0, 3),
                    **model.last_swap_parts,
                }
            )

    swapping = threading.Thread(target=swapper)
    threads = []
    start = time.perf_counter()
    swapping.start()
    for _ in range(args.stream):
        t = threading.Thread(target=_ask, args=(model, question(rng), args.new_tokens, stream))
        t.start()
        threads.append(t)
        time.sleep(rng.expovariate(1 / gap))
    for t in threads:
        t.join()
    stop.set()
    swapping.join()
    summary = _summary(
        f"{name}_stream" + ("_with_swaps" if swap_every else ""), stream, time.perf_counter() - start
    )
    summary["swaps"] = len(swaps)
    summary["swap_call_s_max"] = round(max(swaps), 3) if swaps else None  # waits for answers in flight
    summary["rounds_by_batch"] = dict(sorted(model.batch_sizes.items()))
    summary["joined_in_place"] = model.joined  # took a free row of a batch in flight (no new round)
    return [*results, summary]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_checkpoint_arguments(parser)
    parser.add_argument("--new-tokens", type=int, default=128, help="answer length budget (default 128)")
    parser.add_argument("--runs", type=int, default=3, help="timed single requests (after one warm-up)")
    parser.add_argument("--concurrency", type=int, default=8, help="conversations batched (default 8)")
    parser.add_argument("--stream", type=int, default=32, help="requests in the stream with swaps")
    parser.add_argument("--load", type=float, default=0.75, help="stream rate / the burst's answers a second")
    parser.add_argument("--swap-every", type=float, default=2.0, help="seconds between swaps in the stream")
    parser.add_argument(
        "--skip",
        default="",
        help="comma list of variants to skip: standard,standard_bf16,tunebot,tunebot_eager",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        help="the questions and the stream's arrivals (settings were chosen on seed 1; report others)",
    )
    parser.add_argument("--out", help="append the JSON lines to this file")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="kernel times of one request and of a full batch (torch.profiler)",
    )
    parser.add_argument(
        "--inductor",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an inductor option for the live model's compiled step (e.g. coordinate_descent_tuning=true)",
    )
    parser.add_argument(
        "--untuned-single",
        action="store_true",
        help="compile the batch of one's step without coordinate descent tuning (static_decode.TUNED)",
    )
    parser.add_argument("--label", default="", help="written into every JSON line (which code, which option)")
    parser.add_argument("--diagnose", action="store_true", help="also time decoding steps at batch 1 and 8")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="with --diagnose: a static-cache compiled step (for tunebot_eager only)",
    )
    args = parser.parse_args(argv)
    path = build_checkpoint(args.shape, Path(args.cache), args.tokenizer)
    adapters = [make_adapter(path, Path(args.cache) / f"bench-adapter-{i}", seed=i) for i in (1, 2)]
    bandwidth = copy_bandwidth()
    results: list[dict[str, Any]] = [{"variant": "copy_bandwidth", "bytes_per_s": bandwidth}]
    print(json.dumps(results[-1]), flush=True)
    skip = set(args.skip.split(","))
    for quantized, name in ((True, "standard"), (False, "standard_bf16")):
        if name not in skip:
            results.append(standard(path, adapters[0], quantized, args))
            print(json.dumps(results[-1]), flush=True)
    for static in (False, True):  # the eager one frees all it holds; compiled code stays
        if ("tunebot" if static else "tunebot_eager") in skip:
            continue
        for result in tunebot(path, adapters, args, static):
            results.append(result)
            print(json.dumps(result), flush=True)
    if args.out:
        with open(args.out, "a") as f:
            for result in results:
                f.write(
                    json.dumps(
                        {"label": args.label, "shape": args.shape, "new_tokens": args.new_tokens, **result}
                    )
                    + "\n"
                )
    by = {r["variant"]: r for r in results}
    baseline = by.get("standard", {}).get("tokens_per_s")
    print("\n| variant | tokens/s (aggregate) | per request | first token p50 / p95 | failed |")
    print("| --- | --- | --- | --- | --- |")
    for r in results:
        if not ("tokens_per_s" in r or "aggregate_tokens_per_s" in r):
            continue
        rate = r.get("tokens_per_s", r.get("aggregate_tokens_per_s"))
        per = r.get("per_request_tokens_per_s", rate)
        first = r.get("first_token_s") or f"{r.get('first_token_p50_s')} / {r.get('first_token_p95_s')}"
        ratio = f" ({rate / baseline:.1f}x)" if baseline else ""
        print(f"| {r['variant']} | {rate}{ratio} | {per} | {first} | {r.get('failed', 0)} |")
    read = by.get("tunebot_weights", {}).get("bytes_read_per_step")
    single = by.get("tunebot_single", {}).get("per_request_tokens_per_s")
    if bandwidth and read and single:
        bound = bandwidth / read
        print(
            f"one request: {single} tok/s; the bound (copy bandwidth {bandwidth / 1e12:.2f} TB/s over "
            f"{read / 1e9:.2f} GB of weights a step) {bound:.0f} tok/s: {single / bound:.2f} of it"
        )
        decoding = by["tunebot_single"].get("decode_tokens_per_s")
        if decoding:
            print(f"... after its first token: {decoding} tok/s, {decoding / bound:.2f} of the bound")
    swaps = [r["swap_s"] for r in results if "swap_s" in r]
    print(f"swap (weights changing, lock held): max {max(swaps):.3f} s over {len(swaps)} swaps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
