"""Test data: exchanges with feedback, written through the storage API like the services do."""

from __future__ import annotations

from storage import Database
from storage.exchanges import add_feedback, record_exchange


def seed_corrections(
    db: Database, count: int, *, channel: str = "C0SEED", start: int = 0, rater: str = "U0RATER01"
) -> None:
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
                user_id=rater,
                corrected_reply=f"Service {i} listens on port {8000 + i}.",
            )


def make_exchange(session, n: int = 1, *, reply: str = "answer", **fields):  # type: ignore[no-untyped-def]
    """Exchange number `n` in channel C1 (asked_by, participants, created_at may be given)."""
    return record_exchange(
        session,
        channel_id="C1",
        thread_ts=f"{n}.1",
        question_ts=f"{n}.1",
        reply_ts=f"{n}.2",
        prompt=[{"role": "user", "content": "q"}],
        reply=reply,
        adapter_version="base",
        **fields,
    )
