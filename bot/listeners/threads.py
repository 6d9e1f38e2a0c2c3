"""Reading a Slack thread back as chat turns (raw text: in memory only, scrubbed before storage)."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.services.chat import Turn

log = logging.getLogger(__name__)


def strip_mentions(text: str) -> str:
    return re.sub(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>", "", text).strip()


def thread_turns(
    client: WebClient,
    channel: str,
    thread_ts: str,
    upto_ts: str,
    bot_user: str | None,
    *,
    before: bool = False,
) -> list[Turn]:
    """The thread up to `upto_ts` (or strictly before it), the bot's messages as assistant turns.
    It starts at the first person's message: what the bot said before (the assistant pane's
    greeting, a notice someone replied to) is no part of the conversation it learns from.

    A thread that cannot be read (deleted, or the app lost access) reads as empty.
    """
    try:
        response = client.conversations_replies(channel=channel, ts=thread_ts, limit=50)
    except SlackApiError as error:
        log.warning("could not read thread %s in %s: %s", thread_ts, channel, error.response.get("error"))
        return []
    turns: list[Turn] = []
    messages: list[dict[str, Any]] = response.get("messages", [])
    limit = float(upto_ts)
    for message in messages:
        ts = float(message.get("ts", "0"))
        if ts > limit or (before and ts == limit):
            continue
        text = strip_mentions(message.get("text") or "")
        if not text:
            continue
        from_bot = bool(message.get("bot_id")) or message.get("user") == bot_user
        if from_bot and not turns:
            continue
        turns.append(Turn("assistant", text) if from_bot else Turn("user", text, message.get("user")))
    return turns
