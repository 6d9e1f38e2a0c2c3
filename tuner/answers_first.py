"""Answers first where the bot and a training child share one GPU (`gpu.answers_first`).

Two processes on one GPU take turns on it: while the child trains, the kernels of a question's
prompt wait behind the child's: the first token's p95 was 1.4-2.9 times the idle GPU's (an 8B
model on an H100, 2026-12-07, docs/perf-notes.md). So the bot raises a flag while any question waits for its
first token, and the child, between one decoder layer and the next (forward and backward), sees it,
lets the kernels it has queued finish and waits until the flag is down. The child's Python never
runs more than `AHEAD` layers ahead of its GPU work (a CUDA event at each layer), so the kernels a
pause must let finish are a layer or two's, not the thousand or so a GPU queue holds. What that
bound costs training beside a busy bot is being measured: `TUNEBOT_ANSWERS_AHEAD` (`AHEAD_ENV`) in
the bot's environment sets it (0: no bound, the child's Python runs as far ahead as it likes).
The answers' later tokens still share the GPU with training; only the prompts go first.

The flag is one byte of a file mapped in memory by both processes: the bot creates it and names
it in its environment (`ENV`), which the training child inherits. Training never waits for more
than `MAX_SHARE` of its time (and one pause), however busy the bot, nor `MAX_PAUSE` at once.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import mmap
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

ENV = "TUNEBOT_ANSWERING"
PREFIX = "tunebot-answering-"  # then the bot's process id: flags of bots that are gone are removed
MAX_PAUSE = 1.0  # seconds the child waits at one layer at most
MAX_SHARE = 0.5  # of the child's time since training began, spent waiting at most
POLL = 0.001  # seconds between looks at the flag while waiting
AHEAD = 2  # layers of queued GPU work the child's Python may run ahead by, at most
AHEAD_ENV = "TUNEBOT_ANSWERS_AHEAD"  # overrides AHEAD (0: unbounded), to measure what it costs


class AnsweringFlag:
    """The flag: up while any question waits for its first token (the bot counts them)."""

    def __init__(self, path: str, create: bool = False) -> None:
        self.path = path
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, 1)
            self._map = mmap.mmap(fd, 1)
        finally:
            os.close(fd)
        self._count = 0
        self._lock = threading.Lock()

    @classmethod
    def create(cls) -> AnsweringFlag:
        """A new flag (down), named in this process's environment for the children it starts. Flags
        left by bots that died without cleaning up (killed) are removed first."""
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        _remove_orphans(folder)
        handle, path = tempfile.mkstemp(prefix=f"{PREFIX}{os.getpid()}-", dir=folder)
        os.close(handle)
        flag = cls(path, create=True)
        os.environ[ENV] = path
        atexit.register(_remove, path)
        return flag

    @classmethod
    def from_env(cls) -> AnsweringFlag | None:
        """The flag the bot that started this process named; None where there is none."""
        path = os.environ.get(ENV)
        if not path:
            return None
        try:
            return cls(path)
        except OSError as exc:  # the bot is gone, or its folder: train as if alone
            log.warning("the bot's answering flag %s cannot be read (%s): training does not wait", path, exc)
            return None

    def add(self, questions: int) -> None:
        """`questions` more (or, negative, fewer) wait for a first token."""
        with self._lock:
            self._count = max(0, self._count + questions)
            self._map[0] = 1 if self._count else 0

    def up(self) -> bool:
        return self._map[0] != 0

    def close(self) -> None:
        self._map.close()


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _remove_orphans(folder: str) -> None:
    """Remove the flags in `folder` whose bot (the process id in the name) is gone."""
    for name in os.listdir(folder):
        pid = name.removeprefix(PREFIX).split("-")[0]
        if name.startswith(PREFIX) and pid.isdigit() and not _alive(int(pid)):
            _remove(os.path.join(folder, name))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class Yielding:
    """The training child's side: `pause` waits while the flag is up (within the limits above)."""

    def __init__(
        self,
        flag: AnsweringFlag,
        synchronize: Any = None,
        record: Callable[[], Any] | None = None,
        ahead: int = AHEAD,
    ) -> None:
        self.flag = flag
        self.synchronize = synchronize  # lets the child's queued kernels finish first (a GPU's)
        # marks the work queued so far: an event with .synchronize() (a GPU's); none: no bound
        self.record = record if ahead > 0 else None
        self.ahead = ahead
        self._marks: deque[Any] = deque()
        self.started = time.monotonic()
        self.paused = 0.0  # seconds spent waiting
        self.pauses = 0

    def pause(self) -> None:
        """Called between layers: keep within `AHEAD` layers of the GPU, and wait while the flag
        is up."""
        if self.record is not None:
            self._marks.append(self.record())
            if len(self._marks) > self.ahead:
                self._marks.popleft().synchronize()
        # Within the share, one pause's worth of credit from the start (the first may come at once).
        allowed = MAX_SHARE * (time.monotonic() - self.started) + MAX_PAUSE
        if not self.flag.up() or self.paused >= allowed:
            return
        began = time.monotonic()
        if self.synchronize is not None:
            self.synchronize()
        longest = min(MAX_PAUSE, allowed - self.paused)  # so that the share holds after it too
        while self.flag.up() and time.monotonic() - began < longest:
            time.sleep(POLL)
        self.paused += time.monotonic() - began
        self.pauses += 1


def yield_to_the_bot(model: Any, cuda: bool) -> Yielding | None:
    """In the training child: pause between `model`'s layers while the bot that started this
    process has questions waiting for a first token. None where there is no such bot (its flag is
    not named in the environment) or no layers to pause between."""
    flag = AnsweringFlag.from_env()
    if flag is None:
        return None
    synchronize = record = None
    if cuda:
        import torch

        synchronize = torch.cuda.synchronize

        def record() -> Any:
            event = torch.cuda.Event()
            event.record()
            return event

    yielding = Yielding(flag, synchronize, record, ahead())
    return yielding if yield_between_layers(model, yielding) else None


def ahead() -> int:
    """`AHEAD`, or what `AHEAD_ENV` says (a whole number of layers, 0 for no bound)."""
    value = os.environ.get(AHEAD_ENV, "").strip()
    if not value:
        return AHEAD
    if not value.isdigit():
        raise ValueError(f"{AHEAD_ENV}={value!r}: give a whole number of layers (0: no bound)")
    return int(value)


def yield_between_layers(model: Any, yielding: Yielding) -> int:
    """Have `model`'s decoder (its text decoder where transformers names one, else the first
    module holding a list of layers) call `yielding.pause` before each layer's forward and before
    its backward. Returns the layers it sees (0: a model whose decoder reads its layers otherwise
    trains as it did, without pausing)."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # under peft
    try:
        decoder = base.get_decoder() or base
    except (AttributeError, NotImplementedError, ValueError):
        decoder = base
    for module in decoder.modules():
        layers = getattr(module, "layers", None)
        if isinstance(layers, torch.nn.ModuleList) and len(layers) and not isinstance(layers, _Pausing):
            pausing = _pausing_list(layers)
            pausing.yielding = yielding
            module.layers = pausing
            return len(layers)
    return 0


class _Checked:
    """A decoder layer called through the decoder's loop: pause, run it, and have the gradient of
    its output pause too (its backward, recomputation included, comes right after)."""

    def __init__(self, layer: Any, yielding: Yielding) -> None:
        self._layer, self._yielding = layer, yielding

    def __getattr__(self, name: str) -> Any:  # attention_type and the like: the layer's
        return getattr(self._layer, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._yielding.pause()
        output = self._layer(*args, **kwargs)
        hidden = output[0] if isinstance(output, tuple) else output
        if getattr(hidden, "requires_grad", False):
            hidden.register_hook(self._before_backward)
        return output

    def _before_backward(self, gradient: Any) -> Any:
        self._yielding.pause()
        return gradient


class _Pausing:
    """Mixed into the decoder's ModuleList (`_pausing_list`): a slice of it, as decoders loop over
    `self.layers[: num_hidden_layers]`, gives the layers checked; everything else (iteration,
    indexing, the modules and their weights) is the list's own."""

    yielding: Yielding

    def __getitem__(self, index: Any) -> Any:
        got = super().__getitem__(index)  # type: ignore[misc]
        if isinstance(index, slice):
            return [_Checked(layer, self.yielding) for layer in got]
        return got


def _pausing_list(layers: Any) -> Any:
    import torch

    class PausingList(_Pausing, torch.nn.ModuleList):
        pass

    pausing = PausingList()
    pausing.extend(layers)
    return pausing
