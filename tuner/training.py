"""Training one adapter with TRL's SFTTrainer (loss on the reply only), then scoring it.

Runs inside the child process started by `tuner.child`; nothing here touches the database.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from policies.schema import TrainingPolicy
from tuner.dataset import Snapshot
from tuner.evaluation import heldout_nll, reply_token_ids
from tuner.methods import get_method

Emit = Callable[[dict[str, Any]], None]


@dataclass
class TrainingJob:
    """Everything the child process needs; written as JSON next to the run's dataset."""

    base_model: str
    dataset_dir: str
    adapter_dir: str
    result_path: str
    method: str
    live_adapter: str | None
    lora: dict[str, Any] = field(default_factory=dict)
    epochs: float = 3.0
    max_steps: int = -1
    learning_rate: float = 2e-4
    batch_size: int = 4
    max_length: int = 1024
    seed: int = 42

    @classmethod
    def from_policy(cls, policy: TrainingPolicy, method: str | None = None, **paths: Any) -> TrainingJob:
        return cls(
            method=method or policy.method,
            lora=policy.lora.model_dump(),
            epochs=policy.epochs,
            max_steps=policy.max_steps,
            learning_rate=policy.learning_rate,
            batch_size=policy.batch_size,
            max_length=policy.max_length,
            seed=policy.seed,
            **paths,
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> TrainingJob:
        return cls(**json.loads(path.read_text()))


class TrainingFailed(RuntimeError):
    """Training finished without a usable adapter (e.g. the loss became NaN)."""


def _load_base(job: TrainingJob):  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    cuda = torch.cuda.is_available()
    compute_dtype = torch.bfloat16 if cuda else torch.float32
    kwargs: dict[str, Any] = {"dtype": compute_dtype, "device_map": {"": 0 if cuda else "cpu"}}
    if get_method(job.method).quantize_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    tokenizer = AutoTokenizer.from_pretrained(job.base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(job.base_model, **kwargs)
    return model, tokenizer, cuda


def tokenized(rows: Any, tokenizer: Any, max_length: int) -> Any:
    """input_ids + completion_mask per example, laid out exactly as the held-out scoring reads them."""
    from datasets import Dataset

    out = []
    for row in rows:
        ids, n_prompt = reply_token_ids(tokenizer, row["prompt"], row["completion"], max_length)
        if len(ids) > n_prompt:  # a reply cut off entirely by max_length teaches nothing
            out.append({"input_ids": ids, "completion_mask": [0] * n_prompt + [1] * (len(ids) - n_prompt)})
    return Dataset.from_list(out)


def _progress_callback(emit: Emit):  # type: ignore[no-untyped-def]
    from transformers import TrainerCallback

    class ReportProgress(TrainerCallback):
        """Reports each optimizer step and its loss to the parent process; stops training at the
        first step whose loss is not finite (nothing after it could be saved)."""

        def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
            if logs and "loss" in logs:
                if not math.isfinite(float(logs["loss"])):
                    raise TrainingFailed(
                        f"training loss became {logs['loss']} at step {state.global_step}; no adapter "
                        "was saved (lower training.learning_rate in the policy)"
                    )
                emit(
                    {
                        "event": "step",
                        "step": state.global_step,
                        "max_steps": state.max_steps,
                        "loss": float(logs["loss"]),
                    }
                )

    return ReportProgress()


def train_and_evaluate(job: TrainingJob, emit: Emit) -> dict[str, Any]:
    """Train a fresh adapter into `job.adapter_dir`, score it and the baseline, write the result."""
    import torch
    from peft import LoraConfig
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    set_seed(job.seed)
    snapshot = Snapshot.load(Path(job.dataset_dir))
    emit(
        {
            "event": "phase",
            "phase": "load",
            "train": len(snapshot.train),
            "heldout": len(snapshot.heldout),
        }
    )
    model, tokenizer, cuda = _load_base(job)
    # No KV cache in training: with one, transformers would not mask attention between the examples
    # of a padding-free batch (SFTTrainer also passes use_cache=False; this holds for every version).
    model.config.use_cache = False
    config = SFTConfig(
        output_dir=str(Path(job.result_path).parent / "trainer"),  # scratch; removed by the cycle
        num_train_epochs=job.epochs,
        max_steps=job.max_steps,
        learning_rate=job.learning_rate,
        per_device_train_batch_size=job.batch_size,
        max_length=None,  # examples are truncated to job.max_length when tokenized (below)
        completion_only_loss=True,
        lr_scheduler_type="cosine",
        warmup_steps=0,
        logging_steps=1,
        logging_nan_inf_filter=False,  # the filter would hide a diverging loss from the check below
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=not cuda,
        bf16=cuda,
        seed=job.seed,
        data_seed=job.seed,
        gradient_checkpointing=cuda,
        dataloader_num_workers=0,
        # Chat examples vary in length: a batch is one row of its examples back to back, position
        # ids restarting at each, instead of rows padded to the longest (transformers masks
        # attention across examples). Measured in docs/perf-notes.md.
        padding_free=True,
    )
    lora = job.lora
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=tokenized(snapshot.train, tokenizer, job.max_length),
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=lora.get("r", 16),
            lora_alpha=lora.get("alpha", 32),
            lora_dropout=lora.get("dropout", 0.05),
            target_modules=lora.get("target_modules", "all-linear"),
            task_type="CAUSAL_LM",
        ),
        callbacks=[_progress_callback(emit)],
    )
    emit({"event": "phase", "phase": "train"})
    output = trainer.train()
    if not math.isfinite(output.training_loss):
        raise TrainingFailed(f"training loss is {output.training_loss}; no adapter was saved")
    peft_model: Any = trainer.model
    peft_model.save_pretrained(job.adapter_dir)

    emit({"event": "phase", "phase": "evaluate"})
    heldout = snapshot.heldout.to_list()
    candidate = heldout_nll(peft_model, tokenizer, heldout, job.max_length)
    if job.live_adapter:
        peft_model.load_adapter(job.live_adapter, adapter_name="live")
        peft_model.set_adapter("live")
        baseline = heldout_nll(peft_model, tokenizer, heldout, job.max_length)
        baseline_label = "live"
    else:
        with peft_model.disable_adapter():
            baseline = heldout_nll(peft_model, tokenizer, heldout, job.max_length)
        baseline_label = "base"
    result = {
        "train_loss": output.training_loss,
        "train_steps": output.global_step,
        "train_seconds": output.metrics.get("train_runtime"),
        "candidate": candidate,
        "baseline": {**baseline, "label": baseline_label},
        "device": "cuda" if cuda else "cpu",
        "peak_memory_bytes": torch.cuda.max_memory_allocated() if cuda else None,
    }
    tmp = Path(job.result_path + ".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(job.result_path)
    return result
