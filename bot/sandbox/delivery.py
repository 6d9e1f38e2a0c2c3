"""Delivers Slack events, slash commands and interactivity payloads to a bot, signed as Slack does
over HTTP (`SlackDelivery`), or wrapped in envelopes over Socket Mode (`SocketDelivery`).

Each helper also updates the in-memory `Workspace`, so that what the bot later reads back through
the Web API (a thread's messages) matches what was delivered.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from slack_sdk.signature import SignatureVerifier

from bot.sandbox.web_api import Workspace

if TYPE_CHECKING:
    from bot.sandbox.socket_mode import SocketModeServer


@dataclass(frozen=True)
class Delivery:
    status: int
    body: str
    envelope: dict[str, Any] | None = None  # an event's envelope, for redelivering it

    def json(self) -> Any:
        return json.loads(self.body)


class SlackDelivery:
    def __init__(self, events_url: str, signing_secret: str, workspace: Workspace):
        self.events_url = events_url
        self.signing_secret = signing_secret
        self.workspace = workspace
        self._ids = itertools.count(1)

    def _trigger(self, user: str) -> str:
        """A new trigger_id, remembered with its user so views.open can be shown to them."""
        trigger_id = f"trigger.{next(self._ids)}"
        self.workspace.triggers[trigger_id] = user
        return trigger_id

    # -- transport ---------------------------------------------------------------------------
    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Delivery:
        timestamp = int(time.time()) if timestamp is None else timestamp
        if signature is None:
            signature = SignatureVerifier(self.signing_secret).generate_signature(
                timestamp=str(timestamp), body=body.decode()
            )
        request = urllib.request.Request(
            self.events_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": str(timestamp),
                "X-Slack-Signature": signature or "",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Delivery(response.status, response.read().decode())
        except urllib.error.HTTPError as exc:
            return Delivery(exc.code, exc.read().decode())

    def post_json(self, payload: dict[str, Any], **kwargs: Any) -> Delivery:
        return self.post(json.dumps(payload).encode(), "application/json", **kwargs)

    def post_form(self, fields: dict[str, str], **kwargs: Any) -> Delivery:
        return self.post(urlencode(fields).encode(), "application/x-www-form-urlencoded", **kwargs)

    # -- events ------------------------------------------------------------------------------
    def event(self, event: dict[str, Any], **kwargs: Any) -> Delivery:
        envelope = {
            "token": "sandbox-verification",
            "team_id": self.workspace.team_id,
            "api_app_id": "A0SANDBOX",
            "type": "event_callback",
            "event_id": f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": self.workspace.team_id, "user_id": self.workspace.bot_user_id, "is_bot": True}
            ],
            "event": event,
        }
        delivered = self.post_json(envelope, **kwargs)
        return Delivery(delivered.status, delivered.body, envelope)

    def redeliver(self, delivery: Delivery, retry_num: int = 1, reason: str = "http_timeout") -> Delivery:
        """Slack's retry of an event it thinks was missed: the same envelope and event_id again."""
        assert delivery.envelope is not None, "only events can be redelivered"
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason}
        delivered = self.post_json(delivery.envelope, headers=headers)
        return Delivery(delivered.status, delivered.body, delivery.envelope)

    def user_message(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        thread_ts: str | None = None,
        channel_type: str = "channel",
    ) -> tuple[dict[str, Any], list[Delivery]]:
        """A person posts `text`: stored in the workspace, then delivered as Slack would."""
        ts = self.workspace.next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts,
            "team": self.workspace.team_id,
            "channel": channel,
            "channel_type": channel_type,
            "event_ts": ts,
        }
        if thread_ts:
            message["thread_ts"] = thread_ts
        self.workspace.add_message(channel, dict(message))
        deliveries = [self.event(message)]
        if f"<@{self.workspace.bot_user_id}>" in text:
            mention = {**message, "type": "app_mention"}
            mention.pop("channel_type")
            deliveries.append(self.event(mention))
        return message, deliveries

    def reaction(self, channel: str, user: str, ts: str, name: str, *, removed: bool = False) -> Delivery:
        target = self.workspace.find(channel, ts) or {}
        return self.event(
            {
                "type": "reaction_removed" if removed else "reaction_added",
                "user": user,
                "reaction": name,
                "item_user": target.get("user"),
                "item": {"type": "message", "channel": channel, "ts": ts},
                "event_ts": self.workspace.next_ts(),
            }
        )

    def assistant_thread_started(
        self, channel: str, user: str, context_channel: str | None = None
    ) -> Delivery:
        """`user` opens a new thread in the app's assistant pane (while viewing `context_channel`):
        Slack makes the thread in the app's DM and tells the app. The thread's ts is in the event."""
        thread_ts = self.workspace.open_assistant_thread(channel)
        context = (
            {"channel_id": context_channel, "team_id": self.workspace.team_id} if context_channel else {}
        )
        return self.event(
            {
                "type": "assistant_thread_started",
                "assistant_thread": {
                    "user_id": user,
                    "context": context,
                    "channel_id": channel,
                    "thread_ts": thread_ts,
                },
                "event_ts": self.workspace.next_ts(),
            }
        )

    # -- commands and interactivity ----------------------------------------------------------
    def command(self, user: str, text: str, response_url: str, *, channel: str = "C0SANDBOX") -> Delivery:
        return self.post_form(
            {
                "token": "sandbox-verification",
                "team_id": self.workspace.team_id,
                "channel_id": channel,
                "user_id": user,
                "command": "/tune",
                "text": text,
                "response_url": response_url,
                "trigger_id": self._trigger(user),
            }
        )

    def block_action(
        self,
        user: str,
        channel: str,
        message: dict[str, Any],
        action_id: str,
        response_url: str,
        value: str | None = None,
    ) -> Delivery:
        """A click on the element `action_id` of `message` (a feedback button: the one of `value`)."""
        element = _element(message, action_id)
        payload = {
            "type": "block_actions",
            "team": {"id": self.workspace.team_id},
            "user": {"id": user},
            "api_app_id": "A0SANDBOX",
            "token": "sandbox-verification",
            "trigger_id": self._trigger(user),
            "channel": {"id": channel},
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel},
            "message": message,
            "response_url": response_url,
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "b",
                    "type": element.get("type", "button"),
                    "action_ts": self.workspace.next_ts(),
                    **({"value": value} if value is not None else {}),
                }
            ],
        }
        return self.post_form({"payload": json.dumps(payload)})

    def message_shortcut(
        self, user: str, channel: str, message: dict[str, Any], callback_id: str, response_url: str
    ) -> Delivery:
        payload = {
            "type": "message_action",
            "callback_id": callback_id,
            "team": {"id": self.workspace.team_id},
            "user": {"id": user},
            "channel": {"id": channel},
            "message": message,
            "message_ts": message["ts"],
            "trigger_id": self._trigger(user),
            "response_url": response_url,
            "token": "sandbox-verification",
        }
        return self.post_form({"payload": json.dumps(payload)})

    def view_submission(self, user: str, view: dict[str, Any], values: dict[str, Any]) -> Delivery:
        payload = {
            "type": "view_submission",
            "team": {"id": self.workspace.team_id},
            "user": {"id": user},
            "api_app_id": "A0SANDBOX",
            "token": "sandbox-verification",
            "trigger_id": self._trigger(user),
            "view": {**view, "id": "V0SANDBOX", "state": {"values": values}},
        }
        return self.post_form({"payload": json.dumps(payload)})


def _element(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    """The interactive element of `message`'s blocks with this action_id ({} if none)."""
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return dict(element)
    return {}


class SocketDelivery(SlackDelivery):
    """The same deliveries over Socket Mode: an event callback goes as an `events_api` envelope, a
    slash command's form fields as `slash_commands`, an interactivity payload as `interactive`. The
    Delivery's body is the acknowledgement's payload (what the HTTP response's body would be); a
    delivery never acknowledged, after Slack's retries, has status 0. No signatures: the
    connection itself is authenticated."""

    def __init__(self, server: SocketModeServer, workspace: Workspace):
        super().__init__("socket-mode", "", workspace)
        self.server = server

    def post(self, body: bytes, content_type: str, **kwargs: Any) -> Delivery:
        retry = int((kwargs.get("headers") or {}).get("X-Slack-Retry-Num", 0))
        if "json" in content_type:
            kind, payload = "events_api", json.loads(body)
        else:
            fields = {key: values[-1] for key, values in parse_qs(body.decode()).items()}
            if "payload" in fields:
                kind, payload = "interactive", json.loads(fields["payload"])
            else:
                kind, payload = "slash_commands", fields
        ack = self.server.send(kind, payload, first_attempt=retry)
        if ack is None:
            return Delivery(0, "")
        answer = ack.get("payload")
        return Delivery(200, json.dumps(answer) if answer else "")
