"""Which exchanges become training examples, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from policies.schema import FeedbackPolicy
from storage.exchanges import add_feedback, endorse, find_correction, training_examples, withdraw_feedback
from tests.factories import make_exchange


def test_recording_the_same_reply_and_correction_twice_keeps_one(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        assert make_exchange(session).id == make_exchange(session).id
        exchange = make_exchange(session)
        first = add_feedback(session, exchange, kind="correct", user_id="U1", corrected_reply="fixed")
        again = add_feedback(session, exchange, kind="correct", user_id="U1", corrected_reply="fixed")
        other = add_feedback(session, exchange, kind="correct", user_id="U2", corrected_reply="fixed")
        assert first.id == again.id != other.id


def test_approval_needs_min_distinct_approvers_and_beats_rejections(db) -> None:  # type: ignore[no-untyped-def]
    policy = FeedbackPolicy(min_approvals=2)
    with db.session() as session:
        exchange = make_exchange(session)
        add_feedback(session, exchange, kind="approve", user_id="U1", reaction="+1")
        add_feedback(session, exchange, kind="approve", user_id="U1", reaction="+1")  # duplicate
        assert training_examples(session, policy) == []
        add_feedback(session, exchange, kind="approve", user_id="U2", reaction="+1")
        assert [e.source for e in training_examples(session, policy)] == ["approved"]
        add_feedback(session, exchange, kind="reject", user_id="U3", reaction="-1")
        add_feedback(session, exchange, kind="reject", user_id="U4", reaction="-1")
        assert training_examples(session, policy) == []


def test_newest_correction_wins_and_withdrawal_counts(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        exchange = make_exchange(session)
        add_feedback(session, exchange, kind="correct", user_id="U1", corrected_reply="first")
        add_feedback(session, exchange, kind="correct", user_id="U2", corrected_reply="second")
        assert training_examples(session, FeedbackPolicy())[0].target == "second"
        other = make_exchange(session, 2)
        add_feedback(session, other, kind="approve", user_id="U1", reaction="+1")
        assert withdraw_feedback(session, other, kind="approve", user_id="U1", reaction="+1")
        assert len(training_examples(session, FeedbackPolicy())) == 1


def test_a_correction_needs_backers_when_the_policy_asks(db) -> None:  # type: ignore[no-untyped-def]
    """With min_approvals 2, one person's correction trains only once someone approves it (a :+1:
    on its thread reply) or sends the same correction; the author's own :+1: does not count."""
    policy = FeedbackPolicy(min_approvals=2)
    with db.session() as session:
        exchange = make_exchange(session)
        add_feedback(session, exchange, kind="approve", user_id="U9", reaction="+1")
        add_feedback(session, exchange, kind="approve", user_id="U8", reaction="+1")
        fix = add_feedback(
            session, exchange, kind="correct", user_id="U1", corrected_reply="fixed", message_ts="7.1"
        )
        # An unbacked correction blocks the approved answer it says is wrong.
        assert training_examples(session, policy) == []
        assert find_correction(session, exchange.channel_id, "7.1").id == fix.id
        assert find_correction(session, "C0OTHER", "7.1") is None
        assert not endorse(session, fix, user_id="U1", reaction="+1")  # one's own
        assert endorse(session, fix, user_id="U2", reaction="+1")
        assert not endorse(session, fix, user_id="U2", reaction="+1")  # already
        [example] = training_examples(session, policy)
        assert (example.target, example.source) == ("fixed", "corrected")
        assert "U2" in example.contributors  # erasing U2 reaches this example
        assert endorse(session, fix, user_id="U2", reaction="+1", withdraw=True)
        assert training_examples(session, policy) == []
        add_feedback(session, exchange, kind="correct", user_id="U3", corrected_reply="fixed")
        assert training_examples(session, policy)[0].target == "fixed"  # two people wrote it
        # The default (1): a correction trains on its own.
        other = make_exchange(session, 2)
        add_feedback(session, other, kind="correct", user_id="U1", corrected_reply="alone")
        assert [e.target for e in training_examples(session, FeedbackPolicy())] == ["fixed", "alone"]


def test_allow_listed_raters_only(db) -> None:  # type: ignore[no-untyped-def]
    policy = FeedbackPolicy(raters="allow_list", allowed_raters=["UTRUST"])
    with db.session() as session:
        exchange = make_exchange(session)
        add_feedback(session, exchange, kind="correct", user_id="UMALLORY", corrected_reply="bad")
        assert training_examples(session, policy) == []
        add_feedback(session, exchange, kind="approve", user_id="UTRUST", reaction="+1")
        assert training_examples(session, policy)[0].target == "answer"


def test_bad_feedback_is_refused(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        exchange = make_exchange(session)
        with pytest.raises(ValueError, match="unknown feedback kind"):
            add_feedback(session, exchange, kind="love", user_id="U1")
        with pytest.raises(ValueError, match="needs the corrected reply"):
            add_feedback(session, exchange, kind="correct", user_id="U1", corrected_reply="  ")
