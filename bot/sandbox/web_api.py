"""A Slack-compatible Web API on a local port, holding channels' messages in memory.

Implements what tunebot calls (auth.test, chat.postMessage/update/postEphemeral,
chat.startStream/appendStream/stopStream, assistant.threads.setStatus/setSuggestedPrompts/setTitle,
conversations.replies, conversations.list, reactions.add, users.list, usergroups.users.list,
views.open/publish, and Sign in with Slack: bot/sandbox/openid.py) with Slack's
request formats (form, JSON, query) and response shapes, and records every call so tests and the
sandbox page can read them back. Other paths can be mounted (the sandbox's web page).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

if TYPE_CHECKING:
    from bot.sandbox.socket_mode import SocketModeServer


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
    ephemerals: list[dict[str, Any]] = field(default_factory=list)  # chat.postEphemeral, with "user"
    views: dict[str, dict[str, Any]] = field(default_factory=dict)  # views.open by trigger_id
    triggers: dict[str, str] = field(default_factory=dict)  # trigger_id -> the user who caused it
    users: dict[str, str] = field(default_factory=dict)  # user id -> display name
    # user id -> the rest of its users.list entry: real_name and profile (first/last/display name)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)  # channel id -> name (D…: a direct message)
    version: int = 0  # bumped by every change, so a page can poll cheaply
    home_views: dict[str, dict[str, Any]] = field(default_factory=dict)  # App Home tab per user
    user_groups: dict[str, list[str]] = field(default_factory=dict)  # S… id -> member user ids
    # method -> (calls still to refuse, Retry-After seconds): Slack's HTTP 429 "ratelimited"
    rate_limits: dict[str, tuple[int, int]] = field(default_factory=dict)
    # The tokens Slack accepts (others get invalid_auth, as Slack answers); empty: any token.
    tokens: set[str] = field(default_factory=set)
    # The token's scopes, sent as Slack does in the x-oauth-scopes header (empty: not sent).
    scopes: list[str] = field(default_factory=list)
    # Slack's native streaming (chat.startStream ...); off: the methods are unknown, as in a
    # workspace without them.
    native_streaming: bool = True
    # Slack's assistant pane: (DM channel, thread ts) -> the thread's title and suggested prompts.
    assistant_threads: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # (channel, thread ts) -> the app's status there ("is thinking…"), in any thread since 2026
    statuses: dict[tuple[str, str], str] = field(default_factory=dict)
    _clock: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_ts(self) -> str:
        with self._lock:
            return self._ts()

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._clock):06d}"

    def touch(self) -> None:
        with self._lock:
            self.version += 1

    def add_message(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.messages.setdefault(channel, []).append(message)
            self.version += 1
        return message

    def open_assistant_thread(self, channel: str) -> str:
        """A new thread in the assistant pane (the app's DM with the user), as Slack opens one: its
        root message belongs to the app. Returns the thread's ts."""
        ts = self.next_ts()
        root = {"type": "message", "subtype": "assistant_app_thread", "ts": ts, "text": ""}
        self.add_message(channel, {**root, "user": self.bot_user_id, "bot_id": self.bot_id})
        with self._lock:
            self.assistant_threads[(channel, ts)] = {"title": "", "prompts": [], "prompts_title": ""}
        return ts

    def clear_status(self, channel: str, thread_ts: str | None) -> None:
        """The app posted in the thread: its status goes, as Slack removes it."""
        with self._lock:
            status = self.statuses.pop((channel, thread_ts or ""), None)
            if status is not None:
                self.version += 1

    def react(self, channel: str, ts: str, name: str, user: str, *, add: bool = True) -> bool:
        """Add (or remove) `user`'s reaction `name`; False when nothing changed."""
        message = self.find(channel, ts)
        if message is None:
            return False
        with self._lock:
            reactions = message.setdefault("reactions", [])
            reaction = next((r for r in reactions if r["name"] == name), None)
            if add == (reaction is not None and user in reaction["users"]):
                return False
            if add and reaction is None:
                reactions.append({"name": name, "users": [user], "count": 1})
            elif add and reaction is not None:
                reaction["users"].append(user)
                reaction["count"] += 1
            elif reaction is not None:
                reaction["users"].remove(user)
                reaction["count"] -= 1
                if not reaction["users"]:
                    reactions.remove(reaction)
            self.version += 1
        return True

    def record_response(self, path: str, args: dict[str, Any]) -> None:
        with self._lock:
            self.responses.append({"url": path, **args, "received_ts": self._ts()})
            self.version += 1

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


def _too_long(args: dict[str, Any]) -> dict[str, Any] | None:
    """Slack's limits on a message: 40,000 characters of text, 50 blocks, 3,000 characters of a
    section's text."""
    if len(args.get("text") or "") > 40_000:
        return _error("msg_too_long")
    blocks = _json_arg(args.get("blocks")) or []
    sections = [b.get("text", {}).get("text", "") for b in blocks if b.get("type") == "section"]
    if len(blocks) > 50 or any(len(text) > 3000 for text in sections):
        return _error("invalid_blocks")
    return None


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
        if refused := _too_long(args):
            return refused
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
        if metadata := _json_arg(args.get("metadata")):
            message["metadata"] = metadata
        self.ws.add_message(channel, message)
        self.ws.clear_status(channel, args.get("thread_ts"))
        return _ok(channel=channel, ts=message["ts"], message=message)

    def chat_startStream(self, args: dict[str, Any]) -> dict[str, Any]:
        """A message that is written while it streams (in a thread; to a person in channels)."""
        if not self.ws.native_streaming:
            return _error("unknown_method")
        channel, thread_ts = args.get("channel"), args.get("thread_ts")
        if not channel or not thread_ts:
            return _error("invalid_arguments")
        if not channel.startswith("D") and not (
            args.get("recipient_user_id") and args.get("recipient_team_id")
        ):
            return _error("missing_recipient_user_id")
        message = {
            "type": "message",
            "ts": self.ws.next_ts(),
            "user": self.ws.bot_user_id,
            "bot_id": self.ws.bot_id,
            "text": args.get("markdown_text") or "",
            "blocks": [],
            "thread_ts": thread_ts,
            "streaming": True,  # until chat.stopStream
            "streamed": True,  # its text is Markdown, shown above its blocks
        }
        self.ws.add_message(channel, message)
        self.ws.clear_status(channel, thread_ts)
        return _ok(channel=channel, ts=message["ts"])

    def chat_appendStream(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._stream(args, stop=False)

    def chat_stopStream(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._stream(args, stop=True)

    def _stream(self, args: dict[str, Any], *, stop: bool) -> dict[str, Any]:
        if not self.ws.native_streaming:
            return _error("unknown_method")
        message = self.ws.find(args.get("channel", ""), args.get("ts", ""))
        if message is None:
            return _error("message_not_found")
        if not message.get("streaming"):
            return _error("message_not_in_streaming_state")
        if not stop and not args.get("markdown_text"):
            return _error("no_text")
        if refused := _too_long({"text": message["text"] + (args.get("markdown_text") or ""), **args}):
            return refused
        message["text"] += args.get("markdown_text") or ""
        if stop:
            message["streaming"] = False
            message["blocks"] = _json_arg(args.get("blocks")) or []
        self.ws.touch()
        return _ok(channel=args["channel"], ts=message["ts"])

    def chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.ws.find(args.get("channel", ""), args.get("ts", ""))
        if message is None:
            return _error("message_not_found")
        if refused := _too_long(args):
            return refused
        message["text"] = args.get("text", message["text"])
        if metadata := _json_arg(args.get("metadata")):
            message["metadata"] = metadata
        if args.get("blocks") is not None:
            message["blocks"] = _json_arg(args["blocks"])
        self.ws.touch()
        return _ok(channel=args["channel"], ts=message["ts"], text=message["text"])

    def chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("user"):
            return _error("invalid_arguments")
        message = {
            "ts": self.ws.next_ts(),
            "channel": args["channel"],
            "user": args["user"],
            "text": args.get("text", ""),
            "blocks": _json_arg(args.get("blocks")) or [],
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.ws.ephemerals.append(message)
        self.ws.touch()
        return _ok(message_ts=message["ts"])

    def conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel", ""), args.get("ts", "")
        messages = self.ws.thread(channel, ts)
        if not messages:
            return _error("thread_not_found")
        limit = int(args.get("limit", 1000))
        if str(args.get("include_all_metadata", "")).lower() not in ("1", "true"):
            messages = [{k: v for k, v in m.items() if k != "metadata"} for m in messages]
        return _ok(messages=messages[:limit], has_more=len(messages) > limit)

    # -- the assistant pane (assistant.threads.*) ------------------------------------------
    def assistant_threads_setStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        """The app's status in a thread (any thread: chat:write or assistant:write); "" clears it."""
        channel, thread_ts = args.get("channel_id", ""), args.get("thread_ts", "")
        if channel not in self.ws.messages:
            return _error("channel_not_found")
        if self.ws.find(channel, thread_ts) is None or "status" not in args:
            return _error("invalid_thread_ts" if "status" in args else "invalid_arguments")
        with self.ws._lock:
            if args["status"]:
                self.ws.statuses[(channel, thread_ts)] = str(args["status"])
            else:
                self.ws.statuses.pop((channel, thread_ts), None)
        self.ws.touch()
        return _ok()

    def assistant_threads_setSuggestedPrompts(self, args: dict[str, Any]) -> dict[str, Any]:
        thread = self._assistant_thread(args)
        if thread is None:
            return _error("invalid_thread_ts")
        prompts = _json_arg(args.get("prompts"))
        if (
            not isinstance(prompts, list)
            or not 1 <= len(prompts) <= 4
            or not all(isinstance(p, dict) and p.get("title") and p.get("message") for p in prompts)
        ):
            return _error("invalid_arguments")
        thread.update(prompts=prompts, prompts_title=args.get("title") or "")
        self.ws.touch()
        return _ok()

    def assistant_threads_setTitle(self, args: dict[str, Any]) -> dict[str, Any]:
        thread = self._assistant_thread(args)
        if thread is None:
            return _error("invalid_thread_ts")
        if not args.get("title"):
            return _error("invalid_arguments")
        thread["title"] = str(args["title"])
        self.ws.touch()
        return _ok()

    def _assistant_thread(self, args: dict[str, Any]) -> dict[str, Any] | None:
        return self.ws.assistant_threads.get((args.get("channel_id", ""), args.get("thread_ts", "")))

    def reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel", ""), args.get("timestamp", "")
        if self.ws.find(channel, ts) is None:
            return _error("message_not_found")
        if not self.ws.react(channel, ts, args.get("name", ""), self.ws.bot_user_id):
            return _error("already_reacted")
        return _ok()

    def users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """Members a page at a time, as Slack pages them: `limit` and an opaque `cursor`."""
        ids = sorted(self.ws.users)
        start = _cursor_start(args.get("cursor"))
        if start is None:
            return _error("invalid_cursor")
        limit = max(1, min(int(args.get("limit") or 200), 1000))
        page = ids[start : start + limit]
        members = [self._member(u) for u in page]
        more = start + limit < len(ids)
        return _ok(members=members, response_metadata={"next_cursor": _cursor(start + limit) if more else ""})

    def _member(self, user: str) -> dict[str, Any]:
        extra = self.ws.profiles.get(user, {})
        bot = user == self.ws.bot_user_id
        profile = {"display_name": self.ws.users[user], **extra.get("profile", {})}
        return {
            "id": user,
            "team_id": self.ws.team_id,
            "name": extra.get("name", self.ws.users[user]),
            "real_name": extra.get("real_name", profile.get("real_name", "")),
            "deleted": False,
            "is_bot": bot or bool(extra.get("is_bot")),
            "profile": profile,
        }

    def conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        channels = [
            {"id": c, "name": name, "is_channel": True, "is_archived": False}
            for c, name in sorted(self.ws.channels.items())
            if not c.startswith("D")
        ]
        start = _cursor_start(args.get("cursor"))
        if start is None:
            return _error("invalid_cursor")
        limit = max(1, min(int(args.get("limit") or 100), 1000))
        more = start + limit < len(channels)
        return _ok(
            channels=channels[start : start + limit],
            response_metadata={"next_cursor": _cursor(start + limit) if more else ""},
        )

    def usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        users = self.ws.user_groups.get(args.get("usergroup", ""))
        return _ok(users=list(users)) if users is not None else _error("no_such_subteam")

    def views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = _json_arg(args.get("view"))
        if not args.get("user_id") or not isinstance(view, dict) or view.get("type") != "home":
            return _error("invalid_arguments")
        self.ws.home_views[args["user_id"]] = view
        self.ws.touch()
        return _ok(view={"id": f"V{self.ws.next_ts().replace('.', '')}", **view})

    def views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = _json_arg(args.get("view"))
        if not args.get("trigger_id") or not isinstance(view, dict):
            return _error("invalid_arguments")
        self.ws.views[args["trigger_id"]] = view
        self.ws.touch()
        return _ok(view={"id": f"V{self.ws.next_ts().replace('.', '')}", **view})


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"position:{position}".encode()).decode()


def _cursor_start(cursor: str | None) -> int | None:
    """Where a page starts: 0 without a cursor, None for one this server never gave out."""
    if not cursor:
        return 0
    try:
        kind, _, position = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        return int(position) if kind == "position" else None
    except (ValueError, UnicodeDecodeError):
        return None


def _json_arg(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


# A mounted page: (HTTP method, path, query args, body) -> (status, content type, body[, headers]),
# or None when the path is not its own.
Page = Callable[[str, str, dict[str, Any], bytes], "tuple[Any, ...] | None"]


class SlackWebApi:
    """Serves the Web API on 127.0.0.1:`port` (0: any free port) in a background thread."""

    def __init__(self, workspace: Workspace | None = None, port: int = 0):
        self.workspace = workspace or Workspace()
        from bot.sandbox.openid import OpenIdProvider

        self._methods = _Methods(self.workspace)
        self.openid = OpenIdProvider(self.workspace)  # Sign in with Slack
        self.pages: list[Page] = [self.openid.page]
        self.socket_mode: SocketModeServer | None = None  # set: apps.connections.open hands out its URLs
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def url(self) -> str:
        return self.root_url + "api/"

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
                if not self._page("GET", parsed.path, _flat(parse_qs(parsed.query)), b""):
                    self._dispatch(parsed.path, _flat(parse_qs(parsed.query)))

            def do_POST(self) -> None:
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self._page("POST", parsed.path, _flat(parse_qs(parsed.query)), body):
                    return
                raw = body.decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    args = json.loads(raw or "{}")
                else:
                    args = _flat(parse_qs(raw))
                args.update(_flat(parse_qs(parsed.query)))
                self._dispatch(parsed.path, args)

            def _page(self, method: str, path: str, query: dict[str, Any], body: bytes) -> bool:
                for page in api.pages:
                    if (answer := page(method, path, query, body)) is not None:
                        status, content_type, payload, *headers = answer
                        self.send_response(status)
                        for name, value in (headers[0] if headers else {}).items():
                            self.send_header(name, value)
                        self.send_header("Content-Type", content_type)
                        self.send_header("Content-Length", str(len(payload)))
                        self.send_header("Cache-Control", "no-store")
                        self.end_headers()
                        self.wfile.write(payload)
                        return True
                return False

            def _dispatch(self, path: str, args: dict[str, Any]) -> None:
                if path.startswith("/respond/"):
                    api.workspace.record_response(path, args)
                    return self._reply({"ok": True})
                if not path.startswith("/api/"):
                    return self._reply(_error("not_found"), status=404)
                method = path.removeprefix("/api/")
                auth = self.headers.get("Authorization") or ""
                if method == "openid.connect.token":  # the app's client id and secret, not a token
                    secret_free = {k: v for k, v in args.items() if k not in ("client_secret", "code")}
                    api.workspace.calls.append(ApiCall(method, secret_free, None))
                    return self._reply(api.openid.token(args, auth))
                token = auth.removeprefix("Bearer ") or args.get("token")
                api.workspace.calls.append(ApiCall(method, args, token))
                if not token:
                    return self._reply(_error("not_authed"))
                if method == "openid.connect.userInfo":  # a user token from openid.connect.token
                    return self._reply(api.openid.user_info(token))
                if api.workspace.tokens and token not in api.workspace.tokens:
                    return self._reply(_error("invalid_auth"))
                if (retry_after := api.workspace.take_rate_limit(method)) is not None:
                    return self._reply(_error("ratelimited"), status=429, retry_after=retry_after)
                if method == "apps.connections.open":  # Socket Mode: an app-level token only
                    if not token.startswith("xapp-"):
                        return self._reply(_error("not_allowed_token_type"))
                    if api.socket_mode is None:
                        return self._reply(_error("app_not_socket_mode_enabled"))
                    return self._reply(_ok(url=api.socket_mode.open_url()))
                handler = getattr(api._methods, method.replace(".", "_"), None)
                scopes = {"x-oauth-scopes": ",".join(api.workspace.scopes)} if api.workspace.scopes else {}
                self._reply(handler(args) if handler else _error("unknown_method"), headers=scopes)

            def _reply(
                self,
                payload: dict[str, Any],
                status: int = 200,
                retry_after: int | None = None,
                headers: dict[str, str] | None = None,
            ) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if retry_after is not None:
                    self.send_header("Retry-After", str(retry_after))
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def _flat(query: dict[str, list[str]]) -> dict[str, Any]:
    return {key: values[-1] for key, values in query.items()}
