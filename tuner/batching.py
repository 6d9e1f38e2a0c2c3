"""Answering several conversations at once: one decoding pass over their left-padded prompts
(tunebot's own loop over static caches where they fit, tuner/static_decode.py, else transformers'
`generate`), each row streamed to its own caller and cut at its own end, as if it had been
answered alone.

A batch runs in rounds: when another conversation is waiting and the batch has room, the round
stops after a few tokens, and the next one continues every unfinished answer (its prompt and the
tokens so far, prefilled again) together with the newcomers. So a new question waits a few tokens
for its first one, not for the longest answer in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuner.static_decode import StaticDecoding

OnText = Callable[[str], None]
DECODING = {"do_sample": False, "repetition_penalty": 1.1}  # how every answer is decoded


@dataclass
class Request:
    """One conversation waiting for (the rest of) its answer; `done` is set once `text` or `error` is."""

    input_ids: list[int]
    max_new_tokens: int
    on_text: OnText | None = None
    generated: list[int] = field(default_factory=list)  # the answer's tokens so far
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
) -> None:
    """One round of greedy decoding for every unfinished request: extends each one's `generated`,
    streams its text so far, marks it finished at its end. The round ends when any row ends, or
    (after `min_round_tokens`) once `cut_short()` says others are waiting to join. With `static`,
    the batch is padded with copies of its last row to one of its sizes and decoded by its loop,
    which looks at tokens a chunk at a time: a round then ends up to two chunks after a row's end
    (the rows going on keep those tokens), and one chunk at most after others start waiting."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    sequences = [r.input_ids + r.generated for r in requests]
    new_tokens = max(r.max_new_tokens - len(r.generated) for r in requests)
    fixed = static is not None and static.fits(len(sequences), max(map(len, sequences)) + new_tokens)
    if fixed:
        assert static is not None
        size = static.rows_for(len(sequences))
        sequences += [sequences[-1]] * (size - len(sequences))  # their tokens are never read
    # Left padding: every prompt (and the answer so far) ends where the new tokens start.
    batch = tokenizer.pad(
        {"input_ids": sequences},
        padding=True,
        padding_side="left",
        return_tensors="pt",
    ).to(device)
    width = batch["input_ids"].shape[1]
    rows = _Rows(tokenizer, requests, stop_ids(tokenizer, model))

    def waiting(steps: int) -> bool:
        return cut_short is not None and steps >= min_round_tokens and cut_short()

    def stop(steps: int) -> bool:
        """End the round for all rows once one has ended (its caller gets the answer now, not when
        the longest is done) or when others wait to join."""
        return any(rows.ended) or waiting(steps)

    if fixed:
        assert static is not None

        def on_tokens(chunk: list[list[int]]) -> bool:
            for column in zip(*chunk, strict=True):
                rows.put(list(column))
            return stop(len(rows.tokens[0]))

        static.decode(batch["input_ids"], batch["attention_mask"], new_tokens, on_tokens, join=waiting)
        for row in range(len(requests)):
            rows.settle(row, rows.tokens[row])
        return

    class CutShort(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            ended = stop(input_ids.shape[1] - width)
            return torch.full((input_ids.shape[0],), ended, dtype=torch.bool, device=input_ids.device)

    output = model.generate(
        **batch,
        max_new_tokens=new_tokens,
        **DECODING,
        pad_token_id=tokenizer.pad_token_id,
        streamer=_Streamer(rows),
        stopping_criteria=StoppingCriteriaList([CutShort()]),
    )
    for row, tokens in enumerate(output[: len(requests), width:].tolist()):
        rows.settle(row, tokens)


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
        self.tokens: list[list[int]] = [[] for _ in requests]  # this round's, past a row's end too
        self.ended = [False] * len(requests)
        self.eos = eos

    def put(self, step: list[int]) -> None:
        """One step's tokens (padding rows beyond the requests' are ignored)."""
        for row, token in enumerate(step[: len(self.requests)]):
            self.tokens[row].append(token)
            request, ids = self.requests[row], self.streamed[row]
            if self.ended[row] or self._ends(request, ids, token):
                self.ended[row] = True  # after its end a row only gets padding
                continue
            ids.append(token)
            if request.on_text is not None:
                # A token cut mid-character decodes to U+FFFD: wait for the rest of it.
                text = decode(self.tokenizer, ids).rstrip("\ufffd").strip()
                if text and text != request.shown:
                    request.shown = text
                    request.on_text(text)

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
