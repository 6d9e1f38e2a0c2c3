"""Adapters a serving engine can load (TUNEBOT_ENGINE_URL): the checks vLLM makes when
/v1/load_lora_adapter reads adapter_config.json, made before training, before an approval and
before a rollback, so the registry never moves to a version no replica can serve. The configs are
peft's own, saved as a trainer saves them; the refusals are worded as vLLM words them (its tests'
expected messages: "is greater than max_lora_rank", "does not yet support DoRA", "only supports
modules_to_save being None"). vLLM itself does not run here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from policies.schema import LoraSpec
from storage.registry import hold_candidate, live_adapter, promote_candidate, register_candidate
from storage.runs import last_run
from tests.factories import seed_corrections
from tests.tuner.test_cycle import make_cycle
from tuner.engine_limits import adapter_problem, training_problem


def _saved(folder: Path, **settings: Any) -> str:
    """An adapter folder as a trainer leaves it (the config; the weights are not read here)."""
    from peft import IA3Config, LoraConfig

    kind = settings.pop("kind", "lora")
    config = (
        IA3Config(task_type="CAUSAL_LM", **settings)
        if kind == "ia3"
        else LoraConfig(task_type="CAUSAL_LM", target_modules="all-linear", **settings)
    )
    config.save_pretrained(str(folder))
    return str(folder)


def test_the_policy_is_checked_against_the_engine_with_what_to_change() -> None:
    assert training_problem("qlora", LoraSpec(r=16), 16) is None
    assert training_problem("dpo", LoraSpec(r=8), 16) is None
    dora = training_problem("dora", LoraSpec(r=8), 64)
    assert dora is not None and "dora adapters cannot be loaded" in dora and "qlora, lora, kto, dpo" in dora
    assert "ia3 adapters" in (training_problem("ia3", LoraSpec(), 16) or "")
    rank = training_problem("lora", LoraSpec(r=24), 16)
    assert rank is not None and "training.lora.r is 24" in rank and "up to 16" in rank
    assert "--max-lora-rank 32" in rank  # the next value vLLM's flag accepts
    beyond = training_problem("lora", LoraSpec(r=1024), 512)  # more than vLLM takes at all
    assert beyond is not None and "lower training.lora.r" in beyond and "or start vLLM" not in beyond


def test_saved_adapters_are_refused_as_vllm_refuses_them(tmp_path: Path) -> None:
    assert adapter_problem(_saved(tmp_path / "plain", r=16), 16) is None
    assert (
        adapter_problem(_saved(tmp_path / "r32", r=32), 16)
        == "LoRA rank 32 is greater than max_lora_rank 16."
    )
    assert adapter_problem(_saved(tmp_path / "r32", r=32), 32) is None
    pattern = _saved(tmp_path / "pattern", r=8, rank_pattern={"q_proj": 64})
    assert adapter_problem(pattern, 16) == "LoRA rank 64 is greater than max_lora_rank 16."
    assert "does not yet support DoRA" in (
        adapter_problem(_saved(tmp_path / "dora", use_dora=True), 16) or ""
    )
    saved = _saved(tmp_path / "save", modules_to_save=["lm_head"])
    assert "only supports modules_to_save being None" in (adapter_problem(saved, 16) or "")
    assert "bias is not supported" in (adapter_problem(_saved(tmp_path / "bias", bias="lora_only"), 16) or "")
    assert "IA3 adapter" in (adapter_problem(_saved(tmp_path / "ia3", kind="ia3"), 16) or "")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "model.safetensors").write_bytes(b"")
    assert "not a peft adapter" in (adapter_problem(tmp_path / "full", 16) or "")


def test_a_cycle_for_an_engine_fails_before_training_what_it_could_not_load(
    runtime: Any, policies: Any
) -> None:
    seed_corrections(runtime.db, 16)
    cycle = make_cycle(runtime, policies)
    cycle.engine_max_lora_rank = 8  # the policy trains rank 16
    lines: list[str] = []
    result = cycle.run("test", progress=lines.append)
    assert result.outcome == "failed" and "training.lora.r is 16" in result.message, result.message
    assert any("--max-lora-rank 16" in line for line in lines), lines
    cycle.engine_max_lora_rank = 16
    forced = cycle.run("test", force=True, method="dora")  # `tunebot tune --method dora`
    assert forced.outcome == "failed" and "dora adapters cannot be loaded" in forced.message
    with runtime.db.session() as session:
        assert last_run(session).state == "failed" and live_adapter(session) is None
    # Nothing was trained or written: the check comes before the child starts.
    assert not (runtime.data_dir / "runs").exists() or not any((runtime.data_dir / "runs").iterdir())
    assert not (runtime.data_dir / "adapters").exists() or not any((runtime.data_dir / "adapters").iterdir())


def test_rollbacks_and_approvals_put_live_only_what_the_engine_can_load(db: Any, tmp_path: Path) -> None:
    from bot.services.tune import approve, forget_and_report, roll_back

    def candidate(session: Any, path: str, contributors: list[str] | None = None) -> Any:
        return register_candidate(
            session,
            path=path,
            method="lora",
            metrics={},
            baseline={},
            dataset_fingerprint=Path(path).name,
            train_examples=8,
            heldout_examples=2,
            training_run_id=None,
            contributors=contributors,
        )

    # v1 LoRA; v2 DoRA, trained before answers moved to an engine; v3 LoRA, live; v4 rank 32,
    # waiting for an admin. v3 and v4 learned from U0BOB's examples.
    with db.session() as session:
        for path, who in (
            (_saved(tmp_path / "v1", r=8), None),
            (_saved(tmp_path / "v2", use_dora=True), None),
            (_saved(tmp_path / "v3", r=8), ["U0BOB"]),
        ):
            promote_candidate(session, candidate(session, path, who), actor="tuner", reason="better")
        hold_candidate(session, candidate(session, _saved(tmp_path / "v4", r=32), ["U0BOB"]), reason="better")
    refused = roll_back(db, "U1", "v2", engine_max_lora_rank=16)
    assert not refused.ok
    assert refused.message == "v2 cannot be served by the engine: vLLM does not yet support DoRA."
    refused = approve(db, "U1", "v4", engine_max_lora_rank=16)
    assert not refused.ok and "v4 cannot be served by the engine: LoRA rank 32 is greater" in refused.message
    with db.session() as session:  # both undone
        assert _statuses(session) == {"v1": "retired", "v2": "retired", "v3": "live", "v4": "pending"}
    assert approve(db, "U1", "v4", engine_max_lora_rank=32).ok  # an engine started with a larger rank

    # U0BOB's data is erased: the live v4 learned from it and goes, v3 too, and the rollback passes
    # over v2 (replicas could not load it, and would keep serving v4) to v1.
    report, rolled = forget_and_report(db, "U0BOB", "U1", engine_max_lora_rank=16)
    assert report.live_erased and rolled is not None and rolled.ok
    assert rolled.message == (
        "Rolled back v4; now serving v1 (skipped, the engine cannot load them: v2 (vLLM does not yet "
        "support DoRA.))."
    )
    with db.session() as session:
        assert live_adapter(session).label == "v1"
    assert roll_back(db, "U1", "v2").ok  # no engine: the bot's own model serves DoRA


def _statuses(session: Any) -> dict[str, str]:
    return {a.label: a.status for a in session.scalars(_adapters())}


def _adapters() -> Any:
    from sqlalchemy import select

    from storage.models import Adapter

    return select(Adapter)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The checks are the same on either database; the registry's are tested on both elsewhere."""
    return f"sqlite:///{tmp_path / 'tunebot.db'}"
