"""The TRL trainer for each method: SFT (loss on the reply only), KTO or DPO, and its peft config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuner.chat_format import fit_template
from tuner.evaluation import reply_token_ids
from tuner.methods import Method
from tuner.weights import bias_parameters

SOFT_PROMPT_INIT = "Answer the team's questions about their company, tools and processes briefly."


def training_attention(cuda: bool) -> Any:
    """The scaled-dot-product attention kernels training may use: on a GPU, not cuDNN's. cuDNN
    builds an execution plan for every new sequence length (about 11 ms a layer call, measured on
    an H200), and padding-free rows give nearly every step a new length: at 8 examples a step the
    planning took more than half of each step. PyTorch's flash and memory-efficient kernels need no plan."""
    from contextlib import nullcontext

    if not cuda:
        return nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def compile_decoder_layers(model: Any) -> int:
    """torch.compile each decoder layer in place (its LoRA layers inside), with dynamic shapes: the
    layers share the same graphs whatever a step's length, and a step launches about a third as many
    kernels (measured on an H200: 8 examples a step spent most of its time launching them). A
    layer dynamo cannot compile runs as it is. Returns how many layers were compiled."""
    import torch
    from transformers.modeling_layers import GradientCheckpointingLayer

    torch._dynamo.config.suppress_errors = True  # a failed compile falls back to eager, logged
    layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    for layer in layers:
        layer.compile(dynamic=True)
    return len(layers)


class MethodUnsuitable(ValueError):
    """The method cannot train on this model or this data; the message says what to change."""


def peft_config(method: Method, job: Any) -> Any:
    """The peft config the method trains (None: bitfit and full train the model's own weights)."""
    from peft import IA3Config, LoraConfig, PrefixTuningConfig, PromptTuningConfig, PromptTuningInit

    lora = job.lora
    if method.name in ("qlora", "lora", "dora", "kto", "dpo"):
        return LoraConfig(
            r=lora.get("r", 16),
            lora_alpha=lora.get("alpha", 32),
            lora_dropout=lora.get("dropout", 0.05),
            target_modules=lora.get("target_modules", "all-linear"),
            use_dora=method.name == "dora",
            task_type="CAUSAL_LM",
        )
    if method.name == "ia3":
        return IA3Config(task_type="CAUSAL_LM")  # peft's per-architecture target modules
    if method.name == "prompt_tuning":
        return PromptTuningConfig(
            task_type="CAUSAL_LM",
            num_virtual_tokens=job.virtual_tokens,
            prompt_tuning_init=PromptTuningInit.TEXT,
            prompt_tuning_init_text=SOFT_PROMPT_INIT,
            tokenizer_name_or_path=job.base_model,
        )
    if method.name == "prefix_tuning":
        return PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=job.virtual_tokens)
    return None


def prepare_own_weights(method: Method, model: Any, base_model: str) -> None:
    """bitfit: only the bias terms train (refused on a model without any); full: everything."""
    if method.weights != "bitfit":
        return
    biases = bias_parameters(model)
    if not biases:
        raise MethodUnsuitable(
            f"bitfit trains a model's bias terms and {Path(base_model).name} has none (Llama-family "
            "models such as SmolLM2 are built without biases); choose another training.method, e.g. lora"
        )
    for name, param in model.named_parameters():
        param.requires_grad = name in biases


def sft_dataset(rows: Any, tokenizer: Any, max_length: int) -> Any:
    """input_ids + completion_mask per example, laid out exactly as the held-out scoring reads them."""
    from datasets import Dataset

    out = []
    for row in rows:
        ids, n_prompt = reply_token_ids(tokenizer, row["prompt"], row["completion"], max_length)
        if len(ids) > n_prompt:  # a reply cut off entirely by max_length teaches nothing
            out.append({"input_ids": ids, "completion_mask": [0] * n_prompt + [1] * (len(ids) - n_prompt)})
    return Dataset.from_list(out)


def preference_dataset(rows: Any, kind: str, tokenizer: Any) -> Any:
    """KTO: every target is desirable, the answer a correction replaced is undesirable.
    DPO: the correction is preferred over the answer it replaced (corrected examples only).
    Prompts as the model's chat template takes them (TRL renders them)."""
    from datasets import Dataset

    rows = [{**row, "prompt": fit_template(tokenizer, row["prompt"])} for row in rows]

    corrected = [row for row in rows if row.get("rejected")]
    if not corrected:
        raise MethodUnsuitable(
            f"{kind} learns from corrected answers (the correction against the answer it replaced) "
            "and this dataset has none; use sft methods such as qlora until corrections arrive"
        )
    if kind == "dpo":
        return Dataset.from_list(
            [{"prompt": r["prompt"], "chosen": r["completion"], "rejected": r["rejected"]} for r in corrected]
        )
    desirable = [{"prompt": r["prompt"], "completion": r["completion"], "label": True} for r in rows]
    undesirable = [{"prompt": r["prompt"], "completion": r["rejected"], "label": False} for r in corrected]
    return Dataset.from_list(desirable + undesirable).shuffle(seed=0)


def kto_weights(labels: list[bool]) -> dict[str, Any]:
    """Loss weights that balance desirable and undesirable examples the way the KTO paper (and TRL's
    warning) asks: desirable_weight x #desirable / (undesirable_weight x #undesirable) in [1, 4/3]."""
    desirable, undesirable = sum(labels), len(labels) - sum(labels)
    ratio = desirable / undesirable
    if ratio > 4 / 3:
        return {"desirable_weight": 1.15 / ratio}
    if ratio < 1:
        return {"undesirable_weight": ratio / 1.15}
    return {}


def build_trainer(
    method: Method,
    model: Any,
    tokenizer: Any,
    job: Any,
    rows: Any,
    common: dict[str, Any],
    callback: Any,
    dataset: Any = None,
) -> Any:
    """The configured TRL trainer; `common` holds the TrainingArguments every method shares.
    `dataset`: the sft examples already tokenized by `sft_dataset` (else built from `rows`)."""
    config = peft_config(method, job)
    if method.trainer == "sft":
        from trl import SFTConfig, SFTTrainer

        args = SFTConfig(
            **common,
            max_length=None,  # examples are truncated to job.max_length when tokenized
            completion_only_loss=True,
            # Chat examples vary in length: a batch is one row of its examples back to back,
            # position ids restarting at each, instead of rows padded to the longest (transformers
            # masks attention across examples). Soft prompts need one example per row.
            padding_free=method.padding_free,
            # TRL's offloading streams need an accelerator; on a CPU there is nowhere to offload from.
            activation_offloading=job.activation_offloading and not common["use_cpu"],
        )
        if dataset is None:
            dataset = sft_dataset(rows, tokenizer, job.max_length)
        return SFTTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=config,
            callbacks=[callback],
        )
    if method.trainer == "kto":
        from trl import KTOConfig, KTOTrainer

        dataset = preference_dataset(rows, "kto", tokenizer)
        return KTOTrainer(
            model=model,
            args=KTOConfig(**common, max_length=job.max_length, **kto_weights(dataset["label"])),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=config,
            callbacks=[callback],
        )
    from trl import DPOConfig, DPOTrainer

    return DPOTrainer(
        model=model,
        args=DPOConfig(**common, max_length=job.max_length),
        train_dataset=preference_dataset(rows, "dpo", tokenizer),
        processing_class=tokenizer,
        peft_config=config,
        callbacks=[callback],
    )
