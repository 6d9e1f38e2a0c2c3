"""No answer shown to a person carries a `<ENTITY_n>` placeholder (issue 22)."""

from __future__ import annotations

from policies.privacy.placeholders import WITHHELD, for_people, names_a_secret


def test_names_and_contacts_become_words() -> None:
    shown = for_people("ask <PERSON_1> or mail <EMAIL_ADDRESS_2>; <SLACK_USER_1> knows")
    assert shown.text == "ask a teammate or mail (an email address); a teammate knows"
    assert shown.replaced == 3 and not shown.withheld
    assert for_people("<PERSON> owns it").text == "a teammate owns it"  # the `replace` operator


def test_an_answer_naming_a_secret_is_withheld() -> None:
    for text in ("The guest wi-fi password is <PASSWORD_1>.", "use <AWS_SECRET_KEY_1> then <PERSON_1>"):
        shown = for_people(text)
        assert shown.withheld and shown.text == WITHHELD and "<" not in shown.text


def test_streaming_text_never_shows_half_a_placeholder() -> None:
    assert for_people("ask <PERS", streaming=True).text == "ask "
    assert for_people("ask <PERSON_1> tod", streaming=True).text == "ask a teammate tod"


def test_only_tunebots_entities_are_placeholders() -> None:
    assert for_people("wrap it in <div> or <HTML>").text == "wrap it in <div> or <HTML>"
    assert names_a_secret("the key is <API_KEY_1>") and not names_a_secret("ask <PERSON_1>")
