"""Dataset snapshots: training examples into a Hugging Face `datasets` train / held-out split."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage.exchanges import TrainingExample
from tuner.chat_format import chat_messages
from tuner.split import is_heldout

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


def build_snapshot(examples: list[TrainingExample], heldout_percent: int) -> Snapshot:
    """Split examples deterministically; the fingerprint identifies the exact data trained on."""
    rows = [_row(example) for example in examples]
    heldout_rows = [r for r in rows if is_heldout(str(r["key"]), heldout_percent)]
    train_rows = [r for r in rows if not is_heldout(str(r["key"]), heldout_percent)]
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
