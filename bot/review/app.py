"""/review: server-rendered pages for tunebot's admins (Starlette + Jinja2, no script).

Every page and action needs a signed-in admin: the session cookie (signed, /review only, 8 hours)
holds the Slack user id Sign in with Slack gave, and the access policy's `review` rule is checked
again on every request. Actions are POST forms carrying the session's CSRF token.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bot.review.chart import accuracy_chart
from bot.review.signin import SignInError, SlackSignIn
from bot.services.review import Filters, ReviewError, ReviewService, recent_review_events

log = logging.getLogger(__name__)

SESSION_HOURS = 8
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
templates.env.globals["urlencode"] = urlencode

Handler = Callable[[Request], Awaitable[Response]]


def build_review_app(
    service: ReviewService, signin: SlackSignIn | None, public_url: str | None = None
) -> Starlette:
    """The review pages, to mount at /review. Without `signin` (no SLACK_CLIENT_ID /
    SLACK_CLIENT_SECRET) every path says how to turn it on, and serves nothing else."""
    if signin is None:

        async def not_configured(request: Request) -> Response:
            return _message(request, 503, "The review page is off", NOT_CONFIGURED)

        return Starlette(routes=[Route("/{path:path}", not_configured, methods=["GET", "POST"])])

    def callback_url(request: Request) -> str:
        if public_url:
            return public_url.rstrip("/") + "/review/callback"
        return str(request.url.replace(path="/review/callback", query="", fragment=""))

    def admin(handler: Handler) -> Handler:
        """Only for a signed-in admin: others are sent to sign in (GET) or refused (POST)."""

        async def guarded(request: Request) -> Response:
            user = request.session.get("user")
            if not user:
                if request.method != "GET":
                    return _message(request, 403, "Sign in first", "Your session has ended; sign in again.")
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/review/signin?{urlencode({'next': target})}", status_code=303)
            decision = await run_in_threadpool(service.may_review, user)
            if not decision.allowed:
                request.session.clear()
                return _message(request, 403, "Not for you", _refusal(decision.reason))
            if request.method == "POST":
                form = await _form(request)
                if not secrets.compare_digest(form.get("csrf", ""), request.session.get("csrf", "")):
                    return _message(
                        request, 403, "Refused", "That form is stale; reload the page and try again."
                    )
            return await handler(request)

        return guarded

    async def sign_in(request: Request) -> Response:
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(16)
        target = request.query_params.get("next", "/review/")
        request.session.update(
            {"state": state, "next": target if target.startswith("/review") else "/review/"}
        )
        url = await run_in_threadpool(signin.authorize, callback_url(request), state, nonce)
        return RedirectResponse(url, status_code=303)

    async def callback(request: Request) -> Response:
        expected = request.session.pop("state", None)
        state = request.query_params.get("state", "")
        if not expected or not secrets.compare_digest(state, expected):
            return _message(
                request, 400, "Sign-in failed", "The sign-in link expired; start again.", retry=True
            )
        if error := request.query_params.get("error"):
            return _message(request, 403, "Sign-in cancelled", f"Slack said: {error}.", retry=True)
        code = request.query_params.get("code", "")
        try:
            who = await run_in_threadpool(signin.identify, code, callback_url(request))
        except SignInError as exc:
            log.warning("review sign-in refused: %s", exc)
            return _message(request, 403, "Sign-in failed", f"{exc}.", retry=True)
        decision = await run_in_threadpool(service.may_review, who.user_id)
        if not decision.allowed:
            log.info("review sign-in by %s refused: %s", who.user_id, decision.reason)
            return _message(request, 403, "Not for you", _refusal(decision.reason))
        target = request.session.pop("next", "/review/")
        request.session.clear()
        request.session.update({"user": who.user_id, "name": who.name, "csrf": secrets.token_urlsafe(24)})
        log.info("review: %s signed in", who.user_id)
        return RedirectResponse(target, status_code=303)

    async def sign_out(request: Request) -> Response:
        request.session.clear()
        return _message(
            request, 200, "Signed out", "You are signed out of tunebot's review page.", retry=True
        )

    async def dataset(request: Request) -> Response:
        try:
            filters = Filters.parse(dict(request.query_params))
            page = await run_in_threadpool(service.examples, filters)
        except ReviewError as exc:
            return _message(request, 400, "Cannot show that", str(exc), back="/review/")
        events = await run_in_threadpool(recent_review_events, service.db)
        return _page(request, "dataset.html", {"page": page, "events": events})

    def set_excluded(excluded: bool) -> Handler:
        async def act(request: Request) -> Response:
            form = await _form(request)
            key, back = form.get("key", ""), form.get("back", "/review/")
            try:
                await run_in_threadpool(service.set_excluded, key, excluded, actor=request.session["user"])
            except ReviewError as exc:
                return _message(request, 400, "Cannot do that", str(exc), back="/review/")
            log.info("review: %s %s %s", request.session["user"], "excluded" if excluded else "included", key)
            return RedirectResponse(back if back.startswith("/review") else "/review/", status_code=303)

        return act

    async def adapters(request: Request) -> Response:
        rows = await run_in_threadpool(service.adapters)
        return _page(request, "adapters.html", {"adapters": rows, "chart": accuracy_chart(rows)})

    async def adapter(request: Request) -> Response:
        try:
            detail = await run_in_threadpool(service.adapter, request.path_params["version"])
        except ReviewError as exc:
            return _message(request, 404, "No such adapter", str(exc), back="/review/adapters")
        return _page(request, "adapter.html", {"detail": detail})

    routes = [
        Route("/", admin(dataset), methods=["GET"]),
        Route("/examples/exclude", admin(set_excluded(True)), methods=["POST"]),
        Route("/examples/include", admin(set_excluded(False)), methods=["POST"]),
        Route("/adapters", admin(adapters), methods=["GET"]),
        Route("/adapters/{version}", admin(adapter), methods=["GET"]),
        Route("/signin", sign_in, methods=["GET"]),
        Route("/callback", callback, methods=["GET"]),
        Route("/signout", sign_out, methods=["POST"]),
    ]
    session = Middleware(
        SessionMiddleware,
        secret_key=signin.session_secret(),
        session_cookie="tunebot_review",
        max_age=SESSION_HOURS * 3600,
        path="/review",
        same_site="lax",
        https_only=bool(public_url and public_url.startswith("https:")),
    )
    return Starlette(routes=routes, middleware=[session])


STALE_FORM = "That form is stale; reload the page and try again."
NOT_CONFIGURED = (
    "Admins sign in to it with Slack. Set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (the app's Basic "
    "Information page) and add https://YOUR-HOST/review/callback as a redirect URL (OAuth & "
    "Permissions; TUNEBOT_PUBLIC_URL says what YOUR-HOST is), then restart tunebot. See docs/review.md."
)


async def _form(request: Request) -> dict[str, str]:
    """The page's forms are URL-encoded (no files): parsed here, without python-multipart."""
    body = await request.body()  # Starlette keeps it: a second read gets the same bytes
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _refusal(reason: str) -> str:
    return reason.replace("`/tune review`", "the review page")


def _page(request: Request, name: str, context: dict[str, Any]) -> Response:
    context = {
        "user": request.session.get("name") or request.session.get("user"),
        "csrf": request.session.get("csrf", ""),
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        **context,
    }
    return templates.TemplateResponse(request, name, context, headers=_NO_STORE)


def _message(
    request: Request, status: int, title: str, text: str, *, back: str | None = None, retry: bool = False
) -> Response:
    context = {"title": title, "text": text, "back": back, "retry": retry, "user": None, "csrf": ""}
    return templates.TemplateResponse(request, "message.html", context, status_code=status, headers=_NO_STORE)


# Pages hold scrubbed team data: no cache keeps them, no frame shows them.
_NO_STORE = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}
