"""What a person is shown instead of a placeholder the model learned to say (`<PERSON_1>`, `<PASSWORD_1>`).

Adapters are trained on scrubbed text, so they can answer "ask <PERSON_1>" or, worse, "the password
is <PASSWORD_1>". No answer shown in Slack carries such a token: names and contact details become
words a person understands, and an answer whose point is a secret is withheld with a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SECRETS = frozenset(
    {
        "SLACK_TOKEN",
        "AWS_ACCESS_KEY",
        "AWS_SECRET_KEY",
        "GITHUB_TOKEN",
        "PRIVATE_KEY",
        "URL_CREDENTIALS",
        "PASSWORD",
        "API_KEY",
        "JWT",
    }
)
WITHHELD = (
    "I can't share passwords, keys or other secrets in chat. Ask the owner of that system, "
    "or look in your team's secret store."
)
_SHOWN_AS = {
    "PERSON": "a teammate",
    "SLACK_USER": "a teammate",
    "EMAIL_ADDRESS": "(an email address)",
    "PHONE_NUMBER": "(a phone number)",
    "CREDIT_CARD": "(a card number)",
    "IBAN_CODE": "(a bank account)",
    "US_SSN": "(a personal number)",
    "IP_ADDRESS": "(an IP address)",
}
_ENTITIES = sorted({*SECRETS, *_SHOWN_AS, "DENY_LIST"}, key=len, reverse=True)
PLACEHOLDER = re.compile(rf"<({'|'.join(_ENTITIES)})(?:_\d+)?>")
_PARTIAL = re.compile(r"<[A-Z_\d]*$")  # a placeholder still being generated: "... ask <PERS"


@dataclass(frozen=True)
class Shown:
    text: str
    withheld: bool  # the answer named a secret and was replaced by a note
    replaced: int  # placeholders rendered as words


def for_people(text: str, *, streaming: bool = False) -> Shown:
    """The text as a person should see it. While `streaming`, a placeholder cut off at the end is
    held back until it is complete."""
    entities = [m.group(1) for m in PLACEHOLDER.finditer(text)]
    if any(e in SECRETS for e in entities):
        return Shown(WITHHELD, True, len(entities))
    if streaming:
        text = _PARTIAL.sub("", text)
    shown = PLACEHOLDER.sub(lambda m: _SHOWN_AS.get(m.group(1), "(withheld)"), text)
    return Shown(shown, False, len(entities))


def names_a_secret(text: str) -> bool:
    """Whether scrubbed text holds a secret's placeholder (its point may be the secret itself)."""
    return any(m.group(1) in SECRETS for m in PLACEHOLDER.finditer(text))
