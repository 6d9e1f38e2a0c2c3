from __future__ import annotations

import pytest

from policies.privacy import Scrubber
from policies.privacy.slack_markup import render_slack_markup
from policies.schema import PrivacyPolicy


@pytest.mark.parametrize(
    ("raw", "secret", "placeholder"),
    [
        ("ping <@U024BE7LH> about it", "U024BE7LH", "<SLACK_USER_1>"),
        ("ping <@U024BE7LH|marie> now", "marie", "<SLACK_USER_1>"),
        ("write <mailto:bob@corp.example|bob@corp.example>", "bob@corp.example", "<EMAIL_ADDRESS_1>"),
        ("ask alice.w@acme.internal", "alice.w", "<EMAIL_ADDRESS_1>"),
        ("bot token xoxb-2048-4096-AbCdEfGhIjKl", "xoxb-2048", "<SLACK_TOKEN_1>"),
        ("app token xapp-1-A0123-456-abcdef0123", "xapp-1", "<SLACK_TOKEN_1>"),
        ("key AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", "<AWS_ACCESS_KEY_1>"),
        ("secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI", "<AWS_SECRET_KEY_1>"),
        ("use ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abc", "<GITHUB_TOKEN_1>"),
        ("db postgres://admin:hunter22@db.internal/app", "hunter22", "<URL_CREDENTIALS_1>"),
        ("password: s3cr3t!!", "s3cr3t", "<PASSWORD_1>"),
        ("call me at 212-555-0101", "555-0101", "<PHONE_NUMBER_1>"),
        ("card 4111 1111 1111 1111 expires", "4111 1111", "<CREDIT_CARD_1>"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA12\nZm9vYmFy==\n-----END RSA PRIVATE KEY-----",
            "MIIEowIBAAKCAQEA12",
            "<PRIVATE_KEY_1>",
        ),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA", "b3BlbnNzaC1r", "<PRIVATE_KEY_1>"),
        ("Thanks, Sarah Johnson, for the review", "Sarah Johnson", "<PERSON_1>"),
    ],
)
def test_scrubs_personal_data_and_secrets(
    scrubber: Scrubber, raw: str, secret: str, placeholder: str
) -> None:
    scrubbed = scrubber.scrub(raw)
    assert secret not in scrubbed
    assert placeholder in scrubbed


def test_keeps_business_facts(scrubber: Scrubber) -> None:
    text = (
        "Deploy billing-api to db-prod-01 in eu-west-1 at 14:00 UTC on Tuesday; ticket OPS-1234, "
        "see https://wiki.northwind.internal/runbook and commit 3f786850e387550fdab836ed7e6dc881de23001b"
    )
    assert scrubber.scrub(text) == text


def test_slack_markup_is_rendered() -> None:
    assert render_slack_markup("see <https://a.example/x|the doc> in <#C1|ops> &amp; <!here>") == (
        "see the doc (https://a.example/x) in #ops & @here"
    )


def test_allow_and_deny_lists() -> None:
    scrubber = Scrubber(PrivacyPolicy(allow_list=["Heron"], deny_list=["Project Falcon"]))
    out = scrubber.scrub("Heron ships before Project Falcon")
    assert out == "Heron ships before <DENY_LIST_1>"


def test_empty_and_huge_texts(scrubber: Scrubber) -> None:
    assert scrubber.scrub("") == ""
    assert scrubber.scrub("   ") == "   "
    huge = "status ok " * 4000 + "mail me: someone@corp.example"
    assert "someone@corp.example" not in scrubber.scrub(huge)


def test_missing_spacy_model_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="not installed"):
        Scrubber(PrivacyPolicy(spacy_model="en_core_web_nonexistent"))


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        ("stripe key sk_live_4eC39HqLyjWDarjtT1zdp7dc leaked", "sk_live_4eC39"),
        ("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123", "sk-proj-abc"),
        (
            "curl -H 'Authorization: Bearer abcdef0123456789abcdef' https://api.internal/v1",
            "abcdef0123456789",
        ),
        ("session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "dozjgNryP4J3"),
        ("config:\n  signing_secret: 8f2a9c1e77b04d", "8f2a9c1e77b04d"),
        ("SECRET_KEY=tqWGArP4D85", "tqWGArP4D85"),
        ("redis://:Quite257!@cache-01:6379/0", "Quite257"),
        ("refund card 2223 0031 2200 3222 please", "2223 0031"),
        ("my cell is 4155550199, text me", "4155550199"),
        ("ask priya about the deploy", "priya"),
        ("thanks mark for the fix", "mark"),
        ("who is indrajit? he opened it", "indrajit"),
        ("lauren tucker said it is fine", "tucker"),
        ("ping Adrianna Proch when it is back", "Proch"),
        ("hey anna-maria, any news?", "maria"),
    ],
)
def test_catches_what_chat_ops_leaks(scrubber: Scrubber, raw: str, secret: str) -> None:
    assert secret not in scrubber.scrub(raw)


@pytest.mark.parametrize(
    "text",
    [
        "we will mark OPS-1234 as done and bill the customer on Friday",
        "the summer freeze starts in June, traffic rose 12% since April",
        "trials in Austin and Denver doubled; the Berlin office shares the auth-svc runbook",
        "who is on call for auth-svc? the pager said redis-cache-01 is down",
        "lgtm, hope to max out the cache hit rate; ping the billing-api owners",
        "maintenance window 2026-12-23 12:00-14:00 UTC, request 18356cb0 failed with HTTP 502",
    ],
)
def test_ordinary_words_and_identifiers_are_not_names(scrubber: Scrubber, text: str) -> None:
    assert scrubber.scrub(text) == text


def test_pseudonyms_are_consistent_within_a_conversation(scrubber: Scrubber) -> None:
    out = scrubber.scrub_conversation(
        [
            "<@U024BE7LH> says Jane Roe owns billing, mail jane.roe@corp.example",
            "thanks! I'll ask jane, and cc Omar Haddad",
            "<@U024BE7LH|jr> Omar said mail jane.roe@corp.example again",
        ]
    )
    assert out == [
        "<SLACK_USER_1> says <PERSON_1> owns billing, mail <EMAIL_ADDRESS_1>",
        "thanks! I'll ask <PERSON_1>, and cc <PERSON_2>",
        "<SLACK_USER_1> <PERSON_2> said mail <EMAIL_ADDRESS_1> again",
    ]


def test_numbering_starts_again_for_every_conversation(scrubber: Scrubber) -> None:
    first, second = scrubber.scrub_conversations([["ask Omar Haddad"], ["ask Jane Roe", "and Omar Haddad"]])
    assert first == ["ask <PERSON_1>"]
    assert second == ["ask <PERSON_1>", "and <PERSON_2>"]
    assert scrubber.scrub_many(["ask Omar Haddad", "ask Jane Roe"]) == ["ask <PERSON_1>", "ask <PERSON_1>"]


@pytest.mark.parametrize(
    ("operators", "expected"),
    [
        ({}, "mail <EMAIL_ADDRESS_1>, key <AWS_ACCESS_KEY_1>"),
        ({"EMAIL_ADDRESS": "replace"}, "mail <EMAIL_ADDRESS>, key <AWS_ACCESS_KEY_1>"),
        ({"EMAIL_ADDRESS": "mask"}, "mail ****************, key <AWS_ACCESS_KEY_1>"),
        ({"AWS_ACCESS_KEY": "redact"}, "mail <EMAIL_ADDRESS_1>, key "),
    ],
)
def test_operators_per_entity(operators: dict[str, str], expected: str) -> None:
    scrubber = Scrubber(PrivacyPolicy(operators=operators))  # type: ignore[arg-type]
    assert scrubber.scrub("mail bob@corp.example, key AKIAIOSFODNN7EXAMPLE") == expected


def test_thresholds_per_entity() -> None:
    # Not a valid number anywhere, so only the bare-number recognizer sees it: 0.1, plus 0.35 for the
    # context word "cell". A 0.5 bar for phones drops it.
    text = "my cell is 1082418837"
    assert Scrubber(PrivacyPolicy()).scrub(text) == "my cell is <PHONE_NUMBER_1>"
    assert Scrubber(PrivacyPolicy(thresholds={"PHONE_NUMBER": 0.5})).scrub(text) == text


def test_text_cannot_forge_the_internal_markers(scrubber: Scrubber) -> None:
    assert scrubber.scrub("\x007\x00 mail bob@corp.example") == "7 mail <EMAIL_ADDRESS_1>"
