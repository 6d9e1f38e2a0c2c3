"""What is scrubbed from chat text before anything is stored: Presidio, offline, Slack-aware."""

from policies.privacy.scrubber import Scrubber

__all__ = ["Scrubber"]
