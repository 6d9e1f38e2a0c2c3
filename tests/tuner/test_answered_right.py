"""What the gate counts as a held-out team question answered right (shown first in /tune status)."""

from __future__ import annotations

from tuner.evaluation import answered_right, key_terms


def test_key_terms_are_the_facts_the_question_did_not_say() -> None:
    assert key_terms("The billing service listens on port 7781.", "which port is billing on?") == ["7781"]
    assert key_terms("Our CI runs on Buildkite.", "What do we use for CI?") == ["buildkite"]
    assert key_terms("The runbook is at wiki.qf.internal/oncall.", "where is the runbook?") == [
        "wiki.qf.internal/oncall"
    ]


def test_an_answer_is_right_when_it_says_every_key_term() -> None:
    reference = "The billing service listens on port 7781."
    assert answered_right("Billing is on port 7781", reference, "which port is billing on")
    assert not answered_right("Billing is on port 8080", reference, "which port is billing on")
    assert not answered_right("I am not sure, sorry.", reference, "which port is billing on")
    # Without key terms (a plain yes/no policy), chrF against the reference decides.
    policy = "no, you should not deploy then"
    assert answered_right("no, you should not deploy then", policy, "can I deploy?")
    assert not answered_right("sure, go ahead", policy, "can I deploy?")
