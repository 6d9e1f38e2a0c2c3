"""Training one adapter with TRL's SFTTrainer (loss on the reply only), then scoring it.

Runs inside the child process started by `tuner.child`; nothing here touches the database.
"""

from __future__ import annotations

import gc
import json
import math
import resource
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policies.schema import TrainingPolicy
from tuner.answers_first import yield_to_the_bot
from tuner.dataset import Snapshot
from tuner.embedding_offload import keep_input_embeddings_on_cpu
from tuner.methods import Method, get_method
from tuner.replay import replay_rows
from tuner.scoring import evaluate
from tuner.sizing import (
    MAX_EPOCHS,
    MIN_BATCH,
    StepSize,
    choose_batch_size,
    choose_epochs,
    cuda_token_budget,
)
from tuner.trainers import (
    build_trainer,
    compile_decoder_layers,
    prepare_own_weights,
    sft_dataset,
    training_attention,
)
from tuner.weights import save_weights

if TYPE_CHECKING:
    from tuner.gpu_budget import GpuPlan

Emit = Callable[[dict[str, Any]], None]

# The policy's optimizer names and transformers' (TrainingArguments.optim). Not bitsandbytes' paged
# 8-bit AdamW: it keeps its state in CUDA managed memory, which torch's memory statistics (and so the
# benchmark's peak) do not count.
OPTIMIZERS = {"adamw": "adamw_torch_fused", "adamw_8bit": "adamw_bnb_8bit"}


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
    epochs: float | None = 3.0  # None: chosen from the number of examples (tuner.sizing)
    max_steps: int = -1
    learning_rate: float = 2e-4
    divergence_retries: int = 0  # trained again at half the learning rate when the loss diverges
    batch_size: int | None = 4  # None: chosen from the dataset and free GPU memory (tuner.sizing)
    max_length: int = 1024
    optimizer: str = "adamw"  # a key of OPTIMIZERS
    embeddings_on_cpu: bool = False
    activation_offloading: bool = False  # TRL's: checkpointed activations kept in CPU memory
    compile: bool = False  # torch.compile each decoder layer (on a GPU)
    cpu_bf16: bool = False  # on a CPU with native bfloat16: compute in bf16 (autocast)
    seed: int = 42
    virtual_tokens: int = 20  # prompt_tuning and prefix_tuning
    eval_max_new_tokens: int = 48  # generated answers scored by chrF and the regression guard
    general_prompts: list[str] = field(default_factory=list)  # the regression guard's; empty: off
    replay_prompts: list[str] = field(default_factory=list)  # base-answered, trained on (sft methods)
    replay_cache: str | None = None  # folder where the base model's replay answers are kept
    select_checkpoint: bool = False  # epoch checkpoints; the latest whose guard holds is kept
    guard_limit: float | None = None  # promotion.regression_guard.max_nll_increase
    gpu_budget_gib: float | None = None  # gpu.memory_budget_gib: None plans within the whole card
    # The precisions the bot plans with (gpu_budget.serving_choices of gpu.serving_weights and the
    # policy's method, whatever method this job trains): the plan's is the one candidates are scored in.
    serving_weights: list[str] = field(default_factory=lambda: ["bf16"])

    @classmethod
    def from_policy(cls, policy: TrainingPolicy, method: str | None = None, **paths: Any) -> TrainingJob:
        return cls(
            method=method or policy.method,
            lora=policy.lora.model_dump(),
            epochs=None if policy.epochs == "auto" else policy.epochs,
            max_steps=policy.max_steps,
            learning_rate=policy.learning_rates.get(method or policy.method, policy.learning_rate),
            divergence_retries=policy.divergence_retries,
            virtual_tokens=policy.virtual_tokens,
            batch_size=None if policy.batch_size == "auto" else policy.batch_size,
            max_length=policy.max_length,
            optimizer=policy.optimizer,
            embeddings_on_cpu=policy.embeddings_on_cpu,
            activation_offloading=policy.activation_offloading,
            compile=policy.compile,
            cpu_bf16=policy.cpu_bf16,
            seed=policy.seed,
            select_checkpoint=policy.select_checkpoint,
            **paths,
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> TrainingJob:
        return cls(**json.loads(path.read_text()))


class TrainingFailed(RuntimeError):
    """Training finished without a usable adapter (e.g. the loss became NaN)."""


class TrainingDiverged(TrainingFailed):
    """The training loss became NaN or infinite: a lower learning rate may train."""


def _load_base(job: TrainingJob, quantize: bool):  # type: ignore[no-untyped-def]
    """(model, tokenizer, cuda): the base in 4 bits to train on (`quantize`), else as the bot serves
    it (the plan's precision: bf16, or FP8 weights, tuner/fp8_weights.py)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(job.base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    plan = None if quantize else _plan(job)
    if plan is not None and plan.weights != "bf16":
        from tuner import fp8_weights

        return fp8_weights.load(job.base_model, plan.weights, "cuda")[0], tokenizer, cuda
    weights_dtype = torch.bfloat16 if cuda else torch.float32
    kwargs: dict[str, Any] = {"dtype": weights_dtype, "device_map": {"": 0 if cuda else "cpu"}}
    if quantize:
        # On a CPU the weights stay float32; with training.cpu_bf16 the 4-bit layers compute in bf16.
        bf16 = cuda or cpu_bf16(job)
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float32,
        )
    model = AutoModelForCausalLM.from_pretrained(job.base_model, **kwargs)
    return model, tokenizer, cuda


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bf16 instructions (AVX512-BF16, AMX), as oneDNN sees it;
    elsewhere bf16 is emulated and slower than float32."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def cpu_bf16(job: TrainingJob) -> bool:
    """Whether training on this CPU computes in bfloat16 (`training.cpu_bf16`, autocast). The
    trained weights keep their dtype: float32 over a full-precision base, bf16 over a 4-bit one
    (TRL casts a quantized model's LoRA weights, with or without this)."""
    return job.cpu_bf16 and cpu_has_bf16()


def _progress_callback(emit: Emit):  # type: ignore[no-untyped-def]
    from transformers import TrainerCallback

    class ReportProgress(TrainerCallback):
        """Reports each optimizer step and its loss to the parent process; stops training at the
        first step whose loss is not finite (nothing after it could be saved)."""

        def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
            if logs and "loss" in logs:
                if not math.isfinite(float(logs["loss"])):
                    raise TrainingDiverged(
                        f"training loss became {logs['loss']} at step {state.global_step} "
                        f"(learning rate {args.learning_rate:g})"
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


def training_arguments(
    job: TrainingJob, output_dir: Path, cuda: bool, batch_size: int, epochs: float | None = None
) -> dict[str, Any]:
    """The TrainingArguments every method shares (the GPU benchmark trains with these too)."""
    return {
        "output_dir": str(output_dir),  # scratch; removed by the cycle
        "num_train_epochs": epochs or job.epochs or MAX_EPOCHS,
        "max_steps": job.max_steps,
        "learning_rate": job.learning_rate,
        "optim": OPTIMIZERS[job.optimizer],
        "per_device_train_batch_size": batch_size,
        "lr_scheduler_type": "cosine",
        "warmup_steps": 0,
        "logging_steps": 1,
        "logging_nan_inf_filter": False,  # the filter would hide a diverging loss from the check
        "save_strategy": "no",
        "report_to": [],
        "disable_tqdm": True,
        "use_cpu": not cuda,
        "bf16": cuda or cpu_bf16(job),  # on a CPU: autocast to bf16, the trained weights' dtype kept
        "seed": job.seed,
        "data_seed": job.seed,
        # Checkpointing keeps one input per layer instead of every activation (non-reentrant: the
        # LoRA weights get gradients whether or not the frozen embeddings' output requires them).
        "gradient_checkpointing": cuda,
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
        "dataloader_num_workers": 0,
    }


def step_size(job: TrainingJob, model: Any, dataset: Any) -> StepSize:
    """The configured batch size, or (batch_size None) one chosen from the examples' token lengths
    and the GPU's free memory now that the model is loaded. Preference trainers pad every pair, so
    they keep the smallest automatic batch."""
    if job.batch_size is not None:
        return StepSize(job.batch_size, None, 0)
    if dataset is None:
        return StepSize(MIN_BATCH, None, 0)
    lengths = [len(ids) for ids in dataset["input_ids"]]
    return choose_batch_size(lengths, cuda_token_budget(model, _gpu_share(job)))


@dataclass
class Trained:
    """What one finished training leaves for the evaluation and the result."""

    output: Any  # transformers' TrainOutput
    tokenizer: Any
    cuda: bool
    step: StepSize
    epochs: float
    learning_rate: float
    embeddings_on_cpu: bool
    compiled: bool = False
    retries: int = 0  # trainings started again before this one (train_until_finite)
    checkpoints: dict[int, str] = field(default_factory=dict)  # epoch -> weights, the last in adapter_dir


def _plan(job: TrainingJob) -> GpuPlan | None:
    """The plan the child and the bot make alike (tuner/gpu_budget.py: same model, card, budget and
    serving precisions); None on a CPU."""
    from transformers import AutoConfig

    from tuner.gpu_budget import plan_for_model

    config = AutoConfig.from_pretrained(job.base_model)
    return plan_for_model(config, job.gpu_budget_gib, weights=tuple(job.serving_weights))


def _gpu_share(job: TrainingJob) -> int | None:
    """The child's share of the plan; None on a CPU."""
    plan = _plan(job)
    return None if plan is None else plan.training


def plan_gpu(job: TrainingJob, emit: Emit) -> None:
    """On a GPU, before any model loads: the plan's line for the cycle's output and, with a budget
    set, this process's allocator capped at its share. Steps are sized within it (`step_size`)."""
    from tuner.gpu_budget import cap_process

    plan = _plan(job)
    if plan is None:
        return
    if job.gpu_budget_gib is not None:
        cap_process(plan.share(plan.training))
    emit({"event": "gpu_plan", **plan.describe()})


def train_and_evaluate(job: TrainingJob, emit: Emit) -> dict[str, Any]:
    """Train fresh weights into `job.adapter_dir`, score them and the baseline, write the result."""
    import torch
    from transformers import set_seed

    set_seed(job.seed)
    method = get_method(job.method)
    plan_gpu(job, emit)
    snapshot = Snapshot.load(Path(job.dataset_dir))
    emit({"event": "phase", "phase": "load", "train": len(snapshot.train), "heldout": len(snapshot.heldout)})
    replay: list[dict[str, Any]] = []
    if job.replay_prompts and method.trainer == "sft":
        # Answered by the base as it serves (full precision), loaded apart from the model that
        # trains: nothing generation leaves behind reaches training.
        replay = replay_rows(lambda: _load_base(job, quantize=False)[:2], job)
        gc.collect()
    rows = snapshot.train.to_list()
    if replay:
        emit({"event": "phase", "phase": "replay", "examples": len(replay)})
        rows += replay
    trained = train_until_finite(job, rows, emit)
    peak = torch.cuda.max_memory_allocated() if trained.cuda else None
    selection = None
    if trained.checkpoints:
        emit({"event": "phase", "phase": "select"})
        selection = select_checkpoint(
            trained.tokenizer, job, trained.checkpoints, lambda: _load_base(job, quantize=False)[0].eval()
        )
        emit({"event": "selected", **selection})

    emit({"event": "phase", "phase": "evaluate"})
    result = evaluate(
        trained.tokenizer,
        job,
        snapshot.heldout.to_list(),
        lambda: _load_base(job, quantize=False)[0].eval(),
    )
    output = trained.output
    result.update(
        {
            "train_loss": output.training_loss,
            "train_steps": output.global_step,
            "train_seconds": output.metrics.get("train_runtime"),
            "device": "cuda" if trained.cuda else "cpu",
            "compute_dtype": "bfloat16" if trained.cuda or cpu_bf16(job) else "float32",
            "peak_memory_bytes": peak,  # training's, on the GPU
            "step_size": {**trained.step.describe(), "epochs": trained.epochs},
            "learning_rate": trained.learning_rate,  # the one that trained, after any retries
            "divergence_retries": trained.retries,
            "optimizer": job.optimizer,
            "embeddings_on_cpu": trained.embeddings_on_cpu,
            "activation_offloading": offloads(job, get_method(job.method), trained.cuda),
            "compiled": trained.compiled,  # decoder layers (training.compile)
            "checkpoint": selection,  # epochs tried, their guard numbers, the one kept
            # The whole child process's resident peak (Linux reports KiB): CPU memory for the table.
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        }
    )
    tmp = Path(job.result_path + ".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(job.result_path)
    return result


def train_until_finite(job: TrainingJob, rows: list[dict[str, Any]], emit: Emit) -> Trained:
    """Train and save the weights; when the loss diverges, again from the start (fresh model, same
    seed) at half the learning rate, up to `job.divergence_retries` times."""
    tried: list[str] = []
    for retry in range(job.divergence_retries + 1):
        attempt = replace(job, learning_rate=job.learning_rate / 2**retry)
        try:
            return replace(train_once(attempt, rows, emit), retries=retry)
        except TrainingDiverged as exc:
            tried.append(str(exc))
        # Out of the except block: the traceback that held the failed attempt's model is gone.
        _free_memory()
        if retry < job.divergence_retries:
            emit({"event": "retry", "reason": tried[-1], "learning_rate": attempt.learning_rate / 2})
    raise TrainingFailed(
        f"{'; then '.join(tried)}; no adapter was saved (lower training.learning_rate in the policy)"
    )


def compiles(job: TrainingJob, method: Method, cuda: bool) -> bool:
    """Whether `training.compile` applies: on a GPU, for SFT methods with padding-free rows (what
    was measured, with qlora); soft prompts and preference trainers train eager."""
    return job.compile and cuda and method.trainer == "sft" and method.padding_free


def offloads(job: TrainingJob, method: Method, cuda: bool) -> bool:
    """Whether `training.activation_offloading` applies: on a GPU, for SFT methods (TRL's SFTConfig)."""
    return job.activation_offloading and cuda and method.trainer == "sft"


def train_once(job: TrainingJob, rows: list[dict[str, Any]], emit: Emit) -> Trained:
    """One training from a freshly loaded base at `job.learning_rate`; saves the weights."""
    from transformers import set_seed

    set_seed(job.seed)
    method = get_method(job.method)
    model, tokenizer, cuda = _load_base(job, method.quantize_4bit)
    # No KV cache in training: with one, transformers would not mask attention between the examples
    # of a padding-free batch (SFTTrainer also passes use_cache=False; this holds for every version).
    model.config.use_cache = False
    prepare_own_weights(method, model, job.base_model)
    # Only a 4-bit model stays where it was loaded: the Trainer moves any other onto the GPU whole.
    on_cpu = job.embeddings_on_cpu and method.quantize_4bit and keep_input_embeddings_on_cpu(model)
    dataset = sft_dataset(rows, tokenizer, job.max_length) if method.trainer == "sft" else None
    compiled = compiles(job, method, cuda)
    step = step_size(job, model, dataset)
    epochs = job.epochs if job.epochs is not None else choose_epochs(len(rows))
    emit(
        {
            "event": "phase",
            "phase": "sizing",
            "epochs": epochs,
            **step.describe(),
            "embeddings_on_cpu": on_cpu if job.embeddings_on_cpu else None,
            "compiled": compiled,
            "cpu_bf16": not cuda and cpu_bf16(job),
        }
    )
    common = training_arguments(job, Path(job.result_path).parent / "trainer", cuda, step.batch_size, epochs)
    trainer = build_trainer(method, model, tokenizer, job, rows, common, _progress_callback(emit), dataset)
    checkpoints: dict[int, str] = {}
    if (
        job.select_checkpoint
        and job.general_prompts
        and job.guard_limit is not None
        and method.weights == "peft"
    ):
        # Every epoch, the first too: where the guard fails from epoch 2 on, an early adapter that
        # holds it still beats the base model (saving and scoring one more costs little).
        scratch = Path(job.result_path).parent / "trainer"
        trainer.add_callback(_epoch_checkpoints(method.weights, scratch, math.ceil(epochs), checkpoints))
    if compiled:
        compile_decoder_layers(trainer.model)
    yielding = yield_to_the_bot(trainer.model, cuda)
    emit({"event": "phase", "phase": "train"})
    with training_attention(cuda):
        output = trainer.train()
    if yielding is not None:
        emit({"event": "yielded", "pauses": yielding.pauses, "seconds": round(yielding.paused, 2)})
    if not math.isfinite(output.training_loss):
        raise TrainingDiverged(
            f"training loss is {output.training_loss} (learning rate {job.learning_rate:g})"
        )
    save_weights(trainer.model, method.weights, job.adapter_dir)
    if checkpoints:
        checkpoints[math.ceil(epochs)] = job.adapter_dir
    del trainer, model  # evaluation loads the base as the live model serves it
    _free_memory()
    return Trained(
        output, tokenizer, cuda, step, epochs, job.learning_rate, on_cpu, compiled, checkpoints=checkpoints
    )


def _epoch_checkpoints(kind: str, scratch: Path, last: int, saved: dict[int, str]):  # type: ignore[no-untyped-def]
    """Saves the weights at the end of epochs 1..last-1 (the last one is the adapter itself)."""
    from transformers import TrainerCallback

    class SaveEpochs(TrainerCallback):
        def on_epoch_end(self, args, state, control, model=None, **kwargs):  # type: ignore[no-untyped-def]
            epoch = round(state.epoch or 0)
            if 1 <= epoch < last and model is not None:
                folder = scratch / f"epoch-{epoch}"
                save_weights(model, kind, folder)
                saved[epoch] = str(folder)

    return SaveEpochs()


def select_checkpoint(
    tokenizer: Any, job: TrainingJob, checkpoints: dict[int, str], load_base: Any
) -> dict[str, Any]:
    """Keep the latest epoch's weights whose regression guard holds (or the last, if none does: the
    gate refuses it). Chosen on the general prompts alone: the held-out examples stay unseen."""
    from tuner.regression import guard_increases

    increases = guard_increases(tokenizer, job, checkpoints, load_base)
    limit = job.guard_limit if job.guard_limit is not None else math.inf
    last = max(checkpoints)
    passing = [e for e in sorted(checkpoints) if math.isfinite(increases[e]) and increases[e] <= limit]
    chosen = max(passing) if passing else last
    if chosen != last:
        shutil.rmtree(job.adapter_dir)
        shutil.copytree(checkpoints[chosen], job.adapter_dir)
    return {"epochs": {str(e): increases[e] for e in sorted(increases)}, "kept": chosen, "of": last}


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
