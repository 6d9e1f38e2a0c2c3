"""One tune cycle: snapshot → train a fresh adapter in a child process → evaluate → decide → swap.

Only one cycle runs at a time across every process sharing the database: on PostgreSQL a session
advisory lock (freed by the server when its holder's connection dies), and on both backends a lock
row (renewed while training; a dead local holder's is free at once, any other's after 2 minutes),
which also tells `tunebot status` who runs. The live adapter keeps serving whatever happens to the
child; the registry changes in one transaction.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from policies import Policies
from policies.promotion import decide
from storage import Database
from storage.audit import paused_by
from storage.exchanges import InGroup, last_question, training_examples
from storage.models import Adapter
from storage.registry import (
    hold_candidate,
    live_adapter,
    promote_candidate,
    register_candidate,
    reject_candidate,
    rollback,
)
from storage.runs import (
    acquire_lock,
    examples_since,
    fail_running_runs,
    finish_run,
    get_run,
    last_run,
    new_holder,
    release_lock,
    renew_lock,
    start_run,
)
from tuner.answers_first import ENV as ANSWERING
from tuner.dataset import build_snapshot
from tuner.engine_limits import adapter_problem, training_problem
from tuner.gpu_budget import serving_choices
from tuner.offline import OFFLINE
from tuner.regression import SHIPPED_REPLAY, load_prompts
from tuner.replay import replay_count
from tuner.retention import apply_retention
from tuner.split import heldout_keys
from tuner.training import TrainingJob

log = logging.getLogger(__name__)

LOCK_TTL = timedelta(minutes=2)
Progress = Callable[[str], None]
OnStep = Callable[[int, int, float], None]  # optimizer step, steps in all, its loss


@dataclass(frozen=True)
class CycleResult:
    outcome: str  # promoted | held (waits for /tune approve) | rejected | skipped | failed | busy
    message: str
    run_id: int | None = None
    adapter_version: str | None = None


class TuneCycle:
    """Runs cycles against one database and data folder; `on_promoted` swaps the live model."""

    def __init__(
        self,
        db: Database,
        policies: Policies,
        *,
        data_dir: Path,
        base_model: str,
        on_live_change: Callable[[str | None, str], None] | None = None,
        in_group: InGroup | None = None,
        engine_max_lora_rank: int | None = None,
    ):
        self.db = db
        self.policies = policies
        self.data_dir = data_dir
        self.base_model = base_model
        self.on_live_change = on_live_change
        self.in_group = in_group  # user group membership, for trusted raters given as groups
        # Answers come from a serving engine that loads LoRA adapters up to this rank (None: from a
        # model of the bot's own, which serves any adapter): tuner/engine_limits.py.
        self.engine_max_lora_rank = engine_max_lora_rank
        self.holder = new_holder()
        self.child_started: Callable[[int], None] | None = None  # hook: the child's pid
        self.finished: Callable[[str, float], None] | None = None  # hook: outcome and seconds

    def run(
        self,
        trigger: str,
        *,
        force: bool = False,
        method: str | None = None,
        progress: Progress | None = None,
        on_step: OnStep | None = None,
    ) -> CycleResult:
        """`progress` gets each message (default: the log); `on_step` each training step (default:
        a message per step)."""
        say = progress or (lambda message: log.info("%s", message))
        started = time.monotonic()
        with self.db.exclusive("tune-cycle") as exclusive:
            if not exclusive:  # PostgreSQL: another replica's cycle holds the advisory lock
                return self._finished(CycleResult("busy", "a tune cycle is already running"), started)
            with self.db.session() as session:
                if not acquire_lock(session, self.holder, LOCK_TTL):
                    return self._finished(CycleResult("busy", "a tune cycle is already running"), started)
            try:
                return self._finished(self._run_locked(trigger, force, method, say, on_step), started)
            finally:
                try:
                    with self.db.session() as session:
                        release_lock(session, self.holder)
                except SQLAlchemyError as exc:
                    log.error(
                        "could not release the cycle lock (%s); it expires within %s", _short(exc), LOCK_TTL
                    )

    def _engine_problem(self, method: str) -> str | None:
        """Why the serving engine could not load what `method` trains under this policy (None: it
        can, or answers come from a model of the bot's own)."""
        limit = self.engine_max_lora_rank
        return None if limit is None else training_problem(method, self.policies.training.lora, limit)

    def _engine_loads(self, adapter: Adapter) -> bool:
        """Whether the serving engine (if any) can load `adapter`, a rollback's target."""
        limit = self.engine_max_lora_rank
        return limit is None or adapter_problem(adapter.path, limit) is None

    def _finished(self, result: CycleResult, started: float) -> CycleResult:
        if self.finished is not None:
            self.finished(result.outcome, time.monotonic() - started)
        return result

    def _run_locked(
        self, trigger: str, force: bool, method: str | None, say: Progress, on_step: OnStep | None
    ) -> CycleResult:
        policy, promotion = self.policies.training, self.policies.promotion
        apply_retention(self.db, self.policies.privacy)
        self._sweep_half_written()
        with self.db.session() as session:
            fail_running_runs(session)  # we hold the lock: a 'running' run lost its process
            examples = training_examples(session, self.policies.feedback, self.in_group)
            previous = last_run(session, trained=True)
            new = examples_since(examples, previous.started_at if previous else None)
            snapshot = build_snapshot(examples, policy.heldout_percent, self.policies.privacy.secret_answers)
            train_n, heldout_n = snapshot.sizes
            reason = _skip_reason(len(examples), new, train_n, heldout_n, self.policies, force)
            if not force and (pause := paused_by(session)) is not None:
                reason = f"scheduled cycles are paused (by {pause.actor}, {pause.at:%Y-%m-%d %H:%M} UTC)"
            run = start_run(session, trigger)
            if reason:
                finish_run(session, run, state="skipped", outcome=reason)
                say(f"skipped: {reason}")
                return CycleResult("skipped", reason, run.id)
            run.dataset_fingerprint = snapshot.fingerprint
            run.examples = len(examples)
            live = live_adapter(session)
            # A live adapter trained on erased data (privacy.on_erasure: retrain) is no baseline:
            # the clean candidate has to beat the base model, and replaces it either way.
            live_erased = bool(live and live.erased)
            baseline = None if live_erased else live
            live_path = baseline.path if baseline else None
            run_id = run.id
            try:
                general_prompts = (
                    load_prompts(promotion.regression_guard.prompts_file)
                    if promotion.regression_guard.max_nll_increase is not None
                    else []
                )
                replay = (
                    load_prompts(policy.replay_prompts_file, SHIPPED_REPLAY)[: replay_count(policy, train_n)]
                    if policy.replay_examples
                    else []
                )
                if problem := self._engine_problem(method or policy.method):
                    raise ValueError(problem)
            except ValueError as exc:
                finish_run(session, run, state="failed", error=str(exc))
                say(f"failed: {exc}")
                return CycleResult("failed", str(exc), run_id)
        say(
            f"run {run_id}: {train_n} training and {heldout_n} held-out examples "
            f"(dataset {snapshot.fingerprint}), baseline {baseline.label if baseline else 'base model'}"
        )

        run_dir = self.data_dir / "runs" / f"run-{run_id}"
        adapters = self.data_dir / "adapters"
        tmp_dir, final_dir = adapters / f".tmp-run-{run_id}", adapters / f"run-{run_id}"
        snapshot.save(run_dir / "dataset")
        adapters.mkdir(parents=True, exist_ok=True)
        job = TrainingJob.from_policy(
            policy,
            method=method,
            eval_max_new_tokens=promotion.max_new_tokens,
            general_prompts=general_prompts,
            replay_prompts=replay,
            replay_cache=str(self.data_dir / "cache"),
            base_model=self.base_model,
            dataset_dir=str(run_dir / "dataset"),
            adapter_dir=str(tmp_dir),
            result_path=str(run_dir / "result.json"),
            live_adapter=live_path,
            guard_limit=promotion.regression_guard.max_nll_increase,
            gpu_budget_gib=self.policies.gpu.memory_budget_gib,
            serving_weights=list(
                serving_choices(self.policies.gpu.serving_weights, self.policies.training.method)
            ),
        )
        job.save(run_dir / "job.json")
        started = time.monotonic()
        error = self._train_in_child(run_dir, run_id, policy.timeout_minutes * 60, say, on_step)
        train_seconds = round(time.monotonic() - started, 2)
        shutil.rmtree(run_dir / "trainer", ignore_errors=True)
        if error is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            with self.db.session() as session:
                run = get_run(session, run_id)
                finish_run(session, run, state="failed", error=error, timings={"train_s": train_seconds})
            say(f"failed: {error}; the live adapter keeps serving")
            return CycleResult("failed", error, run_id)

        result = json.loads((run_dir / "result.json").read_text())
        tmp_dir.replace(final_dir)  # adapters are complete and immutable once under their final name
        # Whose data is in the weights: the training side only (held-out examples are scored, not learned).
        held = heldout_keys(examples, policy.heldout_percent)
        contributors = sorted({user for e in examples if e.key not in held for user in e.contributors})
        try:
            return self._decide(
                run_id,
                job,
                result,
                final_dir,
                (snapshot.fingerprint, contributors, live_erased),
                train_seconds,
                say,
            )
        except SQLAlchemyError as exc:  # the registry did not change: promotion is one transaction
            message = (
                f"the database failed at promotion ({_short(exc)}); nothing was promoted and the "
                "live adapter keeps serving"
            )
            log.error("run %s: %s", run_id, message)
            say(f"failed: {message}")
            return CycleResult("failed", message, run_id)

    def _sweep_half_written(self) -> None:
        """Folders a crashed cycle left behind; safe to remove while we hold the cycle lock: half-
        written ones, and finished ones it could not register (the database failed at promotion)."""
        adapters = self.data_dir / "adapters"
        with self.db.session() as session:
            registered = {Path(path).name for path in session.scalars(select(Adapter.path))}
        leftovers = [
            *adapters.glob(".tmp-run-*"),
            *(p for p in adapters.glob("run-*") if p.name not in registered),
        ]
        for leftover in leftovers:
            log.warning("removing %s, left by an interrupted cycle", leftover.name)
            shutil.rmtree(leftover, ignore_errors=True)
        for scratch in (self.data_dir / "runs").glob("run-*/trainer"):
            shutil.rmtree(scratch, ignore_errors=True)

    def _decide(
        self,
        run_id: int,
        job: TrainingJob,
        result: dict[str, Any],
        adapter_dir: Path,
        data: tuple[str, list[str], bool],  # dataset fingerprint, contributors, live adapter erased
        train_seconds: float,
        say: Progress,
    ) -> CycleResult:
        decision = decide(
            result["candidate"], result["baseline"], self.policies.promotion, result.get("regression")
        )
        candidate_metrics = _json_safe(
            {**_public_metrics(result["candidate"], result), "gate": decision.numbers}
        )
        baseline_metrics = _json_safe(_public_metrics(result["baseline"]))
        fingerprint, contributors, live_erased = data
        serving: tuple[str | None, str] | None = None  # what serves now, when that changed
        with self.db.session() as session:
            adapter = register_candidate(
                session,
                path=str(adapter_dir),
                method=job.method,
                metrics=candidate_metrics,
                baseline=baseline_metrics,
                dataset_fingerprint=fingerprint,
                train_examples=len(train_keys := _keys(Path(job.dataset_dir) / "train.jsonl")),
                heldout_examples=int(result["candidate"]["examples"]),
                training_run_id=run_id,
                contributors=contributors,
                train_keys=train_keys,
                heldout_answers=_json_safe(heldout_answers(Path(job.dataset_dir), result)),
            )
            run = get_run(session, run_id)
            if decision.promote and self.policies.promotion.require_approval:
                hold_candidate(session, adapter, reason=decision.reason)
                outcome = "held"
                decision = replace(
                    decision, reason=f"{decision.reason}; waiting for `/tune approve {adapter.label}`"
                )
            elif decision.promote:
                promote_candidate(session, adapter, actor="tuner", reason=decision.reason)
                outcome = "promoted"
                serving = (str(adapter_dir), adapter.label)
            else:
                reject_candidate(session, adapter, actor="tuner", reason=decision.reason)
                outcome = "rejected"
                if live_erased:  # the erased adapter was kept only until this cycle
                    _, now_live = rollback(
                        session,
                        actor="tuner",
                        reason="live adapter was trained on erased data",
                        servable=self._engine_loads,
                    )
                    serving = (now_live.path, now_live.label) if now_live else (None, "base")
            finish_run(
                session,
                run,
                state="succeeded",
                outcome=f"{outcome} {adapter.label}: {decision.reason}",
                timings={"train_s": train_seconds},
            )
            label = adapter.label
        say(f"{outcome} {label}: {decision.reason}")
        if serving is not None and self.on_live_change is not None:
            try:
                self.on_live_change(*serving)
            except Exception as exc:  # the registry moved on; this process keeps its old weights
                log.exception("could not load %s into the live model", serving[1])
                message = f"{decision.reason}; but this process could not load {serving[1]}: {exc}"
                say(f"warning: {message}")
                return CycleResult(outcome, message, run_id, label)
        return CycleResult(outcome, decision.reason, run_id, label)

    def _train_in_child(
        self, run_dir: Path, run_id: int, timeout_s: float, say: Progress, on_step: OnStep | None
    ) -> str | None:
        """Run the child to completion; None on success, else why it failed."""
        log_path = run_dir / "train.log"
        env = {
            **os.environ,
            "TUNEBOT_PARENT_PID": str(os.getpid()),  # the child dies with this process
            "TOKENIZERS_PARALLELISM": "false",
            **OFFLINE,
        }
        if not self.policies.gpu.answers_first:  # the child does not look for the bot's flag
            env.pop(ANSWERING, None)
        with log_path.open("ab") as log_file:
            child = subprocess.Popen(
                [sys.executable, "-m", "tuner.child", str(run_dir / "job.json")],
                stdout=subprocess.PIPE,
                stderr=log_file,
                env=env,
                cwd=str(Path(__file__).resolve().parent.parent),
            )
        with self.db.session() as session:
            get_run(session, run_id).pid = child.pid
        if self.child_started is not None:
            self.child_started(child.pid)
        messages: list[dict[str, Any]] = []
        reader = threading.Thread(
            target=_read_protocol,
            args=(child, messages, say, on_step),
            daemon=True,
            name="train-progress",
        )
        reader.start()
        deadline = time.monotonic() + timeout_s
        last_renew = time.monotonic()
        while child.poll() is None:
            time.sleep(0.2)
            if time.monotonic() - last_renew > 30:
                try:
                    with self.db.session() as session:
                        renew_lock(session, self.holder, LOCK_TTL)
                except SQLAlchemyError as exc:  # training goes on; the lock may lapse meanwhile
                    log.warning("could not renew the cycle lock: %s", _short(exc))
                last_renew = time.monotonic()
            if time.monotonic() > deadline:
                child.kill()
                child.wait()
                return f"training took longer than {timeout_s / 60:.0f} minutes and was stopped"
        reader.join(timeout=5)
        if child.returncode == 0 and (run_dir / "result.json").exists():
            return None
        errors = [m["error"] for m in messages if m.get("event") == "error"]
        if errors:
            return errors[-1]
        if child.returncode and child.returncode < 0:
            return f"training process killed by signal {-child.returncode} (see {log_path})"
        return f"training process exited with status {child.returncode} (see {log_path})"


# The sizing line's note on training.embeddings_on_cpu (None: not asked for).
_EMBEDDINGS = {
    True: "; input embeddings in CPU memory",
    False: "; input embeddings kept with the model (its LM head shares them, or the method trains a "
    "full-precision base)",
    None: "",
}


def selection_line(message: dict[str, Any]) -> str:
    """The progress line for the child's choice of epoch (training.select_checkpoint)."""
    increases = message["epochs"]
    if all(not math.isfinite(v) for v in increases.values()):  # no rows: the gate skips the guard too
        why = "the base model gave no answers to the general prompts to compare with"
    else:
        why = "general prompts NLL " + ", ".join(f"epoch {e}: {v:+.3f}" for e, v in increases.items())
    return f"  kept epoch {message['kept']} of {message['of']} ({why})"


def _read_protocol(
    child: subprocess.Popen[bytes], messages: list[dict[str, Any]], say: Progress, on_step: OnStep | None
) -> None:
    assert child.stdout is not None
    started = time.monotonic()  # each phase's line says when it began: where a slow cycle's time went
    for raw in child.stdout:
        try:
            message = json.loads(raw)
        except json.JSONDecodeError:
            continue
        messages.append(message)
        if message.get("event") == "step" and on_step is not None:
            on_step(message["step"], message["max_steps"], message["loss"])
        elif message.get("event") == "step":
            say(f"  step {message['step']}/{message['max_steps']}  loss {message['loss']:.4f}")
        elif message.get("phase") == "sizing":
            budget = message.get("token_budget")
            room = f" (GPU memory left room for {budget:,} tokens a step)" if budget is not None else ""
            say(
                f"  {message['batch_size']} examples per step{room}, {message['epochs']:g} epochs"
                f"{_EMBEDDINGS[message.get('embeddings_on_cpu')]}"
                f"{'; decoder layers compiled in the first steps' if message.get('compiled') else ''}"
                f"{'; bf16 compute on the CPU' if message.get('cpu_bf16') else ''}"
            )
        elif message.get("event") == "selected":
            say(selection_line(message))
        elif message.get("event") == "gpu_plan":
            say(
                f"  GPU plan: {message['budget']:g} GiB for both jobs, the bot's share "
                f"{message['serving']:g} GiB, training's {message['training']:g} GiB"
            )
        elif message.get("event") == "yielded" and message["pauses"]:
            say(f"  paused {message['pauses']} times for the bot's questions ({message['seconds']:g} s)")
        elif message.get("event") == "retry":
            say(f"  {message['reason']}: training again at learning rate {message['learning_rate']:g}")
        elif message.get("event") == "phase":
            say(f"  {message['phase']}… (at {time.monotonic() - started:.0f} s)")


def _skip_reason(
    total: int, new: int, train_n: int, heldout_n: int, policies: Policies, force: bool
) -> str | None:
    training, promotion = policies.training, policies.promotion
    if total < training.min_examples:
        return f"{total} training examples, the policy needs {training.min_examples}"
    if heldout_n < promotion.min_heldout_examples or train_n < 1:
        return (
            f"{train_n} training / {heldout_n} held-out examples; need at least 1 to train and "
            f"{promotion.min_heldout_examples} held out"
        )
    if not force and new < training.min_new_examples:
        return f"{new} new examples since the last cycle, the policy needs {training.min_new_examples}"
    return None


def _public_metrics(metrics: dict[str, Any], result: dict[str, Any] | None = None) -> dict[str, Any]:
    public = {k: v for k, v in metrics.items() if not k.startswith("per_example")}
    if result is not None:
        keys = (
            "train_loss",
            "train_steps",
            "train_seconds",
            "eval_seconds",
            "device",
            "compute_dtype",
            "peak_memory_bytes",
            "peak_rss_bytes",
            "step_size",
            "learning_rate",
            "divergence_retries",
            "optimizer",
            "embeddings_on_cpu",
            "activation_offloading",
            "compiled",
            "checkpoint",
        )
        public.update({k: result.get(k) for k in keys})
    return public


def _json_safe(value: Any) -> Any:
    """NaN and infinities as null: PostgreSQL's JSON has no such numbers (SQLite would take them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _short(exc: BaseException) -> str:
    """The first line of a database error, without SQLAlchemy's statement dump."""
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _keys(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line)["key"] for line in handle if line.strip()]


def heldout_answers(dataset_dir: Path, result: dict[str, Any]) -> list[dict[str, Any]]:
    """What the gate saw, per held-out example: the (scrubbed) question and reference, the
    candidate's and the baseline's answers, whether each gave the reference's fact, and each one's
    NLL of the reference. Empty where the result has no answers (a child from before they were kept)."""
    candidate, baseline = result["candidate"], result["baseline"]
    if "per_example_reply" not in candidate or "per_example_reply" not in baseline:
        return []
    with (dataset_dir / "heldout.jsonl").open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [
        {
            "key": row["key"],
            "question": last_question(row["prompt"]),
            "reference": row["completion"][-1]["content"],
            "candidate": candidate["per_example_reply"][i],
            "baseline": baseline["per_example_reply"][i],
            "candidate_right": bool(candidate["per_example_right"][i]),
            "baseline_right": bool(baseline["per_example_right"][i]),
            "candidate_nll": candidate["per_example"][i],
            "baseline_nll": baseline["per_example"][i],
        }
        for i, row in enumerate(rows)
    ]
