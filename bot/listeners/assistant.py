"""Slack's assistant pane (the app's "Agents & AI Apps" feature), through Bolt's `Assistant`:
a new thread opens with a greeting and suggested prompts; a question there is answered as a DM
is (status, streamed answer, buttons), and the thread takes its first question as its title.

Bolt's middleware takes every threaded message of a direct message (assistant threads are
threads of the app's DM); channel mentions and top-level DMs go on to bot/listeners/messages.py.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Assistant
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.listeners.messages import answer_in_thread, correction, from_bot
from bot.services.assistant import title
from bot.services.chat import Turn
from bot.services.registry import Services

log = logging.getLogger(__name__)


def register(app: Any, services: Services) -> None:
    assistant = Assistant()

    @assistant.thread_started
    def on_thread_started(say: Any, set_suggested_prompts: Any) -> None:
        say(services.assistant.policy.greeting)
        prompts = services.assistant.suggested_prompts()
        if prompts:
            try:
                set_suggested_prompts(prompts=prompts, title="Asked often here:")
            except SlackApiError as error:
                log.warning("could not suggest prompts: %s", error.response.get("error"))

    @assistant.user_message
    def on_user_message(payload: dict, client: WebClient, context: dict, set_title: Any) -> None:
        if from_bot(payload, context):
            return
        bot_user = context.get("bot_user_id")
        if correction(services, payload, client, bot_user):
            return

        def name_thread(turns: list[Turn]) -> None:
            if sum(t.role == "user" for t in turns) != 1:
                return  # titled by its first question only
            try:
                set_title(title(turns[-1].text))
            except SlackApiError as error:  # a plain DM thread has no title to set
                log.debug("no title for %s: %s", payload.get("thread_ts"), error.response.get("error"))

        answer_in_thread(services, client, payload, bot_user, on_question=name_thread)

    app.assistant(assistant)
