"""Slack's side of Socket Mode, on loopback: the WebSocket that `apps.connections.open` hands out.

As Slack does (api.slack.com/apis/socket-mode): each URL carries a one-time ticket; a connection
gets a `hello` first; events, slash commands and interactivity arrive wrapped in envelopes with an
`envelope_id`, which the app acknowledges (with a `payload` where the envelope accepts one: a slash
command's reply, a view submission's response); an envelope not acknowledged within 3 seconds is
sent again with `retry_attempt` and `retry_reason`; `disconnect` (`refresh_requested`,
`link_disabled`, `warning`) asks the app to open a new connection, and a dropped connection is
reconnected by the app. What is delivered while no connection is open waits for the next one.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

ACK_SECONDS = 3.0
RETRIES = 3  # Slack sends an unacknowledged envelope up to three more times


class SocketModeServer:
    """Start with `start()`; `open_url()` is `apps.connections.open`; `send()` delivers an envelope."""

    def __init__(self, app_id: str = "A0SANDBOX") -> None:
        self.app_id = app_id
        self.envelopes: list[dict[str, Any]] = []  # every envelope sent, retries included
        self.connections = 0  # connections opened so far
        self.ignore_acks = 0  # the next N acknowledgements are dropped (to test retries)
        self._tickets: set[str] = set()
        self._current: ServerConnection | None = None
        self._changed = threading.Condition()
        self._acks: dict[str, dict[str, Any]] = {}
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SocketModeServer:
        self._server = serve(self._connection, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="socket-mode")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    def open_url(self) -> str:
        """A new connection's URL, good for one connection (what apps.connections.open returns)."""
        assert self._server is not None, "start() first"
        ticket = uuid.uuid4().hex
        with self._changed:
            self._tickets.add(ticket)
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={ticket}&app_id={self.app_id}"

    def wait_connected(self, timeout: float = 30) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._current is not None, timeout):
                raise TimeoutError("no Socket Mode connection")

    def send(self, kind: str, payload: dict[str, Any], *, first_attempt: int = 0) -> dict[str, Any] | None:
        """Deliver `payload` as an envelope of `kind` (events_api, slash_commands, interactive) and
        wait for its acknowledgement, sending it again as Slack does while none comes. Returns the
        acknowledgement (with its `payload`, if the app sent one), or None after the last retry."""
        envelope_id = str(uuid.uuid4())
        accepts = kind in ("slash_commands", "interactive")
        for attempt in range(first_attempt, first_attempt + RETRIES + 1):
            envelope = {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": accepts,
                "retry_attempt": attempt,
                "retry_reason": "timeout" if attempt else "",
            }
            with self._changed:
                if not self._changed.wait_for(lambda: self._current is not None, 30):
                    return None
                connection = self._current
            self.envelopes.append(envelope)
            try:
                assert connection is not None
                connection.send(json.dumps(envelope))
            except ConnectionClosed:
                continue  # sent again once the app has reconnected
            with self._changed:
                if self._changed.wait_for(lambda: envelope_id in self._acks, ACK_SECONDS):
                    return self._acks.pop(envelope_id)
        return None

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the app to reconnect (Slack does this every few hours, and before deploys)."""
        with self._changed:
            connection = self._current
        if connection is not None:
            message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "sandbox"}}
            connection.send(json.dumps(message))

    def drop(self) -> None:
        """Cut the connection as a network failure would (no disconnect message first)."""
        with self._changed:
            connection, self._current = self._current, None
        if connection is not None:
            connection.socket.close()

    def _connection(self, connection: ServerConnection) -> None:
        request = connection.request
        ticket = parse_qs(urlparse(request.path if request else "").query).get("ticket", [""])[0]
        with self._changed:
            if ticket not in self._tickets:
                connection.close(code=1008, reason="invalid ticket")
                return
            self._tickets.discard(ticket)
            self._current = connection  # the newest connection gets what is sent from now on
            self.connections += 1
            self._changed.notify_all()
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "sandbox", "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }
        try:
            connection.send(json.dumps(hello))
            for message in connection:
                ack = json.loads(message)
                if "envelope_id" not in ack:
                    continue
                with self._changed:
                    if self.ignore_acks:
                        self.ignore_acks -= 1
                        continue
                    self._acks[ack["envelope_id"]] = ack
                    self._changed.notify_all()
        except (ConnectionClosed, OSError):
            pass
        finally:
            with self._changed:
                if self._current is connection:
                    self._current = None
                self._changed.notify_all()
