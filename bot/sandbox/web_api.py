"""A Slack-compatible Web API on a local port, holding channels' messages in memory.

Implements what tunebot calls (auth.test, chat.postMessage/update/postEphemeral,
conversations.replies, reactions.add, views.open) with Slack's request formats (form, JSON, query)
and response shapes, and records every call so tests and the sandbox can read them back.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class ApiCall:
    method: str
    args: dict[str, Any]
    token: str | None


@dataclass
class Workspace:
    """The state a Slack workspace would hold for these methods."""

    team_id: str = "T0SANDBOX"
    bot_user_id: str = "U0TUNEBOT"
    bot_id: str = "B0TUNEBOT"
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[ApiCall] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # posts to response_url
    home_views: dict[str, dict[str, Any]] = field(default_factory=dict)  # App Home tab per user
    user_groups: dict[str, list[str]] = field(default_factory=dict)  # S… id -> member user ids
    # method -> (calls still to refuse, Retry-After seconds): Slack's HTTP 429 "ratelimited"
    rate_limits: dict[str, tuple[int, int]] = field(default_factory=dict)
    _clock: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_ts(self) -> str:
        with self._lock:
            return f"{int(time.time())}.{next(self._clock):06d}"

    def add_message(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.messages.setdefault(channel, []).append(message)
        return message

    def find(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return sorted(
            (
                m
                for m in self.messages.get(channel, [])
                if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts
            ),
            key=lambda m: float(m["ts"]),
        )

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in list(self.calls) if c.method == method]

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP 429 and a Retry-After header."""
        with self._lock:
            self.rate_limits[method] = (times, retry_after)

    def take_rate_limit(self, method: str) -> int | None:
        """Retry-After seconds if this call is refused, consuming one refusal."""
        with self._lock:
            times, retry_after = self.rate_limits.get(method, (0, 0))
            if times <= 0:
                return None
            self.rate_limits[method] = (times - 1, retry_after)
            return retry_after


def _ok(**fields: Any) -> dict[str, Any]:
    return {"ok": True, **fields}


def _error(code: str) -> dict[str, Any]:
    return {"ok": False, "error": code}


class _Methods:
    """One function per Web API method; each gets the parsed args and returns the JSON reply."""

    def __init__(self, workspace: Workspace):
        self.ws = workspace

    def auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return _ok(
            url="https://sandbox.slack.local/",
            team="Sandbox",
            user="tunebot",
            team_id=self.ws.team_id,
            user_id=self.ws.bot_user_id,
            bot_id=self.ws.bot_id,
        )

    def chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return _error("channel_not_found")
        if not (args.get("text") or args.get("blocks")):
            return _error("no_text")
        message = {
            "type": "message",
            "ts": self.ws.next_ts(),
            "user": self.ws.bot_user_id,
            "bot_id": self.ws.bot_id,
            "text": args.get("text", ""),
            "blocks": _json_arg(args.get("blocks")) or [],
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.ws.add_message(channel, message)
        return _ok(channel=channel, ts=message["ts"], message=message)

    def chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.ws.find(args.get("channel", ""), args.get("ts", ""))
        if message is None:
            return _error("message_not_found")
        message["text"] = args.get("text", message["text"])
        if args.get("blocks") is not None:
            message["blocks"] = _json_arg(args["blocks"])
        return _ok(channel=args["channel"], ts=message["ts"], text=message["text"])

    def chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return _ok(message_ts=self.ws.next_ts())

    def conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel", ""), args.get("ts", "")
        messages = self.ws.thread(channel, ts)
        if not messages:
            return _error("thread_not_found")
        limit = int(args.get("limit", 1000))
        return _ok(messages=messages[:limit], has_more=len(messages) > limit)

    def reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.ws.find(args.get("channel", ""), args.get("timestamp", ""))
        if message is None:
            return _error("message_not_found")
        reaction = next((r for r in message.setdefault("reactions", []) if r["name"] == args["name"]), None)
        if reaction is None:
            message["reactions"].append({"name": args["name"], "users": [self.ws.bot_user_id], "count": 1})
        return _ok()

    def usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        users = self.ws.user_groups.get(args.get("usergroup", ""))
        return _ok(users=list(users)) if users is not None else _error("no_such_subteam")

    def views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = _json_arg(args.get("view"))
        if not args.get("user_id") or not isinstance(view, dict) or view.get("type") != "home":
            return _error("invalid_arguments")
        self.ws.home_views[args["user_id"]] = view
        return _ok(view={"id": f"V{self.ws.next_ts().replace('.', '')}", **view})

    def views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = _json_arg(args.get("view"))
        if not args.get("trigger_id") or not isinstance(view, dict):
            return _error("invalid_arguments")
        return _ok(view={"id": f"V{self.ws.next_ts().replace('.', '')}", **view})


def _json_arg(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


class SlackWebApi:
    """Serves the Web API on 127.0.0.1:`port` (0: any free port) in a background thread."""

    def __init__(self, workspace: Workspace | None = None, port: int = 0):
        self.workspace = workspace or Workspace()
        self._methods = _Methods(self.workspace)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def response_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/respond/{name}"

    def start(self) -> SlackWebApi:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="slack-api")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep message text out of stderr
                return

            def do_GET(self) -> None:
                parsed = urlparse(self.path)
                self._dispatch(parsed.path, _flat(parse_qs(parsed.query)))

            def do_POST(self) -> None:
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    args = json.loads(raw or "{}")
                else:
                    args = _flat(parse_qs(raw))
                args.update(_flat(parse_qs(parsed.query)))
                self._dispatch(parsed.path, args)

            def _dispatch(self, path: str, args: dict[str, Any]) -> None:
                if path.startswith("/respond/"):
                    api.workspace.responses.append({"url": path, **args})
                    return self._reply({"ok": True})
                method = path.removeprefix("/api/")
                auth = self.headers.get("Authorization") or ""
                token = auth.removeprefix("Bearer ") or args.get("token")
                api.workspace.calls.append(ApiCall(method, args, token))
                if not token:
                    return self._reply(_error("not_authed"))
                if (retry_after := api.workspace.take_rate_limit(method)) is not None:
                    return self._reply(_error("ratelimited"), status=429, retry_after=retry_after)
                handler = getattr(api._methods, method.replace(".", "_"), None)
                self._reply(handler(args) if handler else _error("unknown_method"))

            def _reply(
                self, payload: dict[str, Any], status: int = 200, retry_after: int | None = None
            ) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", str(retry_after))
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def _flat(query: dict[str, list[str]]) -> dict[str, Any]:
    return {key: values[-1] for key, values in query.items()}
