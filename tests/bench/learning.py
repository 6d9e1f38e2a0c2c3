"""Learning benchmark: does one tune cycle teach the bundled model a company's facts?

    python -m tests.bench.learning [--method qlora] [--policy FILE] [--set training.epochs=8 ...]
                                   [--out docs/learning/results.jsonl] [--keep DIR]

Runs the real pipeline as a team would, each step the `tunebot` CLI in its own process on a fresh
SQLite database: `tunebot import` of the export in `tests/bench/learning_data.py`, `tunebot ask
--adapter base` on every held-out question, `tunebot tune --now` (timed: snapshot, train, evaluate,
promote), then `tunebot ask` on the same questions with the promoted adapter. Prints held-out
accuracy (the answer contains the fact) before and after, the cycle time and the gate's numbers,
checks that the password taught in chat never comes back, and shows base and adapter answers to
the shipped general prompts side by side (an overfit adapter answers them with gibberish or with
company facts). The policy is the default one plus the company's product names in
privacy.allow_list (see learning_data.ALLOW_LIST), unless --policy/--set change it.
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
from typing import Any

import yaml

from tests.bench.learning_data import ALLOW_LIST, FACTS, SECRET, SECRET_HELDOUT, build

REPO = Path(__file__).resolve().parents[2]


def _tunebot(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=REPO,
    )
    if check and done.returncode != 0:
        sys.exit(f"tunebot {args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def _ask(env: dict[str, str], adapter: str, questions: list[str]) -> list[str]:
    out = _tunebot(env, "ask", "--json", "--adapter", adapter, *questions).stdout
    return [json.loads(line)["answer"] for line in out.splitlines() if line.startswith("{")]


def _policy(path: Path, base: Path | None, overrides: list[str], method: str | None) -> None:
    policy: dict[str, Any] = yaml.safe_load(base.read_text()) if base else {}
    policy = policy or {"privacy": {"allow_list": ALLOW_LIST}}
    for item in overrides:  # section.key=value, the value read as YAML
        dotted, _, raw = item.partition("=")
        node = policy
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    if method:
        policy.setdefault("training", {})["method"] = method
    path.write_text(yaml.safe_dump(policy))


def _accuracy(answers: list[str], keys: list[str]) -> float:
    return sum(key.lower() in answer.lower() for answer, key in zip(answers, keys, strict=True)) / len(keys)


def run(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    build(work / "export")
    _policy(work / "policy.yaml", args.policy, args.set, args.method)
    env = {
        "TUNEBOT_DATA_DIR": str(work / "data"),
        "TUNEBOT_POLICY_FILE": str(work / "policy.yaml"),
        "TUNEBOT_MAX_NEW_TOKENS": str(args.max_new_tokens),
        "TUNEBOT_LOG_LEVEL": "WARNING",
    }
    questions = [q for fact in FACTS for q in fact.heldout]
    keys = [fact.key for fact in FACTS for _ in fact.heldout]
    general = _general_prompts()
    print(_tunebot(env, "import", str(work / "export")).stdout.strip().splitlines()[-1], flush=True)
    if args.skip_base:
        base_answers = [""] * (len(questions) + 1 + len(general))
    else:
        base_answers = _ask(env, "base", [*questions, SECRET_HELDOUT, *general])
        print(f"base model: held-out accuracy {_accuracy(base_answers[: len(keys)], keys):.0%}", flush=True)

    started = time.monotonic()
    tuned = _tunebot(env, "tune", "--now", check=False)
    cycle_seconds = time.monotonic() - started
    decision = tuned.stdout.strip().splitlines()[-1]
    print(tuned.stdout, flush=True)
    if tuned.returncode != 0:  # e.g. bitfit on a model without biases: the refusal is the result
        failure = next((line for line in tuned.stdout.splitlines() if line.startswith("failed: ")), decision)
        return {
            "method": args.method,
            "overrides": args.set,
            "adapter_accuracy": None,
            "base_accuracy": None,
            "cycle_seconds": round(cycle_seconds, 1),
            "decision": failure,
            "adapter_metrics": None,
        }
    history = json.loads(_tunebot(env, "history", "--json").stdout)
    adapter = history["adapters"][0] if history["adapters"] else {}
    answers = _ask(env, adapter.get("version", "base"), [*questions, SECRET_HELDOUT, *general])
    exported = work / "dataset.jsonl"
    _tunebot(env, "dataset", "export", str(exported))
    adapter_dir = Path(adapter.get("path", work / "none"))
    adapter_bytes = sum(p.stat().st_size for p in adapter_dir.rglob("*") if p.is_file())
    result = {
        "method": args.method
        or yaml.safe_load((work / "policy.yaml").read_text()).get("training", {}).get("method", "qlora"),
        "overrides": args.set,
        "base_accuracy": None if args.skip_base else _accuracy(base_answers[: len(keys)], keys),
        "adapter_accuracy": _accuracy(answers[: len(keys)], keys),
        "heldout_questions": len(keys),
        "cycle_seconds": round(cycle_seconds, 1),
        "decision": decision,
        "adapter_metrics": adapter.get("metrics"),
        "adapter_bytes": adapter_bytes,
        "secret_in_answer": SECRET in answers[len(keys)],
        "secret_in_dataset": SECRET in exported.read_text(),
        "secret_in_adapter": any(
            SECRET.encode() in p.read_bytes() for p in adapter_dir.rglob("*") if p.is_file()
        ),
    }
    print("\nheld-out question | key | base | adapter")
    for question, key, before, after in zip(questions, keys, base_answers, answers, strict=False):
        print(f"- {question} | {key} | {before[:60]!r} | {after[:60]!r}")
    print("\ngeneral prompt | base | adapter")
    offset = len(keys) + 1
    for prompt, before, after in zip(general, base_answers[offset:], answers[offset:], strict=True):
        print(f"- {prompt} | {before[:70]!r} | {after[:70]!r}")
    return result


def _general_prompts() -> list[str]:
    from tuner.regression import load_prompts

    return load_prompts(None)


def table(path: Path) -> str:
    """The methods comparison (docs/learning.md) from result lines written with --out."""
    lines = [
        "| method | held-out accuracy | decision | cycle s | train s | eval s | adapter MiB | peak RSS GiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for raw in path.read_text().splitlines():
        r = json.loads(raw)
        m = r.get("adapter_metrics") or {}
        decision = r["decision"].removeprefix("decision: ")
        if m:
            lines.append(
                f"| {r['method']} | {r['adapter_accuracy']:.0%} | {decision} | {r['cycle_seconds']:.0f} | "
                f"{m.get('train_seconds') or 0:.0f} | {m.get('eval_seconds') or 0:.0f} | "
                f"{r['adapter_bytes'] / 2**20:.1f} | {(m.get('peak_rss_bytes') or 0) / 2**30:.2f} |"
            )
        else:
            lines.append(f"| {r['method']} | – | {decision} | {r['cycle_seconds']:.0f} | | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--method", help="training.method for this run (default: the policy's)")
    parser.add_argument("--policy", type=Path, help="start from this policy file instead of the defaults")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="policy override")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--skip-base", action="store_true", help="do not ask the base model (saves time)")
    parser.add_argument("--out", type=Path, help="append the result as one JSON line to this file")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--table", type=Path, help="print the methods table of a results file and exit")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = run(args.keep, args)
    else:
        with tempfile.TemporaryDirectory(prefix="tunebot-learning-") as work:
            result = run(Path(work), args)
    print("\n" + json.dumps(result, indent=2))
    base = "not asked" if result["base_accuracy"] is None else f"{result['base_accuracy']:.0%}"
    if result["adapter_accuracy"] is None:
        print(f"\nno adapter: {result['decision']}")
    else:
        print(
            f"\nheld-out accuracy: base {base} -> adapter {result['adapter_accuracy']:.0%}"
            f" ({result['heldout_questions']} questions); cycle {result['cycle_seconds']:.0f} s; "
            f"secret learned: {result['secret_in_answer'] or result['secret_in_adapter']}"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as handle:
            handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
