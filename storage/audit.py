"""Audit events: every change to what the bot serves, with who and why."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEvent


def record_event(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(actor=actor, action=action, subject=subject, details=details or {})
    session.add(event)
    session.flush()
    return event


def recent_events(session: Session, limit: int = 20) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)).all())


def paused_by(session: Session) -> AuditEvent | None:
    """The `pause` event in force, if scheduled tune cycles are paused (the latest pause/resume wins)."""
    latest = session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action.in_(("pause", "resume")))
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return latest if latest is not None and latest.action == "pause" else None
