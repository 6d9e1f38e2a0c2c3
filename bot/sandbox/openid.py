"""Sign in with Slack, as the sandbox's Slack serves it: OpenID Connect's authorization code flow.

- GET /openid/connect/authorize: Slack's consent page for the person signed in to this Slack (the
  sandbox page's user, or `signed_in` as set), checking the client id, scope and redirect URL;
  "Allow" sends the browser back to the redirect URL with a single-use code and the state.
- `openid.connect.token`: the code for a user token (xoxp-) and an id_token, for the app's client
  id and secret (HTTP Basic, as slack_sdk sends them, or form fields).
- `openid.connect.userInfo`: who that token belongs to, in Slack's claim names.

As on slack.com, a redirect URL must be registered with the app (`redirect_uris`). The id_token is
signed with HS256 and the client secret here; Slack signs with RS256 (tunebot reads userInfo).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from bot.sandbox.web_api import Workspace

AUTHORIZE_PATH = "/openid/connect/authorize"
CODE_SECONDS = 600


@dataclass(frozen=True)
class _Grant:
    user: str
    redirect_uri: str
    nonce: str | None
    expires: float


@dataclass
class OpenIdProvider:
    workspace: Workspace
    client_id: str = "sandbox-client-id"
    client_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    redirect_uris: set[str] = field(default_factory=set)
    signed_in: str | None = None  # who the browser is signed in to Slack as: the sandbox's user
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)  # user token -> user id
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the browser's side -----------------------------------------------------------------
    def page(self, method: str, path: str, query: dict[str, Any], body: bytes) -> tuple[Any, ...] | None:
        if path != AUTHORIZE_PATH:
            return None
        args = dict(query)
        if method == "POST":
            args.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
        problem = self._check(args)
        if problem is not None:
            return 400, "text/html; charset=utf-8", _html("Sign in with Slack failed", problem)
        if method == "GET":
            return 200, "text/html; charset=utf-8", self._consent(args)
        back = {"state": args.get("state", "")}
        if args.get("decision") == "allow":
            code = secrets.token_urlsafe(24)
            with self._lock:
                self._codes[code] = _Grant(
                    str(self.signed_in), args["redirect_uri"], args.get("nonce"), time.time() + CODE_SECONDS
                )
            back["code"] = code
        else:
            back["error"] = "access_denied"
        location = f"{args['redirect_uri']}?{urlencode(back)}"
        return 302, "text/plain", b"", {"Location": location}

    def _check(self, args: dict[str, Any]) -> str | None:
        if args.get("client_id") != self.client_id:
            return "Invalid client_id parameter."
        if args.get("response_type") != "code":
            return "response_type must be code."
        if "openid" not in str(args.get("scope", "")).replace(",", " ").split():
            return "The scope must include openid."
        if args.get("redirect_uri") not in self.redirect_uris:
            return "redirect_uri did not match any configured URIs."
        if args.get("team") and args["team"] != self.workspace.team_id:
            return "That workspace is not the one you are signed in to."
        if self.signed_in is None:
            return "Nobody is signed in to this Slack."
        return None

    def _consent(self, args: dict[str, Any]) -> bytes:
        name = html.escape(self.workspace.users.get(str(self.signed_in), str(self.signed_in)))
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(str(v))}">'
            for k, v in args.items()
            if k != "decision"
        )
        body = (
            f"<p>tunebot wants to know who you are in <b>Sandbox</b>.</p>"
            f'<p>You are signed in as <b data-testid="slack-user">{name}</b>.</p>'
            f'<form method="post" action="{AUTHORIZE_PATH}">{hidden}'
            '<button name="decision" value="allow" data-testid="allow">Allow</button> '
            '<button name="decision" value="cancel" data-testid="cancel">Cancel</button></form>'
        )
        return _html("Sign in with Slack", body, raw=True)

    # -- the app's side (Web API methods) ---------------------------------------------------
    def token(self, args: dict[str, Any], authorization: str | None) -> dict[str, Any]:
        client_id, client_secret = _basic(authorization) or (args.get("client_id"), args.get("client_secret"))
        if client_id != self.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if not hmac.compare_digest(str(client_secret or ""), self.client_secret):
            return {"ok": False, "error": "bad_client_secret"}
        with self._lock:
            grant = self._codes.pop(str(args.get("code", "")), None)
        if grant is None or grant.expires < time.time():
            return {"ok": False, "error": "invalid_code"}
        if args.get("redirect_uri") != grant.redirect_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        token = f"xoxp-{secrets.token_hex(12)}"
        with self._lock:
            self._tokens[token] = grant.user
        return {
            "ok": True,
            "access_token": token,
            "token_type": "Bearer",
            "id_token": self._id_token(grant),
        }

    def user_info(self, token: str | None) -> dict[str, Any]:
        user = self._tokens.get(token or "")
        if user is None:
            return {"ok": False, "error": "invalid_auth"}
        return {"ok": True, **self._claims(user)}

    def _claims(self, user: str) -> dict[str, Any]:
        name = self.workspace.users.get(user, user)
        return {
            "sub": user,
            "https://slack.com/user_id": user,
            "https://slack.com/team_id": self.workspace.team_id,
            "name": name,
            "given_name": name.split(" ")[0],
            "https://slack.com/team_name": "Sandbox",
        }

    def _id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        claims = {
            "iss": "https://slack.com",
            "aud": self.client_id,
            "iat": now,
            "exp": now + 3600,
            **({"nonce": grant.nonce} if grant.nonce else {}),
            **self._claims(grant.user),
        }
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims).encode())
        signature = hmac.new(self.client_secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
        return f"{header}.{payload}.{_b64(signature.digest())}"


def _basic(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.startswith("Basic "):
        return None
    try:
        client_id, _, secret = base64.b64decode(authorization.removeprefix("Basic ")).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return client_id, secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _html(title: str, body: str, *, raw: bool = False) -> bytes:
    text = body if raw else f"<p>{html.escape(body)}</p>"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        "<style>body{font:15px system-ui,sans-serif;max-width:480px;margin:80px auto;}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{text}</body></html>"
    ).encode()
