"""The sandbox's web page: a Slack client for one person, on the local Slack-compatible server.

`GET /` serves the page; it polls `GET /ui/state` and turns clicks into what Slack would send the
bot: message and reaction events, `/tune` slash commands, button clicks, modal submissions, the
App Home being opened and a thread opened in the assistant pane. What the bot does back arrives
through the Web API and shows on the next poll.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

from bot.sandbox.delivery import SlackDelivery
from bot.sandbox.web_api import Workspace

_STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
_COMMAND = re.compile(r"^/(\S+)\s*(.*)$", re.S)

Answer = tuple[int, str, bytes]


def dm_channel(user: str) -> str:
    """The direct-message conversation between `user` and the bot."""
    return "D" + user[1:]


class PageError(ValueError):
    """A request the page cannot act on: answered with HTTP 400 and the message."""


class SandboxPage:
    def __init__(
        self,
        workspace: Workspace,
        send: SlackDelivery,
        response_url: Callable[[str], str],
        user: str,
        review_url: str | None = None,
    ):
        self.ws = workspace
        self.review_url = review_url  # the bot's review page, linked from the sidebar
        self.send = send
        self._response_url = response_url
        self.user = user
        self._response_threads: dict[str, str | None] = {}  # response_url number -> thread it is in
        self._closed: set[str] = set()  # trigger ids of modals the user closed or submitted

    # -- routing -----------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, Any], body: bytes) -> Answer | None:
        if method == "GET" and path in ("/", "/index.html"):
            return 200, "text/html; charset=utf-8", _static("index.html")
        if method == "GET" and path.startswith("/static/") and path[8:] in _STATIC:
            return 200, f"{_STATIC[path[8:]]}; charset=utf-8", _static(path[8:])
        if method == "GET" and path == "/ui/state":
            return _json(self.state())
        actions = {
            "/ui/message": self.post_message,
            "/ui/reaction": self.toggle_reaction,
            "/ui/action": self.click,
            "/ui/view": self.submit_view,
            "/ui/view/close": self.close_view,
            "/ui/home": self.open_home,
            "/ui/assistant": self.open_assistant,
        }
        if method == "POST" and path in actions:
            try:
                args = json.loads(body or b"{}")
                if not isinstance(args, dict):
                    raise PageError("expected a JSON object")
                return _json(actions[path](args))
            except (PageError, json.JSONDecodeError, KeyError) as exc:
                return _json({"ok": False, "error": str(exc)}, status=400)
        return None

    # -- what the page shows -----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        ws = self.ws
        ephemerals = [e for e in ws.ephemerals if e.get("user") == self.user]
        messages = {channel: list(found) for channel, found in ws.messages.items()}
        for response in list(ws.responses):
            where = self._response_target(response)
            if where is None:
                continue
            channel, thread_ts = where
            entry = {
                "channel": channel,
                "ts": response["received_ts"],
                "text": response.get("text", ""),
                "blocks": _blocks(response.get("blocks")),
            }
            if thread_ts:
                entry["thread_ts"] = thread_ts
            if response.get("response_type") == "in_channel":
                posted = {**entry, "user": ws.bot_user_id, "bot_id": ws.bot_id}
                messages.setdefault(channel, []).append(posted)
            else:
                ephemerals.append(entry)
        modal = next(
            (
                {"trigger_id": trigger, "view": view}
                for trigger, view in reversed(list(ws.views.items()))
                if ws.triggers.get(trigger) == self.user and trigger not in self._closed
            ),
            None,
        )
        return {
            "version": ws.version,
            "review_url": self.review_url,
            "me": {"id": self.user, "name": ws.users.get(self.user, self.user)},
            "bot": {"id": ws.bot_user_id, "name": ws.users.get(ws.bot_user_id, "tunebot")},
            "users": ws.users,
            "conversations": [
                {"id": cid, "name": name, "im": cid.startswith("D")} for cid, name in ws.channels.items()
            ],
            "messages": {c: sorted(m, key=lambda x: float(x["ts"])) for c, m in messages.items()},
            "ephemerals": sorted(ephemerals, key=lambda e: float(e["ts"])),
            "modal": modal,
            "home": ws.home_views.get(self.user),
            "assistant": [
                {"channel": channel, "ts": ts, **thread}
                for (channel, ts), thread in list(ws.assistant_threads.items())
                if channel == dm_channel(self.user)
            ],
            "statuses": [
                {"channel": channel, "thread_ts": ts, "status": status}
                for (channel, ts), status in list(ws.statuses.items())
            ],
        }

    def _response_target(self, response: dict[str, Any]) -> tuple[str, str | None] | None:
        """(channel, thread) of a response_url this page handed out for its user, else None."""
        parts = response["url"].split("/")  # /respond/CHANNEL/USER/N
        if len(parts) != 5 or parts[3] != self.user or parts[4] not in self._response_threads:
            return None
        return parts[2], self._response_threads[parts[4]]

    def response_url(self, channel: str, thread_ts: str | None = None) -> str:
        """A response_url whose posts show in `channel` (in `thread_ts`'s thread) for this user."""
        number = str(len(self._response_threads) + 1)
        self._response_threads[number] = thread_ts
        return self._response_url(f"{channel}/{self.user}/{number}")

    # -- what the person does ----------------------------------------------------------------
    def post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        text = str(args.get("text") or "").strip()
        if not text:
            raise PageError("the message is empty")
        if command := _COMMAND.match(text):
            return self._command(channel, command.group(1), command.group(2).strip(), text)
        if not channel.startswith("D"):
            text = self._mentions(text)
        message, _ = self.send.user_message(
            channel,
            self.user,
            text,
            thread_ts=args.get("thread_ts") or None,
            channel_type="im" if channel.startswith("D") else "channel",
        )
        return {"ok": True, "ts": message["ts"]}

    def _command(self, channel: str, name: str, text: str, typed: str) -> dict[str, Any]:
        if name != "tune":
            self._ephemeral(channel, f"`/{name}` is not a valid command. Try `/tune help`.", typed)
            return {"ok": True}
        delivered = self.send.command(self.user, text, self.response_url(channel), channel=channel)
        if delivered.status != 200:
            self._ephemeral(channel, f"/tune failed with HTTP {delivered.status}.", typed)
            return {"ok": False, "status": delivered.status}
        if delivered.body.strip():  # the ack's own message (ephemeral or in_channel)
            ack = delivered.json()
            if ack.get("response_type") == "in_channel":
                self.ws.add_message(
                    channel,
                    {
                        "type": "message",
                        "ts": self.ws.next_ts(),
                        "user": self.ws.bot_user_id,
                        "bot_id": self.ws.bot_id,
                        "text": ack.get("text", ""),
                        "blocks": _blocks(ack.get("blocks")),
                    },
                )
            else:
                self._ephemeral(channel, ack.get("text", ""), typed, _blocks(ack.get("blocks")))
        return {"ok": True}

    def _ephemeral(self, channel: str, text: str, command: str, blocks: list | None = None) -> None:
        self.ws.ephemerals.append(
            {
                "ts": self.ws.next_ts(),
                "channel": channel,
                "user": self.user,
                "text": text,
                "blocks": blocks or [],
                "command": command,
            }
        )
        self.ws.touch()

    def _mentions(self, text: str) -> str:
        """`@name` of a known user (the bot included) becomes Slack's `<@U…>` markup."""
        by_name = {name.lower(): uid for uid, name in self.ws.users.items()}

        def replace(match: re.Match[str]) -> str:
            uid = by_name.get(match.group(1).lower())
            return f"<@{uid}>" if uid else match.group(0)

        return re.sub(r"(?<![\w<])@([\w.-]+)", replace, text)

    def toggle_reaction(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts, name = self._channel(args), str(args["ts"]), str(args["name"]).strip(":")
        message = self.ws.find(channel, ts)
        if message is None:
            raise PageError(f"no message {ts} in {channel}")
        mine = any(r["name"] == name and self.user in r["users"] for r in message.get("reactions", []))
        self.ws.react(channel, ts, name, self.user, add=not mine)
        delivered = self.send.reaction(channel, self.user, ts, name, removed=mine)
        return {"ok": delivered.status == 200, "added": not mine}

    def click(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = self._channel(args), str(args["ts"])
        message = self.ws.find(channel, ts)
        if message is None:
            raise PageError(f"no message {ts} in {channel}")
        thread_ts = message.get("thread_ts") if message.get("thread_ts") != ts else None
        delivered = self.send.block_action(
            self.user,
            channel,
            message,
            str(args["action_id"]),
            self.response_url(channel, thread_ts),
            value=str(args["value"]) if args.get("value") is not None else None,
        )
        return {"ok": delivered.status == 200}

    def submit_view(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = str(args["trigger_id"])
        view = self.ws.views.get(trigger)
        if view is None or trigger in self._closed:
            raise PageError("that dialog is closed")
        typed = args.get("values") or {}
        values = {
            block["block_id"]: {
                block["element"]["action_id"]: {
                    "type": block["element"]["type"],
                    "value": str(typed.get(block["block_id"], "")),
                }
            }
            for block in view.get("blocks", [])
            if block.get("type") == "input" and block.get("block_id")
        }
        delivered = self.send.view_submission(self.user, view, values)
        answer = delivered.json() if delivered.body.strip() else {}
        if delivered.status == 200 and answer.get("response_action") == "errors":
            return {"ok": False, "errors": answer.get("errors", {})}
        self._close(trigger)
        return {"ok": delivered.status == 200}

    def close_view(self, args: dict[str, Any]) -> dict[str, Any]:
        self._close(str(args["trigger_id"]))
        return {"ok": True}

    def _close(self, trigger: str) -> None:
        self._closed.add(trigger)
        self.ws.touch()

    def open_home(self, args: dict[str, Any]) -> dict[str, Any]:
        delivered = self.send.event(
            {
                "type": "app_home_opened",
                "user": self.user,
                "channel": dm_channel(self.user),
                "tab": "home",
                "event_ts": self.ws.next_ts(),
            }
        )
        return {"ok": delivered.status == 200}

    def open_assistant(self, args: dict[str, Any]) -> dict[str, Any]:
        """A new thread in the assistant pane, opened beside the conversation being viewed."""
        viewing = str(args.get("context_channel") or "") or None
        channel = dm_channel(self.user)
        delivered = self.send.assistant_thread_started(channel, self.user, context_channel=viewing)
        thread_ts = (
            delivered.envelope["event"]["assistant_thread"]["thread_ts"] if delivered.envelope else None
        )
        return {"ok": delivered.status == 200, "channel": channel, "ts": thread_ts}

    def _channel(self, args: dict[str, Any]) -> str:
        channel = str(args.get("channel") or "")
        if channel not in self.ws.channels:
            raise PageError(f"no conversation {channel!r}")
        return channel


def _blocks(value: Any) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    return value if isinstance(value, list) else []


def _static(name: str) -> bytes:
    return resources.files("bot.sandbox").joinpath("static", name).read_bytes()


def _json(payload: Any, status: int = 200) -> Answer:
    return status, "application/json; charset=utf-8", json.dumps(payload).encode()
