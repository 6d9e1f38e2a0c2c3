"""`tunebot model pull` against a model hub on loopback (tests/hub_server.py) through the real
huggingface_hub code, then the pulled model served offline: progress, resume after a cut
connection, gated models and tokens, unknown repos."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import constants

from tests.bot.test_cli import tunebot
from tests.bot.test_operator_errors import _free_port
from tests.hub_server import Hub, Repo


@pytest.fixture
def hub(tiny_model: str) -> Iterator[Hub]:
    files = {f.name: f.read_bytes() for f in Path(tiny_model).iterdir() if f.is_file()}
    running = Hub({"acme/tiny-chat": Repo(files), "acme/gated-chat": Repo(files, token="hf_reader")}).start()
    yield running
    running.stop()


@pytest.fixture
def env(tmp_path: Path, hub: Hub) -> dict[str, str]:
    return {
        "TUNEBOT_DATA_DIR": str(tmp_path / "data"),
        "HF_ENDPOINT": hub.url,
        "HF_HUB_OFFLINE": "",  # the tests run offline (conftest.py): this one command may not
        "TRANSFORMERS_OFFLINE": "",
        "HF_TOKEN": "",
        "HF_HUB_DISABLE_XET": "1",
    }


def test_pull_resumes_after_a_cut_then_serves_offline(env: dict[str, str], hub: Hub) -> None:
    weights = len(hub.repos["acme/tiny-chat"].files["model.safetensors"])
    # The weights' download is cut past huggingface_hub's first 10 MB chunk (what it has written).
    cut = weights - 1_000_000
    assert cut > constants.DOWNLOAD_CHUNK_SIZE
    hub.cut = ("model.safetensors", cut)
    pulled = tunebot("model", "pull", "acme/tiny-chat", env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "use it with TUNEBOT_BASE_MODEL=acme/tiny-chat" in pulled.stdout
    assert "%|" in pulled.stderr  # huggingface_hub's progress bars
    ranges = [r for method, path, r in hub.requests if method == "GET" and path.endswith("model.safetensors")]
    # resumed from what it had written, not restarted
    assert ranges == [None, f"bytes={constants.DOWNLOAD_CHUNK_SIZE}-"], ranges
    listed = tunebot("model", "list", env=env)
    assert listed.stdout.startswith("acme/tiny-chat  ") and "GiB" in listed.stdout
    # The pulled model serves with nothing downloaded: the hub is gone.
    hub.stop()
    asked = tunebot("ask", "--adapter", "base", "hello", env={**env, "TUNEBOT_BASE_MODEL": "acme/tiny-chat"})
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.startswith("[base] ")


def test_gated_models_need_a_token_and_unknown_ones_say_so(env: dict[str, str]) -> None:
    refused = tunebot("model", "pull", "acme/gated-chat", env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "the model is gated on http://127.0.0.1:" in refused.stderr and "set HF_TOKEN" in refused.stderr
    allowed = tunebot("model", "pull", "acme/gated-chat", env={**env, "HF_TOKEN": "hf_reader"})
    assert allowed.returncode == 0, allowed.stderr
    missing = tunebot("model", "pull", "acme/no-such-model", env=env)
    assert missing.returncode == 1 and "no such model on http://127.0.0.1:" in missing.stderr
    unreachable = {**env, "HF_ENDPOINT": f"http://127.0.0.1:{_free_port()}"}
    gone = tunebot("model", "pull", "acme/tiny-chat", env=unreachable)
    assert gone.returncode == 1 and "Traceback" not in gone.stderr
    assert "cannot reach the model hub at http://127.0.0.1:" in gone.stderr
    assert "Connection refused" in gone.stderr
    offline = tunebot("model", "pull", "acme/tiny-chat", env={**env, "HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 1 and "HF_HUB_OFFLINE is set" in offline.stderr
    unpulled = tunebot("ask", "hi", env={**env, "TUNEBOT_BASE_MODEL": "acme/other"})
    assert "run `tunebot model pull acme/other`" in unpulled.stderr


def test_serve_pulls_a_hub_model_on_first_start_unless_offline(
    env: dict[str, str], hub: Hub, tmp_path: Path
) -> None:
    """`TUNEBOT_BASE_MODEL=HUB_ID` and nothing pulled: `tunebot serve` pulls it (logged, with
    progress) after its Slack checks, then answers; with HF_HUB_OFFLINE set it asks nothing of the
    hub and says what to run."""
    import os
    import signal

    from bot.sandbox.web_api import SlackWebApi
    from tests.bot.test_serve import _health, start_serve
    from tests.conftest import SIGNING_SECRET, wait_for

    slack = SlackWebApi().start()
    port = _free_port()
    serve_env = {
        **os.environ,
        **env,
        "TUNEBOT_BASE_MODEL": "acme/tiny-chat",
        "TUNEBOT_PORT": str(port),
        "TUNEBOT_HOST": "127.0.0.1",
        "SLACK_BOT_TOKEN": "xoxb-serve-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
    }
    try:
        offline = start_serve({**serve_env, "HF_HUB_OFFLINE": "1"})
        output = offline.communicate(timeout=120)[0]
        assert offline.returncode == 1 and "Traceback" not in output, output
        assert "run `tunebot model pull acme/tiny-chat`" in output
        assert hub.requests == []

        server = start_serve(serve_env)
        try:
            health = wait_for(
                lambda: server.poll() is not None or _health(f"http://127.0.0.1:{port}"),
                timeout=120,
                message="serve to pull and come up",
            )
            assert health == {"ok": True, "adapter": "base"}
        finally:
            server.send_signal(signal.SIGINT)
            output = server.communicate(timeout=30)[0]
    finally:
        slack.stop()
    assert "TUNEBOT_BASE_MODEL=acme/tiny-chat is not pulled yet: pulling it now" in output, output
    assert "%|" in output  # huggingface_hub's progress bars
    assert any(path.endswith("model.safetensors") for _, path, _ in hub.requests)
    data = Path(env["TUNEBOT_DATA_DIR"])
    assert (data / "models" / "hub" / "models--acme--tiny-chat").is_dir()
    assert "is not pulled yet: pulling it now" in (data / "logs" / "tunebot.log").read_text()
