"""APScheduler drives cycles: the policy's trigger, and queued cycles never overlapping."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from policies.schema import ScheduleSpec, TrainingPolicy
from storage.models import TrainingRun
from tests.conftest import wait_for
from tests.factories import seed_corrections
from tuner.scheduler import RETENTION_JOB_ID, TuneScheduler
from tuner.status import next_scheduled_run, schedule_trigger


def test_triggers_follow_the_policy() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    cron = schedule_trigger(ScheduleSpec(cron="30 4 * * *"))
    assert cron.get_next_fire_time(None, now) == datetime(2026, 1, 2, 4, 30, tzinfo=UTC)
    every = schedule_trigger(ScheduleSpec(interval_minutes=15, cron=None))
    assert every.get_next_fire_time(None, now) is not None


def test_disabled_training_has_no_next_run(policies) -> None:  # type: ignore[no-untyped-def]
    off = policies.model_copy(update={"training": TrainingPolicy(enabled=False)})
    assert next_scheduled_run(off) is None


def test_queued_cycles_run_one_after_the_other(runtime) -> None:  # type: ignore[no-untyped-def]
    seed_corrections(runtime.db, 12)
    scheduler = TuneScheduler(runtime.cycle, runtime.policies.training)
    scheduler.start()
    try:
        assert scheduler.next_run_time() is not None  # the policy's cron job is scheduled
        assert scheduler._scheduler.get_job(RETENTION_JOB_ID) is not None
        results: list = []
        scheduler.run_soon("first", notify=results.append)
        scheduler.run_soon("second", notify=results.append)
        wait_for(lambda: len(results) == 2, timeout=240, message="both cycles")
    finally:
        scheduler.shutdown()
    # Same data, same seed: the second candidate is v1 again, which cannot beat v1 by the margin.
    assert [r.outcome for r in results] == ["promoted", "rejected"]
    with runtime.db.session() as session:
        first, second = session.scalars(select(TrainingRun).order_by(TrainingRun.id)).all()
    assert (first.trigger, second.trigger) == ("first", "second")
    assert first.finished_at <= second.started_at
