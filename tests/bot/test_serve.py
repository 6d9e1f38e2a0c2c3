"""`tunebot serve` as a real process: HTTP mode, pointed at a local Slack-compatible API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from bot.sandbox.delivery import SlackDelivery
from bot.sandbox.web_api import SlackWebApi
from tests.conftest import SIGNING_SECRET, _free_port, wait_for

REPO = Path(__file__).resolve().parents[2]


def _health(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


def _serve_env(tmp_path: Path, model: str, slack: SlackWebApi, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "TUNEBOT_DATA_DIR": str(tmp_path / "data"),
        "TUNEBOT_BASE_MODEL": model,
        "TUNEBOT_PORT": str(port),
        "TUNEBOT_HOST": "127.0.0.1",
        "TUNEBOT_MAX_NEW_TOKENS": "4",
        "SLACK_BOT_TOKEN": "xoxb-serve-test",
        "SLACK_API_URL": slack.url,
    }


def start_serve(env: dict[str, str]) -> subprocess.Popen[str]:
    """`tunebot serve` in HTTP mode (never Socket Mode) as its own process."""
    env = {k: v for k, v in env.items() if k != "SLACK_APP_TOKEN"}
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_serve_answers_a_signed_mention(tmp_path: Path, tiny_model: str) -> None:
    slack = SlackWebApi().start()
    port = _free_port()
    env = {**_serve_env(tmp_path, tiny_model, slack, port), "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    server = start_serve(env)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(
            lambda: server.poll() is not None or _health(url), timeout=120, message="serve to come up"
        ) == {"ok": True, "adapter": "base"}
        send = SlackDelivery(f"{url}/slack/events", SIGNING_SECRET, slack.workspace)
        message, _ = send.user_message(
            "C0SERVE01", "U0ALICE01", f"<@{slack.workspace.bot_user_id}> are you there?"
        )
        wait_for(
            lambda: [m for m in slack.workspace.thread("C0SERVE01", message["ts"]) if m.get("blocks")],
            timeout=60,
            message="an answer",
        )
        assert [c.token for c in slack.workspace.calls_to("auth.test")][:1] == ["xoxb-serve-test"]
        assert (tmp_path / "data" / "tunebot.db").exists()
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=30)[0]
        slack.stop()
    assert "Traceback" not in output, output


def test_serve_in_socket_mode_serves_health_metrics_and_the_review_page_too(
    tmp_path: Path, tiny_model: str
) -> None:
    """Events over the WebSocket; /healthz, /metrics and /review on TUNEBOT_PORT all the same."""
    from bot.sandbox.delivery import SocketDelivery
    from bot.sandbox.socket_mode import SocketModeServer

    slack = SlackWebApi().start()
    socket_mode = SocketModeServer().start()
    slack.socket_mode = socket_mode
    port = _free_port()
    env = _serve_env(tmp_path, tiny_model, slack, port)
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=REPO,
        env={**env, "SLACK_APP_TOKEN": "xapp-serve-test"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(
            lambda: server.poll() is not None or _health(url), timeout=120, message="serve to come up"
        ) == {"ok": True, "adapter": "base"}
        socket_mode.wait_connected()
        send = SocketDelivery(socket_mode, slack.workspace)
        message, _ = send.user_message("C0SERVE01", "U0ALICE01", f"<@{slack.workspace.bot_user_id}> hi?")
        wait_for(
            lambda: [m for m in slack.workspace.thread("C0SERVE01", message["ts"]) if m.get("blocks")],
            timeout=60,
            message="an answer over Socket Mode",
        )
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            assert b"tunebot_" in response.read()
        try:
            urllib.request.urlopen(f"{url}/review/", timeout=5)
            raise AssertionError("the review page answered without Sign in with Slack set up")
        except urllib.error.HTTPError as exc:  # no SLACK_CLIENT_ID / SECRET: says how to turn it on
            assert exc.code == 503 and b"SLACK_CLIENT_ID" in exc.read()
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=30)[0]
        socket_mode.stop()
        slack.stop()
    assert "Traceback" not in output, output
    half = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=REPO,
        env={**env, "SLACK_APP_TOKEN": "xapp-serve-test", "SLACK_CLIENT_ID": "123.456"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert half.returncode == 1 and "both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET" in half.stderr


def test_serve_without_tokens_says_which_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TUNEBOT_SLACK"))}
    env["TUNEBOT_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "SLACK_BOT_TOKEN is not set" in result.stderr
