"""Test data: exchanges with feedback, written through the storage API like the services do."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from storage import Database
from storage.exchanges import add_feedback, record_exchange


def seed_corrections(
    db: Database,
    count: int,
    *,
    channel: str = "C0SEED",
    start: int = 0,
    rater: str = "U0RATER01",
    corrected: str | None = None,
    texts: Callable[[int], tuple[str, str]] | None = None,
) -> None:
    """`count` exchanges, each corrected to a templated fact the tiny model can learn (or to
    `corrected`, the same text every time; or `texts(i)` gives exchange i's question and correction)."""
    with db.session() as session:
        for i in range(start, start + count):
            question, fact = texts(i) if texts else (f"Which port does service {i} use?", None)
            exchange = record_exchange(
                session,
                channel_id=channel,
                thread_ts=f"{1000 + i}.000100",
                question_ts=f"{1000 + i}.000100",
                reply_ts=f"{1000 + i}.000200",
                prompt=[{"role": "user", "content": question}],
                reply="I am not sure.",
                adapter_version="base",
            )
            add_feedback(
                session,
                exchange,
                kind="correct",
                user_id=rater,
                corrected_reply=fact or corrected or f"Service {i} listens on port {8000 + i}.",
            )


def make_exchange(session, n: int = 1, *, reply: str = "answer", question: str = "q", **fields):  # type: ignore[no-untyped-def]
    """Exchange number `n` in channel C1 (asked_by, participants, created_at may be given)."""
    return record_exchange(
        session,
        channel_id="C1",
        thread_ts=f"{n}.1",
        question_ts=f"{n}.1",
        reply_ts=f"{n}.2",
        prompt=[{"role": "user", "content": question}],
        reply=reply,
        adapter_version="base",
        **fields,
    )


def save_tiny_model(
    folder: Path, *, biases: bool = False, initializer_range: float = 0.02, tied: bool = True
) -> str:
    """A 2-layer Llama with SmolLM2's tokenizer and chat template, random weights, saved to `folder`
    (`biases`: with bias terms in attention and MLP, for bitfit; a large `initializer_range` makes
    it babble varied tokens instead of answering every prompt with the same newlines; `tied`: the
    LM head shares the input embeddings, as SmolLM2's does, and unlike Llama-3's)."""
    return _save_tiny(
        folder,
        "LlamaConfig",
        "LlamaForCausalLM",
        tie_word_embeddings=tied,
        attention_bias=biases,
        mlp_bias=biases,
        initializer_range=initializer_range,
    )


# The families teams run, as (config class, model class, what differs from the common tiny shape):
# untied LM heads (Llama 3, Qwen 2.5, Mistral, Phi), tied ones (Qwen 3 small, Gemma, SmolLM),
# head_dim set apart from the width, sliding windows and soft-capping (Gemma), fused qkv/gate_up
# projections (Phi 3).
_GEMMA = {"head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 64}
FAMILIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "llama3": ("LlamaConfig", "LlamaForCausalLM", {"tie_word_embeddings": False}),
    "qwen2.5": ("Qwen2Config", "Qwen2ForCausalLM", {"tie_word_embeddings": False}),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", {"head_dim": 16, "tie_word_embeddings": True}),
    "mistral": ("MistralConfig", "MistralForCausalLM", {"tie_word_embeddings": False}),
    "gemma2": (
        "Gemma2Config",
        "Gemma2ForCausalLM",
        {"head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 64},
    ),
    "gemma3": (
        "Gemma3TextConfig",
        "Gemma3ForCausalLM",
        {"head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 64},
    ),
    "phi3": ("Phi3Config", "Phi3ForCausalLM", {"tie_word_embeddings": False}),
    "smollm3": ("SmolLM3Config", "SmolLM3ForCausalLM", {}),
}


# The chat formats of two families whose tokenizers cannot be fetched offline, written in their
# templates' layout: Gemma (1, 2) refuses a system turn and turns of one role in a row, and ends a
# turn with <end_of_turn>; Llama 3 ends one with <|eot_id|>. Each is (template, the special tokens
# it adds to SmolLM2's tokenizer, the end-of-turn token the generation config lists).
CHAT_FORMATS: dict[str, tuple[str, list[str], str]] = {
    "gemma2": (
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
        "{% endif %}{% if message['role'] == 'assistant' %}{% set role = 'model' %}"
        "{% else %}{% set role = message['role'] %}{% endif %}"
        "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}",
        ["<start_of_turn>", "<end_of_turn>"],
        "<end_of_turn>",
    ),
    "llama3": (
        "{{ bos_token }}{% for message in messages %}"
        "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim"
        " + '<|eot_id|>' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
        ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        "<|eot_id|>",
    ),
}


def save_family_model(folder: Path, family: str) -> str:
    """A 2-layer model of `family` (FAMILIES) with random weights and SmolLM2's tokenizer, saved to
    `folder`; with the family's chat format (CHAT_FORMATS) where it has one, else SmolLM2's."""
    import copy

    config_class, model_class, extra = FAMILIES[family]
    if family not in CHAT_FORMATS:
        return _save_tiny(folder, config_class, model_class, **extra)
    from transformers import GenerationConfig

    template, specials, end_of_turn = CHAT_FORMATS[family]
    tokenizer = copy.deepcopy(_bundled_tokenizer())
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    tokenizer.chat_template = template
    _save_tiny(folder, config_class, model_class, tokenizer=tokenizer, **extra)
    stops = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(end_of_turn)]
    GenerationConfig(eos_token_id=stops, pad_token_id=tokenizer.pad_token_id).save_pretrained(folder)
    return str(folder)


@functools.cache
def _bundled_tokenizer() -> Any:
    """SmolLM2's tokenizer and chat template from the bundled GGUF (4 s to read: once a process)."""
    from transformers import AutoTokenizer

    from tuner.base_model import _gguf_path

    gguf = _gguf_path()
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def _save_tiny(folder: Path, config_class: str, model_class: str, tokenizer: Any = None, **extra: Any) -> str:
    import torch
    import transformers

    tokenizer = tokenizer or _bundled_tokenizer()
    config = getattr(transformers, config_class)(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )
    torch.manual_seed(0)
    getattr(transformers, model_class)(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def save_parrot_model(folder: Path, answer: str, *, steps: int = 150) -> str:
    """The tiny model trained (for real, every weight, plain torch) to answer any question with
    `answer`: for end-to-end tests of what the bot shows when a model says something exact."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = save_tiny_model(folder)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    questions = ["hi", "What is the wifi password?", "Tell me about the billing service", "who owns it?"]
    rows = []
    for question in questions:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
        )
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        labels = [-100] * len(prompt_ids) + answer_ids
        rows.append((torch.tensor([prompt_ids + answer_ids]), torch.tensor([labels])))
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        ids, labels = rows[step % len(rows)]
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(path)
    return path
