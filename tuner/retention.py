"""Retention: exchanges nobody gave feedback on expire after the privacy policy's number of days."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from policies.schema import PrivacyPolicy
from storage import Database
from storage.audit import record_event
from storage.deliveries import purge_deliveries
from storage.exchanges import purge_unrated

log = logging.getLogger(__name__)


def apply_retention(db: Database, policy: PrivacyPolicy, now: datetime | None = None) -> int:
    """Delete expired unrated exchanges, with an audit event when any went. Returns how many.

    Also forgets Slack delivery ids older than a day (Slack stops retrying within the hour).
    """
    now = now or datetime.now(UTC)
    purge_deliveries(db, now - timedelta(days=1))
    if policy.retention_days is None:
        return 0
    cutoff = now - timedelta(days=policy.retention_days)
    with db.session() as session:
        deleted = purge_unrated(session, cutoff)
        if deleted:
            record_event(
                session,
                actor="retention",
                action="expire",
                details={"exchanges": deleted, "older_than": cutoff.isoformat()},
            )
    if deleted:
        log.info("retention: deleted %d unrated exchanges older than %s", deleted, cutoff.date())
    return deleted
