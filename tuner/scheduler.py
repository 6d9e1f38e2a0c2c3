"""The schedule: APScheduler runs the tune cycle on the training policy's trigger, one at a time.

The scheduled jobs (the cycle and the daily retention) live in the database (APScheduler's
SQLAlchemy job store, table `apscheduler_jobs`), so a cycle that fell due while the bot was down
runs once when it starts again (within an hour), and a restart does not move the next run. Jobs
name module-level functions and this scheduler's key, never live objects, so they can be stored.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
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
MISFIRE_GRACE_SECONDS = 3600  # a cycle missed by less than this runs late rather than never

# key -> the running scheduler for a database; stored jobs name the key (pickled with the job).
_ACTIVE: weakref.WeakValueDictionary[str, TuneScheduler] = weakref.WeakValueDictionary()


def scheduled_cycle(key: str) -> None:
    """The stored tune-cycle job's function."""
    scheduler = _ACTIVE.get(key)
    if scheduler is None:
        log.warning("no scheduler for %s in this process; skipping the scheduled cycle", key)
        return
    scheduler._run("schedule", False, None)


def scheduled_retention(key: str) -> None:
    """The stored retention job's function."""
    scheduler = _ACTIVE.get(key)
    if scheduler is not None:
        apply_retention(scheduler.cycle.db, scheduler.cycle.policies.privacy)


class TuneScheduler:
    """Scheduled cycles plus on-demand ones, all on the scheduler's single worker."""

    def __init__(self, cycle: TuneCycle, policy: TrainingPolicy):
        self.cycle = cycle
        self.policy = policy
        self.key = cycle.db.engine.url.render_as_string(hide_password=True)
        # One worker thread: a cycle asked for while another runs waits, the lock guards replicas.
        # A separate worker for watchers, so a long cycle never delays them.
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            jobstores={
                "default": MemoryJobStore(),  # watchers and on-demand cycles: this process only
                "stored": SQLAlchemyJobStore(engine=cycle.db.engine, tablename="apscheduler_jobs"),
            },
            executors={
                "default": {"type": "threadpool", "max_workers": 1},
                "watch": {"type": "threadpool", "max_workers": 1},
            },
        )
        self.last_result: CycleResult | None = None

    def start(self) -> None:
        _ACTIVE[self.key] = self
        self._scheduler.start(paused=True)  # loads the stored jobs; nothing runs before we are set
        if self.policy.enabled:
            self._keep_or_replace(JOB_ID, scheduled_cycle, schedule_trigger(self.policy.schedule))
        elif self._scheduler.get_job(JOB_ID, "stored") is not None:
            self._scheduler.remove_job(JOB_ID, "stored")
        # Retention runs daily even when training is off or cycles keep being skipped.
        self._keep_or_replace(
            RETENTION_JOB_ID, scheduled_retention, CronTrigger(hour=4, minute=30, timezone=UTC)
        )
        self._scheduler.resume()
        log.info("scheduler started; next cycle at %s", self.next_run_time())

    def _keep_or_replace(self, job_id: str, func: Callable[[str], None], trigger: object) -> None:
        """Keep a stored job whose trigger is still the policy's (and its next run time, which may
        be past: it then runs now); otherwise schedule it afresh."""
        stored = self._scheduler.get_job(job_id, "stored")
        if stored is not None and str(stored.trigger) == str(trigger):
            self._scheduler.modify_job(job_id, "stored", args=(self.key,))
            return
        self._scheduler.add_job(
            func,
            trigger,
            args=(self.key,),
            id=job_id,
            jobstore="stored",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
            replace_existing=True,
        )

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
        if _ACTIVE.get(self.key) is self:
            del _ACTIVE[self.key]

    def next_run_time(self) -> datetime | None:
        job = self._scheduler.get_job(JOB_ID, "stored")
        return job.next_run_time if job else None

    def run_soon(self, trigger: str, *, force: bool = True, notify=None) -> None:  # type: ignore[no-untyped-def]
        """Queue a cycle now (e.g. from `/tune run`); `notify(result)` is called when it ends."""
        self._scheduler.add_job(
            self._run, args=(trigger, force, notify), max_instances=1, misfire_grace_time=None
        )

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
