"""Raw personal data and secrets planted in Slack never reach disk: database, dataset, adapters, logs."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import text

from bot.logging_setup import configure_logging
from tests.conftest import ADMIN, BotHarness
from tests.factories import seed_corrections

PLANTED = {
    "email": "jane.roe@example.org",
    "phone": "+1 415 555 0199",
    "name": "Jane Roe",
    "slack_token": "xoxb-123456789012-abcdefABCDEF123",
    "aws_key": "AKIAQWERTYUIOPASDFGH",
    "github": "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
    "db_password": "Tr0ub4dor-3",
    "lowercase_name": "priya",
    "lowercase_surname": "raman",
    "card": "5555 5555 5555 4444",
    "stripe_key": "sk_live_51HqLyjWDarjtT1zdp7dcXYZ",
    "jwt_signature": "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "env_secret": "q8Zr!vP2#kLm",
    "key_body": "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi",
}


def _all_text_in_database(bot: BotHarness) -> str:
    """Every value of every table, as text (works the same on SQLite and PostgreSQL)."""
    chunks = []
    with bot.runtime.db.engine.connect() as conn:
        for table in ("exchanges", "feedback", "adapters", "training_runs", "audit_events"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                chunks.append(" ".join(str(value) for value in row))
    return "\n".join(chunks)


def _files_under(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


def test_planted_values_appear_in_no_persisted_artifact(bot: BotHarness, tmp_path: Path) -> None:
    log_file = configure_logging("DEBUG", bot.runtime.data_dir)
    try:
        user, channel = "U0LEAKER1", "C0LEAKS01"
        bot_user = bot.workspace.bot_user_id
        question, _ = bot.send.user_message(
            channel,
            user,
            f"<@{bot_user}> I'm {PLANTED['name']}, reach me at <mailto:{PLANTED['email']}|"
            f"{PLANTED['email']}> or {PLANTED['phone']}. Why does token {PLANTED['slack_token']} fail?",
        )
        reply = bot.wait_reply(channel, question["ts"])
        bot.send.user_message(
            channel,
            user,
            f"correction: rotate {PLANTED['aws_key']} and {PLANTED['github']}; the db is "
            f"postgres://app:{PLANTED['db_password']}@db-orders-01:5432/orders; ask "
            f"{PLANTED['lowercase_name']} {PLANTED['lowercase_surname']} about card {PLANTED['card']} "
            f"and {PLANTED['stripe_key']}; session was "
            f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{PLANTED['jwt_signature']}\n"
            f"```\nSECRET_KEY={PLANTED['env_secret']}\n-----BEGIN RSA PRIVATE KEY-----\n"
            f"{PLANTED['key_body']}\n```",
            thread_ts=question["ts"],
        )
        bot.send.reaction(channel, "U0OTHER01", reply["ts"], "+1")
        seed_corrections(bot.runtime.db, 16)
        bot.send.command(ADMIN, "run", bot.slack.response_url("leak-run"))
        bot.wait_response("Tune cycle", timeout=180)

        from click.testing import CliRunner

        from bot.cli import main as cli  # the export command writes the dataset a team would share

        database = _all_text_in_database(bot)
        assert "db-orders-01" in database  # the correction itself was stored, scrubbed
        export = tmp_path / "export.jsonl"
        env = {
            "TUNEBOT_DATA_DIR": str(bot.runtime.data_dir),
            "TUNEBOT_DATABASE_URL": bot.runtime.settings.resolved_database_url,
        }
        assert CliRunner().invoke(cli, ["dataset", "export", str(export)], env=env).exit_code == 0
    finally:
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_tunebot", False):
                logging.getLogger().removeHandler(handler)
                handler.close()

    files = [*_files_under(bot.runtime.data_dir, tmp_path), log_file]
    assert any(p.suffix == ".safetensors" for p in files), "an adapter was trained"
    assert any(p.name == "train.jsonl" for p in files), "a dataset was written"
    leaks = []
    for path in files:
        content = path.read_bytes()
        leaks += [f"{key} in {path}" for key, value in PLANTED.items() if value.encode() in content]
    leaks += [f"{key} in the database" for key, value in PLANTED.items() if value in database]
    assert leaks == []
