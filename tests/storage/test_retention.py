"""Unrated exchanges expire; rated ones, and recent ones, stay (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from policies.schema import PrivacyPolicy
from storage.audit import recent_events
from storage.exchanges import add_feedback, feedback_counts, record_exchange, withdraw_feedback
from tuner.retention import apply_retention

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _exchange(session, n: int, age_days: int):  # type: ignore[no-untyped-def]
    return record_exchange(
        session,
        channel_id="C1",
        thread_ts=f"{n}.1",
        question_ts=f"{n}.1",
        reply_ts=f"{n}.2",
        prompt=[{"role": "user", "content": "q"}],
        reply="a",
        adapter_version="base",
        created_at=NOW - timedelta(days=age_days),
    )


def test_only_old_unrated_exchanges_expire(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        _exchange(session, 1, age_days=40)  # old, unrated: goes
        rated = _exchange(session, 2, age_days=40)  # old, approved: stays
        add_feedback(session, rated, kind="approve", user_id="U1", reaction="+1")
        withdrawn = _exchange(session, 3, age_days=40)  # old, approval withdrawn: goes
        add_feedback(session, withdrawn, kind="approve", user_id="U1", reaction="+1")
        withdraw_feedback(session, withdrawn, kind="approve", user_id="U1", reaction="+1")
        _exchange(session, 4, age_days=5)  # recent, unrated: stays
    assert apply_retention(db, PrivacyPolicy(retention_days=30), now=NOW) == 2
    with db.session() as session:
        assert feedback_counts(session)["exchanges"] == 2
        event = recent_events(session, 1)[0]
        assert (event.action, event.details["exchanges"]) == ("expire", 2)
    assert apply_retention(db, PrivacyPolicy(retention_days=30), now=NOW) == 0


def test_null_retention_keeps_everything(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        _exchange(session, 1, age_days=4000)
    assert apply_retention(db, PrivacyPolicy(retention_days=None), now=NOW) == 0
