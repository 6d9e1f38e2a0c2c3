"""Two real `tunebot serve` processes behind one Slack app, sharing one PostgreSQL database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.delivery import SlackDelivery
from bot.sandbox.web_api import SlackWebApi
from tests.bot.test_engine import EngineProcess
from tests.bot.test_serve import _health, start_serve
from tests.bot.test_slack_e2e import answers_started
from tests.conftest import SIGNING_SECRET, _free_port, wait_for
from tests.factories import seed_corrections

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def postgres_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL server (set TUNEBOT_TEST_DATABASE_URL)")
    return database_url


@pytest.fixture(params=["own-model", "engine"])
def replicas(
    request: pytest.FixtureRequest, postgres_url: str, tmp_path: Path, tiny_model: str
) -> Iterator[tuple[SlackWebApi, list[str], EngineProcess | None]]:
    """Two `tunebot serve` processes: each with the model in its own process, or both light
    replicas (no model, no cycles: policies/light_replica.yaml) answering through one real
    `tunebot engine` process, as compose.yaml's engine profile runs them with vLLM."""
    slack = SlackWebApi().start()
    processes: list[subprocess.Popen[str]] = []
    urls: list[str] = []
    engine = EngineProcess(tiny_model, tmp_path / "engine").start() if request.param == "engine" else None
    light = (
        {
            "TUNEBOT_ENGINE_URL": engine.url,
            "TUNEBOT_POLICY_FILE": str(REPO / "policies" / "light_replica.yaml"),
        }
        if engine
        else {}
    )
    for n in range(2):
        port = _free_port()
        env = {
            **os.environ,
            "TUNEBOT_DATA_DIR": str(tmp_path / "data"),  # shared, as a volume would be
            "TUNEBOT_DATABASE_URL": postgres_url,
            "TUNEBOT_BASE_MODEL": tiny_model,
            "TUNEBOT_HOST": "127.0.0.1",
            "TUNEBOT_PORT": str(port),
            "TUNEBOT_MAX_NEW_TOKENS": "4",
            "SLACK_BOT_TOKEN": f"xoxb-replica-{n}",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.url,
            **light,
        }
        processes.append(start_serve(env))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for process, url in zip(processes, urls, strict=True):
            wait_for(
                lambda p=process, u=url: p.poll() is not None or _health(u), timeout=180, message="a replica"
            )
            assert process.poll() is None, process.communicate()[0]
        yield slack, urls, engine
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        outputs = [process.communicate(timeout=30)[0] for process in processes]
        slack.stop()
        if engine is not None:
            engine.kill()
    for output in outputs:
        assert "Traceback" not in output, output


def _adapter(url: str) -> Any:
    health = _health(url)
    return health and health["adapter"]


def test_replicas_follow_promotions_and_answer_each_event_once(
    replicas: tuple[SlackWebApi, list[str], EngineProcess | None],
    runtime: Any,
    tmp_path: Path,
    tiny_model: str,
) -> None:
    slack, urls, engine = replicas
    assert [_adapter(u) for u in urls] == ["base", "base"]

    # A cycle run elsewhere (here: this test's process, on the same database and data folder as
    # the replicas) promotes v1; each replica serves it within seconds, and a rollback likewise.
    seed_corrections(runtime.db, 16)
    assert runtime.data_dir == Path(tmp_path / "data").resolve()
    assert runtime.cycle.run("test").outcome == "promoted"
    wait_for(lambda: all(_adapter(u) == "v1" for u in urls), timeout=30, message="both replicas on v1")
    if engine is not None:  # loaded once under its versioned name, whichever replica came first
        assert engine.models() == [tiny_model, "tunebot-v1"]
    from storage.registry import rollback

    with runtime.db.session() as session:
        rollback(session, actor="test")
    wait_for(lambda: all(_adapter(u) == "base" for u in urls), timeout=30, message="both back on base")
    if engine is not None:
        assert engine.models() == [tiny_model]  # unloaded

    # Slack retries an event; behind the load balancer the retry reaches the other replica.
    first = SlackDelivery(f"{urls[0]}/slack/events", SIGNING_SECRET, slack.workspace)
    second = SlackDelivery(f"{urls[1]}/slack/events", SIGNING_SECRET, slack.workspace)
    message, deliveries = first.user_message(
        "C0REPLICA", "U0ALICE01", f"<@{slack.workspace.bot_user_id}> hi?"
    )
    mention = deliveries[-1]
    assert second.redeliver(mention).status == 200
    wait_for(
        lambda: [m for m in slack.workspace.thread("C0REPLICA", message["ts"]) if m.get("blocks")],
        timeout=60,
        message="the answer",
    )
    answers = [c for c in answers_started(slack.workspace) if c.args.get("thread_ts") == message["ts"]]
    assert len(answers) == 1
    if engine is None:
        return

    # v1 live again; the engine goes down: a question gets the plain "unavailable" reply. Restarted,
    # it has forgotten every adapter; the next question's 404 makes the replica load v1 again, and
    # the answer comes from v1, by itself.
    from bot.listeners.messages import UNAVAILABLE

    with runtime.db.session() as session:
        rollback(session, actor="test", to_version="v1")
    wait_for(lambda: all(_adapter(u) == "v1" for u in urls), timeout=30, message="both replicas on v1")

    def reply(channel: str) -> dict:
        asked, _ = first.user_message(channel, "U0ALICE01", f"<@{slack.workspace.bot_user_id}> port?")
        return wait_for(
            lambda: next(
                (
                    m
                    for m in slack.workspace.thread(channel, asked["ts"])
                    if m.get("bot_id") and (m.get("blocks") or UNAVAILABLE in (m.get("text") or ""))
                ),
                None,
            ),
            timeout=60,
            message=f"the reply in {channel}",
        )

    engine.kill()
    assert UNAVAILABLE in reply("C0DOWN")["text"]
    engine.start()
    assert engine.models() == [tiny_model]
    assert "tunebot · v1" in json.dumps(reply("C0BACK")["blocks"], ensure_ascii=False)
    assert engine.models() == [tiny_model, "tunebot-v1"]
