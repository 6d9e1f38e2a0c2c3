"""The model that answers: the base model plus the live adapter, swapped without dropping requests.

Answers are generated in batches: conversations that arrive while a batch is being answered wait
for it and then go together (up to `max_batch`), each streamed on its own. Adapters with weights
(LoRA, DoRA, IA3...) are merged into the base weights while they serve (no extra work per
token), prepared while answers go on and merged with the model lock held only for the merge
(tuner/merging.py); the base weights they change are kept aside once (on the GPU where it has
room, else in CPU memory) and copied back when another adapter or the base takes over, so the
base stays bit-for-bit what it was however many swaps happen.

On a GPU, answers are decoded by tunebot's own loop over static KV caches, its whole step (forward,
repetition penalty, greedy pick) one compiled graph replayed with CUDA graphs
(tuner/static_decode.py): compiled for a batch of one and a full batch (and the columns a round
attends) while the model starts, before the first answer, and kept across swaps (merging changes
weights in place, so nothing is compiled again). Elsewhere, and for conversations longer than the
cache, transformers' `generate` with its ordinary growing cache is used.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tuner import fp8_weights
from tuner.answers_first import AnsweringFlag
from tuner.batching import Request, copy_entries, decode, generate_round
from tuner.chat_format import bounded_turns, chat_messages, fit_template
from tuner.decode_attention import use_decode_attention
from tuner.fp8_weights import Fp8Weights
from tuner.merging import BaseWeights, PreparedAdapter, merge, prepare, warm_up
from tuner.static_decode import StaticDecoding
from tuner.weights import check_weights, load_biases, loads_alongside, restore_biases, weights_kind

log = logging.getLogger(__name__)

# After the first question, the idle worker waits while others keep arriving (each within
# QUIET_SECONDS of the last, GATHER_SECONDS in all at most): conversations that come together start
# together, and one that comes alone waits only QUIET_SECONDS.
GATHER_SECONDS = 0.02
QUIET_SECONDS = 0.002


@dataclass(frozen=True)
class Answer:
    text: str
    adapter_version: str  # "base" or "v3": exactly the weights that produced `text`
    tokens: int = 0  # tokens generated
    recalled: int = 0  # team answers from answer memory given to the model as context
    # From the question's queueing to its first token generated (None: it ended at once); a timing,
    # not part of the answer.
    first_token_s: float | None = field(default=None, compare=False)


class AdapterError(RuntimeError):
    """An adapter folder cannot be loaded; the live model keeps serving what it served."""


def check_adapter(path: str) -> None:
    """Read the folder's config and every tensor, so a damaged one fails before any swap."""
    try:
        check_weights(path)
    except Exception as exc:
        raise AdapterError(f"adapter at {path} is unusable: {type(exc).__name__}: {exc}") from exc


class LiveModel:
    """Answers on the current adapter; `swap` waits for the batch in flight, then switches at once."""

    def __init__(
        self,
        base_model: str,
        *,
        max_new_tokens: int = 200,
        max_context_tokens: int | None = None,
        max_batch: int = 8,
        merge: bool = True,
        static_cache: bool | None = None,
        compile_config: Any = None,
        cache_tokens: int | None = None,
        tune_single: bool = True,
        answering: AnsweringFlag | None = None,
        weights: str = "bf16",
    ):
        """`static_cache` (default: on a GPU, or where a `compile_config` is given) decodes with
        fixed-shape caches and tunebot's own loop; `compile_config` (a transformers CompileConfig;
        default on a GPU: inductor with CUDA graphs, fixed shapes) compiles its step. On a CPU
        nothing is compiled unless a config asks for it. `cache_tokens`: the static caches' columns a
        row (default: static_decode.CACHE_TOKENS, or the model's window if shorter; a GPU plan,
        tuner/gpu_budget.py, may ask for fewer). `tune_single`: compile the batch of one's step
        with coordinate descent tuning too (static_decode.TUNED; inductor only). `answering`: a
        flag kept up while any question waits for its first token (tuner/answers_first.py: a
        training child on the same GPU waits for it). `weights`: bf16 (on a CPU float32), or FP8 with
        torchao (tuner/fp8_weights.py: `fp8` on a GPU of compute capability 8.9 or later,
        `fp8_weights` anywhere; LoRA adapters swap in, other kinds are refused)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        cuda = torch.cuda.is_available()
        self._device = "cuda" if cuda else "cpu"
        self._tokenizer: Any = AutoTokenizer.from_pretrained(base_model)
        if self._tokenizer.pad_token is None:  # batches are left-padded; models without one pad with EOS
            self._tokenizer.pad_token = self._tokenizer.eos_token
        self._dtype = torch.bfloat16 if cuda else torch.float32
        self.weights = weights
        self._fp8: Fp8Weights | None = None
        model: Any
        if weights == "bf16":
            model = AutoModelForCausalLM.from_pretrained(base_model, dtype=self._dtype)
            model = model.to(self._device)
        else:  # quantized a layer at a time on its way to the GPU
            model, self._fp8 = fp8_weights.load(base_model, weights, self._device)
        use_decode_attention(model)
        self._base: Any = model.eval().requires_grad_(False)  # as peft leaves it
        self._model: Any = self._base  # what answers: the base, a peft wrapper of it, or a full model
        self._peft: Any = None
        self._biases: dict[str, Any] | None = None  # the base's own biases while a bitfit one serves
        self._merge = merge
        self._kept = BaseWeights()  # the base's values of what adapters were merged into
        self._lock = threading.Lock()  # held while a batch generates and while weights change
        self._preparing = threading.Lock()
        self._queue: list[Request] = []
        self._queue_ready = threading.Condition()
        self._worker: threading.Thread | None = None
        self._closed = False
        self.version = "base"
        self.max_new_tokens = max_new_tokens
        self.max_batch = max_batch
        self.last_swap_seconds: float | None = None  # weights changing, the lock held (not the wait)
        # where those seconds went (and where the copies a swap uses were), for benchmarks
        self.last_swap_parts: dict[str, float | str] = {}
        self.batch_sizes: Counter[int] = Counter()  # rounds of generation, by conversations in each
        self.joined = 0  # conversations that took the free row of a batch in flight
        self._swaps_waiting = 0
        self.answering = answering
        # Thread context: what fits the model's window next to the answer (and the template's tokens).
        window = min(int(getattr(model.config, "max_position_embeddings", 2048)), 8192)
        self.max_context_tokens = max_context_tokens or max(256, window - max_new_tokens - 64)
        use_static = cuda or compile_config is not None if static_cache is None else static_cache
        if compile_config is None and cuda:
            from transformers import CompileConfig

            compile_config = CompileConfig(dynamic=False)  # one graph per batch size, CUDA graphs
        self._static: StaticDecoding | None = None
        if use_static:
            self._static = StaticDecoding(
                self._base,
                max_batch,
                compile_config=compile_config,
                tokens=cache_tokens,
                tune_single=tune_single,
            )
        self.warm_up_seconds: float | None = None
        if self._static is not None and compile_config is not None:
            self._start_worker()  # it compiles first; answers asked for meanwhile wait

    def generate(
        self,
        turns: list[dict[str, str]],
        max_new_tokens: int | None = None,
        on_text: Callable[[str], None] | None = None,
        copy_from: Sequence[str] = (),
        copy_bias: float = 0.0,
    ) -> Answer:
        """The answer to the chat so far; `on_text` gets the text generated so far, word by word.
        A system turn given in `turns` (the team's answers from answer memory, an engine client's
        instructions) replaces the usual one and is context: the repetition penalty does not count
        its tokens, so the answer may repeat what it says. `copy_from` (answer memory's answers)
        with `copy_bias`: each token that follows the last one (and again: the last two) somewhere in
        them gets the bias added to its score (batching.copy_scores)."""
        tokenizer = self._tokenizer
        system = turns[:1] if turns and turns[0]["role"] == "system" else []  # kept whole
        bounded = system + bounded_turns(
            turns[len(system) :],
            self.max_context_tokens,
            lambda text: tokenizer.encode(text, add_special_tokens=False),
            lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
        )
        ids = self._tokens(chat_messages(bounded), add_generation_prompt=True)
        context = _common_prefix(self._tokens(system), ids) if system else 0
        request = Request(ids, max_new_tokens or self.max_new_tokens, on_text, context=context)
        flag = self.answering
        if flag is not None:
            request.on_first = lambda: flag.add(-1)
            flag.add(1)
        if copy_from and copy_bias:
            answers = [tokenizer.encode(text, add_special_tokens=False) for text in copy_from]
            request.copy, request.copy_bias = copy_entries(answers, (ids[-2], ids[-1])), copy_bias
        try:
            with self._queue_ready:
                if self._closed:
                    raise RuntimeError("the live model is closed")
                self._queue.append(request)
                self._queue_ready.notify()
            self._start_worker()
            request.done.wait()
        finally:
            if flag is not None and request.first_token_at is None:  # it ended with no token, or failed
                flag.add(-1)
        if request.error is not None:
            raise request.error
        first = None if request.first_token_at is None else request.first_token_at - request.asked_at
        return Answer(request.text, request.version, len(request.generated), first_token_s=first)

    def _tokens(self, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> list[int]:
        messages = fit_template(self._tokenizer, messages)
        ids = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=add_generation_prompt, tokenize=True
        )
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
        return list(ids)

    def close(self) -> None:
        """Stop the worker once the answers asked for so far are given; later ones raise."""
        with self._queue_ready:
            self._closed = True
            self._queue_ready.notify_all()
        if self._worker is not None:
            self._worker.join()

    def _start_worker(self) -> None:
        with self._queue_ready:
            if self._worker is None:
                self._worker = threading.Thread(target=self._serve, name="live-model", daemon=True)
                self._worker.start()

    def _serve(self) -> None:
        """The worker: answers whatever is waiting, up to max_batch conversations at a time. Once it
        holds the model it keeps it until every answer it started has finished (an answer is made
        by one version); newcomers join between rounds unless a swap is waiting. It compiles the
        decoding step first, where that is asked for (in this thread: CUDA graphs are per thread)."""
        import torch

        if self._static is not None and self._static.compile_config is not None:
            with self._lock, torch.inference_mode():
                try:
                    self.warm_up_seconds = self._static.warm_up(self._device, self._tokenizer.pad_token_id)
                except Exception:  # answers still come, uncompiled
                    log.exception("compiling the decoding step failed; answering without it")
                    self._static = None
        while True:
            with self._queue_ready:
                while not self._queue and not self._closed:
                    self._queue_ready.wait()
                if not self._queue:  # closed, every answer given
                    return
                self._gather()
            active: list[Request] = []
            try:
                with self._lock, torch.inference_mode():
                    while True:
                        with self._queue_ready:
                            room = self.max_batch - len(active) if not self._swaps_waiting else 0
                            active += self._queue[:room]
                            del self._queue[:room]
                        if not active:
                            break
                        self.batch_sizes[len(active)] += 1
                        generate_round(
                            self._model,
                            self._tokenizer,
                            active,
                            self._device,
                            self._cut_short(active),
                            # the compiled step belongs to the base's modules (merged adapters too)
                            static=self._static if self._model is self._base else None,
                            take=self._take,
                            finished=self._finish,
                        )
                        for request in active:
                            if request.finished:
                                self._finish(request)
                        active = [r for r in active if not r.finished]
            except Exception as exc:  # each caller gets the error; the worker goes on
                log.exception("generating %d answers failed", len(active))
                for request in active:
                    request.error = exc
                    request.done.set()

    def _gather(self) -> None:
        """Wait (the queue's condition held) while others keep arriving: each within QUIET_SECONDS
        of the one before, until a batch is full or GATHER_SECONDS have passed."""
        deadline = time.perf_counter() + GATHER_SECONDS
        while len(self._queue) < self.max_batch and not self._closed:
            waiting, left = len(self._queue), deadline - time.perf_counter()
            if left <= 0:
                return
            self._queue_ready.wait(min(QUIET_SECONDS, left))
            if len(self._queue) == waiting:  # nobody came within QUIET_SECONDS
                return

    def _finish(self, request: Request) -> None:
        """Hand an answer to its caller (the version that made it: the worker holds the model)."""
        request.text, request.version = decode(self._tokenizer, request.generated), self.version
        request.done.set()

    def _take(self, room: int, fits: Callable[[Request], bool]) -> list[Request]:
        """Up to `room` waiting conversations, first come first, while each `fits` (none while a
        swap waits: the answers in flight finish on the version they started with)."""
        taken: list[Request] = []
        with self._queue_ready:
            while not self._swaps_waiting and self._queue and len(taken) < room and fits(self._queue[0]):
                taken.append(self._queue.pop(0))
        self.joined += len(taken)
        return taken

    def _cut_short(self, active: list[Request]) -> Callable[[], bool]:
        """Whether a round should end early: conversations wait, the batch has room, no swap waits."""
        return lambda: bool(self._queue) and len(active) < self.max_batch and not self._swaps_waiting

    def swap(self, adapter_path: str | None, version: str) -> None:
        """Serve `adapter_path` as `version` (None: the base model). Raises if it cannot load."""
        if version == self.version:
            return
        if self._fp8 is not None:
            return self._swap_fp8(self._fp8, adapter_path, version)
        kind, full_model, prepared = None, None, None
        started = time.perf_counter()
        if adapter_path is not None:  # what can be done before taking the lock: answers go on
            check_adapter(adapter_path)  # before touching the model that is serving
            kind = weights_kind(adapter_path)
            with self._preparing:  # one at a time (a cycle and the registry follower may swap at once)
                if kind == "full":
                    full_model = self._load_full(adapter_path)
                elif kind == "peft" and self._merge:
                    prepared = prepare(self._base, adapter_path, version)
                    if prepared is not None:
                        self._kept.keep_weights(prepared)  # the copies, made before the lock
                        warm_up(prepared)  # and this thread's first matrix products
        prepare_seconds = round(time.perf_counter() - started, 4)
        with self._nothing_generating():
            self._switch(adapter_path, version, kind, full_model, prepared)
        self.last_swap_parts["prepare"] = prepare_seconds
        if prepared is not None:
            self.last_swap_parts["kept"] = self._kept.placement()

    @contextlib.contextmanager
    def _nothing_generating(self) -> Iterator[None]:
        """The model lock, taken once the answers in flight finish (the worker takes no new ones
        while a swap waits)."""
        with self._queue_ready:
            self._swaps_waiting += 1
        try:
            with self._lock:
                yield
        finally:
            with self._queue_ready:
                self._swaps_waiting -= 1

    def _swap_fp8(self, fp8: Fp8Weights, adapter_path: str | None, version: str) -> None:
        """`swap` on FP8 weights: the new weights made while answers go on, then copied in place.
        One swap at a time from start to end (each stages against the weights the last left)."""
        started = time.perf_counter()
        with self._preparing:
            prepared = None
            if adapter_path is not None:
                check_adapter(adapter_path)
                if weights_kind(adapter_path) != "peft":
                    raise AdapterError(f"{adapter_path}: FP8 weights serve peft adapters only")
                prepared = prepare(self._base, adapter_path, version)
                if prepared is None:
                    raise AdapterError(f"{adapter_path}: this adapter does not merge into FP8 weights")
            try:
                staged, merged = fp8.stage(prepared)
            except ValueError as exc:
                raise AdapterError(f"{adapter_path}: {exc}") from exc
            prepare_seconds = round(time.perf_counter() - started, 4)
            with self._nothing_generating():
                began = time.perf_counter()
                if version != self.version:
                    fp8.apply(staged, merged)
                    self.last_swap_parts = {}
                    self._timed("merge", began)
                    self._now_serving(version, began)
            self.last_swap_parts["prepare"] = prepare_seconds
            tensors = [t for parts in staged.values() for t in parts]
            on_gpu = any(t.is_cuda for t in tensors)
            self.last_swap_parts["staged"] = "gpu" if on_gpu else "host" if tensors else "none"

    def _switch(
        self,
        adapter_path: str | None,
        version: str,
        kind: str | None,
        full_model: Any,
        prepared: PreparedAdapter | None,
    ) -> None:
        """Change the weights (the model lock held, nothing generating)."""
        started = time.perf_counter()
        old = self.version
        if version == old:  # another thread (e.g. the registry follower) got here first
            return
        self.last_swap_parts = {}
        if adapter_path is None:
            self._to_base()
        elif kind == "full":
            self._to_base()
            self._model = full_model
        elif kind == "bitfit":
            self._to_base()
            self._biases = load_biases(self._base, adapter_path)
        elif prepared is not None:
            self._to_base()
            began = self._timed("restore", started)
            merge(prepared, self._kept)  # the base's own modules now hold the adapter's weights
            self._timed("merge", began)
        elif (
            not self._kept.merged
            and self._peft is not None
            and loads_alongside(self._peft.peft_config.get(old), adapter_path)
        ):
            self._peft.load_adapter(adapter_path, adapter_name=version)
            self._peft.set_adapter(version)
            if old in self._peft.peft_config:
                self._peft.delete_adapter(old)
        else:  # soft prompts, whole modules trained, or merging turned off: peft's wrapper answers
            from peft import PeftModel

            self._to_base()
            # Not low_cpu_mem_usage: its patch of torch.nn.Module would reach a preparation running
            # beside it (tuner/merging.py).
            self._peft = self._model = PeftModel.from_pretrained(
                self._base, adapter_path, adapter_name=version
            )
        self._model.eval()
        self._now_serving(version, started)

    def _now_serving(self, version: str, started: float) -> None:
        """A swap's last step, the model lock held since `started`: the version answers now carry."""
        old, self.version = self.version, version
        self.last_swap_seconds = time.perf_counter() - started
        log.info(
            "live model (%s) now serves %s (was %s) after %.2f s",
            self.weights,
            version,
            old,
            self.last_swap_seconds,
        )

    def _timed(self, part: str, since: float) -> float:
        """Note the seconds since `since` as a part of this swap (after the GPU's work is done)."""
        if self._device == "cuda":
            import torch

            torch.cuda.synchronize()
        now = time.perf_counter()
        self.last_swap_parts[part] = round(now - since, 4)
        return now

    def _to_base(self) -> None:
        if self._peft is not None:
            if self._peft.peft_config[self._peft.active_adapter].is_prompt_learning:
                self._peft.get_base_model()  # soft prompts never touched the base's modules
            else:
                self._peft.unload()  # takes the injected layers out of the base's modules
            self._peft = None
        self._kept.restore(self._base)  # the base's own weights back, bit for bit
        if self._biases is not None:
            restore_biases(self._base, self._biases)
            self._biases = None
        self._model = self._base

    def _load_full(self, path: str) -> Any:
        from transformers import AutoModelForCausalLM

        try:
            model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=self._dtype)
            use_decode_attention(model)
        except Exception as exc:
            raise AdapterError(f"model at {path} is unusable: {type(exc).__name__}: {exc}") from exc
        return model.to(self._device).eval()


def _common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens `a` and `b` share (the system turn's tokens, however the template
    places it)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
