"""The learning benchmark's data: held-out phrasings never reach the export, the secret never the dataset."""

from __future__ import annotations

import json
from pathlib import Path

from policies.privacy.placeholders import WITHHELD
from tests.bench.learning_data import FACTS, SECRET, build
from tests.bench.learning_family import CHECK_SEEDS, TUNE_SEEDS, workspace
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
    # The answers whose point was the password teach the note people are shown instead.
    assert sum(row["messages"][-1]["content"] == WITHHELD for row in rows) == 2
    assert "<PASSWORD" not in out.read_text()


def test_the_family_draws_distinct_workspaces_that_teach_what_a_team_teaches(tmp_path: Path) -> None:
    first, again, other = workspace(3), workspace(3), workspace(4)
    assert [f.answer for f in first.facts] == [f.answer for f in again.facts]
    assert first.company != other.company and len(other.facts) == 40
    assert not set(TUNE_SEEDS) & set(CHECK_SEEDS) and len(CHECK_SEEDS) >= 5
    assert {len(workspace(s).facts) for s in CHECK_SEEDS} >= {10, 200}
    threads = first.write(tmp_path / "export")
    exported = json.loads((tmp_path / "export" / "ask-tunebot" / "2026-02-02.json").read_text())
    text = json.dumps(exported).lower()
    assert threads == sum(len(f.train) for f in first.facts) + 2
    assert all(q.lower() not in text for f in first.facts for q in f.heldout)
    assert first.secret.lower() in text
    counts = {len(f.train) for f in first.facts}
    assert min(counts) >= 1 and max(counts) <= 5
    corrections = [m["text"] for m in exported if m["text"].startswith("correction:")]
    assert any("wiki somewhere" in c for c in corrections)  # a wrong correction later overridden
    users = json.loads((tmp_path / "export" / "users.json").read_text())
    assert all(u.get("real_name") for u in users if not u.get("is_bot"))


def test_a_family_workspace_imports_with_the_later_correction_as_the_target(
    tmp_path: Path, tiny_model: str
) -> None:
    ws = workspace(1)
    ws.write(tmp_path / "export")
    env = {"TUNEBOT_DATA_DIR": str(tmp_path / "data"), "TUNEBOT_BASE_MODEL": tiny_model}
    imported = tunebot("import", str(tmp_path / "export"), env=env)
    assert imported.returncode == 0, imported.stderr
    assert "5 member(s) known from users.json" in imported.stdout
    out = tmp_path / "dataset.jsonl"
    assert tunebot("dataset", "export", str(out), env=env).returncode == 0
    targets = [json.loads(line)["messages"][-1]["content"] for line in out.read_text().splitlines()]
    answers = {f.answer for f in ws.facts} | {WITHHELD}
    assert targets and all(t in answers for t in targets), set(targets) - answers
    assert ws.secret not in out.read_text() and "<PERSON" not in out.read_text()
