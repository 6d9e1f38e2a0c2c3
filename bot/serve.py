"""`tunebot serve`: the bot and the scheduler in one process, Socket Mode or HTTP."""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError

from slack_bolt import App
from starlette.applications import Starlette

from bot.http_server import build_http_app
from bot.review.app import build_review_app
from bot.review.signin import SlackSignIn, bot_team
from bot.runtime import Runtime
from bot.services.directory import REFRESH_SECONDS, WorkspaceDirectory
from bot.services.notices import NoticeService
from bot.services.registry import Services
from bot.services.review import ReviewService
from bot.slack_app import build_slack_app
from storage.runs import fail_abandoned_runs
from tuner.base_model import is_pulled
from tuner.offline import operator_environ, operator_offline
from tuner.scheduler import TuneScheduler

log = logging.getLogger(__name__)

REGISTRY_POLL_SECONDS = 5
SOCKET_PING_SECONDS = 5  # Socket Mode: seconds between pings to Slack (a dropped connection: four missed)


class ServeError(RuntimeError):
    """A setting that serving needs is missing; the message names it."""


@dataclass
class Bot:
    """The Bolt app with its services and the scheduler that runs cycles and follows the registry."""

    app: App
    services: Services
    scheduler: TuneScheduler
    runtime: Runtime
    review: Starlette  # the review pages (/review)

    def http_app(self, *, events: bool = True) -> Starlette:
        """/healthz, /metrics, /review, and /slack/events unless `events` is off (Socket Mode)."""
        model = self.runtime.live_model
        return build_http_app(
            self.app if events else None,
            health=lambda: {"ok": True, "adapter": model.version},
            metrics=self.runtime.metrics.registry,
            review=self.review,
        )


def build_bot(
    runtime: Runtime,
    *,
    token: str,
    signing_secret: str | None,
    api_url: str,
    notices_channel: str | None = None,
    poll_seconds: float = REGISTRY_POLL_SECONDS,
    client: tuple[str, str] | None = None,
    public_url: str | None = None,
) -> Bot:
    """Everything `tunebot serve` and `tunebot sandbox` run, not yet started (`bot.scheduler.start()`).
    `client`: the app's client id and secret, for the review page's Sign in with Slack."""
    with runtime.db.session() as session:
        if failed := fail_abandoned_runs(session):
            log.warning("marked %d interrupted tune run(s) failed", failed)
    log.info("loading the base model and the live adapter")
    runtime.live_model  # noqa: B018 - load it now, not on the first question
    scheduler = TuneScheduler(runtime.cycle, runtime.policies.training)
    scheduler.watch(runtime.follow_registry, seconds=poll_seconds, job_id="follow-registry")
    services = runtime.services(scheduler)
    app = build_slack_app(
        token=token,
        signing_secret=signing_secret,
        api_url=api_url,
        services=services,
        first_delivery=runtime.first_delivery,
    )
    # Who the workspace's people are, for the scrubber: read now and every hour (memory only).
    directory = WorkspaceDirectory(app.client, runtime.scrubber.workspace)
    directory.refresh()
    scheduler.watch(directory.refresh, seconds=REFRESH_SECONDS, job_id="workspace-directory")
    services.words.refresh()  # /tune words lists, as another replica may have changed them
    scheduler.watch(services.words.refresh, seconds=poll_seconds, job_id="scrub-words")
    if notices_channel:
        notices = NoticeService(runtime.db, app.client, notices_channel)
        scheduler.watch(notices.post_pending, seconds=poll_seconds, job_id="notices")
    service = ReviewService(runtime.db, lambda: runtime.policies, runtime.in_group, directory.name_of)
    signin = SlackSignIn(*client, api_url=api_url, team_id=bot_team(app.client)) if client else None
    review = build_review_app(service, signin, public_url)
    return Bot(app, services, scheduler, runtime, review)


def check_port(host: str, port: int) -> None:
    """Fail now, before the model loads, if HTTP mode could not listen there (as uvicorn binds)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror}): check --host") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ServeError(
                f"cannot listen on {host}:{port} ({exc.strerror}): stop what uses it, or pass --port"
            ) from exc


def check_token(token: str, api_url: str) -> None:
    """auth.test before the model loads (minutes for a large one): a token Slack refuses raises
    slack_sdk's SlackApiError, which the CLI turns into what to fix (bot/cli_errors.py)."""
    from slack_sdk import WebClient

    try:
        WebClient(token=token, base_url=api_url).auth_test()
    except URLError as exc:
        raise ServeError(f"cannot reach Slack's API at {api_url} ({exc.reason}): check the network") from exc


def pull_on_first_start(spec: str, data_dir: Path) -> None:
    """TUNEBOT_BASE_MODEL names a hub model not pulled yet: pull it now, logged, with
    huggingface_hub's progress bars, in a `tunebot model pull` process with the operator's
    environment (this one stays offline). Not where the operator set HF_HUB_OFFLINE: loading then
    says to run `tunebot model pull`."""
    if operator_offline() or is_pulled(spec, data_dir):
        return
    message = f"TUNEBOT_BASE_MODEL={spec} is not pulled yet: pulling it now (tunebot model pull {spec})"
    log.info(message)
    print(message, file=sys.stderr, flush=True)  # the console shows warnings only; this is progress
    pulled = subprocess.run([sys.executable, "-m", "bot.cli", "model", "pull", spec], env=operator_environ())
    if pulled.returncode != 0:
        raise ServeError(f"pulling {spec} failed (above); once that is fixed, start again")


def serve(runtime: Runtime, host: str | None = None, port: int | None = None) -> None:
    """Run the bot until stopped: Socket Mode with SLACK_APP_TOKEN, else HTTP on host:port
    (default: TUNEBOT_HOST / TUNEBOT_PORT)."""
    settings = runtime.settings
    host = settings.host if host is None else host
    port = settings.port if port is None else port
    if not settings.slack_bot_token:
        raise ServeError("SLACK_BOT_TOKEN is not set (the bot's xoxb- token)")
    if not settings.slack_app_token and not settings.slack_signing_secret:
        raise ServeError("HTTP mode needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN for Socket Mode)")
    if bool(settings.slack_client_id) != bool(settings.slack_client_secret):
        raise ServeError("the review page needs both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (or neither)")
    if problem := runtime.engine_problem():
        raise ServeError(problem)
    check_port(host, port)  # HTTP mode's events; in both modes /healthz, /metrics and /review
    check_token(settings.slack_bot_token, settings.slack_api_url)
    pull_on_first_start(settings.base_model, settings.data_dir)
    bot = build_bot(
        runtime,
        token=settings.slack_bot_token,
        signing_secret=settings.slack_signing_secret,
        api_url=settings.slack_api_url,
        notices_channel=settings.notices_channel,
        client=(settings.slack_client_id, settings.slack_client_secret)
        if settings.slack_client_id and settings.slack_client_secret
        else None,
        public_url=settings.public_url,
    )
    bot.scheduler.start()
    handler = None
    try:
        import uvicorn

        version = runtime.live_model.version
        if settings.slack_app_token:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            # A connection cut without a close frame (a network failure) counts as stale after four
            # ping intervals without a pong: about 30 s at 5 s, not the ~60 s of Bolt's default 10.
            handler = SocketModeHandler(bot.app, settings.slack_app_token, ping_interval=SOCKET_PING_SECONDS)
            handler.connect()  # events over the WebSocket; HTTP below for health, metrics, review
            log.info("Socket Mode; serving %s; /healthz, /metrics and /review on %s:%s", version, host, port)
        else:
            log.info("HTTP mode on %s:%s; serving %s", host, port, version)
        app = bot.http_app(events=handler is None)
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        if handler is not None:
            handler.close()
        bot.scheduler.shutdown()
