"""Tune cycles on a tiny real model: promotion, a gate that says no, a killed trainer."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from bot.services.tune import approve, describe_erasure, forget_and_report
from bot.views import history_text
from policies import Policies
from storage.audit import recent_events
from storage.registry import history, live_adapter
from storage.runs import last_run
from tests.factories import seed_corrections
from tuner.cycle import TuneCycle
from tuner.status import tune_status


def make_cycle(runtime, policies: Policies, swaps: list | None = None) -> TuneCycle:  # type: ignore[no-untyped-def]
    return TuneCycle(
        runtime.db,
        policies,
        data_dir=runtime.data_dir,
        base_model=runtime.base_model_path,
        on_live_change=(lambda path, version: swaps.append(version)) if swaps is not None else None,
    )


def test_cycle_promotes_a_better_adapter_then_refuses_a_worse_one(runtime, policies, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Also gpu.answers_first across the real process boundary: the bot's flag (named in its
    environment, which the child inherits) is up the whole time, as if a question waited, so the
    first cycle's child pauses between its layers, within its limits, and says so; the second
    cycle's policy turns it off."""
    from tuner.answers_first import ENV, AnsweringFlag

    monkeypatch.delenv(ENV, raising=False)
    flag = AnsweringFlag.create()
    monkeypatch.setenv(ENV, flag.path)  # undone after the test
    flag.add(1)
    seed_corrections(runtime.db, 16)
    swaps: list[str] = []
    lines: list[str] = []
    first = make_cycle(runtime, policies, swaps).run("test", progress=lines.append)
    assert first.outcome == "promoted", first.message
    assert any("for the bot's questions" in line for line in lines), lines
    assert swaps == ["v1"]
    with runtime.db.session() as session:
        live = live_adapter(session)
        assert live is not None and live.label == "v1"
        assert live.metrics["heldout_nll"] < live.baseline["heldout_nll"]
        assert live.baseline["label"] == "base"
        assert Path(live.path, "adapter_model.safetensors").exists()
        # batch_size auto: 12 training examples take the smallest automatic batch; no GPU, no budget.
        step = live.metrics["step_size"]
        assert (step["batch_size"], step["token_budget"]) == (4, None)
        assert 4 * 8 < step["longest_step_tokens"] <= 4 * policies.training.max_length

    # Nothing new: a scheduled cycle skips; a forced one trains but barely moves from the base
    # model (one step at a negligible learning rate), so it cannot beat v1 and is rejected.
    assert make_cycle(runtime, policies).run("test").outcome == "skipped"
    weak = policies.model_copy(
        update={
            "training": policies.training.model_copy(update={"max_steps": 1, "learning_rate": 1e-9}),
            "gpu": policies.gpu.model_copy(update={"answers_first": False}),
        }
    )
    lines.clear()
    second = make_cycle(runtime, weak, swaps).run("test", force=True, progress=lines.append)
    assert second.outcome == "rejected", second.message
    assert lines and not any("paused" in line for line in lines), lines
    flag.close()
    os.unlink(flag.path)
    assert swaps == ["v1"]
    with runtime.db.session() as session:
        assert live_adapter(session).label == "v1"
        rejected = history(session)[0]
        assert (rejected.label, rejected.status) == ("v2", "rejected")
        assert rejected.baseline["label"] == "live"
        assert rejected.metrics["heldout_nll"] > rejected.baseline["heldout_nll"]


def test_a_winning_candidate_waits_for_an_admin(runtime, policies) -> None:  # type: ignore[no-untyped-def]
    seed_corrections(runtime.db, 16)
    held = policies.model_copy(
        update={"promotion": policies.promotion.model_copy(update={"require_approval": True})}
    )
    swaps: list[str] = []
    result = make_cycle(runtime, held, swaps).run("test")
    assert result.outcome == "held" and "waiting for `/tune approve v1`" in result.message
    assert swaps == []
    with runtime.db.session() as session:
        assert live_adapter(session) is None and history(session)[0].status == "pending"

    assert not approve(runtime.db, "U0ADMIN", "v2").ok
    approved = approve(runtime.db, "U0ADMIN", "v1")
    assert approved.ok and approved.message == "Approved v1; it is live now.", approved.message
    with runtime.db.session() as session:
        assert live_adapter(session).label == "v1"
    text = history_text(tune_status(runtime.db, held))
    assert "approve v1 by U0ADMIN" in text and "hold v1 by tuner" in text
    assert "promote v1 by U0ADMIN" in text


def test_retrain_on_erasure_serves_until_the_next_cycle_replaces_it(runtime, policies) -> None:  # type: ignore[no-untyped-def]
    retrain = policies.model_copy(
        update={"privacy": policies.privacy.model_copy(update={"on_erasure": "retrain"})}
    )
    seed_corrections(runtime.db, 12, rater="U0RATER01")
    seed_corrections(runtime.db, 12, start=12, rater="U0RATER02")
    swaps: list[str] = []
    assert make_cycle(runtime, retrain, swaps).run("test").outcome == "promoted"

    report, rolled = forget_and_report(runtime.db, "U0RATER01", "test", "retrain")
    assert rolled is None and report.live_erased and report.adapters == ["v1"]
    assert "keeps serving until the next tune cycle" in describe_erasure(report, rolled)
    with runtime.db.session() as session:
        assert live_adapter(session).label == "v1"  # still serving, marked erased

    # The clean candidate is measured against the base model, not the erased v1; even when it
    # loses (an impossible margin here), v1 is taken down at the end of this cycle.
    strict = retrain.model_copy(
        update={"promotion": retrain.promotion.model_copy(update={"min_relative_improvement": 10.0})}
    )
    result = make_cycle(runtime, strict, swaps).run("erasure", force=True)
    assert result.outcome == "rejected", result.message
    assert swaps == ["v1", "base"]
    with runtime.db.session() as session:
        assert live_adapter(session) is None
        candidate = history(session)[0]
        assert candidate.baseline["label"] == "base" and "U0RATER01" not in candidate.contributors
        event = next(e for e in recent_events(session) if e.action == "rollback")
        assert event.actor == "tuner" and "erased" in event.details["reason"]


def test_killed_training_process_fails_the_run_and_keeps_live(runtime, policies) -> None:  # type: ignore[no-untyped-def]
    seed_corrections(runtime.db, 16)
    assert make_cycle(runtime, policies).run("test").outcome == "promoted"
    long = policies.model_copy(update={"training": policies.training.model_copy(update={"max_steps": 5000})})
    cycle = make_cycle(runtime, long)
    pids: list[int] = []
    cycle.child_started = pids.append
    killed: list[bool] = []

    def progress(message: str) -> None:
        if "step 3/" in message and not killed:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(True)

    result = cycle.run("test", force=True, progress=progress)
    assert killed and result.outcome == "failed"
    assert "killed by signal 9" in result.message
    with runtime.db.session() as session:
        assert live_adapter(session).label == "v1"
        run = last_run(session)
        assert run.state == "failed" and "signal 9" in run.error
        assert [a.label for a in history(session)] == ["v1"]  # no half-written candidate
    assert not list((runtime.data_dir / "adapters").glob(".tmp-*"))


def test_too_few_examples_skip_without_training(runtime, policies) -> None:  # type: ignore[no-untyped-def]
    seed_corrections(runtime.db, 2)
    leftover = runtime.data_dir / "adapters" / ".tmp-run-7"  # as a crashed cycle leaves it
    leftover.mkdir(parents=True)
    (leftover / "adapter_model.safetensors").write_bytes(b"half")
    result = make_cycle(runtime, policies).run("test", force=True)
    assert result.outcome == "skipped" and "needs 4" in result.message
    assert not leftover.exists()


def test_second_cycle_while_one_holds_the_lock_is_busy(runtime, policies) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from storage.runs import acquire_lock, release_lock

    seed_corrections(runtime.db, 8)
    with runtime.db.session() as session:
        assert acquire_lock(session, "another-replica", timedelta(minutes=5))
    assert make_cycle(runtime, policies).run("test").outcome == "busy"
    with runtime.db.session() as session:
        release_lock(session, "another-replica")


def test_the_child_plans_with_the_precisions_the_bot_serves_in(runtime, policies) -> None:  # type: ignore[no-untyped-def]
    """The child scores in the bot's serving precision, so it plans as the bot does: from the
    policy's method, not the method one cycle was asked to train (DoRA does not merge into FP8)."""
    seed_corrections(runtime.db, 16)
    gpu = policies.gpu.model_copy(update={"serving_weights": "auto"})
    cycle = make_cycle(runtime, policies.model_copy(update={"gpu": gpu}))
    jobs: list[dict] = []

    def started(pid: int) -> None:
        runs = runtime.data_dir / "runs"
        jobs.extend(json.loads(path.read_text()) for path in runs.glob("run-*/job.json"))
        os.kill(pid, signal.SIGKILL)

    cycle.child_started = started
    assert cycle.run("test", method="dora").outcome == "failed"
    assert [(job["method"], job["serving_weights"]) for job in jobs] == [("dora", ["bf16", "fp8_weights"])]
