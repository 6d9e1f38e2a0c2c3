"""Reactions on bot answers (approvals and rejections) and on corrections (approvals of the
correction), withdrawn when the reaction is removed."""

from __future__ import annotations

from typing import Any

from bot.services.registry import Services


def register(app: Any, services: Services) -> None:
    def handle(event: dict, context: dict, removed: bool) -> None:
        item = event.get("item") or {}
        if item.get("type") != "message" or event.get("user") == context.get("bot_user_id"):
            return
        # On a bot answer, or on a person's message that may be a correction: the service looks it up.
        services.feedback.react(
            channel_id=item["channel"],
            message_ts=item["ts"],
            reaction=event.get("reaction", ""),
            user_id=event["user"],
            removed=removed,
        )

    @app.event("reaction_added")
    def on_reaction_added(event: dict, context: dict) -> None:
        handle(event, context, removed=False)

    @app.event("reaction_removed")
    def on_reaction_removed(event: dict, context: dict) -> None:
        handle(event, context, removed=True)
