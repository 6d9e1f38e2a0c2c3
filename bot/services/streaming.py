"""Showing an answer while it is generated, off the generation's path.

Generation hands over the text so far at every word; a worker thread passes it to Slack at most
once per interval, so generation never waits for Slack. Two ways, one interface (`push`, `close`,
then `finish` with the answer or `fail`):

- `NativeStream`: Slack's streaming methods (chat.startStream, chat.appendStream with what is new,
  chat.stopStream with the answer's buttons), where the workspace has them;
- `StreamingMessage`: a placeholder message edited with chat.update (about one edit a second is
  allowed), the final edit bringing the answer's blocks; used where startStream was refused (the
  refusal is remembered: `ChatService.native_streaming`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack_format import fallback_text
from bot.views import answer_blocks, answer_controls

log = logging.getLogger(__name__)

TYPING = " ▍"


THINKING = "_thinking…_"
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


def open_stream(
    chat: Any,
    client: WebClient,
    channel: str,
    thread_ts: str,
    team: str | None,
    user: str | None,
    status: str = "",
) -> StreamingMessage | NativeStream:
    """The answer's message, open for streaming: natively where the workspace allows it, started
    with the first words and the thread showing `status` ("is thinking…") until then (Slack clears
    it when the app posts); else a placeholder, posted at once."""
    if not chat.native_streaming:
        return StreamingMessage(
            client, channel, _placeholder(client, channel, thread_ts), chat.stream_interval
        )
    if status:
        try:
            client.assistant_threads_setStatus(channel_id=channel, thread_ts=thread_ts, status=status)
        except SlackApiError as error:  # a workspace that refuses it only loses the status
            log.debug("no status in %s: %s", channel, error.response.get("error"))
    return NativeStream(chat, client, channel, thread_ts, team, user)


def _placeholder(client: WebClient, channel: str, thread_ts: str) -> str:
    return str(client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=THINKING)["ts"])


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

    def finish(self, text: str, adapter_version: str, recalled: int = 0) -> None:
        """The final answer with its buttons (after `close()`); `recalled`: the team answers from
        answer memory it drew on, said in the footer."""
        blocks = answer_blocks(text, adapter_version, recalled)
        self.client.chat_update(
            channel=self.channel, ts=self.ts, text=fallback_text(text) or "…", blocks=blocks
        )

    def fail(self, text: str) -> None:
        self.client.chat_update(channel=self.channel, ts=self.ts, text=text)

    def close(self) -> None:
        """Stop editing; returns once no edit is in flight, so the final answer lands last."""
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            text = self._latest
            if text and text != self._shown:
                self._update(text)

    def _update(self, text: str) -> None:
        try:
            self.client.chat_update(channel=self.channel, ts=self.ts, text=fallback_text(text) + TYPING)
            self._shown = text
        except SlackApiError as error:  # a lost edit is fine: the final answer follows
            log.warning("could not update the streaming answer: %s", error.response.get("error"))


class NativeStream(StreamingMessage):
    """Slack's own streaming: the message starts (chat.startStream) with the first words, what is new
    since the last append goes with chat.appendStream, the buttons with chat.stopStream (the
    streamed text is the message: no copy of it in blocks). Where startStream is refused (anything
    but a transient error), the placeholder path takes over and native streaming is off for this
    process (`chat.native_streaming`)."""

    def __init__(
        self, chat: Any, client: WebClient, channel: str, thread_ts: str, team: str | None, user: str | None
    ):
        self.chat, self.thread_ts, self.team, self.user = chat, thread_ts, team, user
        self.native = True  # False once startStream was refused: chat.update from then on
        self._starting = threading.Lock()
        super().__init__(client, channel, "", chat.stream_interval)  # ts: set by _start

    def _start(self) -> None:
        with self._starting:
            if self.ts:
                return
            try:
                started = self.client.chat_startStream(
                    channel=self.channel,
                    thread_ts=self.thread_ts,
                    recipient_team_id=self.team,
                    recipient_user_id=self.user,
                )
                self.ts = started["ts"]
                return
            except SlackApiError as error:
                code = error.response.get("error")
                if code not in TRANSIENT:
                    self.chat.native_streaming = False
                    log.warning(
                        "native streaming refused (%s): answers stream by chat.update from now on", code
                    )
            self.native = False
            self.ts = _placeholder(self.client, self.channel, self.thread_ts)

    def _update(self, text: str) -> None:
        """What is new since the last append (streamed text can only grow), once the message is
        started; the placeholder's edit where startStream was refused."""
        self._start()
        if not self.native:
            return super()._update(text)
        if not text.startswith(self._shown):
            return
        try:
            self.client.chat_appendStream(
                channel=self.channel, ts=self.ts, markdown_text=text[len(self._shown) :]
            )
            self._shown = text
        except SlackApiError as error:  # the rest goes with the next append or the stop
            log.warning("could not append to the streaming answer: %s", error.response.get("error"))

    def close(self) -> None:
        """Stop streaming; the message exists from here on (`ts`), even for an empty answer."""
        super().close()
        self._start()

    def finish(self, text: str, adapter_version: str, recalled: int = 0) -> None:
        if not self.native:
            return super().finish(text, adapter_version, recalled)
        rest = text[len(self._shown) :] if text.startswith(self._shown) else ""
        if not (self._shown or rest):
            rest = "…"  # an empty answer still shows as one
        controls = answer_controls(adapter_version, recalled)
        self.client.chat_stopStream(
            channel=self.channel, ts=self.ts, markdown_text=rest or None, blocks=controls
        )
        if not text.startswith(self._shown):  # what was streamed is not the answer's start: replace it
            super().finish(text, adapter_version, recalled)

    def fail(self, text: str) -> None:
        if not self.native:
            return super().fail(text)
        self.client.chat_stopStream(channel=self.channel, ts=self.ts, markdown_text=f"\n\n{text}")
