"""Test data: exchanges with feedback, written through the storage API like the services do."""

from __future__ import annotations

from storage import Database
from storage.exchanges import add_feedback, record_exchange


def seed_corrections(db: Database, count: int, *, channel: str = "C0SEED", start: int = 0) -> None:
    """`count` exchanges, each corrected to a templated fact the tiny model can learn."""
    with db.session() as session:
        for i in range(start, start + count):
            exchange = record_exchange(
                session,
                channel_id=channel,
                thread_ts=f"{1000 + i}.000100",
                question_ts=f"{1000 + i}.000100",
                reply_ts=f"{1000 + i}.000200",
                prompt=[{"role": "user", "content": f"Which port does service {i} use?"}],
                reply="I am not sure.",
                adapter_version="base",
            )
            add_feedback(
                session,
                exchange,
                kind="correct",
                user_id="U0RATER01",
                corrected_reply=f"Service {i} listens on port {8000 + i}.",
            )
