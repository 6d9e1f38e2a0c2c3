"""The review page over real HTTP: Sign in with Slack against the local Slack's OpenID Connect
endpoints, the access policy, the session and CSRF checks, exclusions through the page.
(tests/bot/test_review_browser.py drives it in Chromium with trained adapters.)"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import select

from bot.sandbox.app import SANDBOX_USER
from storage.exchanges import training_examples
from storage.models import AuditEvent
from tests.conftest import ADMIN, BotHarness
from tests.factories import seed_corrections


def _sign_in(bot: BotHarness, session: requests.Session, decision: str = "allow") -> requests.Response:
    """Open the review page: it sends the browser to Slack's consent page; answer it."""
    consent = session.get(f"{bot.url}/review/")
    assert consent.status_code == 200 and "/openid/connect/authorize" in consent.url, consent.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', consent.text))
    fields = {k: v.replace("&amp;", "&") for k, v in fields.items()}
    return session.post(consent.url.split("?")[0], data={**fields, "decision": decision})


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_nothing_is_served_without_signing_in_as_an_admin(bot: BotHarness) -> None:
    seed_corrections(bot.runtime.db, 4)
    anonymous = requests.Session()
    for path in ("/review/", "/review/adapters", "/review/adapters/v1", "/review/?source=corrected"):
        response = anonymous.get(f"{bot.url}{path}", allow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/review/signin?next=")
        assert "Service" not in response.text
    refused = anonymous.post(f"{bot.url}/review/examples/exclude", data={"key": "C0SEED:1000.000200"})
    assert refused.status_code == 403 and "Sign in first" in refused.text

    # Someone who is not an admin signs in with Slack: refused, and no session is kept.
    bot.slack.openid.signed_in = "U0NOTADMIN"
    outsider = requests.Session()
    response = _sign_in(bot, outsider)
    assert response.status_code == 403 and "only tunebot admins" in response.text
    assert outsider.get(f"{bot.url}/review/", allow_redirects=False).status_code == 303

    # Cancelling on Slack's page signs nobody in.
    bot.slack.openid.signed_in = ADMIN
    cancelled = _sign_in(bot, requests.Session(), decision="cancel")
    assert cancelled.status_code == 403 and "access_denied" in cancelled.text

    # A code is good once, and only with the app's secret (the callback replayed: refused).
    admin = requests.Session()
    page = _sign_in(bot, admin)
    assert page.status_code == 200 and page.url == f"{bot.url}/review/"
    callback = next(r for r in page.history if "/review/callback" in r.url)
    assert requests.get(callback.url, allow_redirects=False).status_code == 400  # no state in this session
    calls = bot.workspace.calls_to("openid.connect.token")
    assert calls and all("client_secret" not in c.args and "code" not in c.args for c in calls)

    # The admin's page: the seeded corrections, who backs them; and a form without the session's
    # CSRF token is refused.
    assert page.text.count('data-testid="example"') == 4 and "Service 3 listens on port 8003." in page.text
    assert ">U0RATER01<" in page.text
    forged = admin.post(f"{bot.url}/review/examples/exclude", data={"key": "C0SEED:1000.000200", "csrf": "x"})
    assert forged.status_code == 403
    with bot.runtime.db.session() as session:
        assert session.scalars(select(AuditEvent).where(AuditEvent.action == "exclude")).all() == []

    # Removed from the admins: the next request refuses, the session ends.
    bot.runtime.policies = bot.runtime.policies.model_copy(
        update={"access": bot.runtime.policies.access.model_copy(update={"admins": ["U0SANDBOX"]})}
    )
    assert admin.get(f"{bot.url}/review/").status_code == 403
    assert admin.get(f"{bot.url}/review/", allow_redirects=False).status_code == 303


def test_an_admin_excludes_and_includes_an_example(bot: BotHarness) -> None:
    seed_corrections(bot.runtime.db, 6)
    admin = requests.Session()
    page = _sign_in(bot, admin)
    assert page.status_code == 200
    key = "C0SEED:1002.000200"
    assert f'data-key="{key}"' in page.text
    excluded = admin.post(
        f"{bot.url}/review/examples/exclude",
        data={"key": key, "csrf": _csrf(page.text), "back": "/review/?state=excluded"},
    )
    assert excluded.status_code == 200 and excluded.url == f"{bot.url}/review/?state=excluded"
    assert excluded.text.count('data-testid="example"') == 1 and f'data-key="{key}"' in excluded.text
    assert "excluded by" in excluded.text
    with bot.runtime.db.session() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "exclude")).one()
        assert (event.actor, event.details["key"]) == (SANDBOX_USER, key)  # the page's user signed in
    with bot.runtime.db.session() as session:
        keys = [e.key for e in training_examples(session, bot.runtime.policies.feedback)]
    assert key not in keys and len(keys) == 5

    # Filters: unknown values are refused, not read as "any".
    assert admin.get(f"{bot.url}/review/?source=everything").status_code == 400
    assert admin.get(f"{bot.url}/review/?adapter=v9").status_code == 400
    assert admin.get(f"{bot.url}/review/?q=port+8004").text.count('data-testid="example"') == 1
    assert admin.get(f"{bot.url}/review/adapters/v3").status_code == 404
    assert "No adapter trained yet" in admin.get(f"{bot.url}/review/adapters").text

    included = admin.post(f"{bot.url}/review/examples/include", data={"key": key, "csrf": _csrf(page.text)})
    assert included.status_code == 200 and included.text.count('data-testid="example"') == 6
    with bot.runtime.db.session() as session:
        assert len(training_examples(session, bot.runtime.policies.feedback)) == 6
    unknown = admin.post(
        f"{bot.url}/review/examples/exclude", data={"key": "C9:1.2", "csrf": _csrf(page.text)}
    )
    assert unknown.status_code == 400 and "no example" in unknown.text

    assert admin.post(f"{bot.url}/review/signout", data={}).status_code == 200
    assert admin.get(f"{bot.url}/review/", allow_redirects=False).status_code == 303


@pytest.fixture
def unconfigured(runtime: Any) -> Iterator[str]:
    """The review app without Sign in with Slack (no SLACK_CLIENT_ID / SLACK_CLIENT_SECRET)."""
    import uvicorn

    from bot.http_server import build_http_app
    from bot.review.app import build_review_app
    from bot.services.review import ReviewService

    review = build_review_app(ReviewService(runtime.db, lambda: runtime.policies), None)
    app = build_http_app(None, health=lambda: {"ok": True}, review=review)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    from tests.conftest import wait_for

    wait_for(lambda: server.started, message="uvicorn")
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_without_slack_client_credentials_the_page_says_how_to_turn_it_on(unconfigured: str) -> None:
    seen = requests.get(f"{unconfigured}/review/")
    assert seen.status_code == 503 and "SLACK_CLIENT_ID" in seen.text
    assert requests.post(f"{unconfigured}/review/examples/exclude", data={"key": "x"}).status_code == 503
    assert requests.get(f"{unconfigured}/healthz").json() == {"ok": True}
