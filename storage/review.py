"""What the review page steers and shows: examples an admin excluded (audited), and the records the
gate keeps per adapter (the keys it trained on, its held-out answers beside the baseline's)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.audit import record_event
from storage.models import Adapter, ExcludedExample


def excluded_examples(session: Session) -> dict[str, ExcludedExample]:
    """Every excluded example by key."""
    return {row.key: row for row in session.scalars(select(ExcludedExample))}


def exclude_example(session: Session, key: str, *, actor: str) -> bool:
    """Take the example `key` out of every later snapshot and out of answer memory. Audited; False
    when it was excluded already."""
    if session.get(ExcludedExample, key) is not None:
        return False
    session.add(ExcludedExample(key=key, excluded_by=actor))
    record_event(session, actor=actor, action="exclude", subject=key[:64], details={"key": key})
    session.flush()
    return True


def include_example(session: Session, key: str, *, actor: str) -> bool:
    """Let an excluded example train (and be recalled) again. Audited; False when it was not excluded."""
    row = session.get(ExcludedExample, key)
    if row is None:
        return False
    session.delete(row)
    record_event(
        session,
        actor=actor,
        action="include",
        subject=key[:64],
        details={"key": key, "excluded_by": row.excluded_by, "excluded_at": row.excluded_at.isoformat()},
    )
    session.flush()
    return True


def forget_examples(session: Session, keys: Iterable[str]) -> None:
    """The examples `keys` are gone with their exchanges (erasure, retention): their held-out
    answers (scrubbed questions and the answers to them) and their exclusions go too."""
    gone = set(keys)
    if not gone:
        return
    session.execute(delete(ExcludedExample).where(ExcludedExample.key.in_(gone)))
    for adapter in session.scalars(select(Adapter)):
        answers = adapter.heldout_answers or []
        kept = [a for a in answers if a.get("key") not in gone]
        if len(kept) != len(answers):
            adapter.heldout_answers = kept
        if adapter.train_keys and gone & set(adapter.train_keys):
            adapter.train_keys = [k for k in adapter.train_keys if k not in gone]
    session.flush()
