"""The workspace's members and channels, read from Slack for the scrubber (users.list, conversations.list).

Who the workspace's people are is the scrubber's best evidence of what is a person's name; the
channel names are words the team uses for its things. Both are read when the bot starts and then
periodically, and kept in memory only (policies.privacy.workspace).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from policies.privacy.workspace import Member, WorkspaceNames, words_of

log = logging.getLogger(__name__)

REFRESH_SECONDS = 3600


class WorkspaceDirectory:
    def __init__(self, client: WebClient, names: WorkspaceNames, page_size: int = 200):
        self.client = client
        self.names = names
        self.page_size = page_size
        self.people: dict[str, str] = {}  # user id -> the name people see (the review page)

    def name_of(self, user_id: str) -> str:
        """A member's display name (else real name, else handle); the id for someone unknown."""
        return self.people.get(user_id, user_id)

    def refresh(self) -> bool:
        """Read the member list and channel names again; False (logged) when Slack refused."""
        try:
            members = [m for u in self._pages("users_list", "members") if (m := Member.from_slack(u))]
        except SlackApiError as exc:
            log.warning(
                "could not read the member list (users.list: %s); names are judged without it. "
                "Does the app have the users:read scope?",
                exc.response.get("error"),
            )
            return False
        except (SlackClientError, OSError) as exc:  # Slack unreachable: try again at the next refresh
            log.warning("could not reach Slack for the member list (%s); names are judged without it", exc)
            return False
        self.names.set_members(members)
        self.people = {m.id: m.display_name or m.real_name or m.handle or m.id for m in members}
        try:
            channels = [c.get("name", "") for c in self._pages("conversations_list", "channels")]
        except SlackApiError as exc:
            log.info("channel names not read (conversations.list: %s)", exc.response.get("error"))
            channels = []
        except (SlackClientError, OSError) as exc:
            log.info("channel names not read (%s)", exc)
            channels = []
        parts = {w for c in channels for w in words_of(c) if len(w) >= 3}  # heron-mobile: heron, mobile
        self.names.add_vocabulary(w for w in parts if not self.names.is_member_name(w))
        log.info("workspace directory: %d member(s), %d channel name(s)", len(members), len(channels))
        return True

    def _pages(self, method: str, key: str) -> Iterator[dict]:
        cursor = None
        while True:
            response = getattr(self.client, method)(limit=self.page_size, cursor=cursor)
            yield from response.get(key, [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return
