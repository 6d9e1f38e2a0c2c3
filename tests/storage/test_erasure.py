"""Erasure deletes a user's exchanges and feedback and marks adapters trained on them."""

from __future__ import annotations

import pytest

from storage.audit import recent_events
from storage.erasure import forget_user
from storage.exchanges import add_feedback, feedback_counts
from storage.registry import RegistryError, live_adapter, promote_candidate, register_candidate, rollback
from tests.factories import make_exchange


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
        asked = make_exchange(session, 1, asked_by="UALICE", participants=[])
        # Alice wrote an earlier turn of a thread Bob asked in:
        make_exchange(session, 2, asked_by="UBOB", participants=["UALICE"])
        other = make_exchange(session, 3, asked_by="UBOB", participants=[])
        add_feedback(session, other, kind="correct", user_id="UALICE", corrected_reply="x")
        add_feedback(session, other, kind="approve", user_id="UCAROL", reaction="+1")
        add_feedback(session, asked, kind="approve", user_id="UCAROL", reaction="+1")
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
