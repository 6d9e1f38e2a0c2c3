"""`/tune status | history | run | rollback [VERSION] | help`."""

from __future__ import annotations

import logging
from typing import Any

from bot.services.registry import Services
from bot.views import HELP_TEXT, history_text, status_text, text_blocks
from tuner.cycle import CycleResult

log = logging.getLogger(__name__)

SUBCOMMANDS = ("status", "history", "run", "rollback", "help")


def register(app: Any, services: Services) -> None:
    tune = services.tune

    @app.command("/tune")
    def on_tune(ack: Any, command: dict, respond: Any) -> None:
        words = (command.get("text") or "").split()
        sub = words[0].lower() if words else "status"
        if sub not in SUBCOMMANDS or sub == "help":
            prefix = "" if sub == "help" else f"Unknown subcommand `{sub}`.\n"
            ack(response_type="ephemeral", text=prefix + HELP_TEXT)
            return
        user = command["user_id"]
        access = tune.may(user, sub)
        if not access.allowed:
            ack(response_type="ephemeral", text=f":no_entry: {access.reason}.")
            return
        if sub == "status":
            text = status_text(tune.status())
            ack(response_type="ephemeral", text=text, blocks=text_blocks(text))
        elif sub == "history":
            ack(response_type="ephemeral", text=history_text(tune.status()))
        elif sub == "rollback":
            ack(response_type="ephemeral", text="Rolling back…")
            result = tune.rollback(actor=user, to_version=words[1] if len(words) > 1 else None)
            respond(
                response_type="in_channel" if result.ok else "ephemeral",
                text=(":rewind: " if result.ok else ":warning: ") + result.message,
            )
        elif sub == "run":
            ack(response_type="ephemeral", text="Starting a tune cycle; I'll report back here.")

            def notify(result: CycleResult) -> None:
                respond(response_type="ephemeral", text=f"Tune cycle {result.outcome}: {result.message}")

            tune.run_now(f"slack:{user}", notify)
