"""Slack event deliveries seen: the first replica to record an event id handles it, nobody else."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from storage.database import Database
from storage.models import SlackDelivery


def first_delivery(db: Database, event_id: str) -> bool:
    """True exactly once per event id, across every process sharing the database."""
    try:
        with db.session() as session:
            session.add(SlackDelivery(event_id=event_id))
    except IntegrityError:
        return False
    return True


def purge_deliveries(db: Database, before: datetime) -> int:
    """Forget deliveries older than `before` (Slack stops retrying after minutes)."""
    with db.session() as session:
        result = session.execute(delete(SlackDelivery).where(SlackDelivery.received_at < before))
        return int(result.rowcount)  # type: ignore[attr-defined]
