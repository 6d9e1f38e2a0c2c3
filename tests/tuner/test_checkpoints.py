"""The cycle keeps the latest epoch whose regression guard holds, chosen without the held-out
examples; a candidate the guard refuses is never promoted, however well it scores (issue 17)."""

from __future__ import annotations

from pathlib import Path

from policies import Policies
from storage.registry import history, live_adapter
from tests.factories import seed_corrections
from tuner.cycle import TuneCycle


def make_cycle(runtime, policies: Policies, base_model: str) -> TuneCycle:  # type: ignore[no-untyped-def]
    # The babbler answers the general prompts (the plain tiny model answers them with nothing, which
    # leaves the guard nothing to measure).
    return TuneCycle(runtime.db, policies, data_dir=runtime.data_dir, base_model=base_model)


def _with(policies: Policies, *, limit: float, epochs: int = 4) -> Policies:
    guard = policies.promotion.regression_guard.model_copy(update={"max_nll_increase": limit})
    return policies.model_copy(
        update={
            "training": policies.training.model_copy(update={"epochs": epochs}),
            "promotion": policies.promotion.model_copy(update={"regression_guard": guard}),
        }
    )


def test_the_latest_epoch_the_guard_allows_is_kept_and_scored_as_the_gate_scores_it(
    runtime, policies, babbler
) -> None:  # type: ignore[no-untyped-def]
    seed_corrections(runtime.db, 16)
    said: list[str] = []
    result = make_cycle(runtime, _with(policies, limit=0.5), babbler).run("test", progress=said.append)
    with runtime.db.session() as session:
        adapter = history(session)[0]
        metrics, gate = adapter.metrics, adapter.metrics["gate"]
    checkpoint = metrics["checkpoint"]
    assert set(checkpoint["epochs"]) == {"1", "2", "3", "4"} and checkpoint["of"] == 4
    allowed = [int(e) for e, rise in checkpoint["epochs"].items() if rise <= 0.5]
    assert checkpoint["kept"] == (max(allowed) if allowed else 4), checkpoint
    # The selection's guard number is the one the gate computed again on the kept weights.
    kept_rise = checkpoint["epochs"][str(checkpoint["kept"])]
    assert abs(gate["regression"]["increase"] - kept_rise) < 1e-4, (gate, checkpoint)
    assert any(line.startswith(f"  kept epoch {checkpoint['kept']} of 4") for line in said), said
    assert result.outcome in ("promoted", "rejected")


def test_a_candidate_the_guard_refuses_is_never_promoted_even_when_it_scores_best(
    runtime, policies, babbler
) -> None:  # type: ignore[no-untyped-def]
    seed_corrections(runtime.db, 16)
    result = make_cycle(runtime, _with(policies, limit=-100.0), babbler).run("test")
    assert result.outcome == "rejected" and "regression guard" in result.message, result.message
    with runtime.db.session() as session:
        assert live_adapter(session) is None
        rejected = history(session)[0]
        assert rejected.metrics["heldout_nll"] < rejected.baseline["heldout_nll"]  # it scored better
        assert rejected.metrics["checkpoint"]["kept"] == 4  # none passed: the last, refused
        assert Path(rejected.path, "adapter_model.safetensors").exists()


def test_the_kept_epoch_line_says_when_the_guard_had_nothing_to_compare() -> None:
    """The base model answered none of the general prompts (a tiny random model does): no numbers,
    and the line says why rather than printing "+nan"."""
    from tuner.cycle import selection_line

    scored = {"epochs": {"1": 0.0123, "2": float("nan")}, "kept": 1, "of": 2}
    expected = "  kept epoch 1 of 2 (general prompts NLL epoch 1: +0.012, epoch 2: +nan)"
    assert selection_line(scored) == expected
    empty = {"epochs": {"1": float("nan"), "2": float("nan")}, "kept": 2, "of": 2}
    line = selection_line(empty)
    assert line.startswith("  kept epoch 2 of 2 (the base model gave no answers") and "nan" not in line
