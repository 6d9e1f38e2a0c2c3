"""Promotion, rollback and the cycle lock, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.audit import recent_events
from storage.registry import (
    RegistryError,
    approve_candidate,
    hold_candidate,
    live_adapter,
    promote_candidate,
    register_candidate,
    rollback,
)
from storage.runs import acquire_lock, fail_abandoned_runs, release_lock, start_run


def _candidate(session, n: int):  # type: ignore[no-untyped-def]
    return register_candidate(
        session,
        path=f"/adapters/run-{n}",
        method="qlora",
        metrics={"heldout_nll": 1.0 / n},
        baseline={},
        dataset_fingerprint=f"fp{n}",
        train_examples=8,
        heldout_examples=2,
        training_run_id=None,
    )


def test_promote_then_rollback_chain(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        for n in (1, 2, 3):
            promote_candidate(session, _candidate(session, n), actor="tuner", reason="better")
    with db.session() as session:
        assert live_adapter(session).label == "v3"
        taken, now = rollback(session, actor="U1")
        assert (taken.label, now.label) == ("v3", "v2")
    with db.session() as session:
        taken, now = rollback(session, actor="U1")
        assert (taken.label, now.label) == ("v2", "v1")
        taken, now = rollback(session, actor="U1")
        assert (taken.label, now) == ("v1", None)  # the base model serves
        with pytest.raises(RegistryError, match="base model is serving"):
            rollback(session, actor="U1")
        actions = [e.action for e in recent_events(session)]
        assert actions[:3] == ["rollback"] * 3 and actions.count("promote") == 3


def test_a_held_candidate_goes_live_only_when_approved(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        promote_candidate(session, _candidate(session, 1), actor="tuner", reason="better")
        hold_candidate(session, _candidate(session, 2), reason="heldout_nll 0.5 vs live 1.0")
        assert live_adapter(session).label == "v1"
        with pytest.raises(RegistryError, match="v1 is live; only a candidate waiting for approval"):
            approve_candidate(session, "v1", actor="U0ADMIN")
        with pytest.raises(RegistryError, match="never live"):
            rollback(session, actor="U1", to_version="v2")
    with db.session() as session:
        approved = approve_candidate(session, "v2", actor="U0ADMIN")
        assert approved.status == "live" and approved.decision.startswith("approved by U0ADMIN")
        assert live_adapter(session).label == "v2"
        events = [(e.action, e.subject, e.actor) for e in recent_events(session)][:3]
        assert events == [("promote", "v2", "U0ADMIN"), ("approve", "v2", "U0ADMIN"), ("hold", "v2", "tuner")]
        with pytest.raises(RegistryError, match="v2 is live"):
            approve_candidate(session, "v2", actor="U0ADMIN")


def test_a_newer_candidate_supersedes_a_pending_one(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        hold_candidate(session, _candidate(session, 1), reason="won")
        assert hold_candidate(session, _candidate(session, 2), reason="won too") == ["v1"]
        promote_candidate(session, _candidate(session, 3), actor="tuner", reason="better")
    with db.session() as session:
        with pytest.raises(RegistryError, match="v1 is rejected"):
            approve_candidate(session, "v1", actor="U0ADMIN")
        with pytest.raises(RegistryError, match="v2 is rejected"):  # superseded by v3's promotion
            approve_candidate(session, "v2", actor="U0ADMIN")


def test_approval_is_refused_when_another_adapter_went_live_since(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        for n in (1, 2):
            promote_candidate(session, _candidate(session, n), actor="tuner", reason="better")
        hold_candidate(session, _candidate(session, 3), reason="won against v2")
    with db.session() as session:
        rollback(session, actor="U1")  # v1 serves again: v3 was never compared with it
    with db.session() as session, pytest.raises(RegistryError, match="v1 went live after v3 was scored"):
        approve_candidate(session, "v3", actor="U0ADMIN")


def test_rollback_to_a_named_version(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        for n in (1, 2, 3):
            promote_candidate(session, _candidate(session, n), actor="tuner", reason="better")
        _candidate(session, 4)  # never promoted
        taken, now = rollback(session, actor="U1", to_version="v1")
        assert (taken.label, now.label) == ("v3", "v1")
        with pytest.raises(RegistryError, match="never live"):
            rollback(session, actor="U1", to_version="4")
        with pytest.raises(RegistryError, match="no adapter v9"):
            rollback(session, actor="U1", to_version="v9")
        with pytest.raises(RegistryError, match="look like v3"):
            rollback(session, actor="U1", to_version="latest")


def test_cycle_lock_is_exclusive_and_expires(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        assert acquire_lock(session, "a", timedelta(minutes=1))
        assert not acquire_lock(session, "b", timedelta(minutes=1))
        start_run(session, "test")
        session.commit()
        assert fail_abandoned_runs(session) == 0  # "a" holds the lock: its run is alive
        release_lock(session, "a")
        assert fail_abandoned_runs(session) == 1
        assert acquire_lock(session, "b", timedelta(seconds=-1))  # taken, but already expired
        assert acquire_lock(session, "c", timedelta(minutes=1))


def test_postgresql_cycle_lock_is_an_advisory_lock_freed_with_its_connection(db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """One holder at a time across processes; a holder SIGKILLed on any machine frees it at once
    (the server ends its session), so the next cycle runs without waiting for the lock row."""
    import subprocess
    import sys

    from policies import Policies
    from storage import Database
    from tests.conftest import wait_for
    from tuner.cycle import TuneCycle

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has the lock row only")
    other = Database(db.url)
    try:
        with db.exclusive("tune-cycle") as mine:
            assert mine
            with other.exclusive("tune-cycle") as theirs:
                assert not theirs
            cycle = TuneCycle(other, Policies(), data_dir=tmp_path, base_model="unused")
            busy = cycle.run("test")
            assert (busy.outcome, busy.run_id) == ("busy", None)  # stopped before the lock row
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, time; from storage import Database; "
                f"lock = Database({db.url!r}).exclusive('tune-cycle'); "
                "assert lock.__enter__(); print('held', flush=True); time.sleep(120)",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            with other.exclusive("tune-cycle") as theirs:
                assert not theirs
        finally:
            holder.kill()
            holder.wait()

        def free() -> bool:
            with other.exclusive("tune-cycle") as taken:
                return taken

        wait_for(free, timeout=10, message="the advisory lock freed by the killed holder's session")
    finally:
        other.dispose()
