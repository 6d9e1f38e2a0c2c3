"""What an operator sees when the set-up is wrong: one or two lines, exit 1; --debug: the traceback.

Each failure is real: a port nobody listens on for the database, a role PostgreSQL does not know,
a model that is not there, a port another socket holds, a token the local Slack refuses.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sandbox.web_api import SlackWebApi, Workspace
from tests.bot.test_cli import tunebot


@pytest.fixture
def env(tmp_path: Path, tiny_model: str) -> dict[str, str]:
    return {
        "TUNEBOT_DATA_DIR": str(tmp_path / "data"),
        "TUNEBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'tunebot.db'}",
        "TUNEBOT_BASE_MODEL": tiny_model,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _short(result: object) -> list[str]:
    lines = [line for line in result.stderr.splitlines() if line.strip()]  # type: ignore[attr-defined]
    assert result.returncode == 1, result  # type: ignore[attr-defined]
    assert "Traceback" not in result.stderr, result.stderr  # type: ignore[attr-defined]
    return lines


def test_database_down_or_refusing_the_user(env: dict[str, str]) -> None:
    down = {**env, "TUNEBOT_DATABASE_URL": f"postgresql://postgres:secret@127.0.0.1:{_free_port()}/test"}
    lines = _short(tunebot("status", env=down))
    assert lines[0].startswith("Error: cannot use the database postgresql://postgres:***@127.0.0.1:")
    assert "Connection refused" in lines[0] and "secret" not in "\n".join(lines)
    assert lines[1].startswith("Check TUNEBOT_DATABASE_URL") and len(lines) == 2
    # --debug (or TUNEBOT_DEBUG=1): the whole traceback instead
    debug = tunebot("--debug", "status", env=down)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "OperationalError" in debug.stderr
    bad_url = _short(tunebot("history", env={**env, "TUNEBOT_DATABASE_URL": "nosuchdb://x"}))
    assert bad_url == [
        "Error: TUNEBOT_DATABASE_URL is not a database URL tunebot can use: "
        "Can't load plugin: sqlalchemy.dialects:nosuchdb"
    ]


def test_postgresql_refuses_an_unknown_role(env: dict[str, str]) -> None:
    pytest.importorskip("psycopg")
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 5432)):
            pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    url = "postgresql://no_such_role@127.0.0.1:5432/test"
    lines = _short(tunebot("status", env={**env, "TUNEBOT_DATABASE_URL": url}))
    assert lines[0].startswith(f"Error: cannot use the database {url}: ")
    assert 'role "no_such_role" does not exist' in lines[0]


def test_base_model_missing(env: dict[str, str]) -> None:
    lines = _short(tunebot("ask", "hi", env={**env, "TUNEBOT_BASE_MODEL": "acme/no-such-model"}))
    assert lines == [
        "Error: TUNEBOT_BASE_MODEL='acme/no-such-model' is neither a local folder nor a pulled hub model: "
        "run `tunebot model pull acme/no-such-model` (or point TUNEBOT_BASE_MODEL at a model folder)"
    ]


@pytest.fixture
def slack() -> Iterator[SlackWebApi]:
    api = SlackWebApi(Workspace(tokens={"xoxb-good"})).start()
    yield api
    api.stop()


def test_serve_port_in_use_and_bad_token_fail_before_the_model_loads(
    env: dict[str, str], slack: SlackWebApi
) -> None:
    serving = {**env, "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": slack.url}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        lines = _short(
            tunebot(
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                port,
                env={**serving, "SLACK_BOT_TOKEN": "xoxb-good"},
            )
        )
    assert not any("Loading weights" in line for line in lines)  # refused before the model loaded
    in_use = f"Error: cannot listen on 127.0.0.1:{port} (Address already in use): "
    assert lines == [in_use + "stop what uses it, or pass --port"]
    port = str(_free_port())
    lines = _short(
        tunebot(
            "serve", "--host", "127.0.0.1", "--port", port, env={**serving, "SLACK_BOT_TOKEN": "xoxb-revoked"}
        )
    )
    assert lines[-2:] == [
        "Error: Slack refused the call: invalid_auth",
        "SLACK_BOT_TOKEN is not a valid token for this workspace (reinstall the app?)",
    ]
    assert [c.method for c in slack.workspace.calls] == ["auth.test"]  # nothing after the refusal
    assert not any("Loading weights" in line for line in lines)
    gone = {
        **serving,
        "SLACK_BOT_TOKEN": "xoxb-good",
        "SLACK_API_URL": f"http://127.0.0.1:{_free_port()}/api/",
    }
    lines = _short(tunebot("serve", "--port", port, env=gone))
    assert lines[-1].startswith("Error: cannot reach Slack's API at http://127.0.0.1:")
    # Answers from an engine that loads LoRA ranks up to 8, and a policy that trains rank 16:
    # refused before anything else, and `tunebot doctor` says the same beside the engine being down.
    engine = {
        **serving,
        "SLACK_BOT_TOKEN": "xoxb-good",
        "TUNEBOT_ENGINE_URL": f"http://127.0.0.1:{_free_port()}",
        "TUNEBOT_ENGINE_MAX_LORA_RANK": "8",
    }
    calls = len(slack.workspace.calls)
    lines = _short(tunebot("serve", "--port", port, env=engine))
    assert lines[-1] == (
        "Error: training.lora.r is 16 and the engine takes ranks up to 8 (TUNEBOT_ENGINE_MAX_LORA_RANK, "
        "vLLM's --max-lora-rank): lower training.lora.r, or start vLLM with --max-lora-rank 16 (and "
        "TUNEBOT_ENGINE_MAX_LORA_RANK=16)"
    )
    assert len(slack.workspace.calls) == calls  # nothing asked of Slack
    checks = {c["name"]: c for c in json.loads(tunebot("doctor", "--json", env=engine).stdout)}
    row = checks["engine"]
    assert row["ok"] is False and "cannot reach the engine" in row["detail"], row
    assert "training.lora.r is 16" in row["detail"]


def test_disk_full_and_unwritable_data_dir_are_said_plainly() -> None:
    # Filling a disk or taking root's rights away is not possible here: the mapping itself.
    import errno

    from bot.cli_errors import operator_message

    full = OSError(errno.ENOSPC, "No space left on device", "/data/adapters/v3")
    assert operator_message(full) == (
        "no space left on the disk writing /data/adapters/v3: free some, or point TUNEBOT_DATA_DIR elsewhere"
    )
    denied = PermissionError(errno.EACCES, "Permission denied", "/data/tunebot.db")
    assert operator_message(denied) == (
        "cannot write /data/tunebot.db (Permission denied): check TUNEBOT_DATA_DIR and who owns it"
    )
    assert operator_message(FileNotFoundError(errno.ENOENT, "No such file", "x")) is None  # a bug: traceback
    assert operator_message(ValueError("anything else")) is None


def test_a_gpu_budget_too_small_for_the_model_is_said_plainly() -> None:
    # No GPU here: the plan's refusal itself (tests/tuner/test_gpu_budget.py makes it) and its mapping.
    from bot.cli_errors import operator_message
    from tests.bench.model_memory import SHAPES
    from tuner.gpu_budget import GIB, BudgetTooSmall, plan

    with pytest.raises(BudgetTooSmall) as refused:
        plan(dict(SHAPES)["8B (Llama 3.1 8B)"], 80 * GIB, 24 * GIB)
    assert operator_message(refused.value) == str(refused.value)
    assert "raise gpu.memory_budget_gib" in str(refused.value)


def test_doctor_on_a_healthy_and_a_broken_set_up(env: dict[str, str], slack: SlackWebApi) -> None:
    from bot.doctor import _manifest_scopes

    scopes = sorted(_manifest_scopes())
    assert "users:read" in scopes and "chat:write" in scopes
    slack.workspace.scopes = scopes
    healthy = {
        **env,
        "SLACK_BOT_TOKEN": "xoxb-good",
        "SLACK_API_URL": slack.url,
        "SLACK_CLIENT_ID": "123.456",
        "SLACK_CLIENT_SECRET": "s3cret",
        "TUNEBOT_PUBLIC_URL": "https://tunebot.example.com",
    }
    result = tunebot("doctor", env=healthy)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split()[1]: line for line in result.stdout.splitlines()}
    assert rows.keys() >= {"policy", "database", "base", "slack", "scheduler"}
    assert all(line.startswith("ok ") for line in result.stdout.splitlines()), result.stdout
    assert "schema empty" in rows["database"] and "every scope the manifest asks for" in rows["slack"]
    assert "https://tunebot.example.com/review/callback" in rows["review"]
    # A database that is down, a scope the app lacks, a token Slack refuses: each row says so.
    slack.workspace.scopes = [s for s in scopes if s != "users:read"]
    down = {**healthy, "TUNEBOT_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{_free_port()}/test"}
    del down["SLACK_CLIENT_SECRET"]
    result = tunebot("doctor", "--json", env=down)
    assert result.returncode == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["database"]["ok"] is False and "Connection refused" in checks["database"]["detail"]
    assert checks["slack"]["ok"] is False and "missing scopes users:read" in checks["slack"]["detail"]
    assert checks["base model"]["ok"] and checks["policy"]["ok"]
    assert checks["review page"]["ok"] is False and "SLACK_CLIENT_SECRET" in checks["review page"]["detail"]
    result = tunebot("doctor", "--json", env={**healthy, "SLACK_BOT_TOKEN": "xoxb-revoked"})
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert result.returncode == 1 and "invalid_auth" in checks["slack"]["detail"]
