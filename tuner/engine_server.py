"""`tunebot engine`: the live model behind the OpenAI-compatible endpoints vLLM serves, so that bot
replicas answer through it over HTTP (`TUNEBOT_ENGINE_URL`, tuner/engine_client.py) as they would
through vLLM.

    GET  /v1/models                 the base model's name and the adapters loaded
    POST /v1/chat/completions       greedy answers, streamed as server-sent events when asked
    POST /v1/load_lora_adapter      {"lora_name", "lora_path"}: a folder this process can read
    POST /v1/unload_lora_adapter    {"lora_name"}
    GET  /health

Errors have vLLM's shape ({"object": "error", "message", "type", "code"}). Adapters are read from a
path the engine can reach (a shared volume: the bot's data dir), as vLLM reads them. One model
serves one version at a time (adapters are merged into the weights): a request for another
loaded adapter swaps it in once the answers in flight are done, as `LiveModel.swap` does.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from tuner.live_model import AdapterError, Answer, LiveModel, check_adapter


def error(message: str, kind: str, code: int) -> JSONResponse:
    body = {"object": "error", "message": message, "type": kind, "param": None, "code": code}
    return JSONResponse(body, status_code=code)


class Engine:
    """The model and the adapters loaded (name -> folder)."""

    def __init__(self, model: LiveModel, name: str):
        self.model = model
        self.name = name
        self.adapters: dict[str, str] = {}
        self._serving = threading.Lock()  # one version at a time: a swap waits for its turn

    def models(self) -> list[str]:
        return [self.name, *self.adapters]

    def answer(
        self, model_name: str, messages: list[dict[str, str]], max_tokens: int | None, on_text: Any
    ) -> Answer:
        """Answer on `model_name` (the base or a loaded adapter), swapping it in if another serves.
        A request for another version may swap before this one's turn comes: then it goes again."""
        while True:
            version = model_name if model_name in self.adapters else "base"
            with self._serving:
                if version != self.model.version:
                    self.model.swap(self.adapters.get(model_name), version)
            # The version serving cannot change while an answer is made: text from another is dropped.
            shown = (
                None if on_text is None else lambda text, v=version: self.model.version == v and on_text(text)
            )
            answer = self.model.generate(messages, on_text=shown, max_new_tokens=max_tokens)
            if answer.adapter_version == version or model_name not in self.models():
                return answer


def build_engine_app(model: LiveModel, name: str) -> Starlette:
    engine = Engine(model, name)

    async def models(_request: Request) -> Response:
        created = int(time.time())
        data = [
            {"id": m, "object": "model", "created": created, "owned_by": "tunebot"} for m in engine.models()
        ]
        return JSONResponse({"object": "list", "data": data})

    async def load(request: Request) -> Response:
        body = await _json(request)
        name, path = body.get("lora_name"), body.get("lora_path")
        if not isinstance(name, str) or not isinstance(path, str) or not name or not path:
            return error("lora_name and lora_path are required.", "BadRequestError", 400)
        if name in engine.adapters or name == engine.name:
            return error(f"The lora adapter '{name}' has already been loaded.", "InvalidUserInput", 400)
        try:
            await run_in_threadpool(check_adapter, path)
        except AdapterError as exc:
            return error(str(exc), "BadRequestError", 400)
        engine.adapters[name] = path
        return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")

    async def unload(request: Request) -> Response:
        name = (await _json(request)).get("lora_name")
        if name not in engine.adapters:
            return error(f"The lora adapter '{name}' cannot be found.", "NotFoundError", 404)
        del engine.adapters[name]
        return PlainTextResponse(f"Success: LoRA adapter '{name}' removed successfully.")

    async def completions(request: Request) -> Response:
        body = await _json(request)
        name, messages = body.get("model"), body.get("messages")
        if name not in engine.models():
            return error(f"The model `{name}` does not exist.", "NotFoundError", 404)
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return error("messages must be a list of {role, content} objects.", "BadRequestError", 400)
        turns = [{"role": str(m.get("role")), "content": str(m.get("content") or "")} for m in messages]
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        stamp = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": name}
        if not body.get("stream"):
            answer = await run_in_threadpool(engine.answer, name, turns, max_tokens, None)
            return JSONResponse(
                {
                    **stamp,
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer.text},
                            "finish_reason": _finish(answer.tokens, max_tokens),
                        }
                    ],
                    "usage": {"completion_tokens": answer.tokens},
                }
            )
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            _stream(engine, name, turns, max_tokens, stamp, usage), media_type="text/event-stream"
        )

    return Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/v1/load_lora_adapter", load, methods=["POST"]),
            Route("/v1/unload_lora_adapter", unload, methods=["POST"]),
            Route("/health", lambda _r: Response(status_code=200), methods=["GET"]),
        ]
    )


async def _stream(
    engine: Engine, name: str, turns: list[dict[str, str]], max_tokens: int | None, stamp: dict, usage: bool
) -> Any:
    """Chat completion chunks as the text grows (each with what is new), then the finish reason,
    the usage if asked, and `[DONE]`, as OpenAI's and vLLM's streams go."""
    loop = asyncio.get_running_loop()
    texts: asyncio.Queue[str | None] = asyncio.Queue()

    def on_text(text: str) -> None:
        loop.call_soon_threadsafe(texts.put_nowait, text)

    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return f"data: {json.dumps({**stamp, 'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n"

    async def answer() -> Any:
        try:
            return await run_in_threadpool(engine.answer, name, turns, max_tokens, on_text)
        finally:
            texts.put_nowait(None)

    task = asyncio.ensure_future(answer())
    yield chunk({"role": "assistant", "content": ""})
    sent = ""
    while (text := await texts.get()) is not None:
        if text.startswith(sent) and text != sent:  # the text so far only grows; send what is new
            yield chunk({"content": text[len(sent) :]})
            sent = text
    result = await task
    if result.text.startswith(sent) and result.text != sent:
        yield chunk({"content": result.text[len(sent) :]})
    yield chunk({}, _finish(result.tokens, max_tokens))
    if usage:
        tail = {
            **stamp,
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {"completion_tokens": result.tokens},
        }
        yield f"data: {json.dumps(tail)}\n\n"
    yield "data: [DONE]\n\n"


def _finish(tokens: int, max_tokens: int | None) -> str:
    return "length" if max_tokens is not None and tokens >= max_tokens else "stop"


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
