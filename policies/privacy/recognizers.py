"""Presidio recognizers for what chat-ops leaks that Presidio's defaults do not catch."""

from __future__ import annotations

import regex
from presidio_analyzer import Pattern, PatternRecognizer

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
        r"(?<=\b[a-z][a-z0-9+.-]*://)[^\s:/@<>|]+:[^\s@<>|]+(?=@)",
        1.0,
        True,
    ),
    (
        "PASSWORD",
        "assigned secret",
        r"(?<=\b(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key)"
        r"[\"']?\s*(?:[:=]|\bis\b)\s*[\"']?)[^\s\"',;]{4,}",
        0.8,
        True,
    ),
]


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
    return recognizers


def deny_list_recognizer(words: list[str]) -> PatternRecognizer:
    return PatternRecognizer(supported_entity="DENY_LIST", deny_list=words, name="tunebot_deny")
