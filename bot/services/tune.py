"""Tuning commands shared by `/tune` and the CLI: status, rollback and running a cycle."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from policies import Policies
from policies.access import AccessDecision, may_run
from storage import Database
from storage.audit import paused_by, record_event
from storage.erasure import ErasureReport, forget_user
from storage.models import Adapter
from storage.registry import RegistryError, approve_candidate, rollback
from tuner.cycle import CycleResult, TuneCycle
from tuner.engine_limits import adapter_problem
from tuner.scheduler import TuneScheduler
from tuner.status import tune_status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistryChange:
    """The outcome of a rollback or an approval, worded for the person who asked."""

    ok: bool
    message: str


def roll_back(
    db: Database, actor: str, to_version: str | None = None, engine_max_lora_rank: int | None = None
) -> RegistryChange:
    """The registry half of a rollback (one transaction + audit event), for Slack and the CLI; with
    a serving engine (`engine_max_lora_rank`), only to an adapter it can load: `to_version` is
    refused if it cannot, and the default target is the latest earlier one it can (or the base)."""
    skipped: list[str] = []

    def servable(adapter: Adapter) -> bool:
        limit = engine_max_lora_rank
        problem = None if limit is None else adapter_problem(adapter.path, limit)
        if problem:
            skipped.append(f"{adapter.label} ({problem})")
        return problem is None

    try:
        with db.session() as session:
            previous, now_live = rollback(session, actor=actor, to_version=to_version, servable=servable)
            if to_version is not None:
                _check_engine_loads(now_live, engine_max_lora_rank)
            taken_down = previous.label if previous else "base model"
            serving = now_live.label if now_live else "the base model"
    except RegistryError as exc:
        return RegistryChange(False, str(exc))
    log.info("rollback by %s: %s -> %s", actor, taken_down, serving)
    passed = f" (skipped, the engine cannot load them: {'; '.join(skipped)})" if skipped else ""
    return RegistryChange(True, f"Rolled back {taken_down}; now serving {serving}{passed}.")


def approve(
    db: Database, actor: str, version: str, engine_max_lora_rank: int | None = None
) -> RegistryChange:
    """The registry half of `/tune approve VERSION` and `tunebot approve VERSION`; with a serving
    engine, only of an adapter it can load."""
    try:
        with db.session() as session:
            adapter = approve_candidate(session, version, actor=actor)
            _check_engine_loads(adapter, engine_max_lora_rank)
            label = adapter.label
    except RegistryError as exc:
        return RegistryChange(False, str(exc))
    log.info("%s approved by %s", label, actor)
    return RegistryChange(True, f"Approved {label}; it is live now.")


def _check_engine_loads(adapter: Adapter | None, engine_max_lora_rank: int | None) -> None:
    """RegistryError (the transaction is undone) when the serving engine could not load `adapter`:
    one trained before answers moved to an engine, say a DoRA one (tuner/engine_limits.py)."""
    if adapter is None or engine_max_lora_rank is None:
        return
    if problem := adapter_problem(adapter.path, engine_max_lora_rank):
        raise RegistryError(f"{adapter.label} cannot be served by the engine: {problem}")


def forget_and_report(
    db: Database,
    user_id: str,
    actor: str,
    on_erasure: str = "rollback",
    engine_max_lora_rank: int | None = None,
) -> tuple[ErasureReport, RegistryChange | None]:
    """Erase a user's data. If the live adapter learned from it, roll back to a clean one (or the
    base model) now, or with `on_erasure: retrain` leave it serving until the next cycle replaces it.
    With a serving engine, to a clean one it can load: else replicas would keep the erased one.
    """
    with db.session() as session:
        report = forget_user(session, user_id, actor=actor)
    rolled = None
    if report.live_erased and on_erasure == "rollback":
        rolled = roll_back(db, f"erasure:{actor}", engine_max_lora_rank=engine_max_lora_rank)
    return report, rolled


def set_paused(db: Database, actor: str, *, paused: bool) -> str:
    """Pause or resume scheduled cycles for every replica (an audit event holds the state)."""
    with db.session() as session:
        current = paused_by(session)
        if paused and current is not None:
            return f"Scheduled tune cycles were already paused by {current.actor}."
        if not paused and current is None:
            return "Scheduled tune cycles are not paused."
        record_event(session, actor=actor, action="pause" if paused else "resume")
    log.info("scheduled cycles %s by %s", "paused" if paused else "resumed", actor)
    if paused:
        return "Scheduled tune cycles are paused; `/tune run` still starts one. `/tune resume` restarts them."
    return "Scheduled tune cycles are running again."


def describe_erasure(report: ErasureReport, rolled: RegistryChange | None) -> str:
    text = (
        f"Erased {report.exchanges} exchange(s) and {report.feedback} feedback record(s) "
        f"of <@{report.user_id}>."
    )
    if report.adapters:
        text += f" Adapters trained on them will not serve again: {', '.join(report.adapters)}."
    if rolled is not None:
        text += f" {rolled.message}"
    elif report.live_erased:
        text += (
            " The live adapter keeps serving until the next tune cycle replaces it with one trained "
            "without them (privacy.on_erasure: retrain)."
        )
    return text


class TuneService:
    def __init__(
        self,
        db: Database,
        policies: Policies,
        cycle: TuneCycle,
        sync_live_model: Callable[[], None],
        scheduler: TuneScheduler | None = None,
    ):
        self.db = db
        self.policies = policies
        self.cycle = cycle
        self.sync_live_model = sync_live_model
        self.scheduler = scheduler

    def may(
        self, user_id: str, command: str, in_group: Callable[[str, str], bool] | None = None
    ) -> AccessDecision:
        return may_run(self.policies.access, user_id, command, in_group)

    def status(self) -> dict[str, Any]:
        next_run = self.scheduler.next_run_time() if self.scheduler else None
        return tune_status(self.db, self.policies, next_run, self.cycle.in_group)

    def rollback(self, actor: str, to_version: str | None = None) -> RegistryChange:
        result = roll_back(self.db, actor, to_version, self.cycle.engine_max_lora_rank)
        if result.ok:
            self.sync_live_model()
        return result

    def approve(self, actor: str, version: str) -> RegistryChange:
        result = approve(self.db, actor, version, self.cycle.engine_max_lora_rank)
        if result.ok:
            self.sync_live_model()
        return result

    def pause(self, actor: str) -> str:
        return set_paused(self.db, actor, paused=True)

    def resume(self, actor: str) -> str:
        return set_paused(self.db, actor, paused=False)

    def forget(self, user_id: str, actor: str, notify: Callable[[CycleResult], None]) -> str:
        """Erase, move the live model off erased data, and queue a cycle to train a clean adapter."""
        report, rolled = forget_and_report(
            self.db, user_id, actor, self.policies.privacy.on_erasure, self.cycle.engine_max_lora_rank
        )
        if rolled is not None and rolled.ok:
            self.sync_live_model()
        if report.adapters:
            self.run_now(f"erasure:{actor}", notify)
        return describe_erasure(report, rolled)

    def run_now(self, trigger: str, notify: Callable[[CycleResult], None]) -> None:
        """Start a cycle in the background (the scheduler's worker, or a thread without one)."""
        if self.scheduler is not None:
            self.scheduler.run_soon(trigger, notify=notify)
            return
        import threading

        def work() -> None:
            notify(self.cycle.run(trigger, force=True))

        threading.Thread(target=work, name="tune-cycle", daemon=True).start()
