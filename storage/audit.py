"""Audit events: every change to what the bot serves, with who and why."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.database import serialize
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


def note_policy(session: Session, policy: dict[str, Any], *, actor: str, source: str) -> AuditEvent | None:
    """Record the policy in force when it differs from the last one on record (a `policy` event
    naming the changed keys); None when nothing changed."""
    fingerprint = hashlib.sha256(json.dumps(policy, sort_keys=True).encode()).hexdigest()[:16]
    serialize(session, "policy")  # replicas starting together record a change once
    previous = session.scalar(
        select(AuditEvent).where(AuditEvent.action == "policy").order_by(AuditEvent.id.desc()).limit(1)
    )
    if previous is not None and previous.details.get("fingerprint") == fingerprint:
        return None
    before = previous.details.get("policy", {}) if previous is not None else {}
    changed = sorted(_changed_keys(before, policy)) if previous is not None else []
    reason = f"changed {', '.join(changed)}" if changed else "first policy on record"
    return record_event(
        session,
        actor=actor,
        action="policy",
        subject=fingerprint,
        details={
            "reason": reason,
            "source": source,
            "fingerprint": fingerprint,
            "changed": changed,
            "policy": policy,
        },
    )


def _changed_keys(before: Any, after: Any, prefix: str = "") -> set[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        keys = set(before) | set(after)
        return {k for key in keys for k in _changed_keys(before.get(key), after.get(key), f"{prefix}{key}.")}
    return {prefix.rstrip(".")} if before != after else set()
