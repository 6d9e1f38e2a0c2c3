"""Answering through a serving engine: a real `tunebot engine` process (the OpenAI-compatible
endpoints vLLM serves) and the bot as its client (TUNEBOT_ENGINE_URL): streamed answers, adapters
going live and being rolled back by load / unload, the engine killed mid-answer and restarted."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _free_port, wait_for
from tests.tuner.test_static_decode import _adapter

REPO = Path(__file__).resolve().parents[2]
QUESTION = [{"role": "user", "content": "Which port does the billing service use?"}]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The engine has no database; the bot's is not what is tested here."""
    return f"sqlite:///{tmp_path / 'tunebot.db'}"


class EngineProcess:
    def __init__(self, model: str, folder: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "TUNEBOT_BASE_MODEL": model,
            "TUNEBOT_DATA_DIR": str(folder),
            "TUNEBOT_MAX_NEW_TOKENS": "200",
        }
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> EngineProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "engine", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        process = self.process
        wait_for(lambda: process.poll() is not None or self.healthy(), timeout=120, message="the engine")
        assert process.poll() is None, process.communicate()[0]
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def models(self) -> list[str]:
        with urllib.request.urlopen(self.url + "/v1/models", timeout=10) as response:
            return [m["id"] for m in json.loads(response.read())["data"]]

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def engine(tiny_model: str, tmp_path: Path) -> Iterator[EngineProcess]:
    running = EngineProcess(tiny_model, tmp_path / "engine").start()
    yield running
    running.kill()


@pytest.fixture(scope="module")
def adapters(tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("adapters")
    return [_adapter(tiny_model, folder / f"lora-{seed}", seed) for seed in (1, 2)]


@functools.cache
def _alone(tiny_model: str, adapter: str | None = None, version: str = "base") -> str:
    """The answer of the model in this process (loaded once per adapter)."""
    from tuner.live_model import LiveModel

    model = LiveModel(tiny_model, max_new_tokens=200, static_cache=False)
    model.swap(adapter, version)
    return model.generate(QUESTION).text


def test_answers_stream_as_in_process_and_adapters_go_live_under_new_names(
    engine: EngineProcess, tiny_model: str, adapters: list[str], tmp_path: Path
) -> None:
    from bot.doctor import run_checks
    from bot.settings import Settings
    from tuner.engine_client import EngineModel

    # `tunebot doctor`'s row for it: it answers, and the default policy trains what it loads.
    settings = Settings(engine_url=engine.url, base_model=tiny_model, data_dir=tmp_path, _env_file=None)
    row = next(c for c in run_checks(settings) if c.name == "engine")
    assert row.ok, row
    trains = "cycles train qlora adapters of rank 16 (it loads ranks up to 16)"
    assert row.detail == f"{engine.url} serves {tiny_model}; {trains}"

    client = EngineModel(engine.url, max_new_tokens=200)
    assert client.base_name == tiny_model  # the first model the engine lists
    shown: list[str] = []
    answer = client.generate(QUESTION, on_text=shown.append)
    assert answer.text == _alone(tiny_model) != "" and answer.adapter_version == "base" and answer.tokens > 0
    assert len(shown) > 1 and shown[-1] == answer.text and all(answer.text.startswith(s) for s in shown)

    # Adapters go live under new names and are rolled back.
    client.swap(adapters[0], "v1")
    assert engine.models() == [tiny_model, "tunebot-v1"]
    v1 = client.generate(QUESTION)
    assert (v1.text, v1.adapter_version) == (_alone(tiny_model, adapters[0], "v1"), "v1")
    client.swap(adapters[1], "v2")  # loaded beside v1, then v1 unloaded
    assert engine.models() == [tiny_model, "tunebot-v2"]
    assert client.generate(QUESTION).text == _alone(tiny_model, adapters[1], "v2") != v1.text
    client.swap(None, "base")  # a rollback to the base: the adapter is unloaded
    assert engine.models() == [tiny_model]
    assert client.generate(QUESTION).text == _alone(tiny_model)
    # A second replica going live on the same version finds it loaded: no error, one copy.
    other = EngineModel(engine.url, tiny_model, max_new_tokens=200)
    client.swap(adapters[0], "v1")
    other.swap(adapters[0], "v1")
    assert engine.models() == [tiny_model, "tunebot-v1"]
    # Replicas on two versions at once (a promotion reaching one before the other): the engine
    # serves one version at a time, and each gets its own version's answer, streamed as such.
    other.swap(adapters[1], "v2")
    expected = {"v1": v1.text, "v2": _alone(tiny_model, adapters[1], "v2")}
    got: list[tuple[str, str, list[str]]] = []

    def ask(model: EngineModel) -> None:
        shown: list[str] = []
        answer = model.generate(QUESTION, on_text=shown.append)
        got.append((answer.adapter_version, answer.text, shown))

    askers = [threading.Thread(target=ask, args=(m,)) for m in (client, other) * 2]
    for t in askers:
        t.start()
    for t in askers:
        t.join(120)
    assert len(got) == 4
    for version, text, shown in got:
        assert text == expected[version] and all(text.startswith(s) for s in shown)


def test_an_engine_killed_mid_answer_is_unavailable_then_answers_again_after_a_restart(
    engine: EngineProcess, tiny_model: str, adapters: list[str]
) -> None:
    from tuner.engine_client import EngineModel, EngineUnavailable

    client = EngineModel(engine.url, max_new_tokens=200)
    client.swap(adapters[0], "v1")
    started = threading.Event()
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            outcome["answer"] = client.generate(QUESTION, on_text=lambda _t: started.set())
        except Exception as exc:
            outcome["error"] = exc

    asking = threading.Thread(target=ask)
    asking.start()
    assert started.wait(60)
    engine.kill()
    asking.join(60)
    assert isinstance(outcome.get("error"), EngineUnavailable), outcome
    with pytest.raises(EngineUnavailable, match="cannot reach the engine"):
        client.generate(QUESTION)
    engine.start()  # a fresh engine: it has forgotten tunebot-v1, the client loads it again
    assert engine.models() == [tiny_model]
    answer = client.generate(QUESTION)
    assert (answer.text, answer.adapter_version) == (_alone(tiny_model, adapters[0], "v1"), "v1")
    assert engine.models() == [tiny_model, "tunebot-v1"]


def test_the_bot_answers_through_the_engine_and_says_when_it_is_unavailable(
    engine: EngineProcess, runtime: Any, tiny_model: str
) -> None:
    from bot.listeners.messages import UNAVAILABLE
    from bot.sandbox.app import Sandbox
    from tuner.engine_client import EngineModel

    runtime.settings = runtime.settings.model_copy(update={"engine_url": engine.url, "max_new_tokens": 200})
    sandbox = Sandbox(runtime, poll_seconds=0.5).start()
    try:
        assert isinstance(runtime.live_model, EngineModel)
        send, ws = sandbox.send, sandbox.workspace
        assert send is not None

        def ask(text: str) -> dict:
            message, _ = send.user_message("C0GENERAL", "U0ALICE01", f"<@{ws.bot_user_id}> {text}")
            return wait_for(
                lambda: (
                    next(
                        (
                            m
                            for m in ws.thread("C0GENERAL", message["ts"])
                            if m.get("bot_id") and m.get("blocks")
                        ),
                        None,
                    )
                    or next(
                        (
                            m
                            for m in ws.thread("C0GENERAL", message["ts"])
                            if UNAVAILABLE in (m.get("text") or "")
                        ),
                        None,
                    )
                ),
                message="the bot's reply",
            )

        first = ask("Which port does the billing service use?")
        assert first["text"] == _alone(tiny_model)
        assert "tunebot · base" in json.dumps(first["blocks"], ensure_ascii=False)
        engine.kill()
        assert UNAVAILABLE in ask("and the staging one?")["text"]
        engine.start()
        assert ask("Which port does the billing service use?")["text"] == first["text"]
    finally:
        sandbox.stop()
