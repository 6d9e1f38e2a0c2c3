"""The learning benchmark's data: held-out phrasings never reach the export, the secret never the dataset."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.learning_data import FACTS, SECRET, build
from tests.bot.test_cli import tunebot


def test_heldout_questions_are_not_in_the_export_and_the_secret_is_scrubbed(
    tmp_path: Path, tiny_model: str
) -> None:
    threads = build(tmp_path / "export")
    exported = (tmp_path / "export" / "ask-tunebot" / "2026-02-02.json").read_text().lower()
    assert threads == 3 * len(FACTS) + 2 and len(FACTS) >= 10
    for fact in FACTS:
        assert all(q.lower() not in exported for q in fact.heldout)
        assert all(q.lower() in exported for q in fact.train)
    assert SECRET.lower() in exported  # taught in chat ...

    env = {"TUNEBOT_DATA_DIR": str(tmp_path / "data"), "TUNEBOT_BASE_MODEL": tiny_model}
    imported = tunebot("import", str(tmp_path / "export"), env=env)
    assert imported.returncode == 0, imported.stderr
    assert f"imported {threads} exchanges" in imported.stdout
    out = tmp_path / "dataset.jsonl"
    assert tunebot("dataset", "export", str(out), env=env).returncode == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == threads
    assert SECRET not in out.read_text()  # ... and scrubbed before anything is stored
    assert any("<PASSWORD" in row["messages"][-1]["content"] for row in rows)
