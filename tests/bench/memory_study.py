"""Answer memory on the learning family's workspaces: what the retrieval finds and what the model
makes of it, for a few ways of giving it the team's answers (docs/learning.md).

    python -m tests.bench.memory_study --seeds 1,2,3 [--variants shipped,one,verbatim] [--out FILE]

Each workspace is imported once (`tunebot import`, a fresh SQLite database), then the bundled model
(no adapter) answers every held-out question in one process for each variant. Tune seeds only:
a variant that wins here is checked with `python -m tests.bench.learning --seeds check --memory-only`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.bench.learning_family import workspace
from tuner.chat_format import SYSTEM_PROMPT
from tuner.memory import Recalled, with_memory

REPO = Path(__file__).resolve().parents[2]
Turns = list[dict[str, str]]


def _verbatim(turns: Turns, recalled: list[Recalled]) -> Turns:
    if not recalled:
        return turns
    notes = "\n\n".join(f"Q: {r.question}\nA: {r.answer}" for r in recalled)
    system = (
        f"{SYSTEM_PROMPT}\n\nYour team's answers to questions like this one:\n\n{notes}\n\n"
        "If one of them answers the question, reply with that answer word for word."
    )
    return [{"role": "system", "content": system}, *turns]


# name -> (how many matches, how the conversation is built, the copy bias on the answers' tokens)
VARIANTS: dict[str, tuple[int | None, Callable[[Turns, list[Recalled]], Turns], float]] = {
    "shipped": (None, with_memory, 0.0),  # the policy's matches, tuner.memory.with_memory
    "one": (1, with_memory, 0.0),
    "verbatim": (None, _verbatim, 0.0),
    "copy1": (None, with_memory, 1.0),
    "copy2": (None, with_memory, 2.0),
    "copy4": (None, with_memory, 4.0),
}


def study(seed: int, variants: list[str]) -> list[dict[str, Any]]:
    ws = workspace(seed, None)
    with tempfile.TemporaryDirectory(prefix=f"tunebot-memory-{seed}-") as work:
        env = {"TUNEBOT_DATA_DIR": f"{work}/data", "TUNEBOT_LOG_LEVEL": "WARNING"}
        ws.write(Path(work) / "export")
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "import", f"{work}/export"],
            env={**os.environ, **env},
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        os.environ.update(env)
        from bot.runtime import Runtime
        from bot.settings import Settings
        from tuner.live_model import LiveModel

        runtime = Runtime(Settings())
        model = LiveModel(runtime.base_model_path, max_new_tokens=40, static_cache=False)
        questions = [(q, fact.key) for fact in ws.facts for q in fact.heldout]
        results = []
        for name in variants:
            matches, build, bias = VARIANTS[name]
            policy = runtime.policies.memory
            memory = policy.model_copy(update={"matches": matches or policy.matches})
            runtime.memory.policies = runtime.policies.model_copy(update={"memory": memory})
            started, right, misses, found = time.monotonic(), 0, [], 0
            for question, key in questions:
                recalled = runtime.memory.recall(question)
                found += bool(recalled)
                turns = build([{"role": "user", "content": question}], recalled)
                copy = [r.answer for r in recalled]
                answer = model.generate(turns, copy_from=copy, copy_bias=bias).text
                if key.lower() in answer.lower():
                    right += 1
                else:
                    misses.append({"question": question, "key": key, "answer": answer[:120]})
            result = {
                "seed": seed,
                "facts": len(ws.facts),
                "variant": name,
                "questions": len(questions),
                "with_a_match": found,
                "right": right,
                "accuracy": right / len(questions),
                "seconds": round(time.monotonic() - started, 1),
                "misses": misses,
            }
            print(f"seed {seed} {name}: {right}/{len(questions)} right ({found} with a match)", flush=True)
            results.append(result)
        model.close()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="1,2,3", help="tune seeds, such as 1,2,3")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--out", type=Path, help="append one JSON line per seed and variant")
    args = parser.parse_args()
    variants = args.variants.split(",")
    for seed in [int(s) for s in args.seeds.split(",")]:
        for result in study(seed, variants):
            if args.out:
                with args.out.open("a") as handle:
                    handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
