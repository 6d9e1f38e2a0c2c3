"""Slack user group membership (for admins given as S… ids), cached for a few minutes."""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


class UserGroups:
    def __init__(self, client: WebClient, ttl_seconds: float = 300.0):
        self.client = client
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def contains(self, group_id: str, user_id: str) -> bool:
        return user_id in self.members(group_id)

    def members(self, group_id: str) -> frozenset[str]:
        with self._lock:
            cached = self._cache.get(group_id)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        users: frozenset[str]
        try:
            users = frozenset(self.client.usergroups_users_list(usergroup=group_id).get("users", []))
        except SlackApiError as error:  # e.g. missing usergroups:read: nobody is let in through it
            log.warning("could not read user group %s: %s", group_id, error.response.get("error"))
            users = frozenset()
        with self._lock:
            self._cache[group_id] = (time.monotonic(), users)
        return users
