"""Unrated exchanges expire; rated ones, and recent ones, stay (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from policies.schema import PrivacyPolicy
from storage.audit import recent_events
from storage.exchanges import add_feedback, feedback_counts, withdraw_feedback
from tests.factories import make_exchange
from tuner.retention import apply_retention

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OLD, RECENT = NOW - timedelta(days=40), NOW - timedelta(days=5)


def test_only_old_unrated_exchanges_expire(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        make_exchange(session, 1, created_at=OLD)  # old, unrated: goes
        rated = make_exchange(session, 2, created_at=OLD)  # old, approved: stays
        add_feedback(session, rated, kind="approve", user_id="U1", reaction="+1")
        withdrawn = make_exchange(session, 3, created_at=OLD)  # old, approval withdrawn: goes
        add_feedback(session, withdrawn, kind="approve", user_id="U1", reaction="+1")
        withdraw_feedback(session, withdrawn, kind="approve", user_id="U1", reaction="+1")
        make_exchange(session, 4, created_at=RECENT)  # recent, unrated: stays
    assert apply_retention(db, PrivacyPolicy(retention_days=30), now=NOW) == 2
    with db.session() as session:
        assert feedback_counts(session)["exchanges"] == 2
        event = recent_events(session, 1)[0]
        assert (event.action, event.details["exchanges"]) == ("expire", 2)
    assert apply_retention(db, PrivacyPolicy(retention_days=30), now=NOW) == 0


def test_null_retention_keeps_everything(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        make_exchange(session, 1, created_at=NOW - timedelta(days=4000))
    assert apply_retention(db, PrivacyPolicy(retention_days=None), now=NOW) == 0
