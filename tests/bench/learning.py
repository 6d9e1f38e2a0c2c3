"""Learning benchmark: does one tune cycle teach the bundled model a company's facts?

    python -m tests.bench.learning [--method qlora] [--policy FILE] [--set training.epochs=8 ...]
                                   [--out docs/learning/results.jsonl] [--keep DIR]
    python -m tests.bench.learning --seeds tune|check|1,2,3 [--facts N] [--skip-base] [--out FILE]

Without --seeds it runs the original workspace (Quillfeather Labs, tests/bench/learning_data.py,
with its product names on the allow-list as it was tuned); with --seeds, workspaces of the family
in tests/bench/learning_family.py, each with the default policy and nothing added (as a team
starts), then prints a table per workspace with the worst case and the mean.

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
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tests.bench import learning_data
from tests.bench.learning_family import CHECK_SEEDS, TUNE_SEEDS, Fact, Workspace, workspace

REPO = Path(__file__).resolve().parents[2]


def _python(
    env: dict[str, str], module: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=REPO,
    )
    if check and done.returncode != 0:
        sys.exit(
            f"{module} {args[0] if args else ''} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done


def _tunebot(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _python(env, "bot.cli", *args, check=check)


def _ask_slack(env: dict[str, str], questions: list[str]) -> list[dict[str, Any]]:
    out = _python(env, "tests.bench.ask_slack", *questions).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _ask(env: dict[str, str], adapter: str, questions: list[str], memory: bool = False) -> list[str]:
    """`tunebot ask`: the model alone, or (`memory`) with answer memory as the bot uses it."""
    flag = "--memory" if memory else "--no-memory"
    out = _tunebot(env, "ask", "--json", flag, "--adapter", adapter, *questions).stdout
    return [json.loads(line)["answer"] for line in out.splitlines() if line.startswith("{")]


def _policy(
    path: Path, base: Path | None, overrides: list[str], method: str | None, allow_list: list[str] | None
) -> None:
    policy: dict[str, Any] = yaml.safe_load(base.read_text()) if base else {}
    policy = policy or ({"privacy": {"allow_list": allow_list}} if allow_list else {})
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


def _quillfeather() -> Workspace:
    """The original benchmark's workspace in the family's shape."""
    facts = [Fact(f.key, f.answer, f.train, f.heldout) for f in learning_data.FACTS]
    return Workspace(
        0,
        "Quillfeather",
        [],
        facts,
        learning_data.SECRET,
        (),
        learning_data.SECRET_HELDOUT,
        writer=learning_data.build,
    )


def run(work: Path, args: argparse.Namespace, ws: Workspace | None = None) -> dict[str, Any]:
    """One workspace through import, a cycle and the questions; `ws` None: the original benchmark."""
    original = ws is None
    ws = ws or _quillfeather()
    ws.write(work / "export")
    _policy(
        work / "policy.yaml",
        args.policy,
        args.set,
        args.method,
        learning_data.ALLOW_LIST if original else None,
    )
    env = {
        "TUNEBOT_DATA_DIR": str(work / "data"),
        "TUNEBOT_POLICY_FILE": str(work / "policy.yaml"),
        "TUNEBOT_MAX_NEW_TOKENS": str(args.max_new_tokens),
        "TUNEBOT_LOG_LEVEL": "WARNING",
    }
    questions = [q for fact in ws.facts for q in fact.heldout]
    keys = [fact.key for fact in ws.facts for _ in fact.heldout]
    general = _general_prompts()
    print(_tunebot(env, "import", str(work / "export")).stdout.strip().splitlines()[-1], flush=True)
    if args.skip_base:
        base_answers = [""] * (len(questions) + 1 + len(general))
    else:
        base_answers = _ask(env, "base", [*questions, ws.secret_heldout, *general])
        print(f"base model: held-out accuracy {_accuracy(base_answers[: len(keys)], keys):.0%}", flush=True)
    # Answer memory right after the import, before any training: the base model with the team's
    # answers to the closest stored questions as context.
    memory_answers = _ask(env, "base", [*questions, ws.secret_heldout], memory=True)
    memory_accuracy = _accuracy(memory_answers[: len(keys)], keys)
    print(f"base model + answer memory: held-out accuracy {memory_accuracy:.0%}", flush=True)
    if args.memory_only:
        return {
            "seed": ws.seed,
            "company": ws.company,
            "facts": len(ws.facts),
            "overrides": args.set,
            "base_accuracy": None if args.skip_base else _accuracy(base_answers[: len(keys)], keys),
            "memory_accuracy": memory_accuracy,
            "secret_in_memory_answer": ws.secret in memory_answers[len(keys)],
            "misses": [
                {"question": q, "key": k, "answer": a[:160]}
                for q, k, a in zip(questions, keys, memory_answers, strict=False)
                if k.lower() not in a.lower()
            ],
        }

    started = time.monotonic()
    tuned = _tunebot(env, "tune", "--now", check=False)
    cycle_seconds = time.monotonic() - started
    decision = tuned.stdout.strip().splitlines()[-1] if tuned.stdout.strip() else tuned.stderr[-300:]
    print(tuned.stdout, flush=True)
    sizes = next((line for line in tuned.stdout.splitlines() if "held-out examples" in line), "")
    if tuned.returncode != 0:  # e.g. bitfit on a model without biases: the refusal is the result
        failure = next((line for line in tuned.stdout.splitlines() if line.startswith("failed: ")), decision)
        return {
            "seed": ws.seed,
            "facts": len(ws.facts),
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
    answers = _ask(env, adapter.get("version", "base"), [*questions, ws.secret_heldout, *general])
    exported = work / "dataset.jsonl"
    _tunebot(env, "dataset", "export", str(exported))
    adapter_dir = Path(adapter.get("path", work / "none"))
    adapter_bytes = sum(p.stat().st_size for p in adapter_dir.rglob("*") if p.is_file())
    promoted = decision.removeprefix("decision: ").startswith("promoted")
    adapter_accuracy = _accuracy(answers[: len(keys)], keys)
    base_accuracy = None if args.skip_base else _accuracy(base_answers[: len(keys)], keys)
    # What users see: the same questions asked in Slack, to the sandbox's real bot serving what the
    # registry says is live (the promoted adapter, else still the base model).
    shown = _ask_slack(env, [*questions, ws.secret_heldout])
    live_accuracy = _accuracy([a["answer"] or "" for a in shown[: len(keys)]], keys)
    served = sorted({str(a["adapter"]) for a in shown})
    gate = (adapter.get("metrics") or {}).get("gate") or {}
    result = {
        "seed": ws.seed,
        "company": ws.company,
        "facts": len(ws.facts),
        "examples": sizes,
        "method": args.method
        or yaml.safe_load((work / "policy.yaml").read_text()).get("training", {}).get("method", "qlora"),
        "overrides": args.set,
        "base_accuracy": base_accuracy,
        "memory_accuracy": memory_accuracy,  # base model + answer memory, before any training
        "adapter_accuracy": adapter_accuracy,  # the candidate's alone (no memory), promoted or not
        "live_accuracy": live_accuracy,  # asked through Slack after the cycle: live adapter + memory
        "served_by": served,
        "secret_answer_in_slack": (shown[len(keys)]["answer"] or "")[:120],
        "placeholder_in_slack": any("<" in (a["answer"] or "") and "_" in (a["answer"] or "") for a in shown),
        "promoted": promoted,
        "guard": ((gate.get("regression") or {}).get("increase")),
        "heldout_questions": len(keys),
        "cycle_seconds": round(cycle_seconds, 1),
        "decision": decision,
        "adapter_metrics": adapter.get("metrics"),
        "adapter_bytes": adapter_bytes,
        "secret_in_answer": ws.secret in answers[len(keys)],
        "secret_in_memory_answer": ws.secret in memory_answers[len(keys)],
        "secret_answer": answers[len(keys)][:120],
        "secret_in_dataset": ws.secret in exported.read_text(),
        "secret_in_adapter": any(
            ws.secret.encode() in p.read_bytes() for p in adapter_dir.rglob("*") if p.is_file()
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


def family_table(results: list[dict[str, Any]]) -> str:
    """Per workspace, then the worst case and the mean (docs/learning.md)."""

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value:.0%}"

    def live(r: dict[str, Any]) -> float | None:
        if "served_by" in r:  # asked in Slack
            return r.get("live_accuracy")
        # Lines written before the Slack step: the bot serves the candidate if it was promoted.
        return r.get("adapter_accuracy") if _promoted(r) else r.get("base_accuracy")

    lines = [
        "| seed | facts | train / held-out examples | base | base + memory | candidate (alone) "
        "| live after the cycle | guard | kept epoch | decision | cycle s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        guard = "–" if r.get("guard") is None else f"{r['guard']:+.3f}"
        sizes = re.search(r"(\d+) training and (\d+) held-out", str(r.get("examples", "")))
        checkpoint = (r.get("adapter_metrics") or {}).get("checkpoint") or {}
        kept = f"{checkpoint['kept']} of {checkpoint['of']}" if checkpoint else "–"
        decision = r["decision"].removeprefix("decision: ").split(":")[0]
        mark = "" if "served_by" in r else "*"
        lines.append(
            f"| {r['seed']} | {r['facts']} | {'/'.join(sizes.groups()) if sizes else ''} | "
            f"{pct(r.get('base_accuracy'))} | {pct(r.get('memory_accuracy'))} | "
            f"{pct(r.get('adapter_accuracy'))} | {pct(live(r))}{mark} | "
            f"{guard} | {kept} | {decision} | {r['cycle_seconds']:.0f} |"
        )
    shown = [v for r in results if (v := live(r)) is not None]
    if shown:
        worst_candidate = pct(min(r["adapter_accuracy"] or 0 for r in results))
        with_memory = [r["memory_accuracy"] for r in results if r.get("memory_accuracy") is not None]
        worst_memory = pct(min(with_memory)) if with_memory else "–"
        promoted = sum(_promoted(r) for r in results)
        best_base = pct(max(r.get("base_accuracy") or 0 for r in results))
        lines.append(
            f"| **worst** | | | {best_base} | {worst_memory} | {worst_candidate} | "
            f"**{pct(min(shown))}** | | | {promoted}/{len(results)} promoted | "
            f"{max(r['cycle_seconds'] for r in results):.0f} |"
        )
        lines.append(f"| **mean** | | | | | | {pct(sum(shown) / len(shown))} | | | | |")
    return "\n".join(lines)


def memory_table(results: list[dict[str, Any]]) -> str:
    """--memory-only runs: held-out accuracy right after the import, without and with answer memory."""

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value:.0%}"

    lines = ["| seed | facts | base | base + memory |", "| --- | --- | --- | --- |"]
    for r in results:
        lines.append(
            f"| {r['seed']} | {r['facts']} | {pct(r['base_accuracy'])} | {pct(r['memory_accuracy'])} |"
        )
    shown = [r["memory_accuracy"] for r in results]
    lines.append(f"| **worst** | | | **{pct(min(shown))}** |")
    lines.append(f"| **mean** | | | {pct(sum(shown) / len(shown))} |")
    return "\n".join(lines)


def _promoted(r: dict[str, Any]) -> bool:
    return str(r.get("decision", "")).removeprefix("decision: ").startswith("promoted")


def _seeds(spec: str) -> list[int]:
    if spec == "tune":
        return list(TUNE_SEEDS)
    if spec == "check":
        return list(CHECK_SEEDS)
    return [int(s) for s in spec.split(",") if s]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--method", help="training.method for this run (default: the policy's)")
    parser.add_argument("--policy", type=Path, help="start from this policy file instead of the defaults")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="policy override")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--skip-base", action="store_true", help="do not ask the base model (saves time)")
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="stop after the import: the base model alone and with answer memory (no cycle)",
    )
    parser.add_argument("--out", type=Path, help="append the result as one JSON line to this file")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument(
        "--table",
        type=Path,
        help="print the table of a results file (--out lines) and exit: methods or family",
    )
    parser.add_argument(
        "--seeds",
        help="workspaces of the family: tune, check, or seeds such as 1,2,3 (default: the original)",
    )
    parser.add_argument("--facts", type=int, help="facts per family workspace (default: by seed, 10-200)")
    parser.add_argument("--max-facts", type=int, help="skip family workspaces with more facts (CPU runs)")
    args = parser.parse_args()
    if args.table:
        rows = [json.loads(line) for line in args.table.read_text().splitlines() if line.strip()]
        print(family_table(rows) if rows and "seed" in rows[0] else table(args.table))
        return
    if args.seeds:
        results = []
        for seed in _seeds(args.seeds):
            ws = workspace(seed, args.facts)
            if args.max_facts and len(ws.facts) > args.max_facts:
                print(
                    f"seed {seed}: {len(ws.facts)} facts, over --max-facts {args.max_facts}: skipped",
                    flush=True,
                )
                continue
            print(f"\n=== seed {seed}: {ws.company}, {len(ws.facts)} facts", flush=True)
            with tempfile.TemporaryDirectory(prefix=f"tunebot-learning-{seed}-") as work:
                result = run(Path(work), args, ws)
            results.append(result)
            print(json.dumps({k: v for k, v in result.items() if k != "adapter_metrics"}), flush=True)
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                with args.out.open("a") as handle:
                    handle.write(json.dumps(result) + "\n")
        print("\n" + (memory_table(results) if args.memory_only else family_table(results)))
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
