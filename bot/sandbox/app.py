"""`tunebot sandbox`: the real bot against a local Slack, with a web page that plays the Slack client.

Three parts on loopback: the Slack-compatible server (Web API, response URLs and the page, one port,
as slack.com would be), the bot exactly as `tunebot serve` runs it, in HTTP mode (its own port, every
request signed) or in Socket Mode (`socket_mode=True`: the bot opens a WebSocket to the local
Slack, bot/sandbox/socket_mode.py), and the scheduler. The page's actions become the events, slash
commands and interactivity payloads Slack would send.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bot.sandbox.delivery import SlackDelivery, SocketDelivery
from bot.sandbox.page import SandboxPage, dm_channel
from bot.sandbox.socket_mode import SocketModeServer
from bot.sandbox.web_api import SlackWebApi, Workspace
from bot.serve import SOCKET_PING_SECONDS, Bot, build_bot
from storage.models import Exchange

if TYPE_CHECKING:
    from collections.abc import Callable

    import uvicorn

    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SANDBOX_USER = "U0SANDBOX"  # the person using the page: "you"
APP_TOKEN = "xapp-sandbox-token"  # Socket Mode's app-level token
DEMO_CHANNEL = "C0SANDBOX"  # without a demo export, the one channel


class Sandbox:
    """Start with `start()`, stop with `stop()`; `url` is the page, `bot_url` the bot's HTTP root.

    The page's user is made a tunebot admin (in this process only), so `/tune run` and
    `/tune rollback` work; build the sandbox before anything reads `runtime.policies`.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        port: int = 0,
        user: str = SANDBOX_USER,
        user_name: str = "you",
        notices_channel: str | None = None,
        poll_seconds: float = 5,
        workspace: Workspace | None = None,
        socket_mode: bool = False,
    ):
        self.runtime = runtime
        self.socket_mode = SocketModeServer() if socket_mode else None
        self._handler: Any = None  # Bolt's SocketModeHandler, in Socket Mode
        self.user = user
        access = runtime.policies.access
        if user not in access.admins:  # the page's user may run every /tune command
            update = {"access": access.model_copy(update={"admins": [*access.admins, user]})}
            runtime.policies = runtime.policies.model_copy(update=update)
        self.slack = SlackWebApi(workspace or Workspace(), port=port)
        self.workspace.users.setdefault(user, user_name)
        self.workspace.users.setdefault(self.workspace.bot_user_id, "tunebot")
        if not self.workspace.channels:
            self.workspace.channels[DEMO_CHANNEL] = "general"
        self.workspace.channels.setdefault(dm_channel(user), self.workspace.users[self.workspace.bot_user_id])
        self.signing_secret = secrets.token_hex(16)
        self.notices_channel = notices_channel
        self.poll_seconds = poll_seconds
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.bot: Bot | None = None
        self.send: SlackDelivery | None = None

    @property
    def workspace(self) -> Workspace:
        return self.slack.workspace

    @property
    def url(self) -> str:
        return self.slack.root_url

    @property
    def bot_url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.servers[0].sockets[0].getsockname()[1]}"

    def start(self) -> Sandbox:
        self.slack.start()
        openid = self.slack.openid  # the review page's Sign in with Slack, as the page's user
        openid.signed_in = openid.signed_in or self.user
        self.bot = build_bot(
            self.runtime,
            token="xoxb-sandbox-token",
            signing_secret=self.signing_secret,
            api_url=self.slack.url,
            notices_channel=self.notices_channel,
            poll_seconds=self.poll_seconds,
            client=(openid.client_id, openid.client_secret),
        )
        self.bot.scheduler.start()
        if self.socket_mode is not None:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            self.slack.socket_mode = self.socket_mode.start()
            self._handler = SocketModeHandler(self.bot.app, APP_TOKEN, ping_interval=SOCKET_PING_SECONDS)
            self._handler.connect()  # apps.connections.open, then the WebSocket; returns once open
            self.socket_mode.wait_connected()
            self.send = SocketDelivery(self.socket_mode, self.workspace)
        self._serve_http(events=self.socket_mode is None)  # as `tunebot serve`: /review in both modes
        if self.socket_mode is None:
            self.send = SlackDelivery(f"{self.bot_url}/slack/events", self.signing_secret, self.workspace)
        assert self.send is not None
        review = f"{self.bot_url}/review/"
        openid.redirect_uris.add(f"{review}callback")
        page = SandboxPage(self.workspace, self.send, self.slack.response_url, self.user, review_url=review)
        self.slack.pages.append(page.handle)
        return self

    def _serve_http(self, *, events: bool) -> None:
        import uvicorn

        assert self.bot is not None
        app = self.bot.http_app(events=events)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="sandbox-bot")
        self._thread.start()
        _wait(lambda: self._server is not None and self._server.started, "the bot's HTTP server")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._handler is not None:
            self._handler.close()
        if self.socket_mode is not None:
            self.socket_mode.stop()
        if self.bot is not None:
            self.bot.scheduler.shutdown()
        self.slack.stop()


def demo_workspace(export: Path) -> Workspace:
    """A workspace showing the export's channels and messages, its bot as the sandbox's bot."""
    from bot.slack_import import read_export

    contents = read_export(export)
    bots = sorted(contents.bots)
    workspace = Workspace(bot_user_id=bots[0]) if bots else Workspace()
    workspace.users.update(contents.users)
    workspace.profiles.update(contents.profiles)
    for channel in contents.channels:
        workspace.channels[channel.id] = channel.name
        for message in channel.messages:
            workspace.add_message(channel.id, dict(message))
    return workspace


def import_demo(runtime: Runtime, export: Path, progress: Callable[[str], None]) -> bool:
    """Import the export unless its channels already hold exchanges; True when it was imported."""
    from bot.services.chat import ExchangeRecorder
    from bot.services.feedback import FeedbackService
    from bot.slack_import import import_export, read_export

    channel_ids = [c.id for c in read_export(export).channels]
    with runtime.db.session() as session:
        if session.scalar(select(Exchange.id).where(Exchange.channel_id.in_(channel_ids)).limit(1)):
            return False
    report = import_export(
        export,
        ExchangeRecorder(runtime.db, runtime.scrubber),
        FeedbackService(runtime.db, runtime.scrubber, runtime.policies.feedback),
        progress=progress,
        workspace=runtime.scrubber.workspace,
    )
    progress(f"imported {report.exchanges} exchanges from the demo workspace")
    return True


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout:.0f}s")
        time.sleep(0.05)
