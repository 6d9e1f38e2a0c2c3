"""The engine client against vLLM's protocol as vLLM speaks it, over real HTTP: a local server that
answers with the bodies, status codes and stream framing of vLLM's OpenAI-compatible server with
runtime LoRA (vllm/entrypoints/openai/models/serving.py: /v1/models, /v1/load_lora_adapter,
/v1/unload_lora_adapter and their messages; chat completions streamed as chat.completion.chunk
events, a usage chunk with no choices when `stream_options.include_usage`, `data: [DONE]`; errors
in both of vLLM's shapes, the flat {"object": "error", ...} of older releases and OpenAI's
{"error": {...}} of newer ones; a LoRA refused at load as vllm/lora/peft_helper.py words it).

vLLM itself needs a GPU and does not run here: these are its documented answers replayed, not
vLLM; tests/bot/test_engine.py runs the same client against a real `tunebot engine` process.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tuner.engine_client import EngineModel, EngineUnavailable

BASE = "meta-llama/Llama-3.1-8B-Instruct"
QUESTION = [{"role": "user", "content": "Which port does billing use?"}]
FAILED = "The engine's scheduler failed."


class VllmReplay:
    """What a `vllm serve BASE --enable-lora` with VLLM_ALLOW_RUNTIME_LORA_UPDATING answers."""

    def __init__(self, nested_errors: bool) -> None:
        self.nested_errors = nested_errors  # OpenAI's {"error": {...}} (newer vLLM), else flat
        self.loaded: dict[str, str] = {}  # lora_name -> lora_path
        self.refuse: str | None = None  # a load refused by the engine (peft_helper's message)
        self.fail_mid_stream = False
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> VllmReplay:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def error(self, message: str, err_type: str, code: int, param: str | None = None) -> dict[str, Any]:
        info = {"message": message, "type": err_type, "param": param, "code": code}
        return {"error": info} if self.nested_errors else {"object": "error", **info}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/v1/models":
                    return self._json(404, {"detail": "Not Found"})  # FastAPI's own 404
                created = int(time.time())
                permission = [{"id": "modelperm-0", "object": "model_permission", "created": created}]
                cards = [
                    {
                        "id": BASE,
                        "object": "model",
                        "created": created,
                        "owned_by": "vllm",
                        "root": BASE,
                        "parent": None,
                        "max_model_len": 8192,
                        "permission": permission,
                    }
                ]
                cards += [
                    {
                        "id": name,
                        "object": "model",
                        "created": created,
                        "owned_by": "vllm",
                        "root": path,
                        "parent": BASE,
                        "max_model_len": None,
                        "permission": permission,
                    }
                    for name, path in replay.loaded.items()
                ]
                self._json(200, {"object": "list", "data": cards})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                replay.requests.append((self.path, body))
                if self.path == "/v1/load_lora_adapter":
                    return self._load(body)
                if self.path == "/v1/unload_lora_adapter":
                    return self._unload(body)
                if self.path == "/v1/chat/completions":
                    return self._chat(body)
                self._json(404, {"detail": "Not Found"})

            def _load(self, body: dict[str, Any]) -> None:
                name, path = body.get("lora_name"), body.get("lora_path")
                if not name or not path:
                    message = "Both 'lora_name' and 'lora_path' must be provided."
                    return self._json(400, replay.error(message, "InvalidUserInput", 400))
                if name in replay.loaded:
                    message = (
                        f"The lora adapter '{name}' has already been loaded. If you want to load the "
                        "adapter in place, set 'load_inplace' to True."
                    )
                    return self._json(400, replay.error(message, "InvalidUserInput", 400))
                if replay.refuse:
                    return self._json(500, replay.error(replay.refuse, "InternalServerError", 500))
                replay.loaded[name] = path
                self._text(200, f"Success: LoRA adapter '{name}' added successfully.")

            def _unload(self, body: dict[str, Any]) -> None:
                name = body.get("lora_name")
                if name not in replay.loaded:
                    message = f"The lora adapter '{name}' cannot be found."
                    return self._json(404, replay.error(message, "NotFoundError", 404))
                del replay.loaded[name]
                self._text(200, f"Success: LoRA adapter '{name}' removed successfully.")

            def _chat(self, body: dict[str, Any]) -> None:
                model = body["model"]
                if model != BASE and model not in replay.loaded:
                    message = f"The model `{model}` does not exist."
                    return self._json(404, replay.error(message, "NotFoundError", 404, "model"))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.end_headers()
                base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": model}
                pieces = ["Billing", " uses", f" port 8443 ({model})."]
                chunks: list[dict[str, Any]] = [
                    {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
                ]
                for n, piece in enumerate(pieces):
                    if replay.fail_mid_stream and n == 1:
                        chunks.append(replay.error(FAILED, "InternalServerError", 500))
                        break
                    delta = {"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}
                    chunks.append({**base, "choices": [delta]})
                else:
                    done = {
                        "index": 0,
                        "delta": {"content": ""},
                        "finish_reason": "stop",
                        "stop_reason": None,
                    }
                    chunks.append({**base, "choices": [done]})
                    if (body.get("stream_options") or {}).get("include_usage"):
                        usage = {"prompt_tokens": 12, "total_tokens": 18, "completion_tokens": 6}
                        chunks.append({**base, "choices": [], "usage": usage})
                for chunk in chunks:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")

            def _json(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _text(self, status: int, text: str) -> None:
                raw = text.encode()  # Response(status_code=200, content=response): no media type
                self.send_response(status)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        return Handler


@pytest.fixture(params=[False, True], ids=["flat-errors", "nested-errors"])
def vllm(request: pytest.FixtureRequest) -> Iterator[VllmReplay]:
    replay = VllmReplay(nested_errors=request.param).start()
    yield replay
    replay.stop()


def test_streams_goes_live_and_rolls_back_as_vllm_expects(vllm: VllmReplay) -> None:
    client = EngineModel(vllm.url, max_new_tokens=64)
    assert client.base_name == BASE  # vLLM lists the base model first
    shown: list[str] = []
    answer = client.generate(QUESTION, on_text=shown.append)
    assert (answer.text, answer.adapter_version, answer.tokens) == (
        f"Billing uses port 8443 ({BASE}).",
        "base",
        6,
    )
    assert shown == ["Billing", "Billing uses", answer.text]
    path, body = vllm.requests[-1]
    assert path == "/v1/chat/completions" and body["model"] == BASE and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True} and body["max_tokens"] == 64
    assert body["temperature"] == 0.0 and body["messages"][-1] == QUESTION[-1]

    client.swap("/data/adapters/run-1", "v1")  # a new name, then requests name it
    client.swap("/data/adapters/run-2", "v2")  # loaded beside v1, then v1 unloaded
    assert vllm.loaded == {"tunebot-v2": "/data/adapters/run-2"}
    assert [(p, b.get("lora_name")) for p, b in vllm.requests[1:]] == [
        ("/v1/load_lora_adapter", "tunebot-v1"),
        ("/v1/load_lora_adapter", "tunebot-v2"),
        ("/v1/unload_lora_adapter", "tunebot-v1"),
    ]
    assert client.generate(QUESTION).text.endswith("(tunebot-v2).")
    # A second replica going live on the same version: vLLM says it is loaded already; not an error.
    EngineModel(vllm.url, BASE).swap("/data/adapters/run-2", "v2")
    client.swap(None, "base")  # a rollback to the base: the adapter is unloaded
    assert vllm.loaded == {} and client.generate(QUESTION).text.endswith(f"({BASE}).")


def test_a_restarted_vllm_gets_the_live_adapter_again(vllm: VllmReplay) -> None:
    client = EngineModel(vllm.url, BASE)
    client.swap("/data/adapters/run-3", "v3")
    vllm.loaded.clear()  # vLLM restarted: it answers 404 "The model `tunebot-v3` does not exist."
    answer = client.generate(QUESTION)
    assert answer.text.endswith("(tunebot-v3).") and answer.adapter_version == "v3"
    assert vllm.loaded == {"tunebot-v3": "/data/adapters/run-3"}


def test_vllms_refusals_and_failures_are_said_in_its_words(vllm: VllmReplay) -> None:
    client = EngineModel(vllm.url, BASE)
    vllm.refuse = "LoRA rank 32 is greater than max_lora_rank 16."
    with pytest.raises(EngineUnavailable, match=re.escape(vllm.refuse) + "$"):
        client.swap("/data/adapters/run-4", "v4")
    assert client.version == "base" and vllm.loaded == {}  # still serving what it served
    vllm.fail_mid_stream = True
    with pytest.raises(EngineUnavailable, match=re.escape(f"the engine failed the answer: {FAILED}")):
        client.generate(QUESTION)
