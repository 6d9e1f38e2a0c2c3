"""A whole tune cycle on a large model: snapshot, train on N chat examples, evaluate, promote.

    python -m tests.bench.gpu_cycle --shape 8b --examples 2000 --tokenizer DIR    # on a GPU
    python -m tests.bench.gpu_cycle --shape tiny --examples 200                   # CPU smoke run

The model is Llama-3-8B-shaped with random weights and SmolLM2's tokenizer and chat template
(tests/bench/train_memory.py builds it). The examples are written through the storage API into a
fresh SQLite database as corrected exchanges: a question of 8-60 words and a reply of 10-120 words
(about 40-250 tokens each with the template), the lengths of a team's Slack threads. The cycle
runs with the shipped policy (qlora, batch size and epochs auto, replay, the regression guard),
except that the gate is told to promote any candidate (no margin, no bootstrap, no regression
guard: on random weights they would measure nothing), so promotion is timed too; every score is
still computed. Prints each phase as the cycle reports it, then one JSON line with the timings.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

from tests.bench.serve_speed import WORDS
from tests.bench.train_memory import SHAPES, build_checkpoint


def seed_examples(db: object, count: int, seed: int = 0) -> None:
    """Corrected exchanges: a question of 8-60 words, a correction of 10-120."""
    from tests.factories import seed_corrections

    rng = random.Random(seed)

    def words(low: int, high: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))

    seed_corrections(
        db,  # type: ignore[arg-type]
        count,
        channel="C0BENCH",
        rater="U0BENCH01",
        texts=lambda _i: (f"{words(8, 60)}?", words(10, 120)),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", choices=sorted(SHAPES), default="8b")
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--tokenizer", help="a folder with SmolLM2's tokenizer (default: the bundled GGUF's)")
    parser.add_argument("--cache", default=os.environ.get("TMPDIR", "/tmp"), help="where random weights go")
    parser.add_argument("--out", help="append the JSON line to this file")
    parser.add_argument("--learning-rate", type=float, help="override training.learning_rate")
    parser.add_argument(
        "--family-seed",
        type=int,
        help="a learning-family workspace's questions and answers (tests/bench/learning_family.py; seed 5 "
        "and 101 have 200 facts) instead of random words; the regression guard is then computed for every "
        "epoch checkpoint (training.select_checkpoint) with a limit that never refuses, so it is timed too",
    )
    args = parser.parse_args(argv)

    from policies.schema import Policies, PromotionPolicy, RegressionGuard, TrainingPolicy
    from storage import Database
    from storage.registry import history
    from storage.runs import last_run
    from tuner.cycle import TuneCycle

    path = build_checkpoint(args.shape, Path(args.cache), args.tokenizer)
    work = Path(tempfile.mkdtemp(prefix="tunebot-cycle-"))
    db = Database(f"sqlite:///{work / 'tunebot.db'}")
    db.upgrade()
    guard = RegressionGuard(max_nll_increase=None)
    if args.family_seed is not None:
        from tests.bench.learning_family import workspace
        from tests.factories import seed_corrections

        ws = workspace(args.family_seed)
        pairs = [(question, fact.answer) for fact in ws.facts for question in fact.train]
        seed_corrections(db, len(pairs), channel="C0FAMILY", rater="U0BENCH01", texts=lambda i: pairs[i])
        args.examples = len(pairs)
        guard = RegressionGuard(max_nll_increase=1e9)  # computed for every checkpoint, never refuses
    else:
        seed_examples(db, args.examples)
    # Random weights answer nonsense either way: let the gate pass, so promotion is timed too.
    training = (
        TrainingPolicy() if args.learning_rate is None else TrainingPolicy(learning_rate=args.learning_rate)
    )
    policies = Policies(
        training=training,
        promotion=PromotionPolicy(min_relative_improvement=0, confidence=0, regression_guard=guard),
    )
    started = time.monotonic()
    marks: list[tuple[float, str]] = []

    def say(message: str) -> None:
        marks.append((time.monotonic() - started, message))
        print(f"{time.monotonic() - started:7.1f}s {message}", flush=True)

    result = TuneCycle(db, policies, data_dir=work / "data", base_model=str(path)).run("bench", progress=say)
    total = time.monotonic() - started
    with db.session() as session:
        run = last_run(session)
        timings = dict(run.timings or {}) if run else {}
        adapters = history(session)
        metrics = dict(adapters[0].metrics or {}) if adapters else {}
    line = {
        "shape": args.shape,
        "examples": args.examples,
        "family_seed": args.family_seed,
        "learning_rate": training.learning_rate,
        "outcome": result.outcome,
        "message": result.message,
        "cycle_s": round(total, 1),
        "timings": timings,
        "metrics": {
            k: v
            for k, v in metrics.items()
            if not isinstance(v, (list, dict)) or k in ("step_size", "checkpoint")
        },
    }
    print(json.dumps(line, default=str), flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(line, default=str) + "\n")
    return 0 if result.outcome == "promoted" else 1


if __name__ == "__main__":
    raise SystemExit(main())
