"""Announcing what changed: a new adapter live, or a rollback, posted once to the notices channel.

Every replica runs this every few seconds. Each audit event is claimed through the same table that
deduplicates Slack deliveries, so exactly one replica posts it, whichever process made the change
(`/tune rollback`, `tunebot rollback`, a tune cycle, an erasure).
"""

from __future__ import annotations

import logging
import math

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import Database
from storage.deliveries import first_delivery
from storage.models import Adapter, AuditEvent
from storage.registry import get_adapter

log = logging.getLogger(__name__)

ANNOUNCED = ("promote", "rollback")


class NoticeService:
    def __init__(self, db: Database, client: WebClient, channel: str):
        self.db = db
        self.client = client
        self.channel = channel
        with db.session() as session:  # changes from before this process started are not news
            self._after = session.scalar(select(func.max(AuditEvent.id))) or 0

    def post_pending(self) -> int:
        """Post each new promotion or rollback once; returns how many this process posted."""
        with self.db.session() as session:
            events = session.scalars(
                select(AuditEvent)
                .where(AuditEvent.id > self._after, AuditEvent.action.in_(ANNOUNCED))
                .order_by(AuditEvent.id)
            ).all()
            texts = [(event.id, notice_text(event, session)) for event in events]
        posted = 0
        for event_id, text in texts:
            self._after = event_id
            if not first_delivery(self.db, f"notice:{event_id}"):
                continue  # another replica has it
            try:
                self.client.chat_postMessage(channel=self.channel, text=text)
                posted += 1
            except SlackApiError as error:
                log.warning("could not post notice %s: %s", event_id, error.response.get("error"))
        return posted


def notice_text(event: AuditEvent, session: Session) -> str:
    details = event.details or {}
    if event.action == "promote":
        adapter = get_adapter(session, event.subject) if event.subject else None
        replaced = details.get("previous", "base")
        return (
            f":rocket: *{event.subject}* is live, replacing {replaced}. {_score(adapter, replaced)}".strip()
        )
    why = f" ({details['reason']})" if details.get("reason") else ""
    serving = "the base model" if event.subject == "base" else event.subject
    return (
        f":rewind: {details.get('from', '?')} was rolled back by {event.actor}{why}; now serving {serving}."
    )


def _score(adapter: Adapter | None, replaced: str) -> str:
    """What a person understands first (held-out team questions answered right, before and after),
    then the gate's NLL as detail. Nothing that is not a number is shown."""
    if adapter is None:
        return ""
    metrics, baseline = adapter.metrics, adapter.baseline
    label = replaced if baseline.get("label") == "live" else "the base model"
    parts = []
    right, total = metrics.get("answered_right"), metrics.get("examples")
    before = baseline.get("answered_right")
    if _number(right) and _number(total) and total:
        parts.append(
            f"It answers {right} of {total} held-out team questions right"
            + (f" ({label}: {before})." if _number(before) else ".")
        )
    nll, base = metrics.get("heldout_nll"), baseline.get("heldout_nll")
    if _number(nll) and _number(base) and base:
        change = (base - nll) / base * 100
        parts.append(f"Held-out NLL {nll:.3f} vs {base:.3f} for {label} ({change:+.1f}% better).")
    return " ".join(parts)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
