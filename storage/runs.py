"""Training runs and the cycle lock that keeps cycles one at a time across processes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import CycleLock, TrainingRun, utcnow

CYCLE_LOCK = "tune-cycle"


def acquire_lock(session: Session, holder: str, ttl: timedelta, name: str = CYCLE_LOCK) -> bool:
    """Take the named lock if it is free or its holder stopped renewing it. Commits."""
    if session.get(CycleLock, name) is None:
        try:
            with session.begin_nested():
                session.add(CycleLock(name=name, holder=None, expires_at=None))
        except IntegrityError:
            pass  # another process inserted it first; the update below decides
    now = utcnow()
    result = session.execute(
        update(CycleLock)
        .where(
            CycleLock.name == name,
            (CycleLock.holder.is_(None)) | (CycleLock.expires_at < now) | (CycleLock.holder == holder),
        )
        .values(holder=holder, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def renew_lock(session: Session, holder: str, ttl: timedelta, name: str = CYCLE_LOCK) -> bool:
    result = session.execute(
        update(CycleLock)
        .where(CycleLock.name == name, CycleLock.holder == holder)
        .values(expires_at=utcnow() + ttl)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release_lock(session: Session, holder: str, name: str = CYCLE_LOCK) -> None:
    session.execute(
        update(CycleLock)
        .where(CycleLock.name == name, CycleLock.holder == holder)
        .values(holder=None, expires_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def lock_holder(session: Session, name: str = CYCLE_LOCK) -> str | None:
    lock = session.get(CycleLock, name)
    if lock is None or lock.holder is None or (lock.expires_at and lock.expires_at < utcnow()):
        return None
    return lock.holder


def start_run(session: Session, trigger: str) -> TrainingRun:
    run = TrainingRun(state="running", trigger=trigger, started_at=utcnow())
    session.add(run)
    session.flush()
    return run


def finish_run(
    session: Session,
    run: TrainingRun,
    *,
    state: str,
    outcome: str | None = None,
    error: str | None = None,
    timings: dict[str, Any] | None = None,
) -> None:
    run.state = state
    run.outcome = outcome
    run.error = error
    run.finished_at = utcnow()
    if timings:
        run.timings = {**(run.timings or {}), **timings}


def fail_running_runs(session: Session) -> int:
    """Mark every run still 'running' failed: call only when no live process can own one."""
    abandoned = session.scalars(select(TrainingRun).where(TrainingRun.state == "running")).all()
    for run in abandoned:
        finish_run(session, run, state="failed", error="the process running this cycle stopped")
    return len(abandoned)


def fail_abandoned_runs(session: Session) -> int:
    """Runs still 'running' while nobody holds the cycle lock died with their process."""
    if lock_holder(session) is not None:
        return 0
    return fail_running_runs(session)


def get_run(session: Session, run_id: int) -> TrainingRun:
    run = session.get(TrainingRun, run_id)
    if run is None:
        raise LookupError(f"no training run {run_id}")
    return run


def last_run(session: Session, *, trained: bool = False) -> TrainingRun | None:
    """The newest run; with `trained`, the newest that got as far as training an adapter."""
    query = select(TrainingRun)
    if trained:
        query = query.where(TrainingRun.dataset_fingerprint.is_not(None))
    return session.scalar(query.order_by(TrainingRun.id.desc()).limit(1))


def examples_since(examples: list[Any], since: datetime | None) -> int:
    """How many examples gained feedback after `since` (all of them when never trained)."""
    if since is None:
        return len(examples)
    return sum(1 for example in examples if example.updated_at > since)
