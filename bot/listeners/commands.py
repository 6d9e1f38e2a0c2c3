"""`/tune status | history | run | rollback [VERSION] | approve VERSION | pause | resume | forget [@someone] |
words [keep|scrub|forget WORD] | help`."""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.services.registry import Services
from bot.services.user_groups import UserGroups
from bot.services.words import USAGE
from bot.views import HELP_TEXT, history_text, status_text, text_blocks
from tuner.cycle import CycleResult

log = logging.getLogger(__name__)

SUBCOMMANDS = (
    "status",
    "history",
    "run",
    "rollback",
    "approve",
    "pause",
    "resume",
    "forget",
    "words",
    "help",
)
_USER_REF = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$|^([UW][A-Z0-9]{2,})$")


def _words(services: Services, args: list[str], user: str) -> str:
    if not args:
        return services.words.listing()
    if len(args) != 2 or args[0].lower() not in ("keep", "scrub", "forget"):
        return USAGE
    return services.words.change(args[0].lower(), args[1], f"slack:{user}")


def register(app: Any, services: Services) -> None:
    tune = services.tune
    groups = UserGroups(app.client)

    def forget(ack: Any, respond: Any, user: str, named: str | None) -> None:
        target = user
        if named is not None:
            match = _USER_REF.match(named)
            if match is None:
                ack(response_type="ephemeral", text="Usage: `/tune forget` or `/tune forget @someone`.")
                return
            target = match.group(1) or match.group(2)
        if target != user and not (access := tune.may(user, "forget_others", groups.contains)).allowed:
            ack(response_type="ephemeral", text=f":no_entry: {access.reason}.")
            return
        ack(response_type="ephemeral", text="Erasing…")

        def notify(result: CycleResult) -> None:
            respond(response_type="ephemeral", text=f"Retraining without the erased data: {result.outcome}.")

        respond(response_type="ephemeral", text=tune.forget(target, user, notify))

    @app.command("/tune")
    def on_tune(ack: Any, command: dict, respond: Any) -> None:
        words = (command.get("text") or "").split()
        sub = words[0].lower() if words else "status"
        if sub not in SUBCOMMANDS or sub == "help":
            prefix = "" if sub == "help" else f"Unknown subcommand `{sub}`.\n"
            ack(response_type="ephemeral", text=prefix + HELP_TEXT)
            return
        user = command["user_id"]
        access = tune.may(user, sub, groups.contains)
        if not access.allowed:
            ack(response_type="ephemeral", text=f":no_entry: {access.reason}.")
            return
        if sub == "status":
            text = status_text(tune.status())
            ack(response_type="ephemeral", text=text, blocks=text_blocks(text))
        elif sub == "history":
            ack(response_type="ephemeral", text=history_text(tune.status()))
        elif sub in ("pause", "resume"):
            text = tune.pause(user) if sub == "pause" else tune.resume(user)
            ack(
                response_type="in_channel",
                text=(":pause_button: " if sub == "pause" else ":arrow_forward: ") + text,
            )
        elif sub == "forget":
            forget(ack, respond, user, words[1] if len(words) > 1 else None)
        elif sub == "words":
            ack(response_type="ephemeral", text=_words(services, words[1:], user))
        elif sub == "rollback":
            ack(response_type="ephemeral", text="Rolling back…")
            result = tune.rollback(actor=user, to_version=words[1] if len(words) > 1 else None)
            respond(
                response_type="in_channel" if result.ok else "ephemeral",
                text=(":rewind: " if result.ok else ":warning: ") + result.message,
            )
        elif sub == "approve":
            if len(words) != 2:
                ack(
                    response_type="ephemeral",
                    text="Usage: `/tune approve VERSION` (a pending candidate, e.g. v3).",
                )
                return
            ack(response_type="ephemeral", text=f"Approving {words[1]}…")
            result = tune.approve(actor=user, version=words[1])
            respond(
                response_type="in_channel" if result.ok else "ephemeral",
                text=(":white_check_mark: " if result.ok else ":warning: ") + result.message,
            )
        elif sub == "run":
            ack(response_type="ephemeral", text="Starting a tune cycle; I'll report back here.")

            def notify(result: CycleResult) -> None:
                respond(response_type="ephemeral", text=f"Tune cycle {result.outcome}: {result.message}")

            tune.run_now(f"slack:{user}", notify)
