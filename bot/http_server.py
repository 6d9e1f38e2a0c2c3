"""HTTP: Starlette routes for Slack events (HTTP mode), health, metrics and the review page, served
by uvicorn."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp


def build_http_app(
    bolt: App | None,
    *,
    health: Callable[[], dict],
    metrics: CollectorRegistry | None = None,
    review: ASGIApp | None = None,
) -> Starlette:
    """`bolt`: Slack's events at /slack/events (None in Socket Mode, where they come over the
    WebSocket); `review`: the review pages, mounted at /review."""

    async def slack_events(request: Request) -> Response:
        assert bolt is not None
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

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    if bolt is not None:
        routes.append(Route("/slack/events", slack_events, methods=["POST"]))
    if review is not None:
        routes.append(Mount("/review", app=review))
    return Starlette(routes=routes)
