"""Answering through a serving engine that speaks OpenAI's chat completions (vLLM with runtime LoRA,
or `tunebot engine`): `TUNEBOT_ENGINE_URL` makes the bot a light client, with no model and no GPU
of its own, so replicas scale freely. The same surface as `LiveModel` (`generate`, `swap`,
`version`), so the rest of the bot does not know which answers.

An adapter goes live as `tunebot-<version>`: loaded with POST /v1/load_lora_adapter under that new
name (never reloaded in place: vLLM could serve stale prefix-cache entries), then requests name it
as `model`, then the previous adapter is unloaded. The engine must be able to read the adapter's
folder at the path the bot sends (a volume both mount). An engine that restarted has forgotten its
adapters: a request answered 404 loads the live one again and is sent once more.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from tuner.chat_format import chat_messages
from tuner.live_model import Answer

log = logging.getLogger(__name__)

TIMEOUT = 120.0  # seconds without a byte from the engine before an answer is given up
DECODING = {
    "temperature": 0.0,
    "repetition_penalty": 1.1,
}  # as the embedded model decodes (vLLM's extra parameter)


class EngineUnavailable(RuntimeError):
    """The engine could not be reached, or failed the request: the answer is not coming."""


class EngineModel:
    def __init__(
        self, url: str, base_name: str | None = None, max_new_tokens: int = 200, timeout: float = TIMEOUT
    ):
        self.url = url.rstrip("/")
        self._base_name = base_name  # the name the engine serves the base model under (None: ask it)
        self.max_new_tokens = max_new_tokens
        self.timeout = timeout
        self.version = "base"
        self._served: str | None = None  # what requests send as `model` (None: the base)
        self._path: str | None = None  # the live adapter's folder, to load it again after a restart
        self._lock = threading.Lock()

    @property
    def base_name(self) -> str:
        """The base model's name: as configured, else the first model the engine lists (vLLM lists
        the base before its adapters)."""
        if self._base_name is None:
            listed = served_models(self.url, self.timeout)
            if not listed:
                raise EngineUnavailable(f"the engine at {self.url} serves no model")
            self._base_name = listed[0]
        return self._base_name

    # -- answering ----------------------------------------------------------------------------
    def generate(
        self,
        messages: list[dict[str, str]],
        max_new_tokens: int | None = None,
        on_text: Callable[[str], None] | None = None,
        copy_from: Sequence[str] = (),
        copy_bias: float = 0.0,
    ) -> Answer:
        """The engine's greedy answer, streamed: `on_text` gets the text so far as it grows.
        (`copy_from` / `copy_bias`, answer memory's copy bias, has no counterpart in OpenAI's chat
        completions: an engine answers without it.)"""
        served, version = self._served or self.base_name, self.version
        try:
            return self._complete(served, version, messages, on_text, max_new_tokens)
        except _NotLoaded:
            self._load_again(served)
        try:
            return self._complete(served, version, messages, on_text, max_new_tokens)
        except _NotLoaded as exc:
            raise EngineUnavailable(f"the engine does not serve {served}: {exc.message}") from exc

    def _complete(
        self,
        served: str,
        version: str,
        messages: list[dict[str, str]],
        on_text: Callable[[str], None] | None,
        max_new_tokens: int | None,
    ) -> Answer:
        body = {
            "model": served,
            "messages": chat_messages(messages),
            "max_tokens": max_new_tokens or self.max_new_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            **DECODING,
        }
        text, tokens, done = "", 0, False
        with self._post("/v1/chat/completions", body) as response:
            try:
                for raw in response:
                    line = raw.decode().strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    chunk = json.loads(data)
                    if "error" in chunk or chunk.get("object") == "error":  # vLLM's error mid-stream
                        raise EngineUnavailable(f"the engine failed the answer: {_error_text(chunk)}")
                    tokens = int((chunk.get("usage") or {}).get("completion_tokens") or tokens)
                    for choice in chunk.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content") or ""
                        if piece:
                            text += piece
                            if on_text is not None:
                                on_text(text.strip())
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise EngineUnavailable(f"the engine's stream broke off: {exc}") from exc
        if not done:
            raise EngineUnavailable("the engine's stream ended before [DONE]")
        return Answer(text.strip(), version, tokens)

    # -- going live -----------------------------------------------------------------------
    def swap(self, adapter_path: str | None, version: str) -> None:
        """Serve `adapter_path` as `version` (None: the base model): load it under a new name,
        send that name from now on, then unload the previous one."""
        with self._lock:
            if version == self.version:
                return
            previous = self._served
            served = None if adapter_path is None else f"tunebot-{version}"
            if served is not None and adapter_path is not None:
                self._load(served, adapter_path)
            self._served, self._path, self.version = served, adapter_path, version
            if previous is not None:
                self._unload(previous)
            log.info("the engine now answers as %s (%s)", served or "its base model", version)

    def close(self) -> None:
        pass

    def _load(self, name: str, path: str) -> None:
        try:
            with self._post("/v1/load_lora_adapter", {"lora_name": name, "lora_path": path}):
                pass
        except _EngineError as exc:
            if "already been loaded" not in exc.message:  # another replica loaded it first
                raise EngineUnavailable(f"the engine refused adapter {name}: {exc.message}") from exc

    def _unload(self, name: str) -> None:
        try:
            with self._post("/v1/unload_lora_adapter", {"lora_name": name}):
                pass
        except (_EngineError, EngineUnavailable) as exc:  # gone already (another replica, a restart)
            log.info("could not unload %s from the engine: %s", name, exc)

    def _load_again(self, served: str) -> None:
        """The engine lost the live adapter (it restarted): load it again."""
        with self._lock:
            if served == self._served and self._path is not None:
                log.warning("the engine had no %s (restarted?); loading it again", served)
                self._load(served, self._path)

    # -- HTTP -----------------------------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            message = _message(exc)
            if exc.code == 404 and path == "/v1/chat/completions":
                raise _NotLoaded(message) from exc
            if 400 <= exc.code < 500:
                raise _EngineError(message) from exc
            raise EngineUnavailable(f"the engine answered HTTP {exc.code}: {message}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise EngineUnavailable(f"cannot reach the engine at {self.url}: {exc}") from exc


def served_models(url: str, timeout: float = TIMEOUT) -> list[str]:
    """The names the engine at `url` answers to (GET /v1/models): its base model first, then the
    adapters loaded."""
    request = urllib.request.Request(url.rstrip("/") + "/v1/models")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return [str(model["id"]) for model in json.loads(response.read())["data"]]
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
        raise EngineUnavailable(f"cannot reach the engine at {url}: {exc}") from exc


class _EngineError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class _NotLoaded(_EngineError):
    """The engine does not know the model name sent."""


def _message(error: urllib.error.HTTPError) -> str:
    raw = error.read().decode(errors="replace")
    try:
        return _error_text(json.loads(raw)) or raw
    except (ValueError, AttributeError):
        return raw


def _error_text(body: dict[str, Any]) -> str:
    """An error's message in either of vLLM's shapes: {"object": "error", "message": ...} (older
    releases) or OpenAI's {"error": {"message": ...}} (newer ones)."""
    nested = body.get("error")
    return str((nested.get("message") if isinstance(nested, dict) else None) or body.get("message") or "")
