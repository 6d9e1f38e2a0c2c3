"""Each model family teams run through a whole cycle (train, evaluate, promote) and into the live
model (load, swap the adapter in, answer): tiny random models built from each family's config,
Gemma 2 and Llama 3 also with their chat formats (tests/factories.py CHAT_FORMATS: Gemma's refuses
a system turn, so tunebot's system prompt opens the first user turn)."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies import Policies
from policies.schema import PromotionPolicy, RegressionGuard
from storage import Database
from storage.registry import live_adapter
from tests.factories import CHAT_FORMATS, FAMILIES, save_family_model, seed_corrections
from tuner.cycle import TuneCycle
from tuner.live_model import LiveModel


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_family_trains_promotes_and_serves(family: str, tmp_path: Path, policies: Policies) -> None:
    base = save_family_model(tmp_path / family, family)
    db = Database(f"sqlite:///{tmp_path / 'tunebot.db'}")
    db.upgrade()
    seed_corrections(db, 12)
    # Random weights measure nothing: any candidate passes the gate, so promotion runs too.
    anything = PromotionPolicy(
        min_relative_improvement=0, confidence=0, regression_guard=RegressionGuard(max_nll_increase=None)
    )
    # Two steps, no replay (replay is tested on its own): the family's layers are what is tested.
    short = policies.training.model_copy(update={"max_steps": 2, "replay_examples": 0})
    cycle = TuneCycle(
        db,
        policies.model_copy(update={"promotion": anything, "training": short}),
        data_dir=tmp_path / "data",
        base_model=base,
    )
    if family in CHAT_FORMATS:  # the family's own turn layout: its end-of-turn token ends the target
        from transformers import AutoTokenizer

        from tuner.chat_format import chat_messages
        from tuner.evaluation import reply_token_ids

        tokenizer = AutoTokenizer.from_pretrained(base)
        prompt = chat_messages([{"role": "user", "content": "Which port?"}])
        ids, n_prompt = reply_token_ids(tokenizer, prompt, [{"role": "assistant", "content": "8443"}], 256)
        end_of_turn = tokenizer.convert_tokens_to_ids(CHAT_FORMATS[family][2])
        assert end_of_turn in ids[n_prompt:] and end_of_turn in ids[:n_prompt]  # the user turn ended too
        assert "8443" in tokenizer.decode(ids[n_prompt:]) and "Answer briefly" in tokenizer.decode(ids)
    result = cycle.run("test")
    assert result.outcome == "promoted", result.message
    with db.session() as session:
        adapter = live_adapter(session)
        assert adapter is not None
        trained = Path(adapter.path, "adapter_model.safetensors")
        assert trained.exists() and adapter.metrics["train_steps"] == 2
    model = LiveModel(base, max_new_tokens=4)
    turns = [{"role": "user", "content": "Which port does the billing service use?"}]
    assert model.generate(turns).adapter_version == "base"
    model.swap(adapter.path, adapter.label)
    answer = model.generate(turns)
    assert answer.adapter_version == "v1" and isinstance(answer.text, str)
    model.swap(None, "base")
    assert model.generate(turns).adapter_version == "base"
