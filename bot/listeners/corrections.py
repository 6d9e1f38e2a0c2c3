"""Answer feedback buttons, the "Correct this answer" modal and its message shortcut."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot.listeners.threads import thread_turns
from bot.services.registry import Services
from bot.views import (
    APPROVE_ACTION,
    CORRECT_ACTION,
    CORRECT_SHORTCUT,
    CORRECTION_MODAL,
    FEEDBACK_ACTION,
    GOOD,
    REJECT_ACTION,
    correction_modal,
    message_modal,
)

CORRECTION_SAVED = "Thanks, your correction is saved."


def register(app: Any, services: Services) -> None:
    def open_modal(client: WebClient, trigger_id: str, channel: str, message: dict) -> None:
        found = services.feedback.exchange_reply(channel_id=channel, reply_ts=message.get("ts", ""))
        if found is None:
            view = message_modal("Not a tunebot answer", "Only tunebot's answers can be corrected.")
        else:
            exchange_id, stored = found
            view = correction_modal(exchange_id, message.get("text") or stored)
        client.views_open(trigger_id=trigger_id, view=view)

    @app.action(CORRECT_ACTION)
    def on_correct_button(ack: Any, body: dict, client: WebClient) -> None:
        ack()
        open_modal(client, body["trigger_id"], body["channel"]["id"], body["message"])

    @app.shortcut(CORRECT_SHORTCUT)
    def on_correct_shortcut(ack: Any, shortcut: dict, client: WebClient) -> None:
        ack()
        open_modal(client, shortcut["trigger_id"], shortcut["channel"]["id"], shortcut["message"])

    def vote(kind: str | None) -> Any:
        """A click on a feedback button: `kind`, or for Slack's feedback buttons the clicked one's."""

        def on_vote(ack: Any, body: dict, respond: Any) -> None:
            ack()
            chosen = kind or ("approve" if body["actions"][0].get("value") == GOOD else "reject")
            found = services.feedback.exchange_reply(
                channel_id=body["channel"]["id"], reply_ts=body["message"]["ts"]
            )
            if found is None:
                return
            outcome = services.feedback.vote(
                exchange_id=found[0], kind=chosen, user_id=body["user"]["id"], toggle=kind is None
            )
            noted = "Your feedback is withdrawn." if outcome == "withdrawn" else "Thanks, noted."
            respond(text=noted, response_type="ephemeral", replace_original=False)

        return on_vote

    app.action(FEEDBACK_ACTION)(vote(None))  # the thumbs up / down every answer carries
    app.action(APPROVE_ACTION)(vote("approve"))  # answers posted before them
    app.action(REJECT_ACTION)(vote("reject"))

    @app.view(CORRECTION_MODAL)
    def on_correction_submitted(ack: Any, body: dict, view: dict, client: WebClient, context: dict) -> None:
        value = view["state"]["values"].get("correction", {}).get("text", {}).get("value") or ""
        if not value.strip():
            ack(
                response_action="errors",
                errors={"correction": "Write the answer tunebot should give."},
            )
            return
        ack()
        exchange_id = int(view["private_metadata"])
        where = services.feedback.exchange_thread(exchange_id)
        # The thread up to the answer, scrubbed with the correction so their placeholders agree.
        earlier = thread_turns(client, *where, context.get("bot_user_id")) if where else []
        user = body["user"]["id"]
        saved = services.feedback.correct(
            exchange_id=exchange_id, user_id=user, corrected=value, context=[t.text for t in earlier]
        )
        # Slack closes the modal at the ack, before the correction is scrubbed and stored: say when it is.
        if where and saved is not None:
            client.chat_postEphemeral(channel=where[0], thread_ts=where[1], user=user, text=CORRECTION_SAVED)
