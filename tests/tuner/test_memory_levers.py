"""Training's GPU memory levers, on the CPU: they must not change what is learned.

`training.embeddings_on_cpu` (the input embedding table looked up in CPU memory) and
`training.optimizer: adamw_8bit` (bitsandbytes' 8-bit AdamW, which runs on the CPU too). What they
save on a GPU is measured by tests/bench/train_memory.py, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from tests.factories import save_tiny_model
from tests.tuner.test_training_data import ROWS
from tuner.embedding_offload import keep_input_embeddings_on_cpu
from tuner.methods import get_method
from tuner.trainers import build_trainer, sft_dataset
from tuner.training import TrainingJob, _load_base, train_once, training_arguments


@pytest.fixture(scope="module")
def untied_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_tiny_model(tmp_path_factory.mktemp("untied-model"), tied=False)


def _batch(model_dir: str) -> dict[str, torch.Tensor]:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids = tokenizer("Which port does billing use? Billing listens on 8443.", return_tensors="pt").input_ids
    return {"input_ids": ids, "labels": ids}


def test_embeddings_looked_up_apart_give_the_same_loss(untied_model: str, tiny_model: str) -> None:
    model = AutoModelForCausalLM.from_pretrained(untied_model).eval()
    batch = _batch(untied_model)
    with torch.no_grad():
        before = model(**batch).loss
        assert keep_input_embeddings_on_cpu(model)
        after = model(**batch).loss
    embeddings = model.get_input_embeddings()
    assert embeddings.weight.device.type == "cpu"
    assert len(embeddings._forward_pre_hooks) == 1 and len(embeddings._forward_hooks) == 1
    assert torch.equal(before, after)
    # A model whose LM head is the same table keeps it, untouched.
    tied = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert tied.get_output_embeddings().weight is tied.get_input_embeddings().weight
    assert not keep_input_embeddings_on_cpu(tied)
    assert not tied.get_input_embeddings()._forward_hooks


def _job(tmp: Path, base: str, **fields: Any) -> TrainingJob:
    return TrainingJob(
        base_model=base,
        dataset_dir="",
        adapter_dir=str(tmp / "weights"),
        result_path=str(tmp / "result.json"),
        method="qlora",
        live_adapter=None,
        # r 64 on a 64-wide model: every LoRA A matrix has 4,096 values, the least bitsandbytes
        # keeps in 8 bits (smaller tensors keep 32-bit moments).
        lora={"r": 64, "alpha": 64, "dropout": 0.0, "target_modules": "all-linear"},
        max_steps=8,
        learning_rate=2e-3,
        batch_size=2,
        max_length=128,
        **fields,
    )


class _Losses(TrainerCallback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))


def train_tiny(
    job: TrainingJob, scratch: Path, before: Callable[[Any], None] | None = None
) -> tuple[list[float], Any]:
    """The qlora trainer as the cycle builds it, on the test rows; `before(trainer)` runs before
    training. Returns each step's loss and the trained trainer."""
    model, tokenizer, cuda = _load_base(job, quantize=True)
    model.config.use_cache = False
    losses = _Losses()
    common = training_arguments(job, scratch, cuda, job.batch_size or 2)
    rows = ROWS * 4
    trainer = build_trainer(
        get_method("qlora"), model, tokenizer, job, rows, common, losses, sft_dataset(rows, tokenizer, 128)
    )
    if before is not None:
        before(trainer)
    trainer.train()
    return losses.losses, trainer


def _train(tmp: Path, base: str, optimizer: str) -> tuple[list[float], Any]:
    losses, trainer = train_tiny(_job(tmp, base, optimizer=optimizer), tmp / optimizer)
    return losses, trainer.optimizer.optimizer


def test_8bit_adamw_keeps_8bit_moments_and_learns_like_adamw(tmp_path: Path, tiny_model: str) -> None:
    full, torch_adamw = _train(tmp_path, tiny_model, "adamw")
    small, bnb_adamw = _train(tmp_path, tiny_model, "adamw_8bit")
    assert type(torch_adamw).__module__.startswith("torch.optim")
    assert type(bnb_adamw).__module__.startswith("bitsandbytes")
    moments = [state["state1"] for state in bnb_adamw.state.values()]
    assert moments and any(m.dtype == torch.uint8 for m in moments)
    assert small[0] == pytest.approx(full[0], rel=1e-4)  # the same first step: same model and data
    assert small[-1] < small[0] and small[-1] == pytest.approx(full[-1], rel=1e-3), (full, small)


def test_a_training_with_both_levers_reports_them(tmp_path: Path, untied_model: str) -> None:
    events: list[dict[str, Any]] = []
    trained = train_once(
        _job(tmp_path, untied_model, optimizer="adamw_8bit", embeddings_on_cpu=True), ROWS * 4, events.append
    )
    (sizing,) = [e for e in events if e.get("phase") == "sizing"]
    assert sizing["embeddings_on_cpu"] is True and trained.embeddings_on_cpu
    assert (Path(tmp_path) / "weights" / "adapter_model.safetensors").exists()
