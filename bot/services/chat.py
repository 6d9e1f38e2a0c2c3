"""Answering a question with the live model, and recording the exchange (scrubbed) afterwards."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from policies.privacy.placeholders import for_people
from policies.schema import MemoryPolicy
from storage import Database
from storage.exchanges import record_exchange
from tuner.live_model import Answer
from tuner.memory import Recalled, answer_with

if TYPE_CHECKING:
    from bot.metrics import Metrics
    from policies.privacy import Scrubber
    from tuner.memory import AnswerMemory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Turn:
    role: str  # user | assistant
    text: str  # raw: lives in memory only, scrubbed before anything is stored
    user: str | None = None  # the Slack user who wrote it (None for the bot)


class ExchangeRecorder:
    """Scrubs a conversation and the bot's reply, then stores them: the only way exchanges are kept."""

    def __init__(self, db: Database, scrubber: Scrubber):
        self.db = db
        self.scrubber = scrubber

    def record(
        self,
        *,
        channel_id: str,
        thread_ts: str,
        question_ts: str,
        reply_ts: str,
        turns: list[Turn],
        reply: str,
        adapter_version: str,
        asked_by: str | None,
        source: str = "live",
        created_at: datetime | None = None,
        recalled: int = 0,
    ) -> int:
        """Returns the exchange id (the existing one if this reply was recorded before)."""
        scrubbed = self.scrubber.scrub_conversation([t.text for t in turns] + [reply])
        prompt = [{"role": t.role, "content": s} for t, s in zip(turns, scrubbed, strict=False)]
        with self.db.session() as session:
            exchange = record_exchange(
                session,
                channel_id=channel_id,
                thread_ts=thread_ts,
                question_ts=question_ts,
                reply_ts=reply_ts,
                prompt=prompt,
                reply=scrubbed[-1],
                adapter_version=adapter_version,
                asked_by=asked_by,
                participants=[t.user for t in turns if t.user],
                source=source,
                created_at=created_at,
                recalled=recalled,
            )
            return exchange.id


class Answering(Protocol):
    """What answers: the model in this process (LiveModel) or a serving engine (EngineModel)."""

    def generate(
        self,
        turns: list[dict[str, str]],
        max_new_tokens: int | None = None,
        on_text: Callable[[str], None] | None = None,
        copy_from: Sequence[str] = (),
        copy_bias: float = 0.0,
    ) -> Answer: ...


class ChatService:
    """Answers with the live model (and the team's answers to close questions, from answer memory);
    the listener records the exchange once the reply is posted."""

    def __init__(
        self,
        model: Answering,
        recorder: ExchangeRecorder,
        metrics: Metrics,
        stream_interval: float = 1.0,
        memory: AnswerMemory | None = None,
    ):
        self.model = model
        self.recorder = recorder
        self.metrics = metrics
        self.memory = memory
        self.stream_interval = stream_interval  # seconds between edits of a streaming answer
        # Slack's native streaming (chat.startStream): tried first; off once the workspace refused it.
        self.native_streaming = True

    def answer(self, turns: list[Turn], on_text: Callable[[str], None] | None = None) -> Answer:
        """The model's answer as people may see it: an adapter trained on scrubbed text can say
        `<PERSON_1>` or `<PASSWORD_1>`; names become words and a secret's answer is withheld."""

        show = None if on_text is None else lambda text: on_text(for_people(text, streaming=True).text)
        messages = [{"role": t.role, "content": t.text} for t in turns]
        recalled = self._recall(turns)
        policy = self.memory.policies.memory if self.memory else MemoryPolicy()
        with self.metrics.answer_seconds.time():
            answer = answer_with(self.model, messages, recalled, policy, on_text=show)
        answer = replace(answer, recalled=len(recalled))
        self.metrics.answers.labels(answer.adapter_version).inc()
        if recalled:
            self.metrics.memory_hits.inc()
        shown = for_people(answer.text)
        if shown.replaced:
            log.info(
                "answer by %s held %d placeholder(s)%s",
                answer.adapter_version,
                shown.replaced,
                ": withheld (a secret)" if shown.withheld else "",
            )
        return replace(answer, text=shown.text)

    def _recall(self, turns: list[Turn]) -> list[Recalled]:
        question = next((t.text for t in reversed(turns) if t.role == "user"), "")
        if self.memory is None or not self.memory.enabled:
            return []
        try:
            recalled = self.memory.recall(question)
        except Exception:  # memory helps; an answer without it is still an answer
            log.exception("answer memory failed; answering without it")
            return []
        if recalled:
            best = recalled[0].similarity
            log.info("answer memory: %d team answer(s), best similarity %.2f", len(recalled), best)
        return recalled

    def record(self, *, answer: Answer, **where: Any) -> int:
        return self.recorder.record(
            reply=answer.text, adapter_version=answer.adapter_version, recalled=answer.recalled, **where
        )
