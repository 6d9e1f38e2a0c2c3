"""Socket Mode end to end: Bolt's SocketModeHandler against the local Slack's WebSocket
(bot/sandbox/socket_mode.py), which speaks Slack's side of it: hello, envelopes, acknowledgements
(with payloads), retries of what was not acknowledged, disconnect requests, dropped connections."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bot import test_slack_e2e as e2e
from tests.conftest import BotHarness, wait_for


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The transport is what is tested here: SQLite alone (the HTTP suite runs both databases)."""
    return f"sqlite:///{tmp_path / 'tunebot.db'}"


# The HTTP suite's scenarios that do not depend on HTTP itself (signatures, /healthz), run as they
# are over Socket Mode: answers (streamed natively, and by chat.update where that is refused),
# feedback, corrections (reply and modal), /tune commands, retries.
SCENARIOS: list[Callable[[BotHarness], None]] = [
    e2e.test_mention_gets_a_threaded_answer_and_is_recorded,
    e2e.test_answer_streams_into_the_placeholder_where_native_streaming_is_refused,
    e2e.test_thumbs_up_approves_and_removing_it_withdraws,
    e2e.test_correction_reply_in_thread_becomes_the_target,
    e2e.test_correct_button_opens_modal_and_submission_corrects,
    e2e.test_tune_status_reports_live_adapter_and_dataset,
    e2e.test_unknown_subcommand_gets_help,
    e2e.test_slack_retries_of_an_event_are_acknowledged_but_not_handled_again,
    e2e.test_direct_message_is_answered_without_a_mention,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("test_"))
def test_the_http_scenarios_over_socket_mode(socket_bot: BotHarness, scenario: Callable) -> None:
    scenario(socket_bot)


def test_hello_then_envelopes_acknowledged_and_a_missed_ack_sent_again(socket_bot: BotHarness) -> None:
    server = socket_bot.slack.socket_mode
    assert server.connections == 1
    opened = socket_bot.workspace.calls_to("apps.connections.open")
    assert [c.token for c in opened] == ["xapp-sandbox-token"]  # the app-level token, not the bot's
    # A slash command's reply travels in the acknowledgement's payload.
    delivered = socket_bot.send.command(e2e.ALICE, "help", socket_bot.slack.response_url("r1"))
    assert delivered.status == 200 and "/tune" in delivered.body
    # An acknowledgement that never arrives: Slack sends the envelope again, marked as a retry, and
    # the bot answers the question once.
    server.ignore_acks = 1
    message, _ = e2e.mention(socket_bot, "What port does billing use?")
    attempts: dict[str, list[tuple[int, str]]] = {}
    for envelope in server.envelopes:
        if envelope["type"] == "events_api" and envelope["payload"]["event"].get("ts") == message["ts"]:
            retry = (envelope["retry_attempt"], envelope["retry_reason"])
            attempts.setdefault(envelope["payload"]["event_id"], []).append(retry)
    # The first event's acknowledgement was dropped: it came again as retry 1; the other once.
    assert sorted(attempts.values()) == [[(0, "")], [(0, ""), (1, "timeout")]]
    time.sleep(1)
    assert len(socket_bot.bot_replies(e2e.CHANNEL, message["ts"])) == 1


def test_a_disconnect_request_and_a_dropped_connection_are_reconnected_losing_nothing(
    socket_bot: BotHarness,
) -> None:
    server = socket_bot.slack.socket_mode
    server.disconnect("refresh_requested")
    wait_for(lambda: server.connections == 2, timeout=30, message="a new connection after the request")
    e2e.mention(socket_bot, "Where is the runbook?")

    # Cut mid-answer: the answer in flight still arrives, once; the next question waits for the
    # reconnection and is answered too.
    socket_bot.runtime.live_model.max_new_tokens = 60
    first, _ = socket_bot.send.user_message(
        e2e.CHANNEL, e2e.ALICE, f"<@{socket_bot.workspace.bot_user_id}> tell me about billing"
    )
    server.drop()
    second, _ = socket_bot.send.user_message(
        e2e.CHANNEL, e2e.BOB, f"<@{socket_bot.workspace.bot_user_id}> and about staging?"
    )
    socket_bot.wait_reply(e2e.CHANNEL, first["ts"])
    socket_bot.wait_reply(e2e.CHANNEL, second["ts"])
    assert server.connections == 3
    time.sleep(1)
    for message in (first, second):
        assert len(socket_bot.bot_replies(e2e.CHANNEL, message["ts"])) == 1
