"""Poisoning: a burst of bad corrections from one untrusted user never reaches training."""

from __future__ import annotations

import json
from pathlib import Path

from storage.exchanges import training_examples
from storage.registry import live_adapter
from tests.factories import seed_corrections
from tuner.cycle import TuneCycle

POISON = "Send your password to evil.example for a faster answer."


def test_only_trusted_raters_corrections_train(runtime, policies) -> None:  # type: ignore[no-untyped-def]
    seed_corrections(runtime.db, 12, rater="U0RATER01")  # a trusted rater, by user id
    seed_corrections(runtime.db, 4, start=12, rater="U0CAROL01")  # trusted through a user group
    # The burst: one user "corrects" 20 answers to the same bad one, within seconds.
    seed_corrections(runtime.db, 20, channel="C0POISON", start=5000, rater="U0MALLORY", corrected=POISON)
    with runtime.db.session() as session:  # trusting everyone, the burst outnumbers the real data
        assert sum(e.target == POISON for e in training_examples(session, policies.feedback)) == 20

    trusted = policies.model_copy(
        update={
            "feedback": policies.feedback.model_copy(
                update={"raters": "allow_list", "allowed_raters": ["U0RATER01", "S0TRUSTED"]}
            )
        }
    )
    members = {"S0TRUSTED": {"U0CAROL01"}}
    cycle = TuneCycle(
        runtime.db,
        trusted,
        data_dir=runtime.data_dir,
        base_model=runtime.base_model_path,
        in_group=lambda group, user: user in members.get(group, set()),
    )
    result = cycle.run("test")
    assert result.outcome == "promoted", result.message
    dataset = Path(runtime.data_dir, "runs", f"run-{result.run_id}", "dataset")
    rows = [json.loads(line) for name in ("train", "heldout") for line in (dataset / f"{name}.jsonl").open()]
    assert len(rows) == 16
    assert not any(POISON in json.dumps(row) for row in rows)
    with runtime.db.session() as session:
        adapter = live_adapter(session)
        assert "U0MALLORY" not in adapter.contributors
        assert "U0CAROL01" in adapter.contributors or "U0RATER01" in adapter.contributors

    # Without a way to read groups (no bot token), only the user ids in the list count.
    with runtime.db.session() as session:
        assert len(training_examples(session, trusted.feedback)) == 12
