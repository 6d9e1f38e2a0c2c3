"""Tuning commands shared by `/tune` and the CLI: status, rollback and running a cycle."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from policies import Policies
from policies.access import AccessDecision, may_run
from storage import Database
from storage.registry import RegistryError, rollback
from tuner.cycle import CycleResult, TuneCycle
from tuner.scheduler import TuneScheduler
from tuner.status import tune_status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RollbackResult:
    ok: bool
    message: str


def roll_back(db: Database, actor: str, to_version: str | None = None) -> RollbackResult:
    """The registry half of a rollback (one transaction + audit event), for Slack and the CLI."""
    try:
        with db.session() as session:
            previous, now_live = rollback(session, actor=actor, to_version=to_version)
            taken_down = previous.label if previous else "base model"
            serving = now_live.label if now_live else "the base model"
    except RegistryError as exc:
        return RollbackResult(False, str(exc))
    log.info("rollback by %s: %s -> %s", actor, taken_down, serving)
    return RollbackResult(True, f"Rolled back {taken_down}; now serving {serving}.")


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

    def may(self, user_id: str, command: str) -> AccessDecision:
        return may_run(self.policies.access, user_id, command)

    def status(self) -> dict[str, Any]:
        next_run = self.scheduler.next_run_time() if self.scheduler else None
        return tune_status(self.db, self.policies, next_run)

    def rollback(self, actor: str, to_version: str | None = None) -> RollbackResult:
        result = roll_back(self.db, actor, to_version)
        if result.ok:
            self.sync_live_model()
        return result

    def run_now(self, trigger: str, notify: Callable[[CycleResult], None]) -> None:
        """Start a cycle in the background (the scheduler's worker, or a thread without one)."""
        if self.scheduler is not None:
            self.scheduler.run_soon(trigger, notify=notify)
            return
        import threading

        def work() -> None:
            notify(self.cycle.run(trigger, force=True))

        threading.Thread(target=work, name="tune-cycle", daemon=True).start()
