"""Erasure deletes a user's exchanges and feedback and marks adapters trained on them."""

from __future__ import annotations

import pytest

from storage.audit import recent_events
from storage.erasure import forget_user
from storage.exchanges import add_feedback, feedback_counts, record_exchange
from storage.registry import RegistryError, live_adapter, promote_candidate, register_candidate, rollback


def _exchange(session, n: int, asked_by: str, participants: list[str]):  # type: ignore[no-untyped-def]
    return record_exchange(
        session,
        channel_id="C1",
        thread_ts=f"{n}.1",
        question_ts=f"{n}.1",
        reply_ts=f"{n}.2",
        prompt=[{"role": "user", "content": "q"}],
        reply="a",
        adapter_version="base",
        asked_by=asked_by,
        participants=participants,
    )


def _adapter(session, n: int, contributors: list[str]):  # type: ignore[no-untyped-def]
    adapter = register_candidate(
        session,
        path=f"/a/{n}",
        method="qlora",
        metrics={},
        baseline={},
        dataset_fingerprint="f",
        train_examples=1,
        heldout_examples=1,
        training_run_id=None,
        contributors=contributors,
    )
    promote_candidate(session, adapter, actor="tuner", reason="test")
    return adapter


def test_forget_removes_exchanges_feedback_and_marks_adapters(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        asked = _exchange(session, 1, "UALICE", [])
        in_thread = _exchange(session, 2, "UBOB", ["UALICE"])  # Alice wrote an earlier turn
        other = _exchange(session, 3, "UBOB", [])
        add_feedback(session, other, kind="correct", user_id="UALICE", corrected_reply="x")
        add_feedback(session, other, kind="approve", user_id="UCAROL", reaction="+1")
        add_feedback(session, asked, kind="approve", user_id="UCAROL", reaction="+1")
        del in_thread
        _adapter(session, 1, ["UBOB"])
        _adapter(session, 2, ["UALICE", "UBOB"])  # live
    with db.session() as session:
        report = forget_user(session, "UALICE", actor="UADMIN")
    assert (report.exchanges, report.feedback, report.adapters, report.live_erased) == (2, 1, ["v2"], True)
    with db.session() as session:
        counts = feedback_counts(session)
        assert (counts["exchanges"], counts["correct"], counts["approve"]) == (1, 0, 1)
        taken, now = rollback(session, actor="erasure")
        assert (taken.label, now.label) == ("v2", "v1")
        with pytest.raises(RegistryError, match="erased data"):
            rollback(session, actor="UADMIN", to_version="v2")
        assert live_adapter(session).label == "v1"
        event = next(e for e in recent_events(session) if e.action == "forget")
        assert (event.subject, event.actor, event.details["adapters"]) == ("UALICE", "UADMIN", ["v2"])
