"""Faults during a tune cycle: each leaves the live adapter serving and nothing half-written.

Out of memory and a full disk are injected into the real training child (tests/faults/
sitecustomize.py, on its PYTHONPATH); the loss turns NaN for real (an absurd learning rate); the
database is made unavailable by another connection holding SQLite's write lock; the bot's process
is killed with SIGKILL in the middle of a cycle. A killed trainer and a corrupt adapter file are
covered in test_cycle.py and test_live_model.py.
"""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from storage.registry import history, live_adapter
from storage.runs import fail_abandoned_runs, last_run, lock_holder
from tests.conftest import wait_for
from tests.factories import seed_corrections
from tests.tuner.test_cycle import make_cycle

FAULTS = Path(__file__).resolve().parents[1] / "faults"
REPO = Path(__file__).resolve().parents[2]


def _inject(monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    """The next training child imports tests/faults/sitecustomize.py, which injects `fault`."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(FAULTS), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.setenv("TUNEBOT_FAULT", fault)


def _promote_v1(runtime: Any, policies: Any) -> None:
    seed_corrections(runtime.db, 16)
    assert make_cycle(runtime, policies).run("test").outcome == "promoted"


def _assert_untouched(runtime: Any) -> None:
    """v1 still live, no other adapter registered, no half-written folder, the lock released."""
    with runtime.db.session() as session:
        assert live_adapter(session).label == "v1"
        assert [a.label for a in history(session)] == ["v1"]
        assert lock_holder(session) is None
    adapters = runtime.data_dir / "adapters"
    assert sorted(p.name for p in adapters.iterdir()) == [Path(live_path(runtime)).name]


def live_path(runtime: Any) -> str:
    with runtime.db.session() as session:
        return live_adapter(session).path


@pytest.mark.parametrize(
    ("fault", "expected"),
    [("oom", "out of memory"), ("disk_full", "No space left on device")],
)
def test_trainer_out_of_memory_or_disk_full_fails_the_run_and_keeps_live(
    runtime: Any, policies: Any, monkeypatch: pytest.MonkeyPatch, fault: str, expected: str
) -> None:
    _promote_v1(runtime, policies)
    _inject(monkeypatch, fault)
    result = make_cycle(runtime, policies).run("test", force=True)
    assert result.outcome == "failed" and expected in result.message, result.message
    if fault == "oom":
        assert "lower training.batch_size or training.max_length" in result.message
    with runtime.db.session() as session:
        run = last_run(session)
        assert run.state == "failed" and expected in run.error
    _assert_untouched(runtime)


def test_loss_turning_nan_stops_training_at_once(runtime: Any, policies: Any) -> None:
    _promote_v1(runtime, policies)
    wild = policies.model_copy(
        update={
            "training": policies.training.model_copy(
                update={"learning_rate": 1e38, "epochs": 20, "divergence_retries": 1}
            )
        }
    )
    steps: list[str] = []
    result = make_cycle(runtime, wild).run("test", force=True, progress=steps.append)
    assert result.outcome == "failed", result.message
    # Tried at the configured rate, then once more at half of it; each stopped at its first bad step.
    assert result.message.count("training loss became nan") == 2, result.message
    assert "(learning rate 1e+38)" in result.message and "(learning rate 5e+37)" in result.message
    assert "lower training.learning_rate" in result.message
    assert [s for s in steps if "training again at learning rate 5e+37" in s], steps
    trained = [s for s in steps if s.strip().startswith("step ")]
    assert trained and len(trained) < 10, steps  # not after 20 epochs
    _assert_untouched(runtime)


def test_a_diverging_training_is_trained_again_at_half_the_rate(
    runtime: Any, policies: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_corrections(runtime.db, 16)
    _inject(monkeypatch, "nan_first_training")
    steps: list[str] = []
    rate = policies.training.learning_rate
    result = make_cycle(runtime, policies).run("test", force=True, progress=steps.append)
    assert result.outcome == "promoted", result.message
    retry = [s for s in steps if "training again" in s]
    assert retry == [
        f"  training loss became nan at step 2 (learning rate {rate:g}): "
        f"training again at learning rate {rate / 2:g}"
    ], steps
    with runtime.db.session() as session:
        metrics = live_adapter(session).metrics
    assert metrics["learning_rate"] == rate / 2 and metrics["divergence_retries"] == 1
    assert math.isfinite(metrics["train_loss"])


def test_database_unavailable_at_promotion(runtime: Any, policies: Any, database_url: str) -> None:
    assert database_url.startswith("sqlite")  # its file lock stands in for an unavailable database
    _promote_v1(runtime, policies)
    blocker = sqlite3.connect(
        database_url.removeprefix("sqlite:///"), timeout=1, isolation_level=None, check_same_thread=False
    )
    locked: list[bool] = []

    def progress(message: str) -> None:
        if "evaluate" in message and not locked:  # the child is scoring; the parent promotes next
            blocker.execute("BEGIN EXCLUSIVE")
            locked.append(True)

    cycle = make_cycle(runtime, policies)
    swaps: list[str] = []
    cycle.on_live_change = lambda path, version: swaps.append(version)
    try:
        started = time.monotonic()
        result = cycle.run("test", force=True, progress=progress)
        elapsed = time.monotonic() - started
    finally:
        if locked:
            blocker.execute("ROLLBACK")
        blocker.close()
    assert locked and result.outcome == "failed", result.message
    assert "database failed at promotion" in result.message and "keeps serving" in result.message
    assert swaps == [] and elapsed < 120
    with runtime.db.session() as session:
        assert live_adapter(session).label == "v1"
        assert [a.label for a in history(session)] == ["v1"]  # the promotion was one transaction

    # With the database back, the next cycle finds the run its predecessor could not close and the
    # adapter folder it could not register, cleans both up, and trains normally.
    after = cycle.run("test", force=True)  # the same process: it still holds the lock
    assert after.outcome in ("promoted", "rejected"), after.message
    with runtime.db.session() as session:
        runs = [r.state for r in _runs(session)]
        assert runs[-3:] == ["succeeded", "failed", "succeeded"]
        registered = {Path(a.path).name for a in history(session)}
    assert {p.name for p in (runtime.data_dir / "adapters").iterdir()} == registered


def _runs(session: Any) -> list[Any]:
    from sqlalchemy import select

    from storage.models import TrainingRun

    return list(session.scalars(select(TrainingRun).order_by(TrainingRun.id)))


def test_bot_killed_mid_cycle_is_detected_on_restart(
    runtime: Any, database_url: str, tiny_model: str, tmp_path: Path
) -> None:
    """SIGKILL the process running `tunebot tune` while its child trains: the child follows it, and
    the next start marks the run failed and frees the lock at once (its holder is gone)."""
    seed_corrections(runtime.db, 16)
    policy = tmp_path / "policy.yaml"
    policy.write_text("training:\n  max_steps: 5000\n  max_length: 128\n")
    env = {
        **os.environ,
        "TUNEBOT_DATA_DIR": str(runtime.data_dir),
        "TUNEBOT_DATABASE_URL": database_url,
        "TUNEBOT_BASE_MODEL": tiny_model,
        "TUNEBOT_POLICY_FILE": str(policy),
    }
    tune = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "tune", "--now"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert tune.stdout is not None
    for line in tune.stdout:
        if "step 2/" in line:
            break
    with runtime.db.session() as session:
        run = last_run(session)
        child = run.pid
        assert run.state == "running" and child
        assert lock_holder(session) is not None
    tune.kill()
    tune.wait(timeout=30)
    wait_for(lambda: not _alive(child), timeout=30, message="the training child to exit with its parent")

    with runtime.db.session() as session:  # what `tunebot serve` does first on start
        assert fail_abandoned_runs(session) == 1
        assert last_run(session).state == "failed" and lock_holder(session) is None
    result = make_cycle(runtime, runtime.policies).run("restart", force=True)
    assert result.outcome in ("promoted", "rejected"), result.message
    assert not list((runtime.data_dir / "adapters").glob(".tmp-*"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by anyone) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
