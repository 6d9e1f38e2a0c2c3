"""Mentions and DMs get an answer in the thread; `correction:` thread replies become feedback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

from bot.listeners.threads import strip_mentions, thread_turns
from bot.services.chat import Turn
from bot.services.registry import Services
from bot.services.streaming import open_stream
from tuner.engine_client import EngineUnavailable

log = logging.getLogger(__name__)

FAILED = "Sorry, I could not answer that just now; the error is in tunebot's log."
UNAVAILABLE = "The model is unavailable right now (its engine cannot be reached); ask again in a minute."

_IGNORED_SUBTYPES = {
    "bot_message",
    "message_changed",
    "message_deleted",
    "channel_join",
    "channel_leave",
    "thread_broadcast",
    "message_replied",
}


def register(app: Any, services: Services) -> None:
    @app.event("app_mention")
    def on_mention(event: dict, client: WebClient, context: dict) -> None:
        if from_bot(event, context):
            return
        if correction(services, event, client, context.get("bot_user_id")):
            return
        answer_in_thread(services, client, event, context["bot_user_id"])

    @app.event("message")
    def on_message(event: dict, client: WebClient, context: dict) -> None:
        if event.get("subtype") in _IGNORED_SUBTYPES or from_bot(event, context):
            return
        bot_user = context.get("bot_user_id")
        if bot_user and f"<@{bot_user}>" in (event.get("text") or ""):
            return  # the app_mention event answers this one
        if event.get("thread_ts") and correction(services, event, client, bot_user):
            return
        if event.get("channel_type") == "im":
            answer_in_thread(services, client, event, bot_user)


def from_bot(event: dict, context: dict) -> bool:
    return bool(event.get("bot_id")) or event.get("user") in (None, context.get("bot_user_id"))


def correction(services: Services, event: dict, client: WebClient, bot_user: str | None) -> bool:
    """Record a `correction:` reply in a thread. True when the message was one."""
    corrected = services.feedback.correction_text(strip_mentions(event.get("text") or ""))
    if corrected is None or not event.get("thread_ts"):
        return False
    # Scrubbed together with the thread, so placeholders match the stored prompt (<PERSON_1> ...).
    earlier = thread_turns(client, event["channel"], event["thread_ts"], event["ts"], bot_user, before=True)
    exchange_id = services.feedback.correct(
        user_id=event["user"],
        corrected=corrected,
        channel_id=event["channel"],
        thread_ts=event["thread_ts"],
        before_ts=event["ts"],
        context=[t.text for t in earlier],
        message_ts=event["ts"],
    )
    if exchange_id is not None:
        client.reactions_add(channel=event["channel"], timestamp=event["ts"], name="memo")
    return True


def answer_in_thread(
    services: Services,
    client: WebClient,
    event: dict,
    bot_user: str | None,
    on_question: Callable[[list[Turn]], None] | None = None,
) -> None:
    """Answer the event's question in its thread (the thread so far is the conversation);
    `on_question` sees the turns first (the assistant pane titles a thread with its first)."""
    channel, ts = event["channel"], event["ts"]
    thread_ts = event.get("thread_ts") or ts
    question = strip_mentions(event.get("text") or "")
    if not question:
        client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text="Ask me a question and I'll answer in this thread.",
        )
        return
    if event.get("thread_ts"):
        turns = thread_turns(client, channel, thread_ts, ts, bot_user)
        if not turns or turns[-1].role != "user":
            turns.append(Turn("user", question, event.get("user")))
    else:
        turns = [Turn("user", question, event.get("user"))]
    if on_question is not None:
        on_question(turns)
    # The streamed message gives the reply its ts, so the exchange is stored before its buttons
    # appear: feedback never arrives for an unknown exchange.
    status = services.assistant.policy.thinking_status
    stream = open_stream(
        services.chat, client, channel, thread_ts, event.get("team"), event.get("user"), status
    )
    try:
        answer = services.chat.answer(turns, on_text=stream.push)
        stream.close()
        services.chat.record(
            channel_id=channel,
            thread_ts=thread_ts,
            question_ts=ts,
            reply_ts=stream.ts,
            turns=turns,
            answer=answer,
            asked_by=event.get("user"),
        )
    except Exception as exc:
        stream.close()
        unavailable = isinstance(exc, EngineUnavailable)
        if unavailable:
            log.warning("answering in %s: %s", channel, exc)
        else:
            log.exception("answering in %s failed", channel)
        stream.fail(UNAVAILABLE if unavailable else FAILED)
        return
    # The buttons come once the exchange is stored.
    stream.finish(answer.text, answer.adapter_version, answer.recalled)
    log.info("answered in %s with %s", channel, answer.adapter_version)
