"""The keep and scrub word lists admins steer the scrubber with (/tune words), shared by replicas."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit import record_event
from storage.models import ScrubWord

ACTIONS = ("keep", "scrub")


def word_lists(session: Session) -> dict[str, list[str]]:
    """{"keep": [...], "scrub": [...]}, each sorted."""
    lists: dict[str, list[str]] = {action: [] for action in ACTIONS}
    for row in session.scalars(select(ScrubWord).order_by(ScrubWord.word)):
        lists[row.action].append(row.word)
    return lists


def set_word(session: Session, word: str, action: str, *, actor: str) -> str | None:
    """Put `word` on the `action` list (moving it off the other); the action it had, or None. Audited."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
    row = session.get(ScrubWord, word)
    before = row.action if row is not None else None
    if row is None:
        session.add(ScrubWord(word=word, action=action, added_by=actor))
    else:
        row.action, row.added_by = action, actor
    record_event(
        session,
        actor=actor,
        action=f"words_{action}",
        subject=word,
        details={"reason": f"/tune words {action} {word}", "was": before},
    )
    session.flush()
    return before


def remove_word(session: Session, word: str, *, actor: str) -> str | None:
    """Take `word` off whichever list holds it; the action it had, or None. Audited."""
    row = session.get(ScrubWord, word)
    if row is None:
        return None
    session.delete(row)
    record_event(
        session, actor=actor, action="words_forget", subject=word, details={"reason": "/tune words forget"}
    )
    session.flush()
    return row.action
