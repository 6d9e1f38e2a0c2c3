"""`tunebot sandbox` as a real process, and the page's own HTTP API without a browser."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _free_port, wait_for

REPO = Path(__file__).resolve().parents[2]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _post(url: str, payload: Any) -> tuple[int, dict]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_sandbox_command_imports_the_demo_serves_the_page_and_stops(tmp_path: Path, tiny_model: str) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "TUNEBOT_DATA_DIR": str(tmp_path / "data"),
        "TUNEBOT_BASE_MODEL": tiny_model,
        "TUNEBOT_MAX_NEW_TOKENS": "4",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "sandbox", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "sandbox is running" in line or len(lines) > 200:
                break
        assert f"open http://127.0.0.1:{port}/" in lines[-1], "".join(lines)
        assert any("imported 18 exchanges from the demo workspace" in line for line in lines)
        status, page = _get(f"http://127.0.0.1:{port}/")
        assert status == 200 and b"tunebot sandbox" in page
        state = json.loads(_get(f"http://127.0.0.1:{port}/ui/state")[1])
        assert [c["name"] for c in state["conversations"]] == ["ask-tunebot", "tunebot"]
        assert len(state["messages"]["C0DEMO001"]) > 30
    finally:
        process.send_signal(signal.SIGTERM)
        output = "".join(lines) + process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert "Traceback" not in output and "stopping" in output


def test_sandbox_command_says_when_the_port_is_taken(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", "sandbox", "--port", str(port), "--no-demo"],
            cwd=REPO,
            env={**os.environ, "TUNEBOT_DATA_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the page does not depend on the backend, which the other e2e tests cover."""
    return f"sqlite:///{tmp_path / 'tunebot.db'}"


@pytest.fixture
def sandbox(runtime: Any) -> Iterator[Any]:
    from bot.sandbox.app import Sandbox

    running = Sandbox(runtime).start()
    yield running
    running.stop()


def test_page_api_refuses_bad_requests_with_reasons(sandbox: Any) -> None:
    ui = sandbox.url + "ui/"
    assert _post(ui + "message", {"channel": "C0NOWHERE", "text": "hi"}) == (
        400,
        {"ok": False, "error": "no conversation 'C0NOWHERE'"},
    )
    assert (
        _post(ui + "message", {"channel": "C0SANDBOX", "text": "   "})[1]["error"] == "the message is empty"
    )
    assert _post(ui + "message", b"[1, 2]")[1]["error"] == "expected a JSON object"
    assert _post(ui + "reaction", {"channel": "C0SANDBOX", "ts": "1.2", "name": "+1"})[0] == 400
    assert (
        _post(ui + "view", {"trigger_id": "trigger.404", "values": {}})[1]["error"] == "that dialog is closed"
    )
    assert _get(sandbox.url + "static/../../cli.py")[0] == 404
    assert _get(sandbox.url + "ui/nothing")[0] == 404


def test_page_actions_become_signed_slack_requests(sandbox: Any) -> None:
    """A channel message without a mention is not for the bot; `@tunebot` becomes a real mention;
    a reaction is toggled; every delivery passed the bot's signature check (HTTP 200)."""
    ui = sandbox.url + "ui/"
    ws = sandbox.workspace
    _, plain = _post(ui + "message", {"channel": "C0SANDBOX", "text": "lunch anyone?"})
    _, asked = _post(ui + "message", {"channel": "C0SANDBOX", "text": "@TuneBot are you there?"})
    question = ws.find("C0SANDBOX", asked["ts"])
    assert question["text"] == f"<@{ws.bot_user_id}> are you there?"
    answer = wait_for(
        lambda: [m for m in ws.thread("C0SANDBOX", asked["ts"]) if m.get("blocks")], message="an answer"
    )[0]
    assert ws.thread("C0SANDBOX", plain["ts"]) == [ws.find("C0SANDBOX", plain["ts"])]  # no answer

    assert _post(ui + "reaction", {"channel": "C0SANDBOX", "ts": answer["ts"], "name": ":+1:"}) == (
        200,
        {"ok": True, "added": True},
    )
    assert answer["reactions"] == [{"name": "+1", "users": [sandbox.user], "count": 1}]
    assert (
        _post(ui + "reaction", {"channel": "C0SANDBOX", "ts": answer["ts"], "name": "+1"})[1]["added"]
        is False
    )
    assert answer["reactions"] == []
    feedback = sandbox.bot.services.feedback
    found = feedback.exchange_reply(channel_id="C0SANDBOX", reply_ts=answer["ts"])
    assert found is not None  # the exchange exists; its approval was given and withdrawn
