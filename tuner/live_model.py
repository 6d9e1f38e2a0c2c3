"""The model that answers: the base model plus the live adapter, swapped without dropping requests."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tuner.chat_format import bounded_turns, chat_messages
from tuner.weights import check_weights, load_biases, loads_alongside, restore_biases, weights_kind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    text: str
    adapter_version: str  # "base" or "v3": exactly the weights that produced `text`


class AdapterError(RuntimeError):
    """An adapter folder cannot be loaded; the live model keeps serving what it served."""


def check_adapter(path: str) -> None:
    """Read the folder's config and every tensor, so a damaged one fails before any swap."""
    try:
        check_weights(path)
    except Exception as exc:
        raise AdapterError(f"adapter at {path} is unusable: {type(exc).__name__}: {exc}") from exc


class LiveModel:
    """Answers on the current adapter; `swap` waits for in-flight answers, then switches at once."""

    def __init__(self, base_model: str, *, max_new_tokens: int = 200, max_context_tokens: int | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        cuda = torch.cuda.is_available()
        self._device = "cuda" if cuda else "cpu"
        self._tokenizer: Any = AutoTokenizer.from_pretrained(base_model)
        self._dtype = torch.bfloat16 if cuda else torch.float32
        model: Any = AutoModelForCausalLM.from_pretrained(base_model, dtype=self._dtype)
        self._base: Any = model.to(self._device).eval()
        self._model: Any = self._base  # what answers: the base, a peft wrapper of it, or a full model
        self._peft: Any = None
        self._biases: dict[str, Any] | None = None  # the base's own biases while a bitfit one serves
        self._lock = threading.Lock()
        self.version = "base"
        self.max_new_tokens = max_new_tokens
        # Thread context: what fits the model's window next to the answer (and the template's tokens).
        window = min(int(getattr(model.config, "max_position_embeddings", 2048)), 8192)
        self.max_context_tokens = max_context_tokens or max(256, window - max_new_tokens - 64)

    def generate(
        self,
        turns: list[dict[str, str]],
        max_new_tokens: int | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Answer:
        """The answer to the chat so far; `on_text` gets the text generated so far, word by word."""
        import torch

        tokenizer = self._tokenizer
        bounded = bounded_turns(
            turns,
            self.max_context_tokens,
            lambda text: tokenizer.encode(text, add_special_tokens=False),
            lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
        )
        messages = chat_messages(bounded)
        inputs = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self._device)
        streamer = _text_so_far(self._tokenizer, on_text) if on_text is not None else None
        with self._lock, torch.inference_mode():
            output = self._model.generate(
                **inputs,
                max_new_tokens=max_new_tokens or self.max_new_tokens,
                do_sample=False,
                repetition_penalty=1.1,
                pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
                streamer=streamer,
            )
            version = self.version
        new_tokens = output[0][inputs["input_ids"].shape[1] :]
        return Answer(self._tokenizer.decode(new_tokens, skip_special_tokens=True).strip(), version)

    def swap(self, adapter_path: str | None, version: str) -> None:
        """Serve `adapter_path` as `version` (None: the base model). Raises if it cannot load."""
        if version == self.version:
            return
        kind, full_model = None, None
        if adapter_path is not None:
            check_adapter(adapter_path)  # before touching the model that is serving
            kind = weights_kind(adapter_path)
            if kind == "full":  # loaded before taking the lock: answers go on meanwhile
                full_model = self._load_full(adapter_path)
        with self._lock:
            old = self.version
            if version == old:  # another thread (e.g. the registry follower) got here first
                return
            if adapter_path is None:
                self._to_base()
            elif kind == "full":
                self._to_base()
                self._model = full_model
            elif kind == "bitfit":
                self._to_base()
                self._biases = load_biases(self._base, adapter_path)
            elif self._peft is not None and loads_alongside(self._peft.peft_config.get(old), adapter_path):
                self._peft.load_adapter(adapter_path, adapter_name=version)
                self._peft.set_adapter(version)
                if old in self._peft.peft_config:
                    self._peft.delete_adapter(old)
            else:
                from peft import PeftModel

                self._to_base()
                self._peft = PeftModel.from_pretrained(self._base, adapter_path, adapter_name=version)
                self._model = self._peft
            self._model.eval()
            self.version = version
        log.info("live model now serves %s (was %s)", version, old)

    def _to_base(self) -> None:
        if self._peft is not None:
            if self._peft.peft_config[self._peft.active_adapter].is_prompt_learning:
                self._peft.get_base_model()  # soft prompts never touched the base's modules
            else:
                self._peft.unload()  # takes the injected layers out of the base's modules
            self._peft = None
        if self._biases is not None:
            restore_biases(self._base, self._biases)
            self._biases = None
        self._model = self._base

    def _load_full(self, path: str) -> Any:
        from transformers import AutoModelForCausalLM

        try:
            model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=self._dtype)
        except Exception as exc:
            raise AdapterError(f"model at {path} is unusable: {type(exc).__name__}: {exc}") from exc
        return model.to(self._device).eval()


def _text_so_far(tokenizer: Any, on_text: Callable[[str], None]) -> Any:
    """A transformers streamer handing the whole text generated so far to `on_text`, token by token."""
    from transformers.generation.streamers import BaseStreamer

    class TextSoFar(BaseStreamer):
        def __init__(self) -> None:
            self.prompt_seen = False
            self.ids: list[int] = []
            self.text = ""

        def put(self, value: Any) -> None:
            if not self.prompt_seen:  # generate() first hands over the prompt
                self.prompt_seen = True
                return
            self.ids.extend(int(t) for t in value.reshape(-1).tolist())
            text = tokenizer.decode(self.ids, skip_special_tokens=True).rstrip("\ufffd").strip()
            if text and text != self.text:  # a token cut mid-character decodes to U+FFFD: wait
                self.text = text
                on_text(text)

        def end(self) -> None:
            pass

    return TextSoFar()
