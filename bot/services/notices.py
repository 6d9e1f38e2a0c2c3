"""Announcing what changed: a new adapter live, or a rollback, posted once to the notices channel.

Every replica runs this every few seconds. Each audit event is claimed through the same table that
deduplicates Slack deliveries, so exactly one replica posts it, whichever process made the change
(`/tune rollback`, `tunebot rollback`, a tune cycle, an erasure).
"""

from __future__ import annotations

import logging

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
        return f":rocket: *{event.subject}* is live, replacing {replaced}. {_score(adapter)}".strip()
    why = f" ({details['reason']})" if details.get("reason") else ""
    serving = "the base model" if event.subject == "base" else event.subject
    return (
        f":rewind: {details.get('from', '?')} was rolled back by {event.actor}{why}; now serving {serving}."
    )


def _score(adapter: Adapter | None) -> str:
    if adapter is None:
        return ""
    nll, base = adapter.metrics.get("heldout_nll"), adapter.baseline.get("heldout_nll")
    if nll is None or base is None:
        return ""
    change = (base - nll) / base * 100 if base else 0.0
    label = adapter.baseline.get("label", "the baseline")
    return f"Held-out NLL {nll:.3f} vs {base:.3f} for {label} ({change:+.1f}% better)."
