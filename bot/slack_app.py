"""The one Bolt `App`: its Web API client (honoring SLACK_API_URL) and every listener."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.listeners import MODULES
from bot.services.registry import Services


def build_slack_app(
    *,
    token: str,
    signing_secret: str | None,
    api_url: str,
    services: Services,
    first_delivery: Callable[[str], bool] | None = None,
) -> App:
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
    if first_delivery is not None:
        is_first = first_delivery

        @app.middleware
        def once_per_event(
            body: dict, next: Callable[[], None], logger: logging.Logger
        ) -> BoltResponse | None:
            # Slack redelivers an event it thinks was missed (X-Slack-Retry-Num), and behind a load
            # balancer another replica may get the retry: the shared table lets one of them act.
            event_id = body.get("event_id") if body.get("type") == "event_callback" else None
            if event_id and not is_first(event_id):
                logger.info("event %s was delivered before; acknowledged, not handled again", event_id)
                return BoltResponse(status=200, body="")
            next()
            return None

    for module in MODULES:
        module.register(app, services)

    # Registered last (Bolt runs the first match): any other event is acknowledged and ignored, as
    # a non-2xx answer makes Slack retry and, repeated, turn the event subscription off.
    @app.event(re.compile(".*"))
    def ignore_other_events(event: dict, logger: logging.Logger) -> None:
        logger.debug("ignored event type %s", event.get("type"))

    return app
