"""Turning reactions, buttons and corrections into feedback records (scrubbed first)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from policies.schema import FeedbackPolicy
from storage import Database
from storage.exchanges import (
    add_feedback,
    endorse,
    find_correction,
    find_exchange,
    get_exchange,
    latest_exchange_in_thread,
    withdraw_feedback,
)

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.metrics import Metrics
    from policies.privacy import Scrubber


class FeedbackService:
    def __init__(
        self, db: Database, scrubber: Scrubber, policy: FeedbackPolicy, metrics: Metrics | None = None
    ):
        self.db = db
        self.scrubber = scrubber
        self.policy = policy
        self.metrics = metrics

    def _count(self, kind: str) -> None:
        if self.metrics is not None:
            self.metrics.feedback.labels(kind).inc()

    def reaction_kind(self, reaction: str) -> str | None:
        name = reaction.split("::", 1)[0]  # skin tones: "+1::skin-tone-2"
        if name in self.policy.approve_reactions:
            return "approve"
        if name in self.policy.reject_reactions:
            return "reject"
        return None

    def react(
        self,
        *,
        channel_id: str,
        message_ts: str,
        reaction: str,
        user_id: str,
        removed: bool = False,
    ) -> str | None:
        """Record (or withdraw) a reaction on a bot answer, or an approval of someone's correction
        (a :+1: on the correction's thread reply). Returns the feedback kind, if any."""
        kind = self.reaction_kind(reaction)
        if kind is None:
            return None
        with self.db.session() as session:
            exchange = find_exchange(session, channel_id, message_ts)
            if exchange is None:
                correction = find_correction(session, channel_id, message_ts) if kind == "approve" else None
                if correction is None:
                    return None
                changed = endorse(session, correction, user_id=user_id, reaction=reaction, withdraw=removed)
                if changed:
                    self._count("endorse_withdrawn" if removed else "endorse")
                    log.info("correction %s endorsed%s", correction.id, " (withdrawn)" if removed else "")
                return "endorse" if changed else None
            if removed:
                withdraw_feedback(session, exchange, kind=kind, user_id=user_id, reaction=reaction)
            else:
                add_feedback(session, exchange, kind=kind, user_id=user_id, reaction=reaction)
        self._count(f"{kind}_withdrawn" if removed else kind)
        log.info("feedback %s%s on exchange %s", kind, " withdrawn" if removed else "", exchange.id)
        return kind

    def vote(self, *, exchange_id: int, kind: str, user_id: str, toggle: bool = False) -> str | None:
        """A button vote (approve / reject) on an exchange, by id: "added", or with `toggle` (Slack's
        feedback buttons, which behave as reactions do) "withdrawn" when the same person clicks the
        same button again; a click on the other button replaces their vote. None: no such exchange."""
        opposite = {"approve": "reject", "reject": "approve"}[kind]
        with self.db.session() as session:
            exchange = get_exchange(session, exchange_id)
            if exchange is None:
                return None
            button = f"button:{kind}"
            if toggle and withdraw_feedback(session, exchange, kind=kind, user_id=user_id, reaction=button):
                outcome = "withdrawn"
            else:
                if toggle:
                    withdraw_feedback(
                        session, exchange, kind=opposite, user_id=user_id, reaction=f"button:{opposite}"
                    )
                add_feedback(session, exchange, kind=kind, user_id=user_id, reaction=button)
                outcome = "added"
        self._count(f"{kind}_withdrawn" if outcome == "withdrawn" else kind)
        log.info(
            "feedback %s%s on exchange %s", kind, " withdrawn" if outcome == "withdrawn" else "", exchange_id
        )
        return outcome

    def correction_text(self, text: str) -> str | None:
        """The corrected answer if `text` is a `correction:` reply, else None."""
        prefix = self.policy.correction_prefix.lower()
        stripped = text.lstrip()
        if not stripped.lower().startswith(prefix):
            return None
        body = stripped[len(prefix) :].strip()
        return body or None

    def correct(
        self,
        *,
        user_id: str,
        corrected: str,
        exchange_id: int | None = None,
        channel_id: str | None = None,
        thread_ts: str | None = None,
        before_ts: str | None = None,
        context: Sequence[str] = (),
        message_ts: str | None = None,
    ) -> int | None:
        """Correct the exchange with `exchange_id`, or the thread's latest answer before `before_ts`.

        `context` is the raw thread before the correction: scrubbed together with it (and then
        dropped), so the same person or value gets the same placeholder as in the stored prompt.
        `message_ts`: the thread reply that made the correction, so reactions on it can back it.
        """
        scrubbed = self.scrubber.scrub_conversation([*context, corrected])[-1]
        with self.db.session() as session:
            if exchange_id is not None:
                exchange = get_exchange(session, exchange_id)
            elif channel_id and thread_ts:
                exchange = latest_exchange_in_thread(session, channel_id, thread_ts, before_ts)
            else:
                raise ValueError("a correction needs an exchange id or a thread")
            if exchange is None:
                return None
            add_feedback(
                session,
                exchange,
                kind="correct",
                user_id=user_id,
                corrected_reply=scrubbed,
                message_ts=message_ts,
            )
            exchange_id = exchange.id
        self._count("correct")
        log.info("feedback correct on exchange %s", exchange_id)
        return exchange_id

    def exchange_thread(self, exchange_id: int) -> tuple[str, str, str] | None:
        """(channel, thread ts, reply ts) of an exchange, to read its thread back from Slack."""
        with self.db.session() as session:
            exchange = get_exchange(session, exchange_id)
            return (exchange.channel_id, exchange.thread_ts, exchange.reply_ts) if exchange else None

    def exchange_reply(self, *, channel_id: str, reply_ts: str) -> tuple[int, str] | None:
        """(exchange id, stored reply) of the bot answer at `reply_ts`, for the correction modal."""
        with self.db.session() as session:
            exchange = find_exchange(session, channel_id, reply_ts)
            return (exchange.id, exchange.reply) if exchange else None
