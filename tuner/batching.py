"""Answering several conversations at once: one decoding pass over their left-padded prompts
(tunebot's own loop over static caches where they fit, tuner/static_decode.py, else transformers'
`generate`), each row streamed to its own caller and cut at its own end, as if it had been
answered alone.

A batch runs in rounds: when another conversation is waiting and the batch has room, the round
stops after a few tokens, and the next one continues every unfinished answer (its prompt and the
tokens so far, prefilled again) together with the newcomers. So a new question waits a few tokens
for its first one, not for the longest answer in flight. In a full-size batch of tunebot's own
loop, a newcomer instead takes the row of an answer that has ended, in place (nothing else is
prefilled again), and each answer is handed over as soon as it ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuner.static_decode import Newcomer, StaticDecoding

OnText = Callable[[str], None]
# take(room, fits): up to `room` waiting conversations, in order, while `fits` says each can join.
Take = Callable[[int, Callable[["Request"], bool]], list["Request"]]
DECODING = {"do_sample": False, "repetition_penalty": 1.1}  # how every answer is decoded
ANY = -2  # a copy entry's first token that matches whatever came before
# (token before the last or ANY, the last token, the token that followed them)
CopyEntry = tuple[int, int, int]


@dataclass
class Request:
    """One conversation waiting for (the rest of) its answer; `done` is set once `text` or `error` is."""

    input_ids: list[int]
    max_new_tokens: int
    on_text: OnText | None = None
    # Leading tokens of input_ids that are context to draw on (team answers from answer memory, a
    # client's system turn): the repetition penalty does not count them, so the answer may repeat
    # a port or a name from them. The conversation's own tokens count as they always did.
    context: int = 0
    # Answer memory's answers to copy from (`copy_entries`): what follows the last token, or the last
    # two, somewhere in them gets `copy_bias` added to its score (twice where both match), so a port
    # or a wiki path is repeated as the team wrote it.
    copy: list[CopyEntry] = field(default_factory=list)
    copy_bias: float = 0.0
    generated: list[int] = field(default_factory=list)  # the answer's tokens so far
    asked_at: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None  # when its first token reached the host (perf_counter)
    on_first: Callable[[], None] | None = None  # called then (once; not at all if it ends at once)
    finished: bool = False  # end of sequence, or max_new_tokens reached
    shown: str = ""  # the text last streamed
    done: threading.Event = field(default_factory=threading.Event)
    text: str = ""
    version: str = ""
    error: BaseException | None = None


def generate_round(
    model: Any,
    tokenizer: Any,
    requests: list[Request],
    device: Any,
    cut_short: Callable[[], bool] | None = None,
    min_round_tokens: int = 8,
    static: StaticDecoding | None = None,
    take: Take | None = None,
    finished: Callable[[Request], None] | None = None,
) -> None:
    """One round of greedy decoding for every unfinished request: extends each one's `generated`,
    streams its text so far, marks it finished at its end. The round ends when any row ends, or
    (after `min_round_tokens`) once `cut_short()` says others are waiting to join. With `static`
    (which needs `take` and `finished`), the batch is padded to one of its sizes and decoded by
    its loop, which looks at tokens a chunk at a time; in a full-size batch the round goes on past
    a row's end: the answer is handed to `finished` (and leaves `requests`) at once, and waiting
    conversations `take`n into free rows join `requests`."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    sequences = [r.input_ids + r.generated for r in requests]
    new_tokens = max(r.max_new_tokens - len(r.generated) for r in requests)
    fixed = static is not None and static.fits(len(sequences), max(map(len, sequences)) + new_tokens)
    if fixed:
        assert static is not None
        size = static.rows_for(len(sequences))
        sequences += [sequences[-1]] * (size - len(sequences))  # their rows are free from the start
    # Left padding: every prompt (and the answer so far) ends where the new tokens start.
    batch = tokenizer.pad(
        {"input_ids": sequences},
        padding=True,
        padding_side="left",
        return_tensors="pt",
    ).to(device)
    width = batch["input_ids"].shape[1]
    # Per row, the columns the penalty skips: its padding and its context, where it has context
    # (a row without keeps transformers' rule: every column counts, padding too).
    contexts = [r.context for r in requests] + [requests[-1].context] * (len(sequences) - len(requests))
    unpenalized = [width - len(s) + c if c else 0 for s, c in zip(sequences, contexts, strict=True)]
    eos = stop_ids(tokenizer, model)
    others_waiting = cut_short or (lambda: False)

    def waiting(steps: int) -> bool:
        return steps >= min_round_tokens and others_waiting()

    if fixed:
        assert static is not None and take is not None and finished is not None
        slots = _Slots(tokenizer, requests, size, width, eos, finished, others_waiting)
        joining = _Joining(slots, static, others_waiting, take, waiting)
        copy = [(r.copy, r.copy_bias) for r in requests]
        copy += [copy[-1]] * (len(sequences) - len(requests))  # padding rows repeat the last row
        static.decode(
            batch["input_ids"],
            batch["attention_mask"],
            new_tokens,
            slots.put_chunk,
            joining,
            unpenalized,
            copy,
        )
        return
    rows = _Rows(tokenizer, requests, eos)

    def stop(steps: int) -> bool:
        """End the round for all rows once one has ended (its caller gets the answer now, not when
        the longest is done) or when others wait to join."""
        return any(rows.ended) or waiting(steps)

    class CutShort(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            ended = stop(input_ids.shape[1] - width)
            return torch.full((input_ids.shape[0],), ended, dtype=torch.bool, device=input_ids.device)

    output = model.generate(
        **batch,
        max_new_tokens=new_tokens,
        **_decoding(unpenalized, device, requests),
        pad_token_id=tokenizer.pad_token_id,
        streamer=_Streamer(rows),
        stopping_criteria=StoppingCriteriaList([CutShort()]),
    )
    for row, tokens in enumerate(output[: len(requests), width:].tolist()):
        rows.settle(row, tokens)


def _decoding(unpenalized: list[int], device: Any, requests: list[Request] | None = None) -> dict[str, Any]:
    """DECODING, with the penalty skipping each row's leading `unpenalized` columns where any does,
    then each row's copy bias where any has one."""
    copying = [r for r in requests or [] if r.copy and r.copy_bias]
    if not any(unpenalized) and not copying:
        return DECODING
    import torch
    from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

    penalty = RepetitionPenaltyLogitsProcessor(
        float(DECODING["repetition_penalty"]), prompt_ignore_length=torch.tensor(unpenalized, device=device)
    )
    processors: list[Any] = [penalty]
    if copying:
        assert requests is not None
        processors.append(CopyBias([r.copy for r in requests], [r.copy_bias for r in requests], device))
    rest = {k: v for k, v in DECODING.items() if k != "repetition_penalty"}
    return {**rest, "logits_processor": LogitsProcessorList(processors)}


def copy_entries(answers: list[list[int]], start: tuple[int, int]) -> list[CopyEntry]:
    """What `answers` continue with, as copy entries: after each token (ANY before it), and after
    each two, the token that followed. Each answer is begun after `start`, the two tokens an answer
    follows (the end of the generation prompt). Each entry once, in order, at most COPY_ENTRIES
    (the first answers' first)."""
    from tuner.static_decode import COPY_ENTRIES

    entries: dict[CopyEntry, None] = {}
    for ids in answers:
        seq = [*start, *ids]
        for i in range(2, len(seq)):
            entries[(ANY, seq[i - 1], seq[i])] = None
            entries[(seq[i - 2], seq[i - 1], seq[i])] = None
    return list(entries)[:COPY_ENTRIES]


def copy_scores(scores: Any, before: Any, last: Any, entries: tuple[Any, Any, Any, Any]) -> Any:
    """`scores` with each row's copy bias added: to every token that followed its `last` token
    (column tensor), and again where the token `before` that matches too. `entries`: the rows' entry
    tensors (first, second, following: rows x entries; bias: rows x 1)."""
    first, second, following, bias = entries
    match = (second == last) & ((first == ANY) | (first == before))
    return scores.scatter_add(1, following, match.to(scores.dtype) * bias.to(scores.dtype))


def copy_tensors(rows: list[list[CopyEntry]], bias: list[float], device: Any, width: int | None = None):
    """(first, second, following, bias) tensors for `copy_scores`; unused entries match nothing."""
    import torch

    width = width or max(1, max(len(entries) for entries in rows))
    first = torch.full((len(rows), width), -1, dtype=torch.long, device=device)
    second = torch.full((len(rows), width), -1, dtype=torch.long, device=device)
    following = torch.zeros((len(rows), width), dtype=torch.long, device=device)
    for row, entries in enumerate(rows):
        if entries:
            columns = torch.tensor(entries, dtype=torch.long, device=device).T
            first[row, : len(entries)], second[row, : len(entries)], following[row, : len(entries)] = columns
    weights = torch.tensor([b if r else 0.0 for r, b in zip(rows, bias, strict=True)], device=device)
    return first, second, following, weights[:, None]


class CopyBias:
    """transformers' logits processor for `copy_scores`: rows without entries are left alone."""

    def __init__(self, rows: list[list[CopyEntry]], bias: list[float], device: Any) -> None:
        self.entries = copy_tensors(rows, bias, device)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        return copy_scores(scores, input_ids[:, -2:-1], input_ids[:, -1:], self.entries)


class _Slots:
    """The rows of a batch decoded by tunebot's loop, as slots: who is in each (None: free, its
    tokens unread) and the column each has read up to. An answer is handed over as it ends."""

    def __init__(
        self,
        tokenizer: Any,
        requests: list[Request],
        size: int,
        width: int,
        eos: set[int],
        finished: Callable[[Request], None],
        others_waiting: Callable[[], bool],
    ) -> None:
        self.tokenizer, self.requests, self.eos, self.finished = tokenizer, requests, eos, finished
        self.others_waiting = others_waiting
        self.rows: list[Request | None] = [*requests, *[None] * (size - len(requests))]
        self.read = [width] * size  # the next column each row's occupant reads

    def live(self) -> int:
        return sum(r is not None for r in self.rows)

    def free(self) -> list[int]:
        return [row for row, r in enumerate(self.rows) if r is None]

    def place(self, row: int, request: Request, column: int) -> None:
        self.rows[row], self.read[row] = request, column
        self.requests.append(request)

    def put_chunk(self, column: int, chunk: list[list[int]]) -> bool:
        """Tokens at `column` on: each row's occupant reads what it has not; True ends the round
        (nobody left, or one answer left in a bigger batch and nobody waiting: it goes on faster
        alone)."""
        for row, request in enumerate(self.rows):
            if request is None:
                continue
            for at, token in enumerate(chunk[row], start=column):
                if at < self.read[row]:
                    continue
                self.read[row] = at + 1
                if token in self.eos:
                    request.finished = True
                    break
                request.generated.append(token)
                _first(request)
                request.finished = len(request.generated) >= request.max_new_tokens
                _stream(self.tokenizer, request, request.generated)
                if request.finished:
                    break
            if request.finished:
                self.rows[row] = None
                self.requests.remove(request)
                self.finished(request)
        live = self.live()
        return live == 0 or (live == 1 and len(self.rows) > 1 and not self.others_waiting())


class _Joining:
    """The static loop's view of conversations waiting: free rows are given to them in place; a
    conversation that cannot fit in place (its prompt longer than the columns before, its answer
    past the cache) makes the round end, after `min_round_tokens`, to start afresh with it."""

    def __init__(
        self,
        slots: _Slots,
        static: StaticDecoding,
        others_waiting: Callable[[], bool],
        take: Take,
        waiting: Callable[[int], bool],
    ) -> None:
        self.slots, self.static, self.take, self.waiting = slots, static, take, waiting
        self.others_waiting = others_waiting
        self.blocked = False  # the first waiting conversation cannot join in place

    def end_round(self, steps: int) -> bool:
        in_place = len(self.slots.rows) > 1 and not self.blocked
        return not in_place and self.waiting(steps)

    def wanted(self) -> bool:
        return not self.blocked and bool(self.slots.free()) and self.others_waiting()

    def admit(self, column: int) -> list[Newcomer]:
        free = self.slots.free()

        def fits(request: Request) -> bool:
            prompt, done = len(request.input_ids) + len(request.generated), len(request.generated)
            return prompt <= column and column + request.max_new_tokens - done <= self.static.length

        newcomers = self.take(len(free), fits) if free else []
        self.blocked = not newcomers and self.others_waiting()
        admitted: list[Newcomer] = []
        for row, request in zip(free, newcomers, strict=False):
            self.slots.place(row, request, column)
            budget = request.max_new_tokens - len(request.generated)
            copy = (request.copy, request.copy_bias)
            admitted.append((row, request.input_ids + request.generated, budget, request.context, copy))
        return admitted


class _Streamer:
    """transformers' streamer protocol for `_Rows`: the prompts first (skipped), then each step's
    tokens, one a row."""

    def __init__(self, rows: _Rows) -> None:
        self.rows = rows
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompts
            self.prompt_seen = True
            return
        self.rows.put(value.reshape(-1).tolist())

    def end(self) -> None:
        pass


class _Rows:
    """A batch's rows as tokens come, one a row each step: hands each row's decoded text so far to
    its callback as it grows; `settle` then takes the row's tokens of the round, up to its end."""

    def __init__(self, tokenizer: Any, requests: list[Request], eos: set[int]) -> None:
        self.tokenizer = tokenizer
        self.requests = requests
        self.streamed: list[list[int]] = [list(r.generated) for r in requests]
        self.ended = [False] * len(requests)
        self.eos = eos

    def put(self, step: list[int]) -> None:
        """One step's tokens (padding rows beyond the requests' are ignored)."""
        for row, token in enumerate(step[: len(self.requests)]):
            request, ids = self.requests[row], self.streamed[row]
            if self.ended[row] or self._ends(request, ids, token):
                self.ended[row] = True  # after its end a row only gets padding
                continue
            ids.append(token)
            _first(request)
            _stream(self.tokenizer, request, ids)

    def settle(self, row: int, tokens: list[int]) -> None:
        """The row's tokens from generate's output (what the streamer saw, as returned)."""
        request = self.requests[row]
        for token in tokens:
            if self._ends(request, request.generated, token):
                request.finished = True
                return
            request.generated.append(token)
        request.finished = len(request.generated) >= request.max_new_tokens

    def _ends(self, request: Request, ids: list[int], token: int) -> bool:
        return token in self.eos or len(ids) >= request.max_new_tokens


def _first(request: Request) -> None:
    """Note the request's first token, the first time it gets one."""
    if request.first_token_at is None:
        request.first_token_at = time.perf_counter()
        if request.on_first is not None:
            request.on_first()


def _stream(tokenizer: Any, request: Request, ids: list[int]) -> None:
    """Hand the request's text so far to its callback, if it grew."""
    if request.on_text is None:
        return
    # A token cut mid-character decodes to U+FFFD: wait for the rest of it.
    text = decode(tokenizer, ids).rstrip("\ufffd").strip()
    if text and text != request.shown:
        request.shown = text
        request.on_text(text)


def stop_ids(tokenizer: Any, model: Any) -> set[int]:
    """The tokens that end an answer: the tokenizer's end of sequence and every one the model's
    generation config names. Families differ: Llama 3 ends a turn with <|eot_id|>, Gemma with
    <end_of_turn>, Qwen with <|im_end|>, each beside a plain end-of-text token."""
    ids: set[int] = set()
    config = getattr(model, "generation_config", None)
    for value in (tokenizer.eos_token_id, getattr(config, "eos_token_id", None)):
        if value is not None:
            ids.update(value if isinstance(value, list) else [value])
    return ids


def decode(tokenizer: Any, ids: list[int]) -> str:
    return str(tokenizer.decode(ids, skip_special_tokens=True)).strip()
