"""People known from the workspace's member list; tool, product and place names kept (issue 22)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from policies.privacy import Scrubber
from policies.privacy.workspace import Member, Vocabulary, shipped_vocabulary, workspace_words

JASPER = Member(id="U01", real_name="Jasper Ortiz", first_name="Jasper", last_name="Ortiz", handle="jasper.o")
VICTORIA = Member(id="U02", real_name="Victoria Lee", display_name="Vicky", handle="victoria")
PRIYA = Member(id="U03", real_name="Priya Raman", handle="priya.r")

# The sentences: no personal data, each lost a tool's name to <PERSON_1>.
TOOLS = [
    "Grafana dashboard Payments Overview shows p99 latency at 450ms since the 3.2.1 release.",
    "Merge PR #4512 after Jira ticket OPS-1234 is approved by the change board.",
    "We pin Python 3.11 and Django 5.0 in the base image.",
    "The billing service listens on port 8443 behind the Envoy sidecar.",
    "Prometheus scrapes every 15s; the rota is in the wiki.",
    "The Lisbon office builds with Bazel every night.",
]


@pytest.fixture
def members(scrubber: Scrubber) -> Iterator[Scrubber]:
    """The session's scrubber with Jasper Ortiz and Victoria Lee as the workspace's members."""
    scrubber.workspace.set_members([JASPER, VICTORIA])
    yield scrubber
    scrubber.workspace.set_members([])


@pytest.fixture
def no_jasper(scrubber: Scrubber) -> Iterator[Scrubber]:
    scrubber.workspace.set_members([PRIYA])
    yield scrubber
    scrubber.workspace.set_members([])


@pytest.mark.parametrize("text", TOOLS)
def test_tool_and_place_names_are_kept_with_and_without_a_member_list(
    scrubber: Scrubber, members: Scrubber, text: str
) -> None:
    assert members.scrub(text) == text
    members.workspace.set_members([])
    assert scrubber.scrub(text) == text


def test_members_names_are_caught_anywhere(members: Scrubber) -> None:
    assert members.scrub("ask jasper about the deploy") == "ask <PERSON_1> about the deploy"
    assert members.scrub("Jasper's PR broke staging") == "<PERSON_1>'s PR broke staging"
    assert members.scrub("Ortiz approved it") == "<PERSON_1> approved it"  # the last name alone
    assert members.scrub("vicky fixed the alert") == "<PERSON_1> fixed the alert"  # display name
    assert members.scrub("thanks VICTORIA") == "thanks <PERSON_1>"
    assert members.scrub("ping jasper.o when it is green") == "ping <PERSON_1> when it is green"
    # "Jasper Ortiz" then "jasper": one person, one number
    assert members.scrub_conversation(["Jasper Ortiz owns it", "ok, jasper"]) == [
        "<PERSON_1> owns it",
        "ok, <PERSON_1>",
    ]


def test_nicknames_derive_from_first_names(scrubber: Scrubber) -> None:
    scrubber.workspace.set_members([Member(id="U09", real_name="Robert Fischer")])
    try:
        assert scrubber.scrub("bob said it is fine") == "<PERSON_1> said it is fine"
        assert scrubber.scrub("ask Bobby") == "ask <PERSON_1>"
    finally:
        scrubber.workspace.set_members([])


def test_a_nickname_alone_is_a_name_only_where_a_person_is_meant(scrubber: Scrubber) -> None:
    """A member's own names count anywhere; a name only derived from one (Ann gives anna, nancy,
    roxanne and a dozen more) counts as any first name no member has: beside words that say a person."""
    scrubber.workspace.set_members([Member(id="U10", real_name="Ann Kowalski")])
    try:
        assert scrubber.scrub("Ann: 828 open alerts") == "<PERSON_1>: 828 open alerts"
        assert scrubber.scrub("Nancy: 828 open alerts") == "Nancy: 828 open alerts"
        assert scrubber.scrub("install Fermi first, then Nancy") == "install Fermi first, then Nancy"
        assert scrubber.scrub("ask nancy about it") == "ask <PERSON_1> about it"
        assert scrubber.scrub("Nancy said it is fine") == "<PERSON_1> said it is fine"
        assert scrubber.scrub("pairing with Roxanne today") == "pairing with <PERSON_1> today"
    finally:
        scrubber.workspace.set_members([])


def test_the_context_decides_when_a_members_name_is_also_a_things_name(members: Scrubber) -> None:
    assert members.scrub("Victoria Metrics is down again") == "Victoria Metrics is down again"
    assert members.scrub("VictoriaMetrics is down again") == "VictoriaMetrics is down again"
    assert members.scrub("the Victoria office is closed") == "the Victoria office is closed"
    assert members.scrub("we moved the servers to Victoria") == "we moved the servers to Victoria"
    assert members.scrub("ask victoria about it") == "ask <PERSON_1> about it"
    assert members.scrub("Victoria said it is down") == "<PERSON_1> said it is down"


def test_a_word_no_member_has_needs_strong_evidence(no_jasper: Scrubber) -> None:
    assert no_jasper.scrub("Jasper renders the invoices") == "Jasper renders the invoices"
    assert no_jasper.scrub("Hermes routes the push notifications") == "Hermes routes the push notifications"
    assert no_jasper.scrub("Phoenix is down, Mercury too") == "Phoenix is down, Mercury too"
    # strong evidence: a cue, a title, "my name is", a first and last name
    assert no_jasper.scrub("ask jasper about it") == "ask <PERSON_1> about it"
    assert no_jasper.scrub("Dr Okonkwo signed it") == "Dr <PERSON_1> signed it"
    assert no_jasper.scrub("hi, my name is Halil") == "hi, my name is <PERSON_1>"
    assert no_jasper.scrub("Dana Whitfield emailed us") == "<PERSON_1> emailed us"
    assert no_jasper.scrub("who is Thandiwe?") == "who is <PERSON_1>?"
    assert (
        no_jasper.scrub("Okonkwo (okonkwo@acme.io) will join") == "<PERSON_1> (<EMAIL_ADDRESS_1>) will join"
    )


def test_weak_cues_beside_a_tool_are_no_evidence_of_a_person(no_jasper: Scrubber) -> None:
    # what systems do too ("owns", "is", "and"): no person without a member or a stronger cue
    assert no_jasper.scrub("Aerospike owns the retries now") == "Aerospike owns the retries now"
    assert no_jasper.scrub("Rush is the fallback when Expo is unreachable") == (
        "Rush is the fallback when Expo is unreachable"
    )
    assert no_jasper.scrub("Why does it time out when Jasper Reports is busy?") == (
        "Why does it time out when Jasper Reports is busy?"
    )
    # a first name that is no word and no known name, introduced as people are
    assert (
        no_jasper.scrub("pairing with Nicole on the flaky test")
        == "pairing with <PERSON_1> on the flaky test"
    )
    assert no_jasper.scrub("Okonkwo approved the change") == "<PERSON_1> approved the change"


# A capitalized first name that no member has, beside only a weak cue ("for", "with", "and", "is",
# "can"), is as often a tool's; words that say a person is meant still make it one.
WEAK_CUE = [
    ("any reason we still pay for Stella? Expo does it natively", None),
    ("Alma and Jenv are both fine, pick one", None),
    ("wondering if Gemma can replace Innernet", None),
    ("Customer data for Madison stays in the Morocco region.", None),
    ("can Elasticsearch talk to Tauri over mTLS?", None),
    # NER's span "ping Mastodon" ("Ping" is a first name too): the cue is no part of the name
    ("ping Mastodon from the bastion and see if it answers", None),
    ("pairing with Nicole on the flaky test", "pairing with <PERSON_1> on the flaky test"),
    ("Stella is on call this week", "<PERSON_1> is on call this week"),
    ("Stella and Gemma are on call this week", "<PERSON_1> and <PERSON_2> are on call this week"),
    ("joshua and Ignazio own Looker", "<PERSON_1> and <PERSON_2> own Looker"),
    ("refund the card for Steven, order #71715", "refund the card for <PERSON_1>, order #71715"),
    ("congrats Gemma on the launch!", "congrats <PERSON_1> on the launch!"),
]


def test_a_capitalized_first_name_with_a_weak_cue_needs_words_that_say_a_person(no_jasper: Scrubber) -> None:
    assert [no_jasper.scrub(text) for text, _ in WEAK_CUE] == [
        text if expected is None else expected for text, expected in WEAK_CUE
    ]
    # lowercase is how chat writes people, not tools
    assert no_jasper.scrub("any reason we still pay for stella?") == "any reason we still pay for <PERSON_1>?"


def test_a_members_name_that_does_what_only_things_do_is_a_thing(members: Scrubber) -> None:
    members.workspace.set_members([JASPER, Member(id="U05", real_name="Alfred Brandt")])
    assert members.scrub("lol Alfred just restarted itself again") == "lol Alfred just restarted itself again"
    assert members.scrub("Alfred restarted the job") == "<PERSON_1> restarted the job"


# Dashboards and checks "say" things: with the member list known, "said" alone is no evidence for a
# word in no list of first names, or one that is also an ordinary word; a first name, a lowercase
# name, a cue before it or a person's verb still are.
SAID = [
    ("Munin said the disk is at 95%", "Munin said the disk is at 95%"),
    ("Slim says the build is green", "Slim says the build is green"),
    ("Agatha said the disk is full", "<PERSON_1> said the disk is full"),
    ("parth said it is fine", "<PERSON_1> said it is fine"),
    ("ask Munin, he said so", "ask <PERSON_1>, he said so"),
    ("Okonkwo confirmed the change", "<PERSON_1> confirmed the change"),
]


def test_said_after_a_word_no_first_name_list_has_is_what_tools_do_too(
    scrubber: Scrubber, no_jasper: Scrubber
) -> None:
    assert [no_jasper.scrub(text) for text, _ in SAID] == [expected for _, expected in SAID]
    # Without a member list the recognizers' own cues stand.
    scrubber.workspace.set_members([])
    assert scrubber.scrub("Munin said the disk is at 95%") == "<PERSON_1> said the disk is at 95%"


# A thing the words after call "it", and a product's name of two words, report as people do.
CALLED_IT = [
    ("I asked Gatus and it says the quota is fine", "I asked Gatus and it says the quota is fine"),
    ("ask Redash, it shows the p99 per region", "ask Redash, it shows the p99 per region"),
    ("Otel Collector says the cert expires in 7 days", "Otel Collector says the cert expires in 7 days"),
    ("ask Okonkwo and it will get done", "ask <PERSON_1> and it will get done"),
    ("I asked Okonkwo and she says it is fine", "I asked <PERSON_1> and she says it is fine"),
    ("Agatha Collins says the disk is full", "<PERSON_1> says the disk is full"),
]


@pytest.mark.parametrize("listed", [True, False])
def test_what_the_words_after_call_it_is_a_thing(scrubber: Scrubber, listed: bool) -> None:
    scrubber.workspace.set_members([JASPER] if listed else [])
    assert [scrubber.scrub(text) for text, _ in CALLED_IT] == [expected for _, expected in CALLED_IT]


def test_a_members_name_inside_a_place_name_is_the_place(scrubber: Scrubber) -> None:
    scrubber.workspace.set_members([Member(id="U09", real_name="Diego Alves")])
    try:
        assert (
            scrubber.scrub("Move the cron to 02:00 San Diego time.")
            == "Move the cron to 02:00 San Diego time."
        )
        assert scrubber.scrub("ask Diego about the cron") == "ask <PERSON_1> about the cron"
    finally:
        scrubber.workspace.set_members([])


def test_explain_says_what_found_each_value_and_why(members: Scrubber) -> None:
    findings = {e.value: e for e in members.explain("ask jasper whether Grafana or Victoria Metrics")}
    assert findings["jasper"].replaced and "member" in findings["jasper"].reason
    assert findings["jasper"].recognizer and 0 < findings["jasper"].score <= 1
    kept = findings.get("Victoria Metrics") or findings["Victoria"]
    assert not kept.replaced and "Victoria Metrics" in kept.reason
    secret = members.explain("the password is hunter2hunter2")[0]
    assert secret.entity == "PASSWORD" and secret.replaced


def test_keep_and_scrub_word_lists(scrubber: Scrubber) -> None:
    text = "the mobile app is code-named Kestrel, ask Kestrel"
    try:
        scrubber.workspace.set_word_lists(keep=["kestrel"], scrub=["quillfeather"])
        assert scrubber.scrub(text) == text
        assert scrubber.scrub("Quillfeather was founded in 2019") == "<DENY_LIST_1> was founded in 2019"
    finally:
        scrubber.workspace.set_word_lists(keep=[], scrub=[])


def test_members_display_names_that_are_ordinary_words_are_ignored(scrubber: Scrubber) -> None:
    scrubber.workspace.set_members([Member(id="U0SANDBOX", display_name="you", handle="you")])
    try:
        assert not scrubber.workspace.known
        assert scrubber.scrub("can you restart it?") == "can you restart it?"
    finally:
        scrubber.workspace.set_members([])


def test_vocabulary_is_shipped_and_large() -> None:
    vocabulary = shipped_vocabulary()
    assert len(vocabulary.words) > 10_000
    # simple-icons, the iconify logos' slugs ("active-campaign"), devicon, Pygments, GeoNames
    known = ("grafana", "jira", "django", "prometheus", "lisbon", "victoriametrics", "envoy", "zwave", "deta")
    for name in known:
        assert name in vocabulary.words, name
    assert "john" not in vocabulary.words  # "John Deere" says nothing about John
    phrases = Vocabulary.of(["Victoria Metrics", "Phoenix Framework"])
    assert phrases.phrase_at(["victoria", "metrics", "is"], 0) == 2
    assert phrases.phrase_at(["victoria", "lee"], 0) == 0


def test_workspace_words_come_from_code_spans_links_and_channels() -> None:
    words = workspace_words(
        ["deploy with `kestrel-cli push`", "see https://wiki.corp/heron-docs", "#ops-marigold"]
    )
    assert {"kestrel", "cli", "push", "heron", "docs", "marigold"} <= words
