"""Recording exchanges and feedback, and turning them into training examples."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from policies.schema import FeedbackPolicy
from storage.models import Exchange, ExcludedExample, Feedback, utcnow
from storage.review import forget_examples

FEEDBACK_KINDS = ("approve", "reject", "correct", "endorse")


@dataclass(frozen=True)
class TrainingExample:
    """A prompt (scrubbed chat turns) and the reply the bot should have given."""

    key: str  # stable across cycles: decides the train / held-out side
    prompt: list[dict[str, str]]
    target: str
    source: str  # approved | corrected
    original_reply: str
    updated_at: datetime
    contributors: tuple[str, ...] = ()  # participants and counted raters: erasure reaches them
    # Who stands behind the target: its approvers, or the newest backed correction's backers.
    backed_by: tuple[str, ...] = ()


def example_key(exchange: Exchange) -> str:
    """The key of the example an exchange may become: its Slack message, stable across cycles."""
    return f"{exchange.channel_id}:{exchange.reply_ts}"


def record_exchange(
    session: Session,
    *,
    channel_id: str,
    thread_ts: str,
    question_ts: str,
    reply_ts: str,
    prompt: list[dict[str, str]],
    reply: str,
    adapter_version: str,
    asked_by: str | None = None,
    participants: list[str] | None = None,
    source: str = "live",
    created_at: datetime | None = None,
    recalled: int = 0,
) -> Exchange:
    """Store one exchange; text must already be scrubbed. Recording the same reply twice is a no-op."""
    existing = find_exchange(session, channel_id, reply_ts)
    if existing is not None:
        return existing
    exchange = Exchange(
        channel_id=channel_id,
        thread_ts=thread_ts,
        question_ts=question_ts,
        reply_ts=reply_ts,
        asked_by=asked_by,
        participants=sorted(set(participants or []) | ({asked_by} if asked_by else set())),
        prompt=prompt,
        reply=reply,
        adapter_version=adapter_version,
        source=source,
        recalled=recalled,
        created_at=created_at or utcnow(),
    )
    session.add(exchange)
    session.flush()
    return exchange


def get_exchange(session: Session, exchange_id: int) -> Exchange | None:
    return session.get(Exchange, exchange_id)


def find_exchange(session: Session, channel_id: str, reply_ts: str) -> Exchange | None:
    return session.scalar(
        select(Exchange).where(Exchange.channel_id == channel_id, Exchange.reply_ts == reply_ts)
    )


def latest_exchange_in_thread(
    session: Session, channel_id: str, thread_ts: str, before_ts: str | None = None
) -> Exchange | None:
    """The most recent bot answer in a thread (optionally before a message), for corrections."""
    query = select(Exchange).where(Exchange.channel_id == channel_id, Exchange.thread_ts == thread_ts)
    if before_ts is not None:
        query = query.where(Exchange.reply_ts < before_ts)
    # Slack timestamps are fixed-width "seconds.micros" strings of equal length in practice.
    return session.scalar(query.order_by(Exchange.reply_ts.desc()).limit(1))


def add_feedback(
    session: Session,
    exchange: Exchange,
    *,
    kind: str,
    user_id: str,
    reaction: str | None = None,
    corrected_reply: str | None = None,
    created_at: datetime | None = None,
    message_ts: str | None = None,
) -> Feedback:
    """Store feedback; the same vote or the same correction by the same user is kept once.
    `message_ts`: the Slack message of a correction made by a thread reply."""
    if kind not in FEEDBACK_KINDS or kind == "endorse":
        raise ValueError(f"unknown feedback kind {kind!r}; expected approve, reject or correct")
    if kind == "correct" and not (corrected_reply or "").strip():
        raise ValueError("a correction needs the corrected reply text")
    if kind == "correct":
        repeated = session.scalar(
            select(Feedback).where(
                Feedback.exchange_id == exchange.id,
                Feedback.kind == "correct",
                Feedback.user_id == user_id,
                Feedback.corrected_reply == corrected_reply,
                Feedback.withdrawn_at.is_(None),
            )
        )
        if repeated is not None:  # a re-import, or a retried delivery
            return repeated
    else:
        active = _active_feedback(session, exchange.id, kind, user_id, reaction)
        if active is not None:
            return active
    feedback = Feedback(
        exchange_id=exchange.id,
        kind=kind,
        user_id=user_id,
        reaction=reaction,
        corrected_reply=corrected_reply,
        created_at=created_at or utcnow(),
        message_ts=message_ts,
    )
    session.add(feedback)
    session.flush()
    return feedback


def find_correction(session: Session, channel_id: str, message_ts: str) -> Feedback | None:
    """The correction made by the thread reply at `message_ts` in `channel_id`."""
    return session.scalar(
        select(Feedback)
        .join(Exchange)
        .where(
            Exchange.channel_id == channel_id, Feedback.message_ts == message_ts, Feedback.kind == "correct"
        )
    )


def endorse(
    session: Session, correction: Feedback, *, user_id: str, reaction: str, withdraw: bool = False
) -> bool:
    """Record (or withdraw) `user_id`'s approval of someone's correction. True if anything changed."""
    active = session.scalar(
        select(Feedback).where(
            Feedback.endorses_id == correction.id,
            Feedback.user_id == user_id,
            Feedback.reaction == reaction,
            Feedback.withdrawn_at.is_(None),
        )
    )
    if withdraw:
        if active is not None:
            active.withdrawn_at = utcnow()
        return active is not None
    if active is not None or user_id == correction.user_id:  # one's own correction counts already
        return False
    session.add(
        Feedback(
            exchange_id=correction.exchange_id,
            kind="endorse",
            user_id=user_id,
            reaction=reaction,
            endorses_id=correction.id,
        )
    )
    session.flush()
    return True


def withdraw_feedback(
    session: Session, exchange: Exchange, *, kind: str, user_id: str, reaction: str | None
) -> bool:
    """Mark a user's reaction feedback withdrawn (the reaction was removed). True if one was."""
    active = _active_feedback(session, exchange.id, kind, user_id, reaction)
    if active is None:
        return False
    active.withdrawn_at = utcnow()
    return True


def _active_feedback(
    session: Session, exchange_id: int, kind: str, user_id: str, reaction: str | None
) -> Feedback | None:
    return session.scalar(
        select(Feedback).where(
            Feedback.exchange_id == exchange_id,
            Feedback.kind == kind,
            Feedback.user_id == user_id,
            Feedback.reaction.is_(None) if reaction is None else Feedback.reaction == reaction,
            Feedback.withdrawn_at.is_(None),
        )
    )


InGroup = Callable[[str, str], bool]  # (user group id, user id) -> member?


def rater_counts(user_id: str, policy: FeedbackPolicy, in_group: InGroup | None = None) -> bool:
    """Whether the policy counts this user's feedback: everyone's, or trusted raters' only (user ids,
    or members of user groups given as S… ids, read through `in_group` when there is a way to)."""
    if policy.raters == "everyone" or user_id in policy.allowed_raters:
        return True
    groups = [g for g in policy.allowed_raters if g.startswith("S")]
    return in_group is not None and any(in_group(group, user_id) for group in groups)


def training_examples(
    session: Session, policy: FeedbackPolicy, in_group: InGroup | None = None, *, excluded: bool = False
) -> list[TrainingExample]:
    """Every exchange that the feedback policy turns into a training example, oldest first; those an
    admin excluded (the review page) only with `excluded=True`.

    A correction wins (the newest one backed by `min_approvals` distinct people: its author and
    those who approved it is the target; a correction nobody else backed yet blocks the answer it
    corrects); otherwise an answer needs `min_approvals` distinct approvers and more approvals than
    rejections. Feedback from raters the policy does not trust is not counted at all.
    """
    exchanges = session.scalars(
        select(Exchange)
        .where(Exchange.id.in_(select(Feedback.exchange_id).where(Feedback.withdrawn_at.is_(None))))
        .options(selectinload(Exchange.feedback))
        .order_by(Exchange.id)
        .execution_options(populate_existing=True)  # feedback added in this session counts too
    ).all()
    left_out = set() if excluded else set(session.scalars(select(ExcludedExample.key)))
    examples = []
    for exchange in exchanges:
        example = _example_from(exchange, policy, in_group)
        if example is not None and example.key not in left_out:
            examples.append(example)
    return examples


def _example_from(
    exchange: Exchange, policy: FeedbackPolicy, in_group: InGroup | None
) -> TrainingExample | None:
    counted = [
        f for f in exchange.feedback if f.withdrawn_at is None and rater_counts(f.user_id, policy, in_group)
    ]
    if not counted:
        return None
    key = example_key(exchange)
    updated_at = max(f.created_at for f in counted)
    corrections = [f for f in counted if f.kind == "correct"]
    if corrections:
        backed = [f for f in corrections if len(_backers(f, counted)) >= policy.min_approvals]
        if not backed:
            return None
        newest = max(backed, key=lambda f: (f.created_at, f.id))
        target, source = newest.corrected_reply or "", "corrected"
        backers = _backers(newest, counted)
    else:
        approvers = {f.user_id for f in counted if f.kind == "approve"}
        rejecters = {f.user_id for f in counted if f.kind == "reject"}
        if len(approvers) < policy.min_approvals or len(approvers) <= len(rejecters):
            return None
        target, source, backers = exchange.reply, "approved", approvers
    return TrainingExample(
        key=key,
        prompt=list(exchange.prompt),
        target=target,
        source=source,
        original_reply=exchange.reply,
        updated_at=updated_at,
        contributors=tuple(sorted(set(exchange.participants or []) | {f.user_id for f in counted})),
        backed_by=tuple(sorted(backers)),
    )


def _backers(correction: Feedback, counted: list[Feedback]) -> set[str]:
    """Who stands behind a correction: its author, and whoever endorsed it or wrote the same."""
    same = {
        f.user_id for f in counted if f.kind == "correct" and f.corrected_reply == correction.corrected_reply
    }
    return same | {f.user_id for f in counted if f.kind == "endorse" and f.endorses_id == correction.id}


def purge_unrated(session: Session, older_than: datetime) -> int:
    """Delete exchanges from before `older_than` that have no active feedback. Returns how many."""
    rated = select(Feedback.exchange_id).where(Feedback.withdrawn_at.is_(None))
    expired = session.scalars(
        select(Exchange).where(Exchange.created_at < older_than, Exchange.id.not_in(rated))
    ).all()
    for exchange in expired:
        session.delete(exchange)  # its withdrawn feedback goes with it
    session.flush()
    forget_examples(session, [example_key(e) for e in expired])
    return len(expired)


def feedback_counts(session: Session) -> dict[str, Any]:
    """Active feedback by kind, and the number of exchanges."""
    rows = session.execute(
        select(Feedback.kind, func.count()).where(Feedback.withdrawn_at.is_(None)).group_by(Feedback.kind)
    ).all()
    counts: dict[str, Any] = {kind: 0 for kind in FEEDBACK_KINDS}
    counts.update({kind: n for kind, n in rows})
    counts["exchanges"] = session.scalar(select(func.count()).select_from(Exchange)) or 0
    counts["drew_on_memory"] = session.scalar(select(func.count()).where(Exchange.recalled > 0)) or 0
    return counts


def feedback_state(session: Session) -> tuple[Any, ...]:
    """A cheap fingerprint of everything that decides which exchanges are training examples: it
    changes when feedback is added, withdrawn or deleted (erasure), when exchanges are deleted
    (erasure, retention) and when an admin excludes or includes an example. Answer memory re-reads
    the examples only when it changes."""
    feedback = session.execute(
        select(
            func.count(Feedback.id),
            func.max(Feedback.id),
            func.count(Feedback.withdrawn_at),
            func.max(Feedback.withdrawn_at),
        )
    ).one()
    exchanges = session.execute(select(func.count(Exchange.id), func.max(Exchange.id))).one()
    excluded = session.execute(
        select(func.count(ExcludedExample.key), func.max(ExcludedExample.excluded_at))
    ).one()
    return (*feedback, *exchanges, *excluded)


def last_question(prompt: list[dict[str, str]]) -> str:
    """The question a stored prompt ends with: its last user turn (scrubbed, as stored)."""
    return next((t["content"] for t in reversed(prompt) if t.get("role") == "user"), "").strip()


def frequent_questions(session: Session, *, scan: int = 2000) -> list[str]:
    """The questions asked in the latest `scan` exchanges (each one's last user turn, as stored:
    scrubbed), most asked first, each in its latest wording. Wordings that differ only in case,
    spacing or closing punctuation count as one question."""
    prompts = session.scalars(select(Exchange.prompt).order_by(Exchange.id.desc()).limit(scan)).all()
    counts: dict[str, int] = {}
    wording: dict[str, str] = {}
    for prompt in prompts:  # newest first: the first wording seen is the latest
        question = last_question(prompt)
        key = " ".join(question.casefold().split()).rstrip("?!. ")
        if not key:
            continue
        counts[key] = counts.get(key, 0) + 1
        wording.setdefault(key, question)
    ranked = sorted(counts, key=lambda key: -counts[key])  # stable: ties stay newest first
    return [wording[key] for key in ranked]
