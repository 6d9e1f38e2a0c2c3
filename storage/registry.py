"""The adapter registry: candidates, the live adapter, promotion and rollback, each one transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.audit import record_event
from storage.models import Adapter, utcnow


class RegistryError(ValueError):
    """A registry operation cannot be done as asked; the message says why."""


def live_adapter(session: Session) -> Adapter | None:
    return session.scalar(select(Adapter).where(Adapter.status == "live"))


def get_adapter(session: Session, version: int | str) -> Adapter:
    """An adapter by number or label ("3" or "v3")."""
    number = parse_version(version)
    adapter = session.scalar(select(Adapter).where(Adapter.version == number))
    if adapter is None:
        known = ", ".join(f"v{v}" for v in session.scalars(select(Adapter.version)).all())
        raise RegistryError(f"no adapter v{number}; known adapters: {known or 'none yet'}")
    return adapter


def parse_version(version: int | str) -> int:
    text = str(version).strip().lower().removeprefix("v")
    if not text.isdigit():
        raise RegistryError(f"adapter version must look like v3 or 3, not {version!r}")
    return int(text)


def register_candidate(
    session: Session,
    *,
    path: str,
    method: str,
    metrics: dict[str, Any],
    baseline: dict[str, Any],
    dataset_fingerprint: str,
    train_examples: int,
    heldout_examples: int,
    training_run_id: int | None,
    contributors: list[str] | None = None,
    train_keys: list[str] | None = None,
    heldout_answers: list[dict[str, Any]] | None = None,
) -> Adapter:
    """Record a freshly trained adapter (its files already in place) under the next version, with
    the keys of the examples it trained on and the gate's held-out answers (the review page)."""
    version = (session.scalar(select(func.max(Adapter.version))) or 0) + 1
    adapter = Adapter(
        version=version,
        status="candidate",
        method=method,
        path=path,
        metrics=metrics,
        baseline=baseline,
        dataset_fingerprint=dataset_fingerprint,
        train_examples=train_examples,
        heldout_examples=heldout_examples,
        training_run_id=training_run_id,
        contributors=sorted(set(contributors or [])),
        train_keys=train_keys,
        heldout_answers=heldout_answers,
    )
    session.add(adapter)
    session.flush()
    return adapter


def promote_candidate(session: Session, adapter: Adapter, *, actor: str, reason: str) -> None:
    """Make `adapter` live and retire the current one; caller commits (one transaction)."""
    if adapter.status != "candidate":
        raise RegistryError(f"{adapter.label} is {adapter.status}, only a candidate can be promoted")
    _supersede_pending(session, adapter)
    previous = live_adapter(session)
    if previous is not None:
        previous.status = "retired"
    adapter.status = "live"
    adapter.promoted_at = utcnow()
    adapter.decision = reason
    record_event(
        session,
        actor=actor,
        action="promote",
        subject=adapter.label,
        details={"previous": previous.label if previous else "base", "reason": reason},
    )


def hold_candidate(session: Session, adapter: Adapter, *, reason: str) -> list[str]:
    """The candidate won the gate and waits for an admin (`promotion.require_approval`). Older
    pending candidates are superseded: they were compared with an older state. Returns those."""
    superseded = _supersede_pending(session, adapter)
    adapter.status = "pending"
    adapter.decision = reason
    record_event(session, actor="tuner", action="hold", subject=adapter.label, details={"reason": reason})
    return superseded


def approve_candidate(session: Session, version: int | str, *, actor: str) -> Adapter:
    """An admin lets a pending candidate go live; one transaction with its audit event."""
    adapter = get_adapter(session, version)
    if adapter.status != "pending":
        raise RegistryError(
            f"{adapter.label} is {adapter.status}; only a candidate waiting for approval (pending) "
            "can be approved"
        )
    if adapter.erased:
        raise RegistryError(f"{adapter.label} was trained on erased data and cannot serve")
    current = live_adapter(session)
    if current is not None and current.promoted_at and current.promoted_at > adapter.created_at:
        raise RegistryError(
            f"{current.label} went live after {adapter.label} was scored against the adapter before "
            "it; run a new tune cycle"
        )
    record_event(
        session,
        actor=actor,
        action="approve",
        subject=adapter.label,
        details={"reason": adapter.decision},
    )
    adapter.status = "candidate"
    promote_candidate(session, adapter, actor=actor, reason=f"approved by {actor}; {adapter.decision}")
    return adapter


def _supersede_pending(session: Session, newer: Adapter) -> list[str]:
    pending = session.scalars(
        select(Adapter).where(Adapter.status == "pending", Adapter.id != newer.id)
    ).all()
    for old in pending:
        reject_candidate(session, old, actor="tuner", reason=f"superseded by {newer.label}")
    return [old.label for old in pending]


def reject_candidate(session: Session, adapter: Adapter, *, actor: str, reason: str) -> None:
    adapter.status = "rejected"
    adapter.decision = reason
    record_event(session, actor=actor, action="reject", subject=adapter.label, details={"reason": reason})


def rollback(
    session: Session,
    *,
    actor: str,
    to_version: int | str | None = None,
    reason: str | None = None,
    servable: Callable[[Adapter], bool] | None = None,
) -> tuple[Adapter | None, Adapter | None]:
    """Take the live adapter down and put back `to_version` or the latest one live before it that
    `servable` accepts (default: any; a serving engine loads some adapters only).

    With no earlier adapter the base model serves again. Returns (taken down, now live).
    """
    current = live_adapter(session)
    if to_version is not None:
        target: Adapter | None = get_adapter(session, to_version)
        assert target is not None
        if target.erased:
            raise RegistryError(f"{target.label} was trained on erased data and cannot serve again")
        if target.status in ("rejected", "candidate", "pending"):
            raise RegistryError(
                f"{target.label} was never live ({target.status}); roll back to an adapter "
                f"that was promoted before"
            )
        if current is not None and target.id == current.id:
            raise RegistryError(f"{target.label} is already live")
    else:
        if current is None:
            raise RegistryError("nothing to roll back: the base model is serving, no adapter is live")
        earlier = session.scalars(
            select(Adapter)
            .where(
                Adapter.status == "retired",
                Adapter.erased.is_(False),
                Adapter.promoted_at < current.promoted_at,
            )
            .order_by(Adapter.promoted_at.desc())
        )
        target = next((a for a in earlier if servable is None or servable(a)), None)
    if current is not None:
        current.status = "rolled_back"
    if target is not None:
        target.status = "live"
        target.promoted_at = utcnow()
    record_event(
        session,
        actor=actor,
        action="rollback",
        subject=target.label if target else "base",
        details={"from": current.label if current else "base", **({"reason": reason} if reason else {})},
    )
    return current, target


def history(session: Session, limit: int = 10) -> list[Adapter]:
    return list(session.scalars(select(Adapter).order_by(Adapter.version.desc()).limit(limit)))
