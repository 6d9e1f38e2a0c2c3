"""Training runs and the cycle lock that keeps cycles one at a time across processes."""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import CycleLock, TrainingRun, utcnow

CYCLE_LOCK = "tune-cycle"


@cache
def _machine() -> str:
    """This machine and PID namespace: where a holder's pid can be checked (a container has its own)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "unknown"
    return hashlib.sha256(f"{socket.gethostname()}/{boot}/{namespace}".encode()).hexdigest()[:12]


def new_holder() -> str:
    """A lock holder id for this process: host:pid:machine:nonce."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{_machine()}:{uuid.uuid4().hex[:8]}"


def holder_is_gone(holder: str | None) -> bool:
    """Whether `holder` was a process on this machine that no longer exists (a crash or SIGKILL):
    its lock need not wait for the TTL. Holders elsewhere are judged by the TTL alone."""
    parts = (holder or "").split(":")
    if len(parts) != 4 or parts[2] != _machine() or parts[2] == "unknown" or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire_lock(session: Session, holder: str, ttl: timedelta, name: str = CYCLE_LOCK) -> bool:
    """Take the named lock if it is free, its holder stopped renewing it or died. Commits."""
    lock = session.get(CycleLock, name)
    if lock is None:
        try:
            with session.begin_nested():
                session.add(CycleLock(name=name, holder=None, expires_at=None))
        except IntegrityError:
            pass  # another process inserted it first; the update below decides
    dead = lock.holder if lock is not None and holder_is_gone(lock.holder) else None
    now = utcnow()
    free = (CycleLock.holder.is_(None)) | (CycleLock.expires_at < now) | (CycleLock.holder == holder)
    if dead is not None:
        free = free | (CycleLock.holder == dead)
    result = session.execute(
        update(CycleLock)
        .where(CycleLock.name == name, free)
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
    return None if holder_is_gone(lock.holder) else lock.holder


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
