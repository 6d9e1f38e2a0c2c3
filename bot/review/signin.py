"""Sign in with Slack (OpenID Connect) for the review page.

The authorization code flow: the browser goes to Slack's authorize URL (slack_sdk's
OpenIDConnectAuthorizeUrlGenerator) with a state kept in the signed session cookie; Slack sends it
back to /review/callback with a code, which this server exchanges (`openid.connect.token`, with the
app's client id and secret) for a user token, and reads who signed in (`openid.connect.userInfo`).
Only a member of the bot's own workspace is signed in; the access policy then decides.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.oauth import OpenIDConnectAuthorizeUrlGenerator

SCOPES = ("openid", "profile")


class SignInError(RuntimeError):
    """Slack refused the sign-in, or it is not for this workspace; the message says why."""


@dataclass(frozen=True)
class Identity:
    user_id: str
    team_id: str
    name: str


@dataclass(frozen=True)
class SlackSignIn:
    client_id: str
    client_secret: str
    api_url: str  # Slack's Web API (SLACK_API_URL): the sandbox's, or https://slack.com/api/
    team_id: Callable[[], str | None]  # the bot's workspace (auth.test), None when Slack is unreachable

    @property
    def authorize_url(self) -> str:
        """Slack's authorize page, on the host that serves its Web API."""
        parts = urlsplit(self.api_url)
        return f"{parts.scheme}://{parts.netloc}/openid/connect/authorize"

    def session_secret(self) -> str:
        """The key that signs the review page's session cookie: derived from the client secret, so
        every replica signs alike and rotating the secret signs everyone out."""
        return hmac.new(self.client_secret.encode(), b"tunebot review session", hashlib.sha256).hexdigest()

    def authorize(self, redirect_uri: str, state: str, nonce: str) -> str:
        generator = OpenIDConnectAuthorizeUrlGenerator(
            client_id=self.client_id,
            redirect_uri=redirect_uri,
            scopes=list(SCOPES),
            authorization_url=self.authorize_url,
        )
        return generator.generate(state=state, nonce=nonce, team=self.team_id())

    def identify(self, code: str, redirect_uri: str) -> Identity:
        """Who signed in, from the code Slack sent back; raises SignInError."""
        try:
            token = WebClient(base_url=self.api_url).openid_connect_token(
                client_id=self.client_id,
                client_secret=self.client_secret,
                code=code,
                redirect_uri=redirect_uri,
            )
            info = WebClient(token=token["access_token"], base_url=self.api_url).openid_connect_userInfo()
        except SlackApiError as exc:
            raise SignInError(f"Slack refused the sign-in ({exc.response.get('error')})") from exc
        except (SlackClientError, URLError, OSError) as exc:
            raise SignInError(f"could not reach Slack to finish the sign-in ({exc})") from exc
        user = str(info.get("https://slack.com/user_id") or "")
        team = str(info.get("https://slack.com/team_id") or "")
        if not user or not team:
            raise SignInError("Slack's answer did not say who signed in")
        ours = self.team_id()
        if ours is None:
            raise SignInError("could not ask Slack which workspace this bot is in; try again")
        if team != ours:
            raise SignInError("that account is not in this bot's workspace")
        return Identity(user_id=user, team_id=team, name=str(info.get("name") or user))


def bot_team(client: WebClient) -> Callable[[], str | None]:
    """The bot's workspace id from auth.test, asked once it is first needed."""
    known: list[str] = []

    def team_id() -> str | None:
        if not known:
            try:
                known.append(str(client.auth_test()["team_id"]))
            except (SlackApiError, SlackClientError, URLError, OSError):
                return None
        return known[0]

    return team_id
