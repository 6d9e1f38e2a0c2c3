"""The schedule: APScheduler runs the tune cycle on the training policy's trigger, one at a time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from policies.schema import TrainingPolicy
from tuner.cycle import CycleResult, TuneCycle
from tuner.retention import apply_retention
from tuner.status import schedule_trigger

log = logging.getLogger(__name__)

JOB_ID = "tune-cycle"
RETENTION_JOB_ID = "retention"


class TuneScheduler:
    """Scheduled cycles plus on-demand ones, all on the scheduler's single worker."""

    def __init__(self, cycle: TuneCycle, policy: TrainingPolicy):
        self.cycle = cycle
        self.policy = policy
        # One worker thread: a cycle asked for while another runs waits, the lock guards replicas.
        # A separate worker for watchers, so a long cycle never delays them.
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={
                "default": {"type": "threadpool", "max_workers": 1},
                "watch": {"type": "threadpool", "max_workers": 1},
            },
        )
        self.last_result: CycleResult | None = None

    def start(self) -> None:
        if self.policy.enabled:
            self._scheduler.add_job(
                self._tick,
                schedule_trigger(self.policy.schedule),
                id=JOB_ID,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
                replace_existing=True,
            )
        # Retention runs daily even when training is off or cycles keep being skipped.
        self._scheduler.add_job(
            apply_retention,
            CronTrigger(hour=4, minute=30, timezone=UTC),
            args=(self.cycle.db, self.cycle.policies.privacy),
            id=RETENTION_JOB_ID,
            coalesce=True,
            replace_existing=True,
        )
        self._scheduler.start()
        log.info("scheduler started; next cycle at %s", self.next_run_time())

    def watch(self, job: Callable[[], object], seconds: float, job_id: str) -> None:
        """Run `job` every `seconds` (e.g. following registry changes made by other processes)."""
        self._scheduler.add_job(
            job,
            IntervalTrigger(seconds=seconds, timezone=UTC),
            id=job_id,
            executor="watch",
            max_instances=1,
            coalesce=True,
            replace_existing=True,
        )

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def next_run_time(self) -> datetime | None:
        job = self._scheduler.get_job(JOB_ID)
        return job.next_run_time if job else None

    def run_soon(self, trigger: str, *, force: bool = True, notify=None) -> None:  # type: ignore[no-untyped-def]
        """Queue a cycle now (e.g. from `/tune run`); `notify(result)` is called when it ends."""
        self._scheduler.add_job(
            self._run, args=(trigger, force, notify), max_instances=1, misfire_grace_time=None
        )

    def _tick(self) -> None:
        self._run("schedule", False, None)

    def _run(self, trigger: str, force: bool, notify) -> None:  # type: ignore[no-untyped-def]
        try:
            result = self.cycle.run(trigger, force=force)
        except Exception:
            log.exception("tune cycle crashed; the live adapter keeps serving")
            return
        self.last_result = result
        log.info("tune cycle (%s): %s %s", trigger, result.outcome, result.message)
        if notify is not None:
            notify(result)
