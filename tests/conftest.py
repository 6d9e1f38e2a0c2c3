"""Shared fixtures: real databases, a tiny real model, the bot served over real HTTP."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from policies import Policies
from policies.privacy import Scrubber
from policies.schema import AccessPolicy, PrivacyPolicy, PromotionPolicy, TrainingPolicy

POSTGRES_URL = os.environ.get("TUNEBOT_TEST_DATABASE_URL")
ADMIN = "U0ADMIN01"
NOTICES = "C0NOTICES"  # the bot harness's notices channel
SIGNING_SECRET = "sandbox-signing-secret"


def pytest_configure(config: pytest.Config) -> None:
    # As the tunebot command does, before any test imports the Hugging Face libraries.
    from tuner.offline import stay_offline

    stay_offline()
    _share_the_cores()


def _share_the_cores() -> None:
    """Under xdist, each worker's torch (and the training children it starts, through the
    environment) takes its share of the cores: two workers each running two OpenMP threads on two
    cores spin against each other (the training-heavy tests: 302 s with torch's default, 200 s with
    one thread a worker, `make test`'s two workers on 2 cores)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        os.environ.setdefault("OMP_NUM_THREADS", threads)
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def wait_for(condition: Callable[[], Any], timeout: float = 60, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@pytest.fixture(params=["sqlite"] + (["postgresql"] if POSTGRES_URL else []))
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new schema on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tunebot.db'}"
        return
    assert POSTGRES_URL
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin_url = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(admin_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in admin_url else "?"
    yield f"{admin_url}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def db(database_url: str):  # type: ignore[no-untyped-def]
    from storage import Database

    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def scrubber() -> Scrubber:
    return Scrubber(PrivacyPolicy())


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer Llama with SmolLM2's tokenizer and chat template, random weights, saved once."""
    from tests.factories import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def policies() -> Policies:
    """Defaults, with training sized for the tiny model and one admin."""
    return Policies(
        training=TrainingPolicy(
            epochs=2,
            learning_rate=5e-3,
            batch_size="auto",
            heldout_percent=25,
            max_length=256,
            timeout_minutes=10,
        ),
        promotion=PromotionPolicy(min_relative_improvement=0.01),
        access=AccessPolicy(admins=[ADMIN]),
    )


@pytest.fixture
def runtime(database_url: str, tmp_path: Path, tiny_model: str, scrubber: Scrubber, policies: Policies):  # type: ignore[no-untyped-def]
    from bot.runtime import Runtime
    from bot.settings import Settings

    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        base_model=tiny_model,
        max_new_tokens=8,
        _env_file=None,
    )
    rt = Runtime(settings, policies)
    rt.__dict__["scrubber"] = scrubber  # one Presidio engine for the whole session
    yield rt
    if "db" in rt.__dict__:
        rt.db.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class BotHarness:
    url: str
    runtime: Any
    slack: Any  # SlackWebApi
    send: Any  # SlackDelivery
    services: Any  # the Services the Bolt app was built with

    @property
    def workspace(self) -> Any:
        return self.slack.workspace

    def bot_replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The bot's finished answers (placeholders get their blocks when the answer is in)."""
        return [m for m in self.workspace.thread(channel, thread_ts) if m.get("bot_id") and m.get("blocks")]

    def wait_reply(self, channel: str, thread_ts: str, count: int = 1) -> dict[str, Any]:
        replies = wait_for(
            lambda: (
                len(self.bot_replies(channel, thread_ts)) >= count and self.bot_replies(channel, thread_ts)
            ),
            message="the bot's answer",
        )
        return replies[count - 1]

    def wait_response(self, contains: str, timeout: float = 120) -> dict[str, Any]:
        return wait_for(
            lambda: next((r for r in self.workspace.responses if contains in r.get("text", "")), None),
            timeout=timeout,
            message=f"a response_url post containing {contains!r}",
        )


@pytest.fixture
def bot(runtime: Any) -> Iterator[BotHarness]:
    """The real Bolt app under uvicorn, talking to a local Slack-compatible Web API (the sandbox)."""
    from bot.sandbox.app import Sandbox

    sandbox = Sandbox(runtime, notices_channel=NOTICES, poll_seconds=0.5).start()
    assert sandbox.bot is not None and sandbox.send is not None
    yield BotHarness(sandbox.bot_url, runtime, sandbox.slack, sandbox.send, sandbox.bot.services)
    sandbox.stop()


@pytest.fixture
def socket_bot(runtime: Any) -> Iterator[BotHarness]:
    """The same bot over Socket Mode: Bolt's SocketModeHandler connected to the local Slack's
    WebSocket (bot/sandbox/socket_mode.py); `send` delivers envelopes over it."""
    from bot.sandbox.app import Sandbox

    sandbox = Sandbox(runtime, notices_channel=NOTICES, poll_seconds=0.5, socket_mode=True).start()
    assert sandbox.bot is not None and sandbox.send is not None
    yield BotHarness("", runtime, sandbox.slack, sandbox.send, sandbox.bot.services)
    sandbox.stop()
