"""Deciding whether a PERSON finding is a person, with what the workspace knows (workspace.py).

Presidio's recognizers (spaCy's NER, the first-name gazetteer) propose; this module decides, and
says why, for `tunebot scrub --explain`:

- a member's name counts anywhere, unless it is also an ordinary word or a known name (a tool, a
  city) and the context says it is not the person here ("Victoria Metrics", "in Phoenix", "mark it");
  a nickname derived from one ("nancy" from Ann) counts as any first name no member has;
- a known name of software or a place that no member has is never a person;
- with a member list loaded, any other word is a person only on strong evidence: a cue ("ask X",
  "X said", "who is X"), a title ("Dr X"), "my name is X", or a first and last name together;
- without a member list, the recognizers' own rules stand (they read cues already).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from spacy.tokens import Doc, Span, Token

from policies.privacy.names import CUES_AFTER, CUES_BEFORE, STRONG_AFTER, STRONG_BEFORE, fold
from policies.privacy.workspace import WorkspaceNames

TITLES = frozenset("mr mrs ms miss mx dr prof sir madam".split())
# After a name, words only a person does ("Okonkwo confirmed"); the weaker cues (and, is, will, ",",
# owns, needs, joined ...) follow tools as often as people ("Aerospike owns the retries").
PERSONAL_AFTER = STRONG_AFTER | frozenset(
    "confirmed approved reviewed thinks asked agreed suggested replied".split()
)
WEAK_AFTER = frozenset("owns needs wants knows joined left answered".split())
# What a dashboard or a check reports as well as a person ("Munin said the disk is full").
REPORTING = frozenset("said says".split())
# Around a tool's name ("the Julia dashboard", "upgrade Aurora 5.5", "migrated to Crystal").
THING_BEFORE = frozenset(
    "the our their your via through behind into using use restart upgrade deploy bump install run runs "
    "mirror migrate".split()
)
# ...and, around a name that is also a tool's or a place's, these too ("from Jasper to Okta").
THING_BEFORE_KNOWN = THING_BEFORE | frozenset("from to on in at of a an or off over than vs".split())
THING_AFTER = frozenset(
    "dashboard dashboards cluster clusters service services server servers ticket tickets metrics alerts "
    "alert pipeline pipelines job jobs connector config configs upgrade version release api instance "
    "instances db database node nodes pod pods queue queues bucket logs exporter agent plugin sidecar app "
    "runbook deploy deployment build builds image images project repo board workspace region office "
    "data query queries webhook webhooks license integration migration account key keys costs docs "
    "failover failovers team bugs settings proxy gateway worker workers cache index console cli sdk "
    "replica replicas shard shards collector scheduler".split()
)
# Words that make a name a product's: "Jasper Reports", "Victoria Metrics", "Phoenix Framework".
PRODUCT_WORDS = THING_AFTER | frozenset(
    "reports framework studio hub lab labs cloud engine suite platform analytics monitor manager desk "
    "works io js db ai os pay connect sync flow stack ops mq lake run cd ci ui kit pro".split()
)
# Words that say a person is meant, for a first name no member has (a weak cue is not enough).
PERSON_BEFORE = frozenset("congrats congratulations welcome kudos cheers bye".split())
PERSON_BEFORE_PAIRS = frozenset(
    tuple(p.split())
    for p in "pairing with|paired with|pair with|meeting with|met with|call with|chat with|chatted with|"
    "talked to|spoke to|spoke with|speak with|synced with|1:1 with|"
    "lunch with|coffee with|waiting on|shoutout to|kudos to|assigned to|behalf of|"
    "welcome back|congrats to|introduce you".split("|")
)
PERSON_AFTER_PHRASES = frozenset(
    tuple(p.split())
    for p in "is out|is ooo|is off today|is sick|is away|is on call|is on leave|is on vacation|is on pto|"
    "is on holiday|is on parental|was on call|are on call|are out|are off|are away|should sign off|"
    "will sign off|signed off|should review|will review|can review|is reviewing|is back from|is leaving|"
    "left the company|joined the team|is covering|will cover|covered for|is in the office|is at lunch|"
    "is interviewing|is presenting|is onboarding|started today|starts on".split("|")
)
# A customer or an account holder: "refund the card ... for Steven", "the order for Amaro".
CUSTOMER_WORDS = frozenset(
    "refund refunded refunds order orders invoice invoices charge charged chargeback payout payouts "
    "booking bookings subscription card".split()
)
_LEADING_NOT_NAME = frozenset({"the", "a", "an"}) | STRONG_BEFORE
_PLACE_WORDS = frozenset("in at from near across around outside inside via".split())
_NOT_PEOPLE = frozenset({"GPE", "LOC", "FAC", "ORG", "PRODUCT", "DATE", "TIME"})
_CODE_OR_LINK = re.compile(r"`[^`\n]+`|\b[a-z][a-z0-9+.-]*://\S+")
_VERSION = re.compile(r"v?\d+(\.\d+)*")


@dataclass(frozen=True)
class Verdict:
    person: bool
    reason: str


class PersonJudge:
    """Keeps or drops PERSON findings.

    `ambiguous` holds words that are names only in context (ordinary words, and first names that
    are also known names: "Julia", "Madison"); `dictionary` every dictionary word."""

    def __init__(
        self,
        names: WorkspaceNames,
        first_names: frozenset[str],
        ambiguous: frozenset[str],
        dictionary: frozenset[str],
    ):
        self.names = names
        self.first_names = first_names
        self.ambiguous = ambiguous
        self.dictionary = dictionary

    def judge(self, finding: RecognizerResult, text: str, doc: Doc) -> Verdict:
        span = doc.char_span(finding.start, finding.end, alignment_mode="expand")
        # NER's "The Augusta", "ping Mastodon" ("ping" is also a first name): the name is what
        # follows; the cue word stays a cue.
        while span is not None and len(span) > 1 and span[0].lower_ in _LEADING_NOT_NAME:
            span = span[1:]
        if span is None or not any(t.is_alpha for t in span):
            return Verdict(True, "as found")
        words = [fold(t.text) for t in span if t.is_alpha]
        members = [w for w in words if self.names.is_member_name(w)]
        if any(w in self.names.keep for w in words) and not members:
            return Verdict(False, "on the keep list (/tune words keep)")
        if _inside_code_or_link(text, finding.start, finding.end) and not members:
            return Verdict(False, "inside code or a link")
        phrase = self._known_phrase(span)
        if phrase:
            return Verdict(False, f"part of the known name {phrase!r}")
        cue = _cue(span)
        if members:
            return self._member(span, words, members, cue)
        # "Grafana", "Envoy": a known name that is nobody's first name (a surname that is also a
        # place, "Josué Sousa", does not make the first name one).
        head = words[0]
        full_name_cued = cue == "strong" and len(words) >= 2  # "cc Iwo Godzwon": Iwo is also a city
        if self.names.is_vocabulary(head) and head not in self.first_names and not full_name_cued:
            return Verdict(False, f"{head!r} is a known name of software or a place")
        personal = cue in ("strong", "personal")
        called_it = _called_it(span)
        if called_it:  # "I asked Gatus and it says the quota is fine"
            return Verdict(False, f"the words after call it 'it': [...] {called_it}")
        if personal and len(words) >= 2 and words[-1] in PRODUCT_WORDS:  # "Otel Collector says"
            return Verdict(False, f"a product's name ({span.text!r})")
        if personal and self.names.known and self._verb_only(span, words):
            return Verdict(False, "not a member; 'said' after a word no first-name list has is no evidence")
        if personal:
            return Verdict(True, "a cue says it is a person: " + _cue_words(span))
        if _titled(span):
            return Verdict(True, "a title or 'my name is'")
        if any(w in _email_names(span.doc.text) for w in words):
            return Verdict(True, "an email address in the message carries the name")
        if span[0].text.islower() and span.start > 0 and cue not in ("strong", "personal"):
            before = span.doc[span.start - 1]
            if before.text.islower() and before.pos_ in ("NOUN", "ADJ", "DET"):
                return Verdict(False, f"a lowercase word after {before.text!r}: part of a phrase, not a name")
        if self.names.is_workspace_word(head):
            return Verdict(False, f"{head!r} names one of the workspace's things (channel, code, service)")
        if self.names.known:
            if self._full_name(span) or (cue is not None and _with_initial(span)):
                return Verdict(True, "not a member, but a first and last name")
            if head in self.first_names and not _thing_context(span, THING_BEFORE, self.names):
                meant = self._meant_as_person(span, cue)
                if meant:
                    return Verdict(True, f"not a member, but a first name {meant}")
            return Verdict(False, "no member has this name and nothing says it is a person")
        if len(words) == 1 and self.names.is_vocabulary(head):
            return Verdict(False, f"{head!r} is a first name and a known name; no cue says a person here")
        if len(words) == 1 and _thing_context(span, THING_BEFORE_KNOWN, self.names):
            return Verdict(False, "the words around name a tool or a place here: " + _cue_words(span))
        # A word in no list of first names: a person next to a cue if written as chat writes names
        # ("for chus", "Tymon C.", "Salvi Gupta"); a lone capitalized word is more often a tool.
        written_as_name = span[0].text.islower() or len(words) >= 2 or span.text.endswith(".")
        if head not in self.first_names and (
            cue is None or not written_as_name or _thing_context(span, THING_BEFORE_KNOWN, self.names)
        ):
            return Verdict(False, "in no list of first names, and no cue says it is a person")
        if len(words) >= 2 and words[-1] in PRODUCT_WORDS:
            return Verdict(False, f"a product's name ({span.text!r})")
        return Verdict(True, "a name (no member list loaded)")

    def _member(self, span: Span, words: list[str], members: list[str], cue: str | None) -> Verdict:
        others = [t for t in span if t.is_alpha and not self.names.is_member_name(fold(t.text))]
        if others and all(fold(t.text) in PRODUCT_WORDS for t in others):
            product = span.text
            return Verdict(False, f"{product!r}: a member's name in a product's name")
        colliding = [w for w in members if w in self.ambiguous or self.names.is_vocabulary(w)]
        if len(members) >= 2:
            return Verdict(True, "a workspace member's name")
        if cue in ("strong", "personal"):
            return Verdict(True, "a workspace member's name, with a cue: " + _cue_words(span))
        if all(self.names.is_nickname_only(w) for w in members):
            # Derived, not given: "Nancy" from a member Ann is evidence only where a person is meant.
            meant = self._meant_as_person(span, cue)
            if meant:
                return Verdict(True, f"a nickname of a member's name, {meant}")
            return Verdict(False, f"{members[0]!r} is only a member's name's nickname; no cue says a person")
        first = span[0]
        doc = span.doc
        before = doc[first.i - 1].lower_ if first.i > 0 else ""
        if _thing_context(span, THING_BEFORE_KNOWN if colliding else THING_BEFORE, self.names):
            return Verdict(False, f"{members[0]!r} is a member's name but names a thing here")
        if not colliding:
            return Verdict(True, "a workspace member's name")
        if cue == "weak" and not any(self.names.is_vocabulary(w) for w in colliding):
            return Verdict(True, "a workspace member's name (also a word), with a cue: " + _cue_words(span))
        if first.ent_type_ in _NOT_PEOPLE or before in _PLACE_WORDS:
            return Verdict(False, f"{colliding[0]!r} is a member's name but names a place here")
        if first.text.islower():
            return Verdict(False, f"{colliding[0]!r} is a member's name but an ordinary word here")
        return Verdict(True, "a workspace member's name (capitalized, no other reading)")

    def _meant_as_person(self, span: Span, cue: str | None) -> str | None:
        """Why a first name no member has as such (or has only as a nickname) means a person here,
        or None: a weak cue before a lowercase name ("pairing with jacob", "for david": lowercase is
        not how a tool or a city is written), or words that say a person (a capitalized name beside
        a weak cue, "pay for Stella?", "Alma and Jenv are both fine", is as often a tool's)."""
        if cue == "weak" and span[0].text.islower():
            return "with a cue: " + _cue_words(span)
        said = self._person_context(span)
        return f"where a person is meant: {said}" if said else None

    def _person_context(self, span: Span) -> str | None:
        """Words that say a person is meant, for a capitalized first name no member has: "pairing
        with Nicole", "Stella is on call", "congrats Gus", "refund the card ... for Steven",
        "joshua and Ignazio own it" (beside a member's or a lowercase name)."""
        doc = span.doc
        before = [t.lower_ for t in doc[max(0, span.start - 2) : span.start]]
        if (before[-1:] and before[-1] in PERSON_BEFORE) or tuple(before) in PERSON_BEFORE_PAIRS:
            return " ".join(before) + " [...]"
        end = span.end
        if end + 1 < len(doc) and doc[end].lower_ in ("and", "&") and doc[end + 1].text[:1].isupper():
            end += 2  # "Stella and Marco are on call": what follows the pair says it of both
        after = tuple(t.lower_ for t in doc[end : end + 3])
        if any(after[: len(p)] == p for p in PERSON_AFTER_PHRASES):
            return "[...] " + " ".join(after)
        for neighbour in _coordinated(span):
            word = fold(neighbour.text)
            if neighbour.is_alpha and (
                (self.names.is_member_name(word) and not self.names.is_vocabulary(word))
                or (neighbour.text.islower() and word in self.first_names and word not in self.ambiguous)
            ):
                return f"beside the name {neighbour.text!r}"
        known = self.names.is_vocabulary(fold(span[0].text))  # "orders for Madison": the city
        if span.start > 0 and doc[span.start - 1].lower_ in ("for", "owner", "to") and not known:
            customer = next((t.text for t in doc[: span.start] if t.lower_ in CUSTOMER_WORDS), None)
            if customer:
                return f"{customer} ... {doc[span.start - 1].text} [...]"
        return None

    def _verb_only(self, span: Span, words: list[str]) -> bool:
        """ "Munin said the disk is full", "Slim says": one word whose only cue is
        "said" or "says" after it (no "ask", "cc", "who is" before it), and that is capitalized and
        in no list of first names or also an ordinary word, or lowercase and a dictionary word that
        is no first name: tools report as people do. "Priya said", "parth said" and "Okonkwo
        approved" stay people."""
        doc = span.doc
        after = doc[span.end].lower_ if span.end < len(doc) else ""
        if len(words) != 1 or after not in REPORTING or _titled(span):
            return False  # "Okonkwo approved": only a person approves
        word = words[0]
        lowercase = span[0].text.islower()
        if word in self.first_names and (lowercase or word not in self.ambiguous):
            return False  # "Priya said", "lorraine said"; but "Slim said" may be a tool
        if lowercase and word not in self.dictionary:
            return False  # "parth said": chat writes names in lowercase, tools seldom
        before = doc[span.start - 1].lower_.rstrip(".") if span.start > 0 else ""
        who_is = before == "is" and span.start > 1 and doc[span.start - 2].lower_ == "who"
        return before not in STRONG_BEFORE and not who_is

    def _known_phrase(self, span: Span) -> str | None:
        """A vocabulary phrase the span starts ("Victoria Metrics", "Phoenix Framework"; but in
        "Joana Casa Grande" the place starts after the name), or one of several words that starts
        up to two words before it and covers it ("San Diego" for "Diego")."""
        doc = span.doc
        for start in range(span.start, max(0, span.start - 2) - 1, -1):
            if not all(t.is_alpha for t in doc[start : span.start + 1]):
                break
            tokens = [t for t in doc[start : min(len(doc), span.end + 3)] if t.is_alpha]
            length = self.names.vocabulary.phrase_at([fold(t.text) for t in tokens], 0)
            covers = start == span.start or (length >= span.end - start and tokens[0].text[:1].isupper())
            if length and covers:
                return " ".join(t.text for t in tokens[:length])
        return None

    def _full_name(self, span: Span) -> bool:
        alpha = [t for t in span if t.is_alpha]
        if len(alpha) < 2 or fold(alpha[0].text) not in self.first_names:
            return False
        last = fold(alpha[-1].text)
        return alpha[-1].text[:1].isupper() and last not in self.ambiguous and last not in PRODUCT_WORDS


# What systems do and what is done to them, in two words: "Amber is down", "turn off Luigi".
THING_AFTER_PAIRS = frozenset(
    tuple(p.split())
    for p in "is down|is up|went down|time out|times out|timed out|is unreachable|is flaky|is slow|"
    "keeps crashing|is deprecated|is deployed|is installed|is configured|is enabled|is disabled".split("|")
)
THING_BEFORE_PAIRS = frozenset(
    tuple(p.split())
    for p in "turn off|turn on|stayed on|moved to|migrated to|switched to|runs on|run on|hosted on|"
    "built with|built on|deployed to|connector to|upgrade to|installed|enable|disable|configure".split("|")
)


def _thing_context(span: Span, before_words: frozenset[str], names: WorkspaceNames) -> bool:
    """Whether the words around say a tool is meant: "the Julia dashboard", "upgrade Aurora 5.5",
    "Amber is down", "turn off Luigi", "Sentry and Jetty" (beside a known tool's name)."""
    doc = span.doc
    before = doc[span.start - 1].lower_ if span.start > 0 else ""
    after = doc[span.end].text if span.end < len(doc) else ""
    if before in before_words or after.lower() in PRODUCT_WORDS or _VERSION.fullmatch(after):
        return True
    after_two = tuple(t.lower_ for t in doc[span.end : span.end + 2])
    before_two = tuple(t.lower_ for t in doc[max(0, span.start - 2) : span.start])
    if (
        after_two in THING_AFTER_PAIRS
        or before_two in THING_BEFORE_PAIRS
        or before_two[-1:] in THING_BEFORE_PAIRS
    ):
        return True
    for token in doc[span.end : span.end + 5]:  # "Alfred just restarted itself": no person does
        if token.is_punct:
            break
        if token.lower_ == "itself":
            return True
    return _beside_a_known_name(span, names)


_IT = frozenset({"it", "its"})
_IT_DOES = frozenset(
    "says said shows showed reports reported returns returned keeps kept looks looked thinks claims "
    "complains complained".split()
)


def _called_it(span: Span) -> str | None:
    """The words right after a name that call it "it": "asked Gatus and it says", "Redash, it shows"
    (a pronoun that reports or shows, joined by "and", "but", "so" or a comma). "ask Priya and it
    will get done" is not one: "it" there is no thing that speaks."""
    doc = span.doc
    words = [t.lower_ for t in doc[span.end : span.end + 3]]
    if words[:1] and words[0] in ("and", "but", "so", ","):
        words = words[1:]
    if len(words) >= 2 and words[0] in _IT and words[1] in _IT_DOES:
        return " ".join(words[:2])
    return None


def _coordinated(span: Span) -> list[Token]:
    """The words joined to the span by "and", "or", "&" or a comma, before and after it."""
    doc = span.doc
    return [
        doc[other]
        for link, other in ((span.start - 1, span.start - 2), (span.end, span.end + 1))
        if 0 <= other < len(doc) and 0 <= link < len(doc) and doc[link].lower_ in ("and", "or", "&", ",")
    ]


def _beside_a_known_name(span: Span, names: WorkspaceNames) -> bool:
    """ "Sentry and Jetty", "Cloud Run or Jasper": coordinated with a tool's or a place's name."""
    return any(
        t.text[:1].isupper() and names.is_vocabulary(fold(t.text)) and not names.is_member_name(fold(t.text))
        for t in _coordinated(span)
    )


def _with_initial(span: Span) -> bool:
    """ "Rachita M.", "Bruno P.": a name and the initial of a surname."""
    alpha = [t for t in span if t.is_alpha]
    return (
        len(alpha) >= 2 and len(alpha[-1].text) == 1 and alpha[-1].text.isupper() and span.text.endswith(".")
    )


def _recognizer(finding: RecognizerResult) -> str:
    return str((finding.recognition_metadata or {}).get("recognizer_name", "?"))


def _cue(span: Span) -> str | None:
    doc = span.doc
    before = doc[span.start - 1].lower_.rstrip(".") if span.start > 0 else ""
    after = doc[span.end].lower_ if span.end < len(doc) else ""
    who_is = before == "is" and span.start > 1 and doc[span.start - 2].lower_ == "who"
    if before in STRONG_BEFORE or after in STRONG_AFTER or who_is:
        return "strong"
    if after in PERSONAL_AFTER:
        return "personal"
    if before in CUES_BEFORE or after in CUES_AFTER or after in WEAK_AFTER or after == "'s":
        return "weak"
    return None


def _cue_words(span: Span) -> str:
    doc = span.doc
    left = doc[max(0, span.start - 2) : span.start].text
    right = doc[span.end : span.end + 1].text
    return f"{left} [...] {right}".strip()


def _titled(span: Span) -> bool:
    doc = span.doc
    before = [t.lower_.rstrip(".") for t in doc[max(0, span.start - 3) : span.start] if not t.is_punct]
    return bool(before) and (before[-1] in TITLES or before[-3:] == ["my", "name", "is"])


_EMAIL = re.compile(r"([A-Za-z0-9._%+-]+)@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _email_names(text: str) -> set[str]:
    """The parts of the emails' local parts: okonkwo@acme.io, dana.whitfield@x.com."""
    return {fold(part) for m in _EMAIL.finditer(text) for part in re.split(r"[._%+-]", m.group(1)) if part}


def _inside_code_or_link(text: str, start: int, end: int) -> bool:
    return any(m.start() <= start and end <= m.end() for m in _CODE_OR_LINK.finditer(text))


class MemberNameRecognizer(EntityRecognizer):
    """PERSON findings for workspace members' names wherever they occur (any case, possessives)."""

    def __init__(self, names: WorkspaceNames, score: float = 0.95):
        self.names = names
        self.score = score
        super().__init__(supported_entities=["PERSON"], name="tunebot_workspace_members")

    def load(self) -> None:  # the member list is set and refreshed from outside
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if "PERSON" not in entities or not self.names.known or nlp_artifacts is None:
            return []
        doc: Doc = nlp_artifacts.tokens
        results = []
        i = 0
        while i < len(doc):
            if not self._member_word(doc[i]):
                i += 1
                continue
            end = i + 1
            while end < len(doc) and self._member_word(doc[end]) and doc[end - 1].whitespace_:
                end += 1
            results.append(
                RecognizerResult("PERSON", doc[i].idx, doc[end - 1].idx + len(doc[end - 1].text), self.score)
            )
            i = end
        return results

    def _member_word(self, token: Token) -> bool:
        if fold(token.text) in self.names.handles:  # jasper.o, priya_r
            return True
        if not token.is_alpha or len(token.text) < 2:
            return False
        return self.names.is_member_name(fold(token.text))


class EmailNameRecognizer(EntityRecognizer):
    """A word that is part of an email address's local part in the same message ("Okonkwo
    (okonkwo@acme.io)"): the address names that person."""

    def __init__(self, score: float = 0.85):
        self.score = score
        super().__init__(supported_entities=["PERSON"], name="tunebot_email_names")

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if "PERSON" not in entities or nlp_artifacts is None or "@" not in text:
            return []
        parts = {p for p in _email_names(text) if len(p) >= 3}
        doc: Doc = nlp_artifacts.tokens
        return [
            RecognizerResult("PERSON", t.idx, t.idx + len(t.text), self.score)
            for t in doc
            if t.is_alpha and fold(t.text) in parts
        ]
