from __future__ import annotations

import pytest

from policies.privacy import Scrubber
from policies.privacy.slack_markup import render_slack_markup
from policies.schema import PrivacyPolicy


@pytest.mark.parametrize(
    ("raw", "secret", "placeholder"),
    [
        ("ping <@U024BE7LH> about it", "U024BE7LH", "<SLACK_USER>"),
        ("ping <@U024BE7LH|marie> now", "marie", "<SLACK_USER>"),
        ("write <mailto:bob@corp.example|bob@corp.example>", "bob@corp.example", "<EMAIL_ADDRESS>"),
        ("ask alice.w@acme.internal", "alice.w", "<EMAIL_ADDRESS>"),
        ("bot token xoxb-2048-4096-AbCdEfGhIjKl", "xoxb-2048", "<SLACK_TOKEN>"),
        ("app token xapp-1-A0123-456-abcdef0123", "xapp-1", "<SLACK_TOKEN>"),
        ("key AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", "<AWS_ACCESS_KEY>"),
        ("secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI", "<AWS_SECRET_KEY>"),
        ("use ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abc", "<GITHUB_TOKEN>"),
        ("db postgres://admin:hunter22@db.internal/app", "hunter22", "<URL_CREDENTIALS>"),
        ("password: s3cr3t!!", "s3cr3t", "<PASSWORD>"),
        ("call me at 212-555-0101", "555-0101", "<PHONE_NUMBER>"),
        ("card 4111 1111 1111 1111 expires", "4111 1111", "<CREDIT_CARD>"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA12\nZm9vYmFy==\n-----END RSA PRIVATE KEY-----",
            "MIIEowIBAAKCAQEA12",
            "<PRIVATE_KEY>",
        ),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA", "b3BlbnNzaC1r", "<PRIVATE_KEY>"),
        ("Thanks, Sarah Johnson, for the review", "Sarah Johnson", "<PERSON>"),
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
    assert out.startswith("Heron") and "Falcon" not in out and "<DENY_LIST>" in out


def test_empty_and_huge_texts(scrubber: Scrubber) -> None:
    assert scrubber.scrub("") == ""
    assert scrubber.scrub("   ") == "   "
    huge = "status ok " * 4000 + "mail me: someone@corp.example"
    assert "someone@corp.example" not in scrubber.scrub(huge)


def test_missing_spacy_model_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="not installed"):
        Scrubber(PrivacyPolicy(spacy_model="en_core_web_nonexistent"))
