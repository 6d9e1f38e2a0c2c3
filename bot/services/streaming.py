"""Showing an answer while it is generated: the placeholder message edited as text arrives.

Generation hands over the text so far at every word; a worker thread edits the Slack message at
most once per interval (chat.update allows about one edit per second per message), so generation
never waits for Slack. The final answer, with its buttons, is posted by the caller after `close()`.
"""

from __future__ import annotations

import logging
import threading

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack_format import fallback_text

log = logging.getLogger(__name__)

TYPING = " ▍"


class StreamingMessage:
    def __init__(self, client: WebClient, channel: str, ts: str, interval: float = 1.0):
        self.client, self.channel, self.ts, self.interval = client, channel, ts, interval
        self._latest = ""
        self._shown = ""
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream-answer", daemon=True)
        self._thread.start()

    def push(self, text: str) -> None:
        self._latest = text  # a plain assignment: the worker reads whole strings only

    def close(self) -> None:
        """Stop editing; returns once no edit is in flight, so the final answer lands last."""
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            text = self._latest
            if text and text != self._shown:
                try:
                    self.client.chat_update(
                        channel=self.channel, ts=self.ts, text=fallback_text(text) + TYPING
                    )
                    self._shown = text
                except SlackApiError as error:  # a lost edit is fine: the final answer follows
                    log.warning("could not update the streaming answer: %s", error.response.get("error"))
