from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from storage.exchanges import TrainingExample
from tuner.dataset import Snapshot, build_snapshot, export_jsonl
from tuner.split import is_heldout


def _example(i: int) -> TrainingExample:
    return TrainingExample(
        key=f"C1:{i}.5",
        prompt=[{"role": "user", "content": f"q{i}"}],
        target=f"a{i}",
        source="corrected",
        original_reply="?",
        updated_at=datetime.now(UTC),
    )


def test_examples_keep_their_side_as_the_dataset_grows(tmp_path: Path) -> None:
    small = build_snapshot([_example(i) for i in range(40)], heldout_percent=25)
    large = build_snapshot([_example(i) for i in range(200)], heldout_percent=25)
    small_heldout = set(small.heldout["key"])
    assert small_heldout and small_heldout <= set(large.heldout["key"])
    assert not set(small.train["key"]) & set(large.heldout["key"])
    assert 30 <= len(large.heldout) <= 70  # about a quarter
    assert small.fingerprint != large.fingerprint


def test_snapshot_round_trip_and_export(tmp_path: Path) -> None:
    snapshot = build_snapshot([_example(i) for i in range(10)], heldout_percent=30)
    snapshot.save(tmp_path / "ds")
    assert Snapshot.load(tmp_path / "ds").fingerprint == snapshot.fingerprint
    rows = export_jsonl(snapshot, tmp_path / "out.jsonl")
    first = (tmp_path / "out.jsonl").read_text().splitlines()[0]
    assert rows == 10 and '"role": "system"' in first and '"role": "assistant"' in first


def test_raising_the_heldout_share_only_moves_examples_into_heldout() -> None:
    keys = [f"C1:{i}.5" for i in range(500)]
    at_10 = {k for k in keys if is_heldout(k, 10)}
    at_20 = {k for k in keys if is_heldout(k, 20)}
    assert at_10 < at_20
    assert 25 <= len(at_10) <= 75


def test_a_target_whose_point_is_a_secret_teaches_the_refusal_or_is_left_out() -> None:
    from dataclasses import replace

    from policies.privacy.placeholders import WITHHELD

    examples = [_example(i) for i in range(20)]
    examples[3] = replace(examples[3], target="The guest wi-fi password is <PASSWORD_1>.")
    refused = build_snapshot(examples, heldout_percent=25, secret_answers="refuse")
    rows = {r["key"]: r for split in (refused.train, refused.heldout) for r in split.to_list()}
    assert rows[examples[3].key]["completion"][0]["content"] == WITHHELD
    assert not any("<PASSWORD" in str(r) for r in rows.values())
    dropped = build_snapshot(examples, heldout_percent=25, secret_answers="drop")
    assert sum(dropped.sizes) == 19 and examples[3].key not in set(dropped.train["key"]) | set(
        dropped.heldout["key"]
    )
