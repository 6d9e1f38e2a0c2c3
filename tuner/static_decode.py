"""Fixed-shape decoding: KV caches of one length, batches padded to a few sizes, and a decoding
loop of tunebot's own whose whole step (the forward pass of one token a row, the repetition
penalty, the greedy pick, the cache and mask updates) is one compiled graph: on a GPU, inductor
with CUDA graphs, replayed token after token without Python in between (the way gpt-fast decodes).

The host does not look at every token: the loop queues a chunk of steps (1, 2, 4, then `CHUNK`),
then reads the previous chunk's tokens (copied to pinned memory while the GPU works on the next
one), streams them, and checks the rows' ends and whether others wait to join. So a round may run
up to two chunks past a row's end; those tokens are the row's own greedy continuation and are kept
for rows that go on (cut at each row's own end and budget as before).

A batch's rows are slots: when a row has ended and another conversation waits, the newcomer is
prefilled alone (on the batch-of-one cache, as if it were answered alone) and its keys and values
copied into the free row, ending where the others' end; the others decode on undisturbed (no
prompt is prefilled again). A full batch's prompts end at column `RESERVED` at least (the
columns before them empty and masked), so that a newcomer's prompt up to that long fits before
the current column: a batch started on short questions still takes a long one in place. Caches
with sliding-window layers, whose columns roll, take newcomers between rounds instead.

The step attends only the cache's first columns that a round can reach: a round that ends within
`COLUMNS` columns (most Slack answers) reads that many keys and values a token, not the whole
cache's (at a batch of eight over a 4,096-column cache, 4.3 GB a token for an 8B model: a quarter
of a step's memory traffic, for columns that are all masked); a newcomer whose answer reaches
further moves the round on to the whole cache.

The step is compiled once per batch size (a batch of one and a full batch) and column count while
the model starts and never again (a batch of one's step over the first columns, the most common,
with inductor's coordinate descent tuning: `TUNED`): the caches and buffers are made once per size
and reset in place between rounds, and merging an adapter writes the weights in place. Rounds too
long for the cache are answered with transformers' growing cache instead (`fits` says which).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from tuner.batching import DECODING, copy_scores, copy_tensors
from tuner.decode_attention import ATTENDED_COLUMNS
from tuner.decode_attention import NAME as ATTENTION
from tuner.trainers import training_attention

log = logging.getLogger(__name__)

CACHE_TOKENS = 4096  # prompt and answer together; longer conversations are answered uncompiled
COLUMNS = 1024  # a round ending within this many columns attends only these (see above)
RESERVED = 512  # a full batch's prompts end at this column at least: newcomers' this long join
CHUNK = 8  # decoding steps queued before the host reads tokens (stops are seen this late at most)
REPETITION_PENALTY = float(DECODING["repetition_penalty"])  # what generate is asked for, the same
# Inductor options for the batch of one's step over COLUMNS (with `tune_single`): one-row matrix
# products become Triton reductions it tunes, as gpt-fast compiles (an 8B model on an H200: 4.92
# against 5.13 ms a token; compiling takes longer, so the batch of eight and the whole cache's
# graphs, used less, are compiled without).
TUNED = {"coordinate_descent_tuning": True}
# torch.compile takes a mode or options, not both: what a mode means in options, where tuning adds one.
MODE_OPTIONS: dict[str | None, dict[str, Any]] = {
    None: {},
    "default": {},
    "reduce-overhead": {"triton.cudagraphs": True},
}

# Called with the column of the first of them and each row's tokens there (a list per row, all of
# the same length, the columns following on); True ends the round. A column may come twice (after a
# newcomer joined): each row reads it once.
OnTokens = Callable[[int, list[list[int]]], bool]
# (its row, its prompt's tokens, the most tokens it may get, how many leading tokens are context the
# repetition penalty does not count, its copy entries and bias: batching.copy_scores)
Newcomer = tuple[int, list[int], int, int, "Copy"]
Copy = tuple[list[tuple[int, int, int]], float]  # (copy entries, bias); ([], 0.0): none
COPY_ENTRIES = 512  # a row's copy entries the loop holds (batching.copy_entries keeps at most this many)


class Joining(Protocol):
    """Others waiting to be answered, as the decoding loop asks before it queues each chunk."""

    def end_round(self, steps: int) -> bool:
        """End the round now (`steps` tokens in): others wait and cannot join this batch in place."""
        ...

    def wanted(self) -> bool:
        """Others wait and a row is free: `admit` comes next, once every token so far is handed over."""
        ...

    def admit(self, column: int) -> list[Newcomer]:
        """The conversations that take free rows now, their answers starting at `column`: a prompt
        must fit in the columns before it, and its answer in the cache after it."""
        ...


class StaticDecoding:
    """Static KV caches and the compiled step for batches of `sizes` rows (a batch is padded up to
    the next size). `compile_config` (transformers' CompileConfig: backend, mode, options) compiles
    the step, once for each batch size and column count (`tune_single`: the batch of one's over the
    first columns with TUNED as well, where the backend is inductor); without it the same loop runs
    eagerly (the CPU's answers stay transformers')."""

    def __init__(
        self,
        model: Any,
        max_batch: int,
        *,
        compile_config: Any = None,
        tokens: int | None = None,
        columns: int = COLUMNS,
        tune_single: bool = False,
    ):
        window = int(getattr(model.config, "max_position_embeddings", CACHE_TOKENS))
        self.model = model
        self.length = min(window, tokens or CACHE_TOKENS)
        self.sizes = sorted({1, max_batch})
        # The columns a step attends: the fewest that hold a round's end (the whole cache where the
        # model attends with a kernel of its own: tuner/decode_attention.py reads the count).
        ours = getattr(model.config, "_attn_implementation", None) == ATTENTION
        self.columns = sorted({min(columns, self.length) if ours else self.length, self.length})
        self.compile_config = compile_config
        self._buffers: dict[int, _Buffers] = {}
        # One compiled step for each batch size and column count (dynamo keeps each one's graphs
        # apart: their backends differ), or the eager step.
        self._steps: dict[tuple[int, int], Any] = {}
        self.tuned = {(1, self.columns[0])} if tune_single and compile_config is not None else set()
        if compile_config is not None:
            import torch

            for size in self.sizes:
                for attended in self.columns:
                    arguments = compile_arguments(compile_config, (size, attended) in self.tuned)
                    self._steps[size, attended] = torch.compile(self._decode_step, **arguments)

    def rows_for(self, rows: int) -> int:
        """The padded batch size for `rows` conversations."""
        return next(size for size in self.sizes if size >= rows)

    def columns_for(self, end: int) -> int:
        """The columns a step attends when a round's last token is at column `end` - 1."""
        return next(columns for columns in self.columns if columns >= end)

    def fits(self, rows: int, tokens: int) -> bool:
        """Whether a round of `rows` conversations needing `tokens` positions (prompt and new
        tokens) can be decoded here."""
        return tokens <= self.length and rows <= self.sizes[-1]

    def decode(
        self,
        input_ids: Any,
        attention_mask: Any,
        new_tokens: int,
        on_tokens: OnTokens,
        joining: Joining | None = None,
        unpenalized: list[int] | None = None,
        copy: list[Copy] | None = None,
        columns: int | None = None,
    ) -> None:
        """Greedy decoding with the repetition penalty, as `generate` with DECODING does, of a
        left-padded batch of a size in `sizes`, for up to `new_tokens` tokens; `on_tokens` gets
        them in chunks and ends the round by returning True. `joining`, asked before each chunk is
        queued, ends the round (others then wait one chunk at most) or hands over newcomers for
        free rows. `unpenalized`: per row, how many leading columns the penalty does not count
        (`penalty_start`); `copy`: per row, its copy entries and bias (batching.copy_scores);
        `columns`: the columns every step attends (default: `columns_for` the round's end, growing
        with newcomers). Call under torch.inference_mode."""
        import torch

        size, width = input_ids.shape
        assert size in self.sizes and width + new_tokens <= self.length, (size, width, new_tokens)
        buffers = self._buffers_for(size)
        in_place = size > 1 and _slots_in_place(buffers.cache)
        # The first new token's column: right after the prompts, or (in a batch that takes newcomers
        # in place) at RESERVED at least, the columns before the prompts empty, where answers fit.
        reserve = in_place and _initialized(buffers.cache)
        start = max(width, min(RESERVED, self.length - new_tokens)) if reserve else width
        mask, seen, tokens = buffers.mask, buffers.seen, buffers.tokens
        mask[:, start - width : start] = attention_mask
        _write_from(buffers.cache, start - width)
        seen.scatter_(1, input_ids, True)  # transformers penalizes every token of input_ids, pads too
        for row, skip in enumerate(unpenalized or []):
            if skip:
                seen[row].zero_()
                seen[row].scatter_(0, input_ids[row, skip:], True)
        for row, row_copy in enumerate(copy or []):
            if row_copy[0] and row_copy[1]:  # the others were cleared with the buffers
                buffers.set_copy(row, row_copy)
        positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
        # The prompt, eagerly (its length changes every round), with the attention kernels training
        # uses: cuDNN's would plan again for every new length (11 ms a layer on an H200). Its last
        # logits give the first token.
        with training_attention(input_ids.is_cuda):
            logits = self.model(
                input_ids=input_ids,
                attention_mask=mask[:, :start],
                position_ids=positions,
                cache_position=torch.arange(start - width, start, device=input_ids.device),
                past_key_values=buffers.cache,
                use_cache=True,
                logits_to_keep=1,  # the last position's: a full batch's prompts' would be gigabytes
            ).logits[:, -1, :]
        buffers.token.copy_(
            _pick(logits, seen, input_ids[:, -2:-1], input_ids[:, -1:], buffers.copying)[:, None]
        )
        buffers.before.copy_(input_ids[:, -1:])
        buffers.position.fill_(start)
        tokens[:, start : start + 1] = buffers.token
        if on_tokens(start, tokens[:, start : start + 1].tolist()) or new_tokens == 1:
            return  # the first token is streamed at once
        copied, end = start + 1, start + new_tokens  # tokens[:, :copied] are handed over or on their way
        queued, chunk = copied, 1
        attended = columns or self.columns_for(end)
        pending: tuple[int, Callable[[], list[list[int]]]] | None = None
        while True:
            if joining is not None and joining.end_round(queued - start):
                if pending is not None:
                    on_tokens(pending[0], pending[1]())
                return
            if joining is not None and in_place and joining.wanted():
                if pending is not None:  # the rows' ends so far decide which are free
                    column, read = pending
                    pending = None
                    if on_tokens(column, read()):
                        return
                at = queued - 1  # the column of the token each row feeds next
                for row, ids, budget, context, row_copy in joining.admit(at):
                    self._insert(buffers, row, ids, at, context, row_copy)
                    end = max(end, at + budget)
                    copied, chunk = at, 1  # the newcomer's first token is at `at`: read it again
                attended = max(attended, self.columns_for(end))
            # Chunks of 1, 2, 4, then CHUNK steps: the first words show at once.
            chunk, last = min(chunk * 2, CHUNK), min(copied + chunk, end)
            step = self._steps.get((size, attended), self._decode_step)
            while queued < last:
                step(
                    buffers.token,
                    buffers.position,
                    mask,
                    seen,
                    tokens,
                    buffers.cache,
                    buffers.copy_state,
                    attended,
                )
                queued += 1
            ready = (copied, buffers.copy(copied, queued))  # the copy starts once the GPU gets there
            copied = queued
            if pending is not None and on_tokens(pending[0], pending[1]()):  # decoded while `ready` was
                return
            pending = ready
            if queued == end:
                on_tokens(pending[0], pending[1]())
                return

    def _buffers_for(self, size: int) -> _Buffers:
        buffers = self._buffers.get(size)
        if buffers is None:
            buffers = self._buffers[size] = _Buffers(self.model, size, self.length)
        else:
            buffers.reset()
        return buffers

    def _insert(
        self,
        buffers: _Buffers,
        row: int,
        ids: list[int],
        column: int,
        context: int = 0,
        copy: Copy = ([], 0.0),
    ) -> None:
        """Prefill `ids` alone on the batch-of-one cache (as if answered alone), then give `row` of
        `buffers` its keys and values in the columns before `column`, its mask, its seen tokens
        (all but the first `context`), its copy entries and its first token (at `column`). The other
        rows are untouched."""
        import torch

        alone = self._buffers_for(1)
        prompt = torch.tensor([ids], device=buffers.tokens.device)
        n = len(ids)
        with training_attention(prompt.is_cuda):
            logits = self.model(
                input_ids=prompt,
                attention_mask=torch.ones_like(prompt),
                position_ids=torch.arange(n, device=prompt.device)[None],
                cache_position=torch.arange(n, device=prompt.device),
                past_key_values=alone.cache,
                use_cache=True,
                logits_to_keep=1,
            ).logits[:, -1, :]
        into_layers: list[Any] = list(buffers.cache.layers)
        alone_layers: list[Any] = list(alone.cache.layers)
        for into, source in zip(into_layers, alone_layers, strict=True):
            into.keys[row, :, column - n : column] = source.keys[0, :, :n]
            into.values[row, :, column - n : column] = source.values[0, :, :n]
        buffers.mask[row].zero_()
        buffers.mask[row, column - n : column] = 1
        buffers.seen[row].zero_()
        buffers.seen[row].scatter_(0, prompt[0, context:], True)
        buffers.set_copy(row, copy)
        row_copy = tuple(t[row : row + 1] for t in buffers.copying)
        first = _pick(logits, buffers.seen[row : row + 1], prompt[:, -2:-1], prompt[:, -1:], row_copy)
        buffers.before[row] = prompt[0, -1]
        buffers.token[row] = first
        buffers.tokens[row, column] = first[0]

    def _decode_step(
        self,
        token: Any,
        position: Any,
        mask: Any,
        seen: Any,
        tokens: Any,
        cache: Any,
        state: Any,
        columns: int,
    ) -> None:
        """One token for every row: `token` sits at `position` (a 1-element tensor). Both move on to
        the next in place; the mask, the penalty's seen tokens and the token log grow in place (every
        tensor here keeps its address: CUDA graphs replay the step with no copies in or out).
        `state`: the token before `token` (moves on in place too) and the rows' copy entries;
        `columns`: attend the cache's first this many (a constant of the compiled graph: one graph
        for each)."""
        mask.index_fill_(1, position, 1)
        attend = {} if columns >= self.length else {ATTENDED_COLUMNS: columns}
        logits = self.model(
            input_ids=token,
            attention_mask=mask,
            position_ids=mask.sum(-1, keepdim=True) - 1,
            cache_position=position,
            past_key_values=cache,
            use_cache=True,
            **attend,
        ).logits[:, -1, :]
        before, copy = state
        picked = _pick(logits, seen, before, token, copy)
        before.copy_(token)
        token.copy_(picked[:, None])
        position.add_(1)
        tokens.index_copy_(1, position, token)

    def warm_up(self, device: Any, token_id: int, steps: int = CHUNK * 2 + 2) -> float:
        """Compile (and, on a GPU, capture) the step for every batch size and column count before
        the first answer: `steps` tokens from an 8-token prompt for each. Returns the seconds it took."""
        import torch

        log.info(
            "compiling the decoding step for batches of %s, %s columns (an 8B model: 2-5 minutes; "
            "less from the compile cache)",
            self.sizes,
            self.columns,
        )
        started = time.perf_counter()
        cudagraph_state_in_this_thread()
        with still_working("still compiling the decoding step; answers wait for it"):
            for size in self.sizes * 2:  # twice: on a GPU, the second pass replays what the first captured
                for columns in self.columns:
                    ids = torch.full((size, 8), token_id, device=device)
                    self.decode(ids, torch.ones_like(ids), steps, lambda _c, _t: False, columns=columns)
        seconds = time.perf_counter() - started
        log.info("decoding step ready for batches of %s in %.1f s", self.sizes, seconds)
        return seconds


@contextlib.contextmanager
def still_working(message: str, every: float = 60.0) -> Iterator[None]:
    """Log `message` with the seconds so far every `every` seconds until the block ends: a
    compile can take minutes (FP8 weights on torch 2.11: over 16), and an operator watching a
    silent bot cannot tell it from a hung one."""
    done = threading.Event()
    started = time.perf_counter()

    def report() -> None:
        while not done.wait(every):
            log.info("%s (%.0f s so far)", message, time.perf_counter() - started)

    reporter = threading.Thread(target=report, name="tunebot-still-working", daemon=True)
    reporter.start()
    try:
        yield
    finally:
        done.set()
        reporter.join()


def cudagraph_state_in_this_thread() -> None:
    """Before torch 2.13, CUDA graph trees kept their state in the thread that first imported them
    (pytorch/pytorch#123177, fixed by #184357): a step compiled in the serving thread asserted
    wherever another thread had imported them first (torchao does, when the main thread quantizes
    FP8 weights), and the bot answered uncompiled, ~10x slower (measured on torch 2.11). This sets up
    that state for the calling thread as 2.13 does."""
    import sys
    from collections import defaultdict

    import torch

    trees = sys.modules.get("torch._inductor.cudagraph_trees")  # not imported yet: it will be here
    if trees is None or hasattr(trees.local, "tree_manager_containers"):
        return
    if not torch._C._is_key_in_tls("tree_manager_containers"):
        trees.local.tree_manager_containers = {}
        trees.local.tree_manager_locks = defaultdict(threading.Lock)


def compile_arguments(config: Any, tuned: bool) -> dict[str, Any]:
    """torch.compile's arguments for a step as `config` (transformers' CompileConfig) says, with
    TUNED added to inductor's options where `tuned`."""
    options, mode = config.options, config.mode
    if tuned and config.backend == "inductor" and (options is not None or mode in MODE_OPTIONS):
        options = {**(MODE_OPTIONS[mode] if options is None else options), **TUNED}
    return {
        "backend": config.backend,
        "mode": None if options is not None else mode,
        "options": options,
        "fullgraph": config.fullgraph,
        "dynamic": config.dynamic,
    }


def _initialized(cache: Any) -> bool:
    """Whether every layer holds its tensors: an uninitialized one counts no tokens so far, and
    transformers' masks then put the prompt's queries at column 0, whatever column it is written at."""
    layers: list[Any] = list(getattr(cache, "layers", None) or [])
    return bool(layers) and all(getattr(layer, "is_initialized", False) for layer in layers)


def _write_from(cache: Any, column: int) -> None:
    """Make the next keys and values go to `column` on: transformers' static layers write where
    their count of tokens so far says (`cache_position` is not read), so the count is set."""
    for layer in getattr(cache, "layers", None) or []:
        written = getattr(layer, "cumulative_length", None)
        if written is not None:
            written.fill_(column)


def _slots_in_place(cache: Any) -> bool:
    """Whether a row's columns can be written directly: every layer keeps one column per position
    (a sliding window's layer rolls its columns)."""
    layers: list[Any] = list(getattr(cache, "layers", None) or [])
    return bool(layers) and all(
        not getattr(layer, "is_sliding", False) and hasattr(layer, "keys") for layer in layers
    )


def _pick(logits: Any, seen: Any, before: Any, last: Any, copy: Any) -> Any:
    """transformers' repetition penalty (on float32 scores) on the seen tokens, then the copy bias
    (batching.copy_scores, after the tokens `before` and `last`), then the greedy pick; the pick
    joins the seen tokens."""
    import torch

    scores = logits.float()
    penalized = torch.where(scores < 0, scores * REPETITION_PENALTY, scores / REPETITION_PENALTY)
    scores = copy_scores(torch.where(seen, penalized, scores), before, last, copy)
    picked = scores.argmax(-1)
    seen.scatter_(1, picked[:, None], True)
    return picked


def _initialize(cache: Any, model: Any, size: int) -> None:
    """Allocate the cache's tensors now (transformers allocates them at the first prompt): memory
    planned is memory taken, and a round's prompts can start past column 0 from the first."""
    config = model.config.get_text_config()
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    try:
        cache.early_initialization(size, kv_heads, head_dim, model.dtype, model.device)
    except (AttributeError, TypeError, ValueError) as exc:  # layers of their own shapes: allocated lazily
        log.debug("static cache allocated at its first prompt: %s", exc)


class _Buffers:
    """One batch size's cache and the step's tensors, at fixed addresses (CUDA graphs replay them)."""

    def __init__(self, model: Any, size: int, length: int) -> None:
        import torch
        from transformers import StaticCache

        device = model.device
        vocab = int(model.get_output_embeddings().weight.shape[0])
        self.cache = StaticCache(config=model.config, max_cache_len=length)
        _initialize(self.cache, model, size)
        self.mask = torch.zeros((size, length), dtype=torch.long, device=device)
        self.seen = torch.zeros((size, vocab), dtype=torch.bool, device=device)
        self.tokens = torch.zeros((size, length + 1), dtype=torch.long, device=device)
        self.token = torch.zeros((size, 1), dtype=torch.long, device=device)
        self.position = torch.zeros((1,), dtype=torch.long, device=device)
        self.before = torch.zeros((size, 1), dtype=torch.long, device=device)  # the token before `token`
        # Each row's copy entries and bias (batching.copy_scores; unused entries match nothing).
        self.copying = copy_tensors([[] for _ in range(size)], [0.0] * size, device, width=COPY_ENTRIES)
        self.copy_state = (self.before, self.copying)
        for tensor in (
            self.mask,
            self.seen,
            self.tokens,
            self.token,
            self.position,
            self.before,
            *self.copying,
        ):
            torch._dynamo.mark_static_address(tensor)
        self._cuda = self.tokens.is_cuda
        self._host = torch.empty(self.tokens.shape, dtype=torch.long, pin_memory=self._cuda)

    def reset(self) -> None:
        self.cache.reset()  # in place: the compiled step keeps reading the same memory
        self.mask.zero_()
        self.seen.zero_()
        first, second, _, bias = self.copying
        first.fill_(-1)
        second.fill_(-1)
        bias.zero_()

    def set_copy(self, row: int, copy: Copy) -> None:
        """Row `row`'s copy entries and bias (none: nothing matches), written in place."""
        entries, bias = copy
        first, second, _, weight = self.copying
        if not (entries and bias):
            first[row].fill_(-1)
            second[row].fill_(-1)
            weight[row].zero_()
            return
        values = copy_tensors([entries[:COPY_ENTRIES]], [bias], self.before.device, width=COPY_ENTRIES)
        for into, value in zip(self.copying, values, strict=True):
            into[row].copy_(value[0])

    def copy(self, start: int, end: int) -> Callable[[], list[list[int]]]:
        """Copy tokens[:, start:end] to the host without waiting for the GPU; the result waits."""
        import torch

        host = self._host[:, start:end]
        host.copy_(self.tokens[:, start:end], non_blocking=self._cuda)
        if not self._cuda:
            return host.tolist
        event = torch.cuda.Event()
        event.record()

        def result() -> list[list[int]]:
            event.synchronize()
            return host.tolist()

        return result
