"""Answers under load while adapters swap: every request answered, p95 latency against no swaps.

    python -m tests.bench.swap_load [--model tiny|bundled] [--requests 48] [--concurrency 8]

Runs the real bot (the sandbox: Bolt over HTTP, signed events, the local Slack) on a temporary
SQLite database, trains two adapters with real tune cycles, then sends the same load twice from
`--concurrency` threads: once with no swaps, once while a thread swaps the live model between the
two adapters every `--swap-every` seconds. Latency is from posting the mention to the final answer
(the edit that carries the buttons and the footer naming the adapter). Prints p50/p95 of both runs
and their ratio; loopback only, bounded by --requests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _load(sandbox: Any, requests: int, concurrency: int, tag: str) -> tuple[list[float], list[str]]:
    """Send `requests` mentions from `concurrency` threads; latencies and the adapters that answered."""
    ws, send = sandbox.workspace, sandbox.send

    def one(i: int) -> tuple[float, str]:
        started = time.perf_counter()
        message, _ = send.user_message("C0LOAD", f"U0LOAD{i % 8}", f"<@{ws.bot_user_id}> {tag} question {i}?")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            final = [m for m in ws.thread("C0LOAD", message["ts"]) if m.get("bot_id") and m.get("blocks")]
            if final:
                footer = final[0]["blocks"][-1]["elements"][0]["text"]
                return time.perf_counter() - started, footer.split("·")[-1].strip()
            time.sleep(0.005)
        raise TimeoutError(f"no answer to request {i}")

    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(requests)))
    return [r[0] for r in results], [r[1] for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=["tiny", "bundled"], default="tiny")
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--swap-every", type=float, default=0.5)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()

    from bot.runtime import Runtime
    from bot.sandbox.app import Sandbox
    from bot.settings import Settings
    from policies import Policies
    from policies.schema import PromotionPolicy, TrainingPolicy
    from storage.registry import history
    from tests.factories import save_tiny_model, seed_corrections

    work = Path(tempfile.mkdtemp(prefix="tunebot-swap-load-"))
    base = save_tiny_model(work / "tiny") if args.model == "tiny" else "smollm2"
    settings = Settings(
        data_dir=work / "data",
        database_url=f"sqlite:///{work / 'tunebot.db'}",
        base_model=base,
        max_new_tokens=args.max_new_tokens,
        _env_file=None,
    )
    policies = Policies(
        training=TrainingPolicy(epochs=1, learning_rate=5e-3, heldout_percent=25, max_length=128),
        promotion=PromotionPolicy(min_relative_improvement=0.0),  # the second may lose: both are swapped
    )
    runtime = Runtime(settings, policies)
    seed_corrections(runtime.db, 12)
    for n in range(2):
        result = runtime.cycle.run(f"bench-{n}", force=True, progress=lambda _m: None)
        print(f"trained adapter {n + 1}: {result.outcome} {result.adapter_version}", flush=True)
    with runtime.db.session() as session:
        adapters = [(a.path, a.label) for a in history(session)][:2]

    sandbox = Sandbox(runtime, poll_seconds=3600).start()
    try:
        _load(sandbox, args.concurrency, args.concurrency, "warm-up")
        quiet, _ = _load(sandbox, args.requests, args.concurrency, "quiet")

        stop = threading.Event()
        swaps: list[float] = []

        def swapper() -> None:
            i = 0
            while not stop.is_set():
                path, label = adapters[i % 2]
                started = time.perf_counter()
                runtime.live_model.swap(path, label)
                swaps.append(time.perf_counter() - started)
                i += 1
                stop.wait(args.swap_every)

        thread = threading.Thread(target=swapper, daemon=True)
        thread.start()
        busy, served = _load(sandbox, args.requests, args.concurrency, "busy")
        stop.set()
        thread.join()
    finally:
        sandbox.stop()

    labels = {label for _, label in adapters}
    row = {
        "model": args.model,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "swaps": len(swaps),
        "swap_s_median": round(statistics.median(swaps), 4),
        "answered": f"{len(busy)}/{args.requests}",
        "answers_by_adapter": {label: served.count(label) for label in sorted(set(served))},
        "unknown_adapter": sum(label not in labels for label in served),
        "p50_quiet_s": round(_percentile(quiet, 0.5), 4),
        "p95_quiet_s": round(_percentile(quiet, 0.95), 4),
        "p50_swaps_s": round(_percentile(busy, 0.5), 4),
        "p95_swaps_s": round(_percentile(busy, 0.95), 4),
    }
    row["p95_ratio"] = round(row["p95_swaps_s"] / row["p95_quiet_s"], 3)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
