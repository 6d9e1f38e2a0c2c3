"""Right to erasure: a user's exchanges and feedback deleted, adapters trained on them marked."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.audit import record_event
from storage.exchanges import example_key
from storage.models import Adapter, Exchange, Feedback
from storage.review import forget_examples


@dataclass
class ErasureReport:
    user_id: str
    exchanges: int = 0
    feedback: int = 0
    adapters: list[str] = field(default_factory=list)  # newly marked as erased
    live_erased: bool = False


def forget_user(session: Session, user_id: str, *, actor: str) -> ErasureReport:
    """Delete every exchange the user took part in and all their feedback; mark affected adapters.

    The caller commits (one transaction) and then moves the live adapter off erased data.
    """
    report = ErasureReport(user_id)
    gone = []
    # Participants live in a JSON list; filtering in Python keeps this portable across backends.
    for exchange in session.scalars(select(Exchange)).all():
        if user_id == exchange.asked_by or user_id in (exchange.participants or []):
            gone.append(example_key(exchange))
            session.delete(exchange)
            report.exchanges += 1
    session.flush()
    forget_examples(session, gone)  # the gate's held-out answers quoting them, exclusions
    result = session.execute(delete(Feedback).where(Feedback.user_id == user_id))
    report.feedback = result.rowcount  # type: ignore[attr-defined]
    for adapter in session.scalars(select(Adapter).where(Adapter.erased.is_(False))).all():
        if user_id in (adapter.contributors or []):
            adapter.erased = True
            report.adapters.append(adapter.label)
            report.live_erased = report.live_erased or adapter.status == "live"
    record_event(
        session,
        actor=actor,
        action="forget",
        subject=user_id,
        details={"exchanges": report.exchanges, "feedback": report.feedback, "adapters": report.adapters},
    )
    return report
