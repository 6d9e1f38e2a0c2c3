"""Answers first on a shared GPU: the bot's flag is up exactly while a question waits for its first
token, and a training child sees it across processes and pauses between layers, forward and
backward, without changing what it computes, within its limits."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import pytest

from tuner import answers_first
from tuner.answers_first import ENV, AnsweringFlag, Yielding, yield_between_layers, yield_to_the_bot
from tuner.live_model import LiveModel


@pytest.fixture
def flag(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv(ENV, raising=False)
    made = AnsweringFlag.create()  # names itself in the environment, as the bot does
    yield made
    made.close()
    os.unlink(made.path)


def test_another_process_sees_the_flag_and_waits_while_it_is_up(flag: AnsweringFlag) -> None:
    """A real child process: it waits while two questions wait, and goes on once both have their
    first token."""
    code = (
        "import time; from tuner.answers_first import AnsweringFlag, Yielding\n"
        "flag = AnsweringFlag.from_env(); assert flag is not None and flag.up()\n"
        "yielding = Yielding(flag); started = time.monotonic(); yielding.pause()\n"
        "print(round(time.monotonic() - started, 2), yielding.pauses, flag.up())\n"
    )
    flag.add(2)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=os.environ)
    time.sleep(0.5)
    flag.add(-1)
    assert flag.up()  # one question still waits
    time.sleep(0.3)
    flag.add(-1)
    out, _ = child.communicate(timeout=60)
    waited, pauses, up = out.split()
    assert float(waited) >= 0.3 and pauses == "1" and up == "False", out
    flag.add(-5)
    assert not flag.up()  # never below none


def test_a_pause_is_bounded_and_so_is_the_share_of_time(
    flag: AnsweringFlag, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answers_first, "MAX_PAUSE", 0.2)
    yielding = Yielding(flag)
    flag.add(1)  # a question that never gets its first token
    started = time.monotonic()
    yielding.pause()
    assert 0.2 <= time.monotonic() - started < 1.0  # at most MAX_PAUSE at once
    for _ in range(20):  # then only as much again as half the time since training began
        yielding.pause()
    elapsed = time.monotonic() - yielding.started
    assert yielding.paused <= answers_first.MAX_SHARE * elapsed + 0.2 + 0.05
    assert yielding.pauses < 21


def test_the_live_models_flag_is_up_while_a_question_waits_for_its_first_token(
    babbler: str, flag: AnsweringFlag
) -> None:
    model = LiveModel(babbler, max_new_tokens=6, static_cache=True, answering=flag)
    seen: list[bool] = []
    asker = threading.Thread(
        target=lambda: model.generate(
            [{"role": "user", "content": "hello"}], on_text=lambda _t: seen.append(flag.up())
        )
    )
    with model._lock:  # the worker cannot start the round: the question waits
        asker.start()
        deadline = time.monotonic() + 10
        while not model._queue:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert flag.up()
    asker.join()
    assert seen and not any(seen)  # down from the first token on
    assert not flag.up()
    model.generate([{"role": "user", "content": "ok"}], max_new_tokens=1)
    assert not flag.up()  # the count goes back to none, however an answer ends


def test_pausing_between_layers_computes_what_training_computed(babbler: str, flag: AnsweringFlag) -> None:
    """The decoder's layers are called through the pause, forward and backward: the same loss and
    gradients as without it; with the flag up for a while, the step waits."""
    import torch
    from transformers import AutoModelForCausalLM

    def step(model: object) -> tuple[float, list[torch.Tensor]]:
        ids = torch.tensor([[5, 9, 3, 7, 2, 8]])
        loss = model(input_ids=ids, labels=ids).loss  # type: ignore[operator]
        loss.backward()
        return float(loss), [p.grad.clone() for p in model.parameters() if p.grad is not None]  # type: ignore[attr-defined]

    plain = step(AutoModelForCausalLM.from_pretrained(babbler, dtype=torch.float32))
    model = AutoModelForCausalLM.from_pretrained(babbler, dtype=torch.float32)
    yielding = yield_to_the_bot(model, cuda=False)  # the flag this process named
    assert yielding is not None
    layers = model.config.num_hidden_layers
    assert yield_between_layers(model, yielding) == 0  # once is enough
    calls: list[float] = []
    pause = yielding.pause
    yielding.pause = lambda: (calls.append(time.monotonic()), pause())[1]  # type: ignore[method-assign]
    loss, grads = step(model)
    assert loss == plain[0] and all(torch.equal(a, b) for a, b in zip(grads, plain[1], strict=True))
    assert len(calls) == 2 * layers and yielding.pauses == 0  # before each forward and each backward
    assert list(model.state_dict()) == list(AutoModelForCausalLM.from_pretrained(babbler).state_dict())

    flag.add(1)
    threading.Timer(0.4, lambda: flag.add(-1)).start()
    started = time.monotonic()
    step(model)
    assert time.monotonic() - started >= 0.3 and yielding.pauses >= 1


def test_no_bot_no_pausing(babbler: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    monkeypatch.delenv(ENV, raising=False)
    model = AutoModelForCausalLM.from_pretrained(babbler, dtype=torch.float32)
    assert yield_to_the_bot(model, cuda=False) is None
    monkeypatch.setenv(ENV, "/nonexistent/flag")  # the bot's folder is gone: train as if alone
    assert yield_to_the_bot(model, cuda=False) is None


def test_the_child_keeps_within_a_few_layers_of_its_gpu_work(flag: AnsweringFlag) -> None:
    """At each layer the child marks the work it has queued and waits for the mark from `AHEAD`
    layers back, so a pause that lets queued work finish waits for a layer or two, not a queue's
    worth. (A GPU's marks are CUDA events; these record the order in which they are waited on.)"""
    waited: list[int] = []

    class Mark:
        def __init__(self, number: int) -> None:
            self.number = number

        def synchronize(self) -> None:
            waited.append(self.number)

    made: list[Mark] = []
    yielding = Yielding(flag, record=lambda: made.append(Mark(len(made))) or made[-1])
    for layer in range(6):
        yielding.pause()
        assert waited == list(range(max(0, layer + 1 - answers_first.AHEAD)))
    assert len(made) == 6 and yielding.pauses == 0

    unbounded = Yielding(flag, record=lambda: made.append(Mark(len(made))) or made[-1], ahead=0)
    for _ in range(6):
        unbounded.pause()
    assert len(made) == 6 and len(waited) == 6 - answers_first.AHEAD  # no marks, nothing waited on


def test_the_bound_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(answers_first.AHEAD_ENV, raising=False)
    assert answers_first.ahead() == answers_first.AHEAD
    monkeypatch.setenv(answers_first.AHEAD_ENV, "0")
    assert answers_first.ahead() == 0
    monkeypatch.setenv(answers_first.AHEAD_ENV, "two")
    with pytest.raises(ValueError, match="TUNEBOT_ANSWERS_AHEAD='two': give a whole number"):
        answers_first.ahead()


def test_the_bot_always_names_its_flag_and_clears_those_of_killed_bots(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the policy off the bot still keeps its flag (a cycle with the policy off drops its name
    for the child; a reload that turns it on applies at the next cycle), and a flag a killed bot
    left behind is removed when the next bot starts; a running bot's stays."""
    monkeypatch.delenv(ENV, raising=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    orphan = os.path.join(folder, f"{answers_first.PREFIX}{dead.pid}-left")
    living = os.path.join(folder, f"{answers_first.PREFIX}{os.getppid()}-running")
    for path in (orphan, living):
        with open(path, "wb") as f:
            f.write(b"\0")
    off = runtime.policies.model_copy(
        update={"gpu": runtime.policies.gpu.model_copy(update={"answers_first": False})}
    )
    runtime.policies = off
    model = runtime.local_model()
    try:
        assert model.answering is not None and os.environ[ENV] == model.answering.path
        assert os.path.basename(model.answering.path).startswith(f"{answers_first.PREFIX}{os.getpid()}-")
        assert not os.path.exists(orphan) and os.path.exists(living)
    finally:
        model.close()
        os.unlink(living)
