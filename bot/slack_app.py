"""The one Bolt `App`: its Web API client (honoring SLACK_API_URL) and every listener."""

from __future__ import annotations

import logging
import re

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.listeners import MODULES
from bot.services.registry import Services


def build_slack_app(*, token: str, signing_secret: str | None, api_url: str, services: Services) -> App:
    base_url = api_url if api_url.endswith("/") else api_url + "/"
    client = WebClient(token=token, base_url=base_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    app = App(
        client=client,
        signing_secret=signing_secret,
        # Listeners run after the ack (Slack's 3-second limit), in Bolt's worker threads.
        process_before_response=False,
        # The ack middleware would log "unhandled request" with the whole payload; we list events.
        raise_error_for_unhandled_request=False,
    )
    for module in MODULES:
        module.register(app, services)

    # Registered last (Bolt runs the first match): any other event is acknowledged and ignored, as
    # a non-2xx answer makes Slack retry and, repeated, turn the event subscription off.
    @app.event(re.compile(".*"))
    def ignore_other_events(event: dict, logger: logging.Logger) -> None:
        logger.debug("ignored event type %s", event.get("type"))

    return app
