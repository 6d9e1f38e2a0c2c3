"""The `tunebot` CLI as a user runs it: real subprocesses, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXPORT = REPO / "bot" / "demo" / "slack_export"


def tunebot(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=REPO,
        timeout=600,
    )


@pytest.fixture
def env(tmp_path: Path, tiny_model: str) -> dict[str, str]:
    # SQLite only: these tests are about the CLI; storage runs on both backends elsewhere.
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "training:\n  epochs: 2\n  learning_rate: 0.005\n  heldout_percent: 25\n  max_length: 256\n"
    )
    return {
        "TUNEBOT_DATA_DIR": str(tmp_path / "data"),
        "TUNEBOT_BASE_MODEL": tiny_model,
        "TUNEBOT_POLICY_FILE": str(policy),
        "TUNEBOT_MAX_NEW_TOKENS": "6",
    }


def test_every_command_has_help() -> None:
    for command in (
        "serve",
        "import",
        "tune",
        "status",
        "history",
        "rollback",
        "sandbox",
        "pause",
        "resume",
        "forget",
        "ask",
        "scrub",
        "db",
        "dataset",
    ):
        result = tunebot(command, "--help", env={})
        assert result.returncode == 0 and "Usage:" in result.stdout, command


def test_scrub_reads_and_writes_json_lines() -> None:
    lines = (
        '{"text": "mail a.b@corp.example now", "id": 1}\n\n{"text": "port 8443 on db-01"}\n'
        '{"text": "ask Omar Haddad", "conversation": "t1"}\n{"text": "cc Jane Roe", "conversation": "t1"}\n'
        '{"text": "thanks Omar Haddad", "conversation": "t1"}\n{"text": "thanks Jane Roe"}\n'
    )
    result = tunebot("scrub", env={}, stdin=lines)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert out == [
        {"text": "mail <EMAIL_ADDRESS_1> now", "id": 1},
        {"text": "port 8443 on db-01"},
        {"text": "ask <PERSON_1>", "conversation": "t1"},
        {"text": "cc <PERSON_2>", "conversation": "t1"},
        {"text": "thanks <PERSON_1>", "conversation": "t1"},
        {"text": "thanks <PERSON_1>"},
    ]
    bad = tunebot("scrub", env={}, stdin='{"txt": 1}\n')
    assert bad.returncode == 2 and 'line 1: expected a JSON object with a "text" string' in bad.stderr


def test_import_tune_status_ask_rollback(env: dict[str, str]) -> None:
    imported = tunebot("import", str(EXPORT), "--progress", "bar", env=env)
    assert imported.returncode == 0, imported.stderr
    assert "imported 18 exchanges" in imported.stdout
    assert "13 correct" in imported.stdout and "5 approve" in imported.stdout
    assert "#ask-tunebot: 100%" in imported.stderr and "18/18" in imported.stderr  # tqdm's bar

    # Asked for a progress bar (a terminal gets one by default; tests/tuner/test_faults.py reads
    # the line-per-step output); --method overrides the policy's method for this run.
    tuned = tunebot("tune", "--now", "--progress", "bar", "--method", "lora", env=env)
    assert tuned.returncode == 0, tuned.stdout + tuned.stderr
    assert "step 1/" not in tuned.stdout and "training: 100%" in tuned.stderr and "loss=" in tuned.stderr
    assert "evaluate" in tuned.stdout and "decision: promoted v1" in tuned.stdout

    status = json.loads(tunebot("status", "--json", env=env).stdout)
    assert status["live"]["version"] == "v1"
    assert status["dataset"]["examples"] == 18 and status["dataset"]["since_last_training"] == 0
    assert status["last_run"]["state"] == "succeeded" and status["next_run"]

    answer = tunebot("ask", "What port does billing use?", env=env)
    assert answer.returncode == 0 and answer.stdout.startswith("[v1] ")
    assert tunebot("ask", "hello", "--adapter", "base", env=env).stdout.startswith("[base] ")
    missing = tunebot("ask", "hello", "--adapter", "v7", env=env)
    assert missing.returncode == 1 and "no adapter v7; known adapters: v1" in missing.stderr

    assert "v1 live" in tunebot("history", env=env).stdout
    rolled = tunebot("rollback", env=env)
    assert rolled.returncode == 0 and "Rolled back v1; now serving the base model." in rolled.stdout
    again = tunebot("rollback", env=env)
    assert again.returncode == 1 and "nothing to roll back" in again.stderr

    # The audit trail: who did what and why, newest first; a changed policy file is an event too.
    history = tunebot("history", env=env).stdout
    assert "Recent events:" in history and "rollback v1 → base by cli" in history
    assert "promote v1 by tuner — heldout_nll" in history
    policy = Path(env["TUNEBOT_POLICY_FILE"])
    policy.write_text(policy.read_text().replace("0.005", "0.001") + "access:\n  admins: [U0BOSS]\n")
    events = json.loads(tunebot("history", "--json", env=env).stdout)["events"]
    assert [e["action"] for e in events[:3]] == ["policy", "rollback", "promote"]
    assert events[0]["reason"] == "changed access.admins, training.learning_rate"
    assert events[-1]["action"] == "policy" and events[-1]["reason"] == "first policy on record"
    assert json.loads(tunebot("history", "--json", env=env).stdout)["adapters"][0]["method"] == "lora"


def test_bad_policy_file_stops_with_path_and_field(env: dict[str, str], tmp_path: Path) -> None:
    Path(env["TUNEBOT_POLICY_FILE"]).write_text("privacy:\n  entitites: [PERSON]\n")
    result = tunebot("status", env=env)
    assert result.returncode == 1
    assert env["TUNEBOT_POLICY_FILE"] in result.stderr and "privacy.entitites: unknown field" in result.stderr


def _thread_export(
    folder: Path,
    users: list[dict],
    question: str,
    user: str,
    correction: str,
    reactions: tuple[dict, ...] = (),
) -> None:
    """An export of one #general thread: a question to the bot, its answer "No idea.", a correction
    (with `reactions`)."""
    (folder / "general").mkdir(parents=True)
    (folder / "channels.json").write_text(json.dumps([{"id": "C0GEN", "name": "general"}]))
    (folder / "users.json").write_text(
        json.dumps([{"id": "UBOT", "name": "tunebot", "is_bot": True}, *users])
    )
    thread = [
        {"type": "message", "user": user, "ts": "100.000100", "text": f"<@UBOT> {question}"},
        {
            "type": "message",
            "user": "UBOT",
            "ts": "105.000200",
            "thread_ts": "100.000100",
            "text": "No idea.",
        },
        {
            "type": "message",
            "user": "U0BEN",
            "ts": "160.000300",
            "thread_ts": "100.000100",
            "text": correction,
            **({"reactions": list(reactions)} if reactions else {}),
        },
    ]
    (folder / "general" / "2026-01-01.json").write_text(json.dumps(thread))


def test_import_counts_approvals_of_a_correction(env: dict[str, str], tmp_path: Path) -> None:
    """A :+1: on a `correction:` reply in the export backs that correction (min_approvals: 2)."""
    export = tmp_path / "export"
    _thread_export(
        export,
        [],
        "which port is billing on?",
        "U0ANN",
        "correction: Billing listens on port 7781.",
        ({"name": "+1", "users": ["U0BEN", "U0CAT"], "count": 2},),
    )
    Path(env["TUNEBOT_POLICY_FILE"]).write_text("feedback:\n  min_approvals: 2\n")
    imported = tunebot("import", str(export), env=env)
    assert imported.returncode == 0, imported.stderr
    assert "feedback: 1 correct, 1 endorse" in imported.stdout  # the author's own +1 does not count
    out = tmp_path / "dataset.jsonl"
    assert tunebot("dataset", "export", str(out), env=env).returncode == 0
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["messages"][-1]["content"] == "Billing listens on port 7781."


def test_import_rejects_what_is_not_an_export(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    result = tunebot("import", str(tmp_path / "junk"), env=env)
    assert result.returncode == 1 and "no channels.json" in result.stderr
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "channels.json").write_text("[{")
    result = tunebot("import", str(tmp_path / "broken"), env=env)
    assert result.returncode == 1 and "channels.json: not valid JSON" in result.stderr


def test_db_upgrade_and_dataset_export(env: dict[str, str], tmp_path: Path) -> None:
    assert "database is up to date" in tunebot("db", "upgrade", env=env).stdout
    tunebot("import", str(EXPORT), env=env)
    out = tmp_path / "ds.jsonl"
    result = tunebot("dataset", "export", str(out), env=env)
    assert result.returncode == 0 and "wrote 18 examples" in result.stdout
    assert len(out.read_text().splitlines()) == 18


def test_forget_a_user_from_the_cli(env: dict[str, str]) -> None:
    tunebot("import", str(EXPORT), env=env)
    result = tunebot("forget", "--user", "U01JASPER", env=env)
    assert result.returncode == 0, result.stderr
    assert "Erased 6 exchange(s)" in result.stdout and "of U01JASPER" in result.stdout
    bad = tunebot("forget", "--user", "alice", env=env)
    assert bad.returncode == 2 and "expected a Slack user id" in bad.stderr


def test_import_knows_people_from_users_json_and_keeps_the_teams_words(
    env: dict[str, str], tmp_path: Path
) -> None:
    """users.json makes "jasper" a person; "Victoria Metrics" and a word from a code span stay."""
    export = tmp_path / "export"
    users = [
        {"id": "U0JAS", "name": "jasper.o", "real_name": "Jasper Ortiz", "profile": {"first_name": "Jasper"}},
        {
            "id": "U0VIC",
            "name": "victoria",
            "profile": {"real_name": "Victoria Lee", "display_name": "Vicky"},
        },
    ]
    _thread_export(
        export,
        users,
        "should I ask jasper whether Victoria Metrics or Kestrel is down? Quokka too?",
        "U0VIC",
        "correction: Kestrel is fine, run `kestrel status`; ask Vicky about Victoria Metrics.",
    )
    from storage import Database
    from storage.scrub_words import set_word

    database = Database(f"sqlite:///{tmp_path / 'data' / 'tunebot.db'}")
    database.upgrade()
    with database.session() as session:  # as an admin's /tune words scrub would
        set_word(session, "quokka", "scrub", actor="slack:U0ADMIN")
    database.dispose()
    imported = tunebot("import", str(export), env=env)
    assert imported.returncode == 0, imported.stderr
    assert "2 member(s) known from users.json" in imported.stdout
    out = tmp_path / "dataset.jsonl"
    assert tunebot("dataset", "export", str(out), env=env).returncode == 0
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert (
        row["messages"][-2]["content"]
        == "should I ask <PERSON_1> whether Victoria Metrics or Kestrel is down? <DENY_LIST_1> too?"
    )
    assert row["messages"][-1]["content"] == (
        "Kestrel is fine, run `kestrel status`; ask <PERSON_2> about Victoria Metrics."
    )


def test_scrub_explains_and_takes_a_member_list(env: dict[str, str], tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps([{"id": "U0JAS", "name": "jasper.o", "real_name": "Jasper Ortiz"}]))
    line = json.dumps({"text": "ask jasper about the Envoy sidecar"})
    plain = tunebot("scrub", "--explain", env=env, stdin=line + "\n")
    with_users = tunebot("scrub", "--explain", "--users", str(users), env=env, stdin=line + "\n")
    assert with_users.returncode == 0, with_users.stderr
    record = json.loads(with_users.stdout)
    assert record["text"] == "ask <PERSON_1> about the Envoy sidecar"
    [finding] = [f for f in record["findings"] if f["replaced"]]
    assert finding["recognizer"] == "tunebot_workspace_members" and "workspace member" in finding["reason"]
    assert json.loads(plain.stdout)["text"] == "ask <PERSON_1> about the Envoy sidecar"  # a cue, no list
    bad = tunebot("scrub", "--users", str(tmp_path / "missing.json"), env=env, stdin=line)
    assert bad.returncode == 2 and "does not exist" in bad.stderr
