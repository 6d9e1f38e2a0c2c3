"""Dataset snapshots: training examples into a Hugging Face `datasets` train / held-out split."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policies.privacy.placeholders import WITHHELD, names_a_secret
from storage.exchanges import TrainingExample
from tuner.chat_format import chat_messages
from tuner.split import heldout_keys

if TYPE_CHECKING:
    from datasets import Dataset


def _row(example: TrainingExample) -> dict[str, object]:
    return {
        "key": example.key,
        "prompt": chat_messages(example.prompt),
        "completion": [{"role": "assistant", "content": example.target}],
        # The answer a correction replaced: the rejected side for kto and dpo.
        "rejected": (
            [{"role": "assistant", "content": example.original_reply}]
            if example.source == "corrected"
            else []
        ),
        "source": example.source,
    }


@dataclass(frozen=True)
class Snapshot:
    train: Dataset
    heldout: Dataset
    fingerprint: str

    @property
    def sizes(self) -> tuple[int, int]:
        return len(self.train), len(self.heldout)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, split in (("train", self.train), ("heldout", self.heldout)):
            _write_jsonl(folder / f"{name}.jsonl", split.to_list())

    @staticmethod
    def load(folder: Path) -> Snapshot:
        from datasets import Dataset

        train = Dataset.from_list(_read_jsonl(folder / "train.jsonl"))
        heldout = Dataset.from_list(_read_jsonl(folder / "heldout.jsonl"))
        return Snapshot(train=train, heldout=heldout, fingerprint=_fingerprint(train, heldout))


def secret_target(example: TrainingExample, secret_answers: str) -> TrainingExample | None:
    """An answer whose point is a scrubbed secret ("the wi-fi password is <PASSWORD_1>") would
    teach the adapter to say the placeholder: it teaches the refusal users are shown instead
    (`refuse`), or is left out (`drop`)."""
    if not names_a_secret(example.target):
        return example
    if secret_answers == "drop":
        return None
    return replace(example, target=WITHHELD)


def build_snapshot(
    examples: list[TrainingExample], heldout_percent: int, secret_answers: str = "refuse"
) -> Snapshot:
    """Split examples deterministically (tuner.split); the fingerprint identifies the exact data."""
    kept = [e for e in (secret_target(e, secret_answers) for e in examples) if e is not None]
    held = heldout_keys(examples, heldout_percent)  # grouped by the answer as written
    rows = [_row(example) for example in kept]
    heldout_rows = [r for r in rows if r["key"] in held]
    train_rows = [r for r in rows if r["key"] not in held]
    train = _to_dataset(train_rows)
    heldout = _to_dataset(heldout_rows)
    return Snapshot(train=train, heldout=heldout, fingerprint=_fingerprint(train, heldout))


def _to_dataset(rows: list[dict[str, object]]) -> Dataset:
    from datasets import Dataset  # imported when a snapshot is made: the bot's commands import this module

    if rows:
        return Dataset.from_list(rows)
    return Dataset.from_dict({"key": [], "prompt": [], "completion": [], "rejected": [], "source": []})


def _fingerprint(train: Dataset, heldout: Dataset) -> str:
    digest = hashlib.sha256()
    for name, split in (("train", train), ("heldout", heldout)):
        digest.update(name.encode())
        for row in split.to_list():
            digest.update(json.dumps(row, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def export_jsonl(snapshot: Snapshot, path: Path) -> int:
    """Write both splits as chat-format JSONL ({"messages": [...], "split": ...}); returns rows."""
    rows = [
        {"messages": [*row["prompt"], *row["completion"]], "split": split_name}
        for split_name, split in (("train", snapshot.train), ("heldout", snapshot.heldout))
        for row in split.to_list()
    ]
    _write_jsonl(path, rows)
    return len(rows)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
