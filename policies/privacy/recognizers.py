"""Presidio recognizers for what chat-ops leaks that Presidio's defaults do not catch."""

from __future__ import annotations

import regex
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import CreditCardRecognizer, PhoneRecognizer

from policies.privacy.names import fold
from policies.privacy.workspace import WorkspaceNames

# (entity, name, pattern, score, case-insensitive)
_SECRET_PATTERNS: list[tuple[str, str, str, float, bool]] = [
    ("SLACK_USER", "slack mention", r"<@[UW][A-Z0-9]{2,}(?:\|[^>]*)?>", 1.0, False),
    # Presidio's email recognizer only counts public suffixes; internal domains (acme.internal) leak.
    (
        "EMAIL_ADDRESS",
        "email any domain",
        r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
        0.9,
        False,
    ),
    ("SLACK_TOKEN", "slack token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}", 1.0, False),
    ("SLACK_TOKEN", "slack app token", r"\bxapp-\d-[A-Za-z0-9-]{10,}", 1.0, False),
    (
        "SLACK_TOKEN",
        "slack webhook",
        r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]+",
        1.0,
        False,
    ),
    (
        "AWS_ACCESS_KEY",
        "aws access key id",
        r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
        1.0,
        False,
    ),
    (
        "AWS_SECRET_KEY",
        "aws secret key",
        r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[0-9])"
        r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])",
        0.7,
        False,
    ),
    (
        "GITHUB_TOKEN",
        "github token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        1.0,
        False,
    ),
    (
        "PRIVATE_KEY",
        "private key block",
        # A key cut off mid-message still matches: the body runs as long as it looks like base64.
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----[A-Za-z0-9+/=\s:,.-]*?"
        r"(?:-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|(?=[^A-Za-z0-9+/=\s:,.-])|\Z)",
        1.0,
        False,
    ),
    (
        "URL_CREDENTIALS",
        "credentials in url",
        r"(?<=\b[a-z][a-z0-9+.-]*://)[^\s:/@<>|]*:[^\s@<>|]+(?=@)",
        1.0,
        True,
    ),
    (
        "PASSWORD",
        "assigned secret",
        # password=..., SECRET_KEY: ..., "api_key": "...", signing_secret ..., the password is ...
        r"(?<=\b[a-z0-9_.-]*?(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|apikey"
        r"|access[_-]?key|private[_-]?key|credentials?)(?:[_-]?(?:access[_-]?)?(?:key|id|value))?"
        r"[\"']?\s*(?:[:=]|\bis\b)\s*[\"']?)[^\s\"',;`]{4,}",
        0.8,
        True,
    ),
    (
        "PASSWORD",
        "authorization header",
        r"(?<=\b(?:authorization:\s*)?(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]{16,}",
        0.8,
        True,
    ),
    ("API_KEY", "stripe key", r"\b[srp]k_(?:live|test)_[A-Za-z0-9]{16,}", 1.0, False),
    ("API_KEY", "openai/anthropic key", r"\bsk-(?:[a-z]+-)?[A-Za-z0-9_-]{20,}", 1.0, False),
    ("API_KEY", "google api key", r"\bAIza[0-9A-Za-z_-]{35}", 1.0, False),
    ("API_KEY", "gitlab token", r"\bgl(?:pat|dt|rt|ptt)-[0-9A-Za-z_-]{20,}", 1.0, False),
    ("API_KEY", "npm token", r"\bnpm_[A-Za-z0-9]{36}\b", 1.0, False),
    ("API_KEY", "hugging face token", r"\bhf_[A-Za-z0-9]{30,}\b", 1.0, False),
    ("API_KEY", "sendgrid key", r"\bSG\.[\w-]{16,}\.[\w-]{16,}", 1.0, False),
    ("JWT", "json web token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", 1.0, False),
    (
        "PHONE_NUMBER",
        "international number",
        # +44 20 7946 0958, +1-415-555-0199: a country code and 7+ more digits in groups
        r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,5}(?:\s*(?:x|ext\.?)\s*\d{1,5})?(?![\w])",
        0.6,
        True,
    ),
    (
        "PHONE_NUMBER",
        "north american number",
        r"(?<![\w.-])(?:00?1[ .-])?\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}(?:\s*(?:x|ext\.?)\s*\d{1,5})?(?![\w-])",
        0.5,
        True,
    ),
]


def bare_phone_recognizer() -> PatternRecognizer:
    """Ten to twelve digits in a row are a phone number only when the words around say so."""
    return PatternRecognizer(
        supported_entity="PHONE_NUMBER",
        patterns=[Pattern("bare number", r"(?<![\w.+-])\d{10,12}(?![\w.-])", 0.1)],
        context=["phone", "cell", "mobile", "call", "text", "reach", "number", "tel", "whatsapp", "sms"],
        name="tunebot_bare_phone",
    )


def secret_recognizers() -> list[PatternRecognizer]:
    """One PatternRecognizer per entity, each with its patterns."""
    grouped: dict[tuple[str, bool], list[Pattern]] = {}
    for entity, name, pattern, score, ignore_case in _SECRET_PATTERNS:
        grouped.setdefault((entity, ignore_case), []).append(Pattern(name, pattern, score))
    recognizers = []
    for (entity, ignore_case), patterns in grouped.items():
        flags = regex.MULTILINE | (regex.IGNORECASE if ignore_case else 0)
        recognizers.append(
            PatternRecognizer(
                supported_entity=entity,
                patterns=patterns,
                name=f"tunebot_{entity.lower()}_{'i' if ignore_case else 'c'}",
                global_regex_flags=flags,
            )
        )
    recognizers.append(bare_phone_recognizer())
    # Presidio's card pattern predates Mastercard's 2-series (2221-2720); its Luhn check still applies.
    recognizers.append(
        CreditCardRecognizer(
            patterns=[Pattern("mastercard 2-series", r"\b2[2-7]\d{2}[- ]?\d{4}[- ]?\d{4}[- ]?\d{4}\b", 0.3)],
            name="tunebot_card_2_series",
        )
    )
    return recognizers


def deny_list_recognizer(words: list[str]) -> PatternRecognizer:
    return PatternRecognizer(supported_entity="DENY_LIST", deny_list=words, name="tunebot_deny")


class GatedPhoneRecognizer(PhoneRecognizer):
    """Presidio's phone recognizer (libphonenumber, per region), run only where a number could be.

    It scans its whole input once per region and is by far the slowest recognizer, while chat has
    few places with seven digits close together: only those windows are handed to it.
    """

    _CANDIDATE = regex.compile(r"[+(]?\d(?:[\s().-]{0,3}\d){6,}(?:\s*(?:x|ext\.?)\s*\d{1,5})?")

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for window in self._CANDIDATE.finditer(text):
            start = max(0, window.start() - 8)
            piece = text[start : window.end() + 8]
            for found in super().analyze(piece, entities, nlp_artifacts):  # type: ignore[arg-type]
                found.start += start
                found.end += start
                results.append(found)
        return results


class WordListRecognizer(EntityRecognizer):
    """The words an admin said to always scrub (`/tune words scrub WORD`), read at every call."""

    def __init__(self, workspace: WorkspaceNames):
        self.workspace = workspace
        super().__init__(supported_entities=["DENY_LIST"], name="tunebot_scrub_words")

    def load(self) -> None:  # the list is set and refreshed from outside
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        words = self.workspace.scrub
        if "DENY_LIST" not in entities or not words:
            return []
        return [
            RecognizerResult("DENY_LIST", m.start(), m.end(), 1.0)
            for m in _WORDS.finditer(text)
            if fold(m.group(0)) in words
        ]


_WORDS = regex.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
