"""Each Slack event id is handled once across processes; old ids are forgotten (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from policies.schema import PrivacyPolicy
from storage.deliveries import first_delivery
from storage.models import SlackDelivery
from tuner.retention import apply_retention


def test_an_event_id_is_first_exactly_once_even_when_racing(db) -> None:  # type: ignore[no-untyped-def]
    assert first_delivery(db, "Ev001") is True
    assert first_delivery(db, "Ev001") is False
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(first_delivery(db, "Ev002"))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]


def test_retention_forgets_delivery_ids_after_a_day(db) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    with db.session() as session:
        session.add(SlackDelivery(event_id="EvOld", received_at=now - timedelta(days=2)))
        session.add(SlackDelivery(event_id="EvNew", received_at=now - timedelta(hours=2)))
    apply_retention(db, PrivacyPolicy(retention_days=None), now=now)
    with db.session() as session:
        assert session.scalars(select(SlackDelivery.event_id)).all() == ["EvNew"]
