"""Over real signed HTTP: the member list read with users.list, `/tune words`, and answers that never
show a placeholder (issue 22)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from bot.sandbox.web_api import SlackWebApi, Workspace
from bot.services.directory import WorkspaceDirectory
from policies.privacy.placeholders import WITHHELD
from policies.privacy.workspace import WorkspaceNames
from storage.models import AuditEvent, Exchange, ScrubWord
from tests.conftest import ADMIN, NOTICES, BotHarness, wait_for

CHANNEL = "C0GENERAL"
JASPER, VICTORIA = "U01JASPER", "U02VICTORIA"


def _profiles(workspace: Workspace) -> Workspace:
    for user, (handle, first, last) in {
        JASPER: ("jasper.ortiz", "Jasper", "Ortiz"),
        VICTORIA: ("victoria", "Victoria", "Lee"),
    }.items():
        workspace.users[user] = handle
        workspace.profiles[user] = {
            "name": handle,
            "real_name": f"{first} {last}",
            "profile": {"real_name": f"{first} {last}", "first_name": first, "last_name": last},
        }
    workspace.channels[CHANNEL] = "general"
    workspace.channels["C0HERON"] = "heron-mobile"
    return workspace


@pytest.fixture
def team_bot(runtime: Any) -> Iterator[BotHarness]:
    """The bot in a workspace whose members are Jasper Ortiz and Victoria Lee."""
    from bot.sandbox.app import Sandbox

    sandbox = Sandbox(runtime, notices_channel=NOTICES, poll_seconds=0.5, workspace=_profiles(Workspace()))
    sandbox.start()
    assert sandbox.bot is not None and sandbox.send is not None
    yield BotHarness(sandbox.bot_url, runtime, sandbox.slack, sandbox.send, sandbox.bot.services)
    sandbox.stop()
    runtime.scrubber.workspace.set_members([])
    runtime.scrubber.workspace.set_word_lists([], [])


def test_users_list_is_read_page_by_page_through_slack_sdk() -> None:
    slack = SlackWebApi(_profiles(Workspace())).start()
    try:
        for i in range(5):
            slack.workspace.users[f"U1{i:08d}"] = f"someone{i}"
        names = WorkspaceNames()
        directory = WorkspaceDirectory(WebClient(token="xoxb-test", base_url=slack.url), names, page_size=2)
        assert directory.refresh()
        cursors = [c.args.get("cursor") for c in slack.workspace.calls_to("users.list")]
        assert len(cursors) == 4 and cursors[0] is None and all(cursors[1:])  # 8 users, bot included
        assert names.is_member_name("jasper") and names.is_member_name("ortiz")
        assert names.is_member_name("jasper.ortiz") and not names.is_member_name("tunebot")
        assert names.is_vocabulary("heron")  # a channel's name
    finally:
        slack.stop()


def test_a_directory_that_slack_refuses_keeps_the_scrubber_working() -> None:
    slack = SlackWebApi(Workspace()).start()
    try:
        names = WorkspaceNames()
        client = WebClient(token="xoxb-test", base_url=slack.url.replace("/api/", "/nope/"))
        assert not WorkspaceDirectory(client, names).refresh()
        assert not names.known
    finally:
        slack.stop()
    # Slack unreachable (nothing listens there any more): logged, and the bot carries on.
    gone = WebClient(token="xoxb-test", base_url=slack.url, timeout=2)
    assert not WorkspaceDirectory(gone, WorkspaceNames()).refresh()


def test_live_messages_are_scrubbed_with_the_member_list(team_bot: BotHarness) -> None:
    message, _ = team_bot.send.user_message(
        CHANNEL,
        VICTORIA,
        f"<@{team_bot.workspace.bot_user_id}> should I ask jasper whether Victoria Metrics is up?",
    )
    team_bot.wait_reply(CHANNEL, message["ts"])

    def stored() -> str | None:
        with team_bot.runtime.db.session() as session:
            exchange = session.scalar(select(Exchange).where(Exchange.question_ts == message["ts"]))
            return exchange.prompt[-1]["content"] if exchange else None

    prompt = wait_for(stored, message="the exchange to be stored")
    assert prompt == "should I ask <PERSON_1> whether Victoria Metrics is up?"


def test_tune_words_keep_and_scrub_over_signed_http(team_bot: BotHarness) -> None:
    url = team_bot.slack.response_url
    refused = team_bot.send.command(JASPER, "words keep kestrel", url("w0")).json()
    assert "only tunebot admins may run `/tune words`" in refused["text"]
    kept = team_bot.send.command(ADMIN, "words keep Kestrel", url("w1")).json()
    assert "`kestrel` is kept" in kept["text"]
    scrubbed = team_bot.send.command(ADMIN, "words scrub quillfeather", url("w2")).json()
    assert "`quillfeather` is always scrubbed" in scrubbed["text"]
    usage = team_bot.send.command(ADMIN, "words keep", url("w3")).json()
    assert usage["text"].startswith("Usage: `/tune words`")
    with team_bot.runtime.db.session() as session:
        rows = {w.word: w.action for w in session.scalars(select(ScrubWord))}
        audited = [
            e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.subject == "kestrel"))
        ]
    assert rows == {"kestrel": "keep", "quillfeather": "scrub"} and audited == ["words_keep"]
    scrubber = team_bot.runtime.scrubber
    assert scrubber.scrub("ping Kestrel when Quillfeather is up") == "ping Kestrel when <DENY_LIST_1> is up"
    listing = team_bot.send.command(ADMIN, "words", url("w4")).json()["text"]
    assert "*Kept* (never a person): kestrel" in listing and "*Always scrubbed*: quillfeather" in listing
    forgotten = team_bot.send.command(ADMIN, "words forget kestrel", url("w5")).json()
    assert "`kestrel` is on neither list now" in forgotten["text"]


def test_another_replica_picks_up_the_word_lists(team_bot: BotHarness) -> None:
    from storage.scrub_words import set_word

    with team_bot.runtime.db.session() as session:  # as another replica's /tune words would
        set_word(session, "marigold", "keep", actor="slack:U0OTHER")
    wait_for(lambda: "marigold" in team_bot.runtime.scrubber.workspace.keep, message="the keep list")


@pytest.fixture
def parrot_runtime(runtime: Any, tmp_path: Path) -> Any:
    """The runtime with a model trained to answer everything with a scrubbed secret."""
    from tests.factories import save_parrot_model

    runtime.settings.base_model = save_parrot_model(
        tmp_path / "parrot", "The guest wi-fi password is <PASSWORD_1>."
    )
    runtime.settings.max_new_tokens = 24
    return runtime


def test_an_answer_holding_a_secrets_placeholder_is_withheld_in_slack(parrot_runtime: Any) -> None:
    from bot.sandbox.app import Sandbox

    sandbox = Sandbox(parrot_runtime, poll_seconds=0.5).start()
    try:
        assert sandbox.send is not None
        message, _ = sandbox.send.user_message(
            "C0SANDBOX", "U0SANDBOX", f"<@{sandbox.workspace.bot_user_id}> what is the guest wifi password?"
        )
        reply = wait_for(
            lambda: next(
                (m for m in sandbox.workspace.thread("C0SANDBOX", message["ts"]) if m.get("blocks")), None
            ),
            message="the answer",
        )
        assert reply["text"] == WITHHELD
        shown = [c.args.get("text", "") for c in sandbox.workspace.calls if c.method.startswith("chat.")]
        assert shown and not any("<PASSWORD" in text for text in shown)
    finally:
        sandbox.stop()
