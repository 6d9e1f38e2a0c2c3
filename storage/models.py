"""Tables: exchanges, feedback, adapters, training runs, audit events, exclusions and the cycle lock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Unicode,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Exchange(Base):
    """One bot answer with the (scrubbed) conversation that led to it."""

    __tablename__ = "exchanges"
    __table_args__ = (
        UniqueConstraint("channel_id", "reply_ts", name="uq_exchange_reply"),
        Index("ix_exchange_thread", "channel_id", "thread_ts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))
    question_ts: Mapped[str] = mapped_column(String(32))
    reply_ts: Mapped[str] = mapped_column(String(32))
    asked_by: Mapped[str | None] = mapped_column(String(32))
    # Slack user ids who wrote any turn of the prompt: whose erasure removes this exchange.
    participants: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # [{"role": "user"|"assistant", "content": scrubbed text}, ...] ending with the question.
    prompt: Mapped[list[Any]] = mapped_column(JSON)
    reply: Mapped[str] = mapped_column(Text)
    adapter_version: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="live")
    # Team answers from answer memory the model was given as context for this answer.
    recalled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    feedback: Mapped[list[Feedback]] = relationship(
        back_populates="exchange", cascade="all, delete-orphan", order_by="Feedback.id"
    )


class Feedback(Base):
    """An approval, rejection or correction of one exchange by one person, or an endorsement: an
    approval of someone's correction (a :+1: on the correction's message)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # approve | reject | correct | endorse
    user_id: Mapped[str] = mapped_column(String(32))
    reaction: Mapped[str | None] = mapped_column(String(64))
    corrected_reply: Mapped[str | None] = mapped_column(Text)
    # A correction made by a thread reply: that message's ts, so reactions on it can endorse it.
    message_ts: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    endorses_id: Mapped[int | None] = mapped_column(
        ForeignKey("feedback.id", ondelete="CASCADE", name="fk_feedback_endorses"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)

    exchange: Mapped[Exchange] = relationship(back_populates="feedback")


class Adapter(Base):
    """A trained adapter; its files are immutable, its status moves through the registry."""

    __tablename__ = "adapters"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    # candidate | live | retired | rejected | rolled_back
    status: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    baseline: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decision: Mapped[str | None] = mapped_column(Text)
    dataset_fingerprint: Mapped[str] = mapped_column(String(64))
    train_examples: Mapped[int] = mapped_column(Integer, default=0)
    heldout_examples: Mapped[int] = mapped_column(Integer, default=0)
    training_run_id: Mapped[int | None] = mapped_column(ForeignKey("training_runs.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column(default=None)
    # Slack user ids whose exchanges or feedback are in the training data of this adapter.
    contributors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Set when a contributor's data was erased: never served again.
    erased: Mapped[bool] = mapped_column(Boolean, default=False)
    # The keys of the examples it trained on (None: trained before 0008 recorded them).
    train_keys: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    # What the gate saw, per held-out example: [{"key", "question", "reference", "candidate",
    # "baseline", "candidate_right", "baseline_right", "candidate_nll", "baseline_nll"}] (scrubbed
    # questions; erasure and retention take an example's entry out with its exchange).
    heldout_answers: Mapped[list[Any] | None] = mapped_column(JSON, default=None)

    @property
    def label(self) -> str:
        return f"v{self.version}"


class TrainingRun(Base):
    """One tune cycle: snapshot, training, evaluation and the decision."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed | skipped
    trigger: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    pid: Mapped[int | None] = mapped_column(Integer)
    dataset_fingerprint: Mapped[str | None] = mapped_column(String(64))
    examples: Mapped[int] = mapped_column(Integer, default=0)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    """Who did what to the live model, and why."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CycleLock(Base):
    """A single row per lock name; holding it means owning the right to run a tune cycle."""

    __tablename__ = "cycle_locks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class SlackDelivery(Base):
    """An Events API delivery already taken: Slack retries (and replicas) must not act on it twice."""

    __tablename__ = "slack_deliveries"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SchedulerJob(Base):
    """APScheduler's job store (its SQLAlchemyJobStore layout): the scheduled cycle and retention
    jobs, pickled by APScheduler. Declared here so the migrations own the table."""

    __tablename__ = "apscheduler_jobs"

    id: Mapped[str] = mapped_column(Unicode(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary)


class ExcludedExample(Base):
    """A training example an admin took out of the dataset (the review page): no snapshot and no
    answer memory holds it until it is included again."""

    __tablename__ = "excluded_examples"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)  # TrainingExample.key
    excluded_by: Mapped[str] = mapped_column(String(64))
    excluded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScrubWord(Base):
    """A word an admin said the scrubber must keep (never a person) or always scrub (/tune words)."""

    __tablename__ = "scrub_words"

    word: Mapped[str] = mapped_column(String(64), primary_key=True)  # lowercase, accents folded
    action: Mapped[str] = mapped_column(String(8))  # keep | scrub
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
