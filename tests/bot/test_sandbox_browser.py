"""The sandbox page in a real browser: chat, :+1:, a correction, /tune run, status, rollback, Home.

Headless Debian Chromium driven by Playwright (`scripts/install-browser.sh` installs it; set
TUNEBOT_CHROMIUM to use another binary). Screenshots of each step go to `artifacts/screenshots/`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.demo import EXPORT
from storage.models import Exchange, Feedback

CHROMIUM = os.environ.get("TUNEBOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
QUESTION = "What port does the billing service listen on?"
FIX = "The billing service listens on port 8443."

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}: scripts/install-browser.sh installs it"
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the page does not depend on the backend, which the other e2e tests cover."""
    return f"sqlite:///{tmp_path / 'tunebot.db'}"


@pytest.fixture
def sandbox(runtime: Any) -> Iterator[Any]:
    from bot.sandbox.app import Sandbox, demo_workspace, import_demo

    workspace = demo_workspace(EXPORT)
    running = Sandbox(runtime, workspace=workspace, notices_channel=next(iter(workspace.channels)))
    assert import_demo(runtime, EXPORT, lambda _m: None)
    assert not import_demo(runtime, EXPORT, lambda _m: None)  # once only
    running.start()
    yield running
    running.stop()


@contextmanager
def chromium_tab(height: int = 860) -> Iterator[Any]:
    """A tab of headless Chromium; no JavaScript error may happen on its pages."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1280, "height": height})
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.set_default_timeout(60_000)
        yield tab
        browser.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(sandbox: Any) -> Iterator[Any]:
    with chromium_tab() as tab:
        tab.goto(sandbox.url)
        yield tab


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000


def _send(page: Any, text: str, box: str = "composer") -> None:
    page.fill(f"[data-testid={box}]", text)
    page.press(f"[data-testid={box}]", "Enter")


def _ephemeral(page: Any, pattern: str, where: str = "messages", timeout: float = 60_000) -> Any:
    """The newest "only visible to you" message in `where` matching `pattern` (case-sensitive)."""
    found = page.locator(f"[data-testid={where}] [data-testid=ephemeral]").filter(
        has_text=re.compile(pattern)
    )
    found.last.wait_for(timeout=timeout)
    return found.last


def _status(page: Any) -> str:
    """Run `/tune status` and return the new ephemeral answer's text."""
    from playwright.sync_api import expect

    answers = page.locator("[data-testid=messages] [data-testid=ephemeral]").filter(has_text="Live adapter")
    before = answers.count()
    _send(page, "/tune status")
    expect(answers).to_have_count(before + 1)
    return answers.last.inner_text()


def _ask(page: Any, question: str) -> Any:
    """Post a question mentioning the bot; its answer streams into the thread that opens."""
    _send(page, f"@tunebot {question}")
    page.locator("[data-testid=thread] [data-testid=message]").filter(has_text=question).wait_for()
    answer = page.locator("[data-testid=thread] [data-testid=bot-message]").filter(
        has=page.locator("[data-action=answer_feedback][data-value=good]")
    )
    answer.last.wait_for()
    return answer.last


def test_chat_feedback_tune_and_rollback_in_the_browser(page: Any, sandbox: Any, runtime: Any) -> None:
    from bot.sandbox.app import SANDBOX_USER

    # The demo workspace's history is there, and its bot is this bot.
    messages = page.locator("[data-testid=messages]")
    messages.locator("[data-testid=message]").filter(has_text="How long are logs retained?").wait_for()
    assert page.locator("[data-channel=C0DEMO001]").inner_text() == "# ask-tunebot"

    answer = _ask(page, QUESTION)
    # The demo's history has an approved answer about the billing port: answer memory gives it.
    assert answer.locator("[data-testid=context]").inner_text() == "tunebot · base · drew on 1 team answer"
    thread = page.locator("[data-testid=thread]")
    assert thread.locator("[data-testid=message]").first.inner_text().endswith(QUESTION)
    _shot(page, "01-answer")

    # Slack's native :+1: feedback button, then a :+1: reaction from the hover bar.
    answer.locator("[data-action=answer_feedback][data-value=good]").click()
    _ephemeral(page, "Thanks, noted.", where="thread")
    answer.hover()
    answer.locator("[data-react='+1']").click()
    answer.locator(".reaction.mine[data-reaction='+1']").wait_for()

    # "Correct this answer": an empty correction is refused in the modal, a real one is saved.
    answer.locator("[data-action=correct_answer]").click()
    modal = page.locator("[data-testid=modal]")
    modal.wait_for()
    modal.locator("[data-testid=modal-input]").fill("  ")
    modal.locator("[data-testid=modal-submit]").click()
    modal.get_by_text("Write the answer tunebot should give.").wait_for()
    modal.locator("[data-testid=modal-input]").fill(FIX)
    _shot(page, "02-correction")
    modal.locator("[data-testid=modal-submit]").click()
    modal.wait_for(state="hidden")
    # The modal closes at Slack's ack; the bot says so in the thread once the correction is stored.
    _ephemeral(page, "Thanks, your correction is saved.", where="thread")

    reply_ts = answer.get_attribute("data-ts")
    with runtime.db.session() as session:
        exchange = session.scalar(select(Exchange).where(Exchange.reply_ts == reply_ts))
        assert exchange is not None and exchange.asked_by == SANDBOX_USER
        kinds = {
            (f.kind, f.user_id)
            for f in session.scalars(select(Feedback).where(Feedback.exchange_id == exchange.id))
        }
        corrected = [f.corrected_reply for f in exchange.feedback if f.kind == "correct"]
    assert ("approve", SANDBOX_USER) in kinds and ("correct", SANDBOX_USER) in kinds
    assert corrected == [FIX]

    # /tune status, /tune run (a real cycle on the demo data and this feedback), status again.
    assert "Live adapter: base" in _status(page)
    _send(page, "/tune run")
    _ephemeral(page, "Starting a tune cycle")
    _ephemeral(page, r"Tune cycle (promoted|rejected|failed)", timeout=300_000)
    assert "Tune cycle promoted" in _ephemeral(page, "Tune cycle").inner_text()
    notice = messages.locator("[data-testid=bot-message]").filter(has_text="v1 is live")
    notice.wait_for()
    assert "Live adapter: v1 (answers " in _status(page) and "held-out NLL" in _status(page)
    _shot(page, "03-promoted")

    # The next answer comes from v1.
    page.locator("#thread-close").click()
    answer = _ask(page, "which port is billing on?")
    assert answer.locator("[data-testid=context]").inner_text().startswith("tunebot · v1 · drew on ")

    # /tune rollback: announced in the channel; status and the next answer say base again.
    _send(page, "/tune rollback")
    messages.locator("[data-testid=bot-message]").filter(has_text="Rolled back v1").wait_for()
    assert "Live adapter: base" in _status(page)
    assert runtime.live_model.version == "base"
    _shot(page, "04-rolled-back")

    # The App Home tab: what is live and the score of each version.
    page.locator("[data-testid=nav-home]").click()
    home = page.locator("[data-testid=home]")
    home.get_by_text("Held-out NLL by adapter version").wait_for()
    assert "v1" in home.inner_text()
    _shot(page, "05-home")


def test_commands_direct_messages_and_the_assistant_pane(page: Any, sandbox: Any) -> None:
    """Unknown commands, a DM answered without a mention; then Slack's assistant pane: a new thread
    greets and suggests the team's frequent questions (the demo workspace's, imported); clicking one
    asks it, the thread shows the status, then the answer streams in (chat.startStream) and titles
    the thread; its thumbs up counts in /tune status. (One test: one sandbox and browser to start.)"""
    from playwright.sync_api import expect

    _send(page, "/deploy now")
    assert "/deploy is not a valid command" in _ephemeral(page, "not a valid command").inner_text()
    _send(page, "/tune frobnicate")
    assert "Unknown subcommand" in _ephemeral(page, "Unknown subcommand").inner_text()
    # A message to the bot in its direct-message conversation needs no mention.
    page.locator("[data-channel=D0SANDBOX]").click()
    assert page.locator("#main-title").inner_text() == "tunebot"
    _send(page, "hello there")
    page.locator("[data-testid=thread] [data-action=answer_feedback][data-value=good]").wait_for()

    ws = sandbox.workspace
    approved = re.compile(r"(\d+) approved\)")
    before = int(approved.search(_status(page)).group(1))
    page.locator("[data-testid=nav-assistant]").click()
    thread = page.locator("[data-testid=thread]")
    thread.get_by_text(sandbox.runtime.policies.assistant.greeting.split("!")[0]).wait_for()
    prompts = page.locator("[data-testid=suggested-prompts] [data-testid=suggested-prompt]")
    expect(prompts).to_have_count(3)
    asked = prompts.first.inner_text()
    _shot(page, "06-assistant-pane")
    prompts.first.click()
    thread.locator("[data-testid=message]").filter(has_text=asked).wait_for()
    answer = thread.locator("[data-testid=bot-message]").filter(
        has=page.locator("[data-action=answer_feedback][data-value=good]")
    )
    answer.last.wait_for()
    expect(page.locator("[data-testid=suggested-prompts]")).to_be_hidden()  # gone once you asked
    expect(page.locator("[data-testid=status]")).to_be_hidden()  # cleared by the answer
    expect(page.locator("[data-testid=thread-title]")).to_have_text(f"✨ {asked}")
    statuses = [c.args for c in ws.calls_to("assistant.threads.setStatus")]
    assert statuses and statuses[-1]["status"] == "is thinking…"
    assert ws.calls_to("chat.startStream")[-1].args["thread_ts"] == statuses[-1]["thread_ts"]
    _shot(page, "07-assistant-answer")
    answer.last.locator("[data-action=answer_feedback][data-value=good]").click()
    _ephemeral(page, "Thanks, noted.", where="thread")
    assert int(approved.search(_status(page)).group(1)) == before + 1
