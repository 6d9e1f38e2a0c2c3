"""Answer memory: the team's approved and corrected answers, found again for close questions.

Its entries are exactly the training examples the feedback policy yields (scrubbed text only, a
secret's answer as the refusal the dataset teaches, none holding a placeholder). They are read from
the database again whenever feedback changes (`storage.exchanges.feedback_state`, two aggregate
queries a question), so a correction counts for the very next question, on every replica, and
erasure, retention or a withdrawn :+1: take an entry out before the next answer.

Questions are embedded with WordLlama (static token embeddings shipped inside its wheel: nothing
downloads, a question takes microseconds on the CPU) and searched in a usearch HNSW index.
The closest answers go to the model as context (`with_memory`); the gate never uses memory.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policies.privacy.placeholders import PLACEHOLDER, for_people
from storage.exchanges import InGroup, TrainingExample, feedback_state, last_question, training_examples
from tuner.chat_format import SYSTEM_PROMPT
from tuner.dataset import secret_target

if TYPE_CHECKING:
    import numpy as np

    from policies import Policies
    from policies.schema import MemoryPolicy
    from storage import Database

log = logging.getLogger(__name__)

DIMENSIONS = 256
RECHECK_SECONDS = 300.0  # read the examples again at least this often (a rater group's members change)


@dataclass(frozen=True)
class Recalled:
    """A team answer found for a question."""

    key: str  # the training example's key: channel:reply_ts
    question: str  # scrubbed, as stored
    answer: str  # the approved or corrected answer, scrubbed
    similarity: float  # cosine similarity of the two questions' embeddings


@functools.cache
def _embedder() -> Any:
    """WordLlama's 256-dimension model, loaded from the files its wheel ships. (`WordLlama.load()`
    in 0.4 looks for the tokenizer under `tokenizer/` while the wheel has it under `tokenizers/`,
    then tries to download it: the bot never downloads at run time.)"""
    import wordllama
    from safetensors import safe_open
    from wordllama import WordLlama
    from wordllama.inference import WordLlamaInference

    root = Path(wordllama.__file__).parent
    tokenizer = WordLlama.load_tokenizer(root / "tokenizers" / "l2_supercat_tokenizer_config.json")
    with safe_open(str(root / "weights" / "l2_supercat_256.safetensors"), framework="np") as weights:
        embedding = weights.get_tensor("embedding.weight")
    return WordLlamaInference(embedding, tokenizer)


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length float32 embeddings, one row a text."""
    import numpy as np

    return np.asarray(_embedder().embed(texts, norm=True), dtype=np.float32).reshape(len(texts), DIMENSIONS)


def memory_entry(example: TrainingExample, secret_answers: str) -> Recalled | None:
    """What memory keeps of a training example, if anything: the question and the answer taught
    (a secret's answer becomes the dataset's refusal, or nothing); never an answer that would show a
    placeholder."""
    taught = secret_target(example, secret_answers)
    question = last_question(example.prompt)
    if taught is None or not question or PLACEHOLDER.search(taught.target):
        return None
    return Recalled(example.key, question, taught.target.strip(), 0.0)


class AnswerMemory:
    """The in-process index of the team's answers; safe to share between the bot's threads."""

    def __init__(self, db: Database, policies: Policies, in_group: InGroup | None = None):
        self.db = db
        self.policies = policies
        self.in_group = in_group
        self._lock = threading.Lock()
        self._state: tuple[Any, ...] | None = None
        self._read_at = 0.0
        self._labels: dict[Recalled, int] = {}  # entry -> its key in the index
        self._entries: dict[int, Recalled] = {}
        self._next_label = 0
        self._index: Any = None

    @property
    def enabled(self) -> bool:
        return self.policies.memory.enabled

    def __len__(self) -> int:
        return len(self._entries)

    def sync(self) -> None:
        """Follow the database: entries added for new approvals and corrections, removed for
        withdrawn feedback and deleted exchanges. Cheap when nothing changed."""
        with self._lock:
            with self.db.session() as session:
                state = feedback_state(session)
                if state == self._state and time.monotonic() - self._read_at < RECHECK_SECONDS:
                    return
                examples = training_examples(session, self.policies.feedback, self.in_group)
            secret_answers = self.policies.privacy.secret_answers
            wanted = {e for e in (memory_entry(x, secret_answers) for x in examples) if e is not None}
            gone = [entry for entry in self._labels if entry not in wanted]
            new = [entry for entry in wanted if entry not in self._labels]
            index = self._index_for_update()
            for entry in gone:
                label = self._labels.pop(entry)
                del self._entries[label]
                index.remove(label)
            if new:
                import numpy as np

                labels = np.arange(self._next_label, self._next_label + len(new), dtype=np.uint64)
                self._next_label += len(new)
                index.add(labels, embed([entry.question for entry in new]))
                for label, entry in zip(labels.tolist(), new, strict=True):
                    self._labels[entry] = label
                    self._entries[label] = entry
            self._state, self._read_at = state, time.monotonic()
            if gone or new:
                log.info("answer memory: %d entries (+%d, -%d)", len(self._entries), len(new), len(gone))

    def _index_for_update(self) -> Any:
        if self._index is None:
            from usearch.index import Index

            self._index = Index(ndim=DIMENSIONS, metric="cos", dtype="f32")
        return self._index

    def recall(self, question: str) -> list[Recalled]:
        """The team's answers to the stored questions closest to `question` (raw text: it is only
        embedded, never kept), best first, distinct answers only. (Whether memory is on is the
        caller's to check: `enabled`.)"""
        policy = self.policies.memory
        if not question.strip():
            return []
        self.sync()
        with self._lock:
            if not self._entries:
                return []
            found = self._index.search(embed([question])[0], min(len(self._entries), 4 * policy.matches))
            close = [
                (self._entries[int(label)], 1.0 - float(distance))
                for label, distance in zip(found.keys, found.distances, strict=True)
                if int(label) in self._entries
            ]
        recalled: list[Recalled] = []
        for entry, similarity in sorted(close, key=lambda pair: -pair[1]):
            if similarity < policy.min_similarity or len(recalled) == policy.matches:
                break
            if recalled and similarity < recalled[0].similarity - policy.within_best:
                break  # far behind the best: another service's answer, more often than not
            if not any(_same_answer(entry.answer, r.answer) for r in recalled):
                recalled.append(Recalled(entry.key, entry.question, entry.answer, round(similarity, 4)))
        return recalled


def _same_answer(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def answer_with(
    model: Any, turns: list[dict[str, str]], recalled: list[Recalled], policy: MemoryPolicy, **kwargs: Any
) -> Any:
    """`model.generate` (a LiveModel or an engine) on the conversation with the team's answers
    before it (`with_memory`), copying from them with the policy's `copy_bias`."""
    return model.generate(
        with_memory(turns, recalled),
        copy_from=[r.answer for r in recalled],
        copy_bias=policy.copy_bias if recalled else 0.0,
        **kwargs,
    )


def with_memory(turns: list[dict[str, str]], recalled: list[Recalled]) -> list[dict[str, str]]:
    """The conversation with the team's answers before it, in the system turn (the model's usual
    system prompt first). Names in the stored questions read as words, never as placeholders."""
    if not recalled:
        return turns
    notes = "\n\n".join(f"Q: {for_people(r.question).text}\nA: {r.answer}" for r in recalled)
    system = (
        f"{SYSTEM_PROMPT}\n\nYour team already answered questions like this one. "
        f"If one of these answers the question, answer as the team did:\n\n{notes}"
    )
    return [{"role": "system", "content": system}, *[t for t in turns if t.get("role") != "system"]]
