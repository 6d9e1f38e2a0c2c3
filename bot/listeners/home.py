"""The App Home tab: published fresh each time someone opens it."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot.services.registry import Services
from bot.views import home_view


def register(app: Any, services: Services) -> None:
    @app.event("app_home_opened")
    def on_home_opened(event: dict, client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab
        client.views_publish(user_id=event["user"], view=home_view(services.tune.status()))
