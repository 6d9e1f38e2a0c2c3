"""Every training method on a tiny real model: trains, is scored against the base model, and serves."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.factories import save_tiny_model
from tuner.dataset import Snapshot, _to_dataset
from tuner.live_model import LiveModel
from tuner.methods import METHODS
from tuner.trainers import MethodUnsuitable, kto_weights
from tuner.training import TrainingJob, train_and_evaluate
from tuner.weights import weights_kind

KINDS = {"bitfit": "bitfit", "full": "full"}  # the rest save a peft adapter


def _row(i: int, corrected: bool = True) -> dict[str, object]:
    return {
        "key": f"k{i}",
        "prompt": [{"role": "user", "content": f"Which port does service {i} use?"}],
        "completion": [{"role": "assistant", "content": f"Service {i} listens on port {8000 + i}."}],
        "rejected": [{"role": "assistant", "content": "I am not sure."}] if corrected else [],
        "source": "corrected" if corrected else "approved",
    }


def _snapshot(folder: Path, corrected: bool = True) -> str:
    train = [_row(i, corrected and i % 2 == 1) for i in range(12)]
    Snapshot(_to_dataset(train), _to_dataset([_row(i) for i in range(12, 16)]), "test").save(folder)
    return str(folder)


def _job(tmp: Path, base: str, method: str, dataset: str, live: str | None = None) -> TrainingJob:
    return TrainingJob(
        base_model=base,
        dataset_dir=dataset,
        adapter_dir=str(tmp / "weights"),
        result_path=str(tmp / "result.json"),
        method=method,
        live_adapter=live,
        lora={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"},
        max_steps=3,
        learning_rate=0.05 if method in ("prompt_tuning", "prefix_tuning", "ia3") else 5e-3,
        batch_size=4,
        max_length=128,
        general_prompts=["What is the capital of France?"],
        eval_max_new_tokens=4,
    )


@pytest.fixture(scope="module")
def biased_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_tiny_model(tmp_path_factory.mktemp("biased-model"), biases=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model: str, biased_model: str) -> dict[str, dict]:
    """Each method trained once on the same 12 examples (bitfit on the model with biases)."""
    root = tmp_path_factory.mktemp("methods")
    dataset = _snapshot(root / "dataset")
    out = {}
    for name in METHODS:
        folder = root / name
        folder.mkdir()
        job = _job(folder, biased_model if name == "bitfit" else tiny_model, name, dataset)
        events: list[dict] = []
        result = train_and_evaluate(job, events.append)
        out[name] = {"job": job, "result": result, "events": events}
    return out


@pytest.mark.parametrize("name", list(METHODS))
def test_method_trains_and_is_scored_against_the_base_model(name: str, trained: dict[str, dict]) -> None:
    job, result, events = trained[name]["job"], trained[name]["result"], trained[name]["events"]
    assert weights_kind(job.adapter_dir) == KINDS.get(name, "peft")
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2, 3]
    candidate, baseline = result["candidate"], result["baseline"]
    assert baseline["label"] == "base" and candidate["examples"] == baseline["examples"] == 4
    assert math.isfinite(candidate["heldout_nll"]) and math.isfinite(baseline["heldout_nll"])
    assert 0 <= candidate["chrf"] <= 100 and len(candidate["per_example_chrf"]) == 4
    # Three steps moved the weights: the candidate scores the held-out replies differently.
    assert candidate["heldout_nll"] != pytest.approx(baseline["heldout_nll"], abs=1e-6)
    assert result["regression"]["prompts"] in (0, 1)


def test_every_kind_serves_and_swapping_back_restores_the_base(
    trained: dict[str, dict], tiny_model: str, biased_model: str
) -> None:
    """The live model moves between peft adapters of every type, soft prompts and whole models,
    answering with each; the base model afterwards answers exactly as before any of them."""
    import torch

    for base, names in (
        (tiny_model, [n for n in METHODS if n != "bitfit"]),
        (biased_model, ["bitfit", "lora"]),
    ):
        live = LiveModel(base, max_new_tokens=3)
        turns = [{"role": "user", "content": "Which port does service 3 use?"}]
        before = _next_token_logits(live, turns)
        for i, name in enumerate(names):
            version = f"v{i + 1}"
            live.swap(trained[name]["job"].adapter_dir, version)
            assert live.generate(turns).adapter_version == version
            assert not torch.allclose(_next_token_logits(live, turns), before), name
        live.swap(None, "base")
        assert torch.allclose(_next_token_logits(live, turns), before, atol=1e-5)


def _next_token_logits(live: LiveModel, turns: list[dict[str, str]]):  # type: ignore[no-untyped-def]
    import torch

    from tuner.chat_format import chat_messages

    inputs = live._tokenizer.apply_chat_template(
        chat_messages(turns), add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        return live._model(**inputs).logits[0, -1].float()


def test_bitfit_refuses_a_model_without_biases(tmp_path: Path, tiny_model: str) -> None:
    job = _job(tmp_path, tiny_model, "bitfit", _snapshot(tmp_path / "dataset"))
    with pytest.raises(MethodUnsuitable, match=r"has none .* choose another training.method"):
        train_and_evaluate(job, lambda event: None)
    assert not Path(job.adapter_dir).exists()


@pytest.mark.parametrize("name", ["kto", "dpo"])
def test_preference_methods_need_corrections(name: str, tmp_path: Path, tiny_model: str) -> None:
    job = _job(tmp_path, tiny_model, name, _snapshot(tmp_path / "dataset", corrected=False))
    with pytest.raises(MethodUnsuitable, match="has none"):
        train_and_evaluate(job, lambda event: None)


def test_kto_weights_balance_the_two_sides() -> None:
    assert kto_weights([True] * 12 + [False] * 6) == {"desirable_weight": pytest.approx(0.575)}
    assert kto_weights([True] * 3 + [False] * 6) == {"undesirable_weight": pytest.approx(0.5 / 1.15)}
    assert kto_weights([True] * 6 + [False] * 6) == {}


def test_a_live_adapter_of_another_kind_is_the_baseline(trained: dict[str, dict], tmp_path: Path) -> None:
    """A prompt-tuning candidate against a live LoRA adapter: the baseline is the base with it."""
    lora = trained["lora"]
    job = _job(
        tmp_path,
        lora["job"].base_model,
        "prompt_tuning",
        lora["job"].dataset_dir,
        live=lora["job"].adapter_dir,
    )
    result = train_and_evaluate(job, lambda event: None)
    assert result["baseline"]["label"] == "live"
    assert result["baseline"]["heldout_nll"] == pytest.approx(
        lora["result"]["candidate"]["heldout_nll"], rel=1e-4
    )


def test_replay_answers_are_the_base_models_own_and_cached(tmp_path: Path, tiny_model: str) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tuner.replay import _whole_sentences, replay_rows

    assert _whole_sentences("Paris is the capital of France. It has") == "Paris is the capital of France."
    assert _whole_sentences("1. **Be clear**: The first tip is") == ""  # nothing whole worth keeping
    job = _job(tmp_path, tiny_model, "lora", "unused")
    job.replay_prompts, job.replay_cache = ["What is 2 + 2?", "Name a color."], str(tmp_path / "cache")
    loads: list[int] = []

    def load_base():  # type: ignore[no-untyped-def]
        loads.append(1)
        return AutoModelForCausalLM.from_pretrained(tiny_model), AutoTokenizer.from_pretrained(tiny_model)

    first = replay_rows(load_base, job)
    cached = list((tmp_path / "cache").glob("replay-*.json"))
    assert len(cached) == 1 and len(json.loads(cached[0].read_text())) == 2  # one answer per prompt
    # The next cycle reads the cache: the base model is not even loaded.
    assert replay_rows(load_base, job) == first and loads == [1]
    # (The random tiny model's answers are empty, so they give no rows; the learning benchmark
    # shows SmolLM2's replayed answers.)
    assert all(row["completion"][0]["content"] for row in first)


def test_replay_scales_with_the_training_examples() -> None:
    from policies.schema import TrainingPolicy
    from tuner.regression import SHIPPED_REPLAY, load_prompts
    from tuner.replay import replay_count

    auto = TrainingPolicy()
    assert auto.replay_examples == "auto"
    assert [replay_count(auto, n) for n in (5, 24, 58, 561)] == [8, 12, 29, 281]
    assert replay_count(TrainingPolicy(replay_examples=3), 561) == 3
    # the shipped file holds enough for a 128-example workspace; a larger one replays all of it
    assert len(load_prompts(None, SHIPPED_REPLAY)) == 64
    with pytest.raises(ValueError):
        TrainingPolicy(replay_examples=-1)
