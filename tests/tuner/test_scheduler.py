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


def _scheduled_runs(runtime) -> list:  # type: ignore[no-untyped-def]
    with runtime.db.session() as session:
        return list(session.scalars(select(TrainingRun).where(TrainingRun.trigger == "schedule")))


def test_schedule_survives_a_restart_and_a_missed_cycle_runs_once(runtime) -> None:  # type: ignore[no-untyped-def]
    """The job lives in the database: a restart keeps its next run time; a cycle that fell due
    while no process was up runs once when the next one starts; a changed schedule replaces it."""
    from datetime import timedelta

    hourly = runtime.policies.training.model_copy(
        update={"schedule": ScheduleSpec(interval_minutes=60, cron=None)}
    )
    first = TuneScheduler(runtime.cycle, hourly)
    first.start()
    planned = first.next_run_time()
    first.shutdown()
    second = TuneScheduler(runtime.cycle, hourly)
    second.start()
    try:
        assert second.next_run_time() == planned  # not recomputed from the restart time
    finally:
        second.shutdown()
    # The bot is down when the cycle falls due: the stored run time is now in the past.
    _move_stored_run(runtime, datetime.now(UTC) - timedelta(minutes=5))
    assert _scheduled_runs(runtime) == []

    third = TuneScheduler(runtime.cycle, hourly)
    third.start()
    try:
        wait_for(lambda: third.last_result is not None, timeout=60, message="the missed cycle")
        assert third.last_result.outcome == "skipped"  # no examples yet; what matters is that it ran
        assert len(_scheduled_runs(runtime)) == 1
        # The interval goes on from the missed time: the next run is within the hour, not now.
        assert (
            datetime.now(UTC) + timedelta(minutes=50)
            < third.next_run_time()
            <= datetime.now(UTC) + timedelta(hours=1)
        )
    finally:
        third.shutdown()

    nightly = hourly.model_copy(update={"schedule": ScheduleSpec(cron="15 2 * * *")})
    fourth = TuneScheduler(runtime.cycle, nightly)
    fourth.start()
    try:
        assert (fourth.next_run_time().hour, fourth.next_run_time().minute) == (2, 15)
    finally:
        fourth.shutdown()
    off = TuneScheduler(runtime.cycle, hourly.model_copy(update={"enabled": False}))
    off.start()
    try:
        assert off.next_run_time() is None
    finally:
        off.shutdown()


def _move_stored_run(runtime, when: datetime) -> None:  # type: ignore[no-untyped-def]
    """Edit the stored job as APScheduler itself would, with no scheduler running."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    store = SQLAlchemyJobStore(engine=runtime.db.engine, tablename="apscheduler_jobs")
    store.start(BackgroundScheduler(timezone=UTC), "stored")
    job = store.lookup_job("tune-cycle")
    job._modify(next_run_time=when)
    store.update_job(job)
