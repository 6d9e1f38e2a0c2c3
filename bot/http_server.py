"""HTTP mode: Starlette routes for Slack events, health and metrics, served by uvicorn."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def build_http_app(
    bolt: App, *, health: Callable[[], dict], metrics: CollectorRegistry | None = None
) -> Starlette:
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        try:
            bolt_request = to_bolt_request(request, body)
        except ValueError:  # json.JSONDecodeError and friends: not a Slack payload
            return JSONResponse({"error": "malformed request body"}, status_code=400)
        # Bolt's dispatch blocks until the listener acks: keep it off the event loop.
        response = await run_in_threadpool(bolt.dispatch, bolt_request)
        return to_starlette_response(response)

    async def healthz(_request: Request) -> Response:
        status = await run_in_threadpool(health)
        return JSONResponse(status, status_code=200 if status.get("ok") else 503)

    async def metrics_endpoint(_request: Request) -> Response:
        payload = generate_latest(metrics) if metrics is not None else b""
        return Response(payload, media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ]
    )
