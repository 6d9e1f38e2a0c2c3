"""What is scrubbed from chat text before anything is stored: Presidio, offline, Slack-aware.

`Scrubber` loads Presidio and spaCy when first asked for: modules that only read placeholders
(tuner.dataset, the bot's answers) must not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policies.privacy.scrubber import Scrubber

__all__ = ["Scrubber"]


def __getattr__(name: str) -> Any:
    if name == "Scrubber":
        from policies.privacy.scrubber import Scrubber

        return Scrubber
    raise AttributeError(name)
