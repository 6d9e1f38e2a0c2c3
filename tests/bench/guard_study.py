"""What should the regression guard measure? Every epoch's adapter of one training, measured each way.

    python -m tests.bench.guard_study --seeds 1,3 [--set training.learning_rate=0.01 ...] [--out FILE]

For each workspace of the learning family (tests/bench/learning_family.py; tune seeds only when a
measure is being chosen), `tunebot import` and a one-step `tunebot tune --now` write the run's
dataset snapshot and training job exactly as the cycle does; then the job trains here, with the
policy's overrides, saving the adapter at every epoch. Each epoch's adapter gets:

- `forward`: the guard as it was, the candidate's mean NLL of the base model's own answers to the
  general prompts, minus the base model's (it rises when the candidate would not say them);
- `reverse`: the base model's mean NLL of the candidate's own answers to the same prompts, minus
  its NLL of its own answers (it rises when the candidate says what the base model would not:
  gibberish, or team facts to a question about France);
- `team_facts`: how many general answers carry a team fact (a key term of a training answer that
  neither the prompt nor the base model's answer has);
- `repeats`: how many general answers repeat a 4-word run three times (a decoding loop);
- held-out accuracy: the workspace's held-out phrasings answered with the fact's key.

The answers to the general prompts are printed beside the base model's, so what each number
rewards can be read, not only trusted. One JSON line per epoch goes to --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.learning import _policy, _seeds, _tunebot
from tests.bench.learning_family import workspace


def _repeats(text: str) -> bool:
    words = text.lower().split()
    runs = [" ".join(words[i : i + 4]) for i in range(len(words) - 3)]
    return any(runs.count(run) >= 3 for run in set(runs))


def study(
    seed: int, overrides: list[str], facts: int | None, out: Path | None, replay: int | None, work: Path
) -> None:
    from peft import PeftModel

    from tuner.chat_format import chat_messages
    from tuner.dataset import Snapshot
    from tuner.evaluation import generate_replies, heldout_nll, key_terms
    from tuner.regression import SHIPPED_REPLAY, base_answers, load_prompts
    from tuner.replay import replay_rows
    from tuner.training import TrainingJob, _load_base, train_once

    ws = workspace(seed, facts)
    ws.write(work / "export")
    _policy(
        work / "policy.yaml", None, ["training.max_steps=1", "training.select_checkpoint=false"], None, None
    )
    env = {
        "TUNEBOT_DATA_DIR": str(work / "data"),
        "TUNEBOT_POLICY_FILE": str(work / "policy.yaml"),
        "TUNEBOT_LOG_LEVEL": "WARNING",
    }
    _tunebot(env, "import", str(work / "export"))
    _tunebot(env, "tune", "--now", check=False)
    run_dir = sorted((work / "data" / "runs").glob("run-*"))[-1]
    job = TrainingJob.load(run_dir / "job.json")
    changes: dict[str, Any] = {"max_steps": -1, "select_checkpoint": True, "guard_limit": 1e9}
    for item in overrides:
        key, value = item.split("=", 1)
        changes[key.removeprefix("training.")] = json.loads(value)
    epochs = changes.pop("epochs", 8)
    job = dataclasses.replace(
        job, **changes, epochs=epochs, adapter_dir=str(work / "adapter"), result_path=str(work / "r.json")
    )
    if replay is not None:
        job = dataclasses.replace(job, replay_prompts=load_prompts(None, SHIPPED_REPLAY)[:replay])
    snapshot = Snapshot.load(Path(job.dataset_dir))
    rows = snapshot.train.to_list()
    if job.replay_prompts:
        rows += replay_rows(lambda: _load_base(job, quantize=False)[:2], job)
    started = time.monotonic()
    trained = train_once(job, rows, lambda event: None)
    train_s = time.monotonic() - started

    base_model = _load_base(job, quantize=False)[0].eval()
    tokenizer = trained.tokenizer
    base_rows, base_nll = base_answers(
        base_model, tokenizer, job.general_prompts, job.max_length, job.eval_max_new_tokens
    )
    said_by_base = [row["completion"][0]["content"] for row in base_rows]
    team = {
        term
        for row in snapshot.train.to_list()
        for term in key_terms(row["completion"][-1]["content"], " ".join(t["content"] for t in row["prompt"]))
        if len(term) > 2
    }
    questions = [q for fact in ws.facts for q in fact.heldout]
    keys = [fact.key for fact in ws.facts for _ in fact.heldout]
    chats = [chat_messages([{"role": "user", "content": p}]) for p in job.general_prompts]
    asked = [chat_messages([{"role": "user", "content": q}]) for q in questions]

    model = None
    print(
        f"\nseed {seed}: {len(ws.facts)} facts, {len(rows)} rows ({len(job.replay_prompts)} replay), "
        f"trained {train_s:.0f} s, {overrides}"
    )
    for epoch in sorted(trained.checkpoints):
        name = f"epoch-{epoch}"
        if model is None:
            model = PeftModel.from_pretrained(base_model, trained.checkpoints[epoch], adapter_name=name)
        else:
            model.load_adapter(trained.checkpoints[epoch], adapter_name=name)
        model.set_adapter(name)
        forward = heldout_nll(model, tokenizer, base_rows, job.max_length)["heldout_nll"] - base_nll
        answers = generate_replies(model, tokenizer, chats, job.eval_max_new_tokens)
        own_rows = [
            {"prompt": chat, "completion": [{"role": "assistant", "content": a}]}
            for chat, a in zip(chats, answers, strict=True)
            if a
        ]
        with model.disable_adapter():
            reverse = heldout_nll(model, tokenizer, own_rows, job.max_length)["heldout_nll"] - base_nll
        facts_said = sum(
            any(t in a.lower() and t not in (p + b).lower() for t in team)
            for a, p, b in zip(answers, job.general_prompts, said_by_base, strict=False)
        )
        replies = generate_replies(model, tokenizer, asked, job.eval_max_new_tokens)
        right = sum(k.lower() in r.lower() for r, k in zip(replies, keys, strict=True)) / len(keys)
        line = {
            "seed": seed,
            "facts": len(ws.facts),
            "overrides": overrides,
            "replay": len(job.replay_prompts),
            "epoch": epoch,
            "forward": round(forward, 3),
            "reverse": round(reverse, 3),
            "team_facts": facts_said,
            "repeats": sum(_repeats(a) for a in answers),
            "heldout_right": round(right, 3),
            "answers": answers,
            "base_answers": said_by_base,
        }
        print(
            f"epoch {epoch}: held-out {right:.0%}  forward {forward:+.3f}  reverse {reverse:+.3f}  "
            f"team facts {facts_said}/{len(answers)}  repeats {line['repeats']}",
            flush=True,
        )
        for prompt, before, after in zip(job.general_prompts, said_by_base, answers, strict=False):
            said = re.sub(r"\s+", " ", after)[:90]
            print(f"    {prompt[:30]!r}: {said!r}  (base {before[:40]!r})")
        if out:
            with out.open("a") as f:
                f.write(json.dumps(line) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", required=True)
    parser.add_argument(
        "--set", action="append", default=[], help="training.KEY=JSON, e.g. training.learning_rate=0.01"
    )
    parser.add_argument("--facts", type=int)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--replay", type=int, help="replay prompts (the shipped file's first N)")
    args = parser.parse_args()
    for seed in _seeds(args.seeds):
        with tempfile.TemporaryDirectory(prefix=f"guard-study-{seed}-") as work:
            study(seed, args.set, args.facts, args.out, args.replay, Path(work))


if __name__ == "__main__":
    main()
