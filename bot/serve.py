"""`tunebot serve`: the bot and the scheduler in one process, Socket Mode or HTTP."""

from __future__ import annotations

import logging

from bot.http_server import build_http_app
from bot.runtime import Runtime
from bot.services.notices import NoticeService
from bot.slack_app import build_slack_app
from storage.runs import fail_abandoned_runs
from tuner.scheduler import TuneScheduler

log = logging.getLogger(__name__)

REGISTRY_POLL_SECONDS = 5


class ServeError(RuntimeError):
    """A setting that serving needs is missing; the message names it."""


def serve(runtime: Runtime) -> None:
    settings = runtime.settings
    if not settings.slack_bot_token:
        raise ServeError("SLACK_BOT_TOKEN is not set (the bot's xoxb- token)")
    if not settings.slack_app_token and not settings.slack_signing_secret:
        raise ServeError("HTTP mode needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN for Socket Mode)")
    with runtime.db.session() as session:
        if failed := fail_abandoned_runs(session):
            log.warning("marked %d interrupted tune run(s) failed", failed)
    log.info("loading the base model and the live adapter")
    model = runtime.live_model
    scheduler = TuneScheduler(runtime.cycle, runtime.policies.training)
    scheduler.watch(runtime.follow_registry, seconds=REGISTRY_POLL_SECONDS, job_id="follow-registry")
    services = runtime.services(scheduler)
    app = build_slack_app(
        token=settings.slack_bot_token,
        signing_secret=settings.slack_signing_secret,
        api_url=settings.slack_api_url,
        services=services,
        first_delivery=runtime.first_delivery,
    )
    if settings.notices_channel:
        notices = NoticeService(runtime.db, app.client, settings.notices_channel)
        scheduler.watch(notices.post_pending, seconds=REGISTRY_POLL_SECONDS, job_id="notices")
    scheduler.start()
    try:
        if settings.slack_app_token:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            log.info("Socket Mode; serving %s", model.version)
            SocketModeHandler(app, settings.slack_app_token).start()
        else:
            import uvicorn

            http = build_http_app(
                app, health=lambda: {"ok": True, "adapter": model.version}, metrics=runtime.metrics.registry
            )
            log.info("HTTP mode on %s:%s; serving %s", settings.host, settings.port, model.version)
            uvicorn.run(http, host=settings.host, port=settings.port, log_level="warning")
    finally:
        scheduler.shutdown()
