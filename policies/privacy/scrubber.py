"""The scrubber: Presidio analyzer + anonymizer configured from the privacy policy, fully offline.

One conversation is scrubbed as one batch (spaCy's `nlp.pipe`), and every value gets a numbered
placeholder that stays the same throughout that conversation (`<PERSON_1>` asked, `<PERSON_2>`
answered, `<PERSON_1>` thanked). The numbering lives only in memory while a conversation is
scrubbed: nothing that maps a placeholder back to its value is ever stored.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import tldextract
import tldextract.tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig

from policies.privacy.names import AMBIGUOUS, FirstNameRecognizer, first_names, fold, ordinary_words
from policies.privacy.nlp import GatedNerSpacy
from policies.privacy.people import EmailNameRecognizer, MemberNameRecognizer, PersonJudge
from policies.privacy.recognizers import (
    GatedPhoneRecognizer,
    WordListRecognizer,
    deny_list_recognizer,
    secret_recognizers,
)
from policies.privacy.slack_markup import render_slack_markup
from policies.privacy.workspace import WorkspaceNames
from policies.schema import PrivacyPolicy

log = logging.getLogger(__name__)


def use_bundled_suffix_list() -> None:
    # Presidio's email/URL recognizers call tldextract.extract(), whose default extractor fetches
    # the public suffix list over the network on first use. Use the snapshot shipped in the package.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
    )


_NOT_IN_NAMES = re.compile(r"[0-9_/@:=]|\.\w")


def _implausible_person(
    finding: RecognizerResult,
    text: str,
    ordinary: frozenset[str],
    dictionary: frozenset[str],
    names: frozenset[str],
) -> str | None:
    """spaCy's small model tags host names (db-prod-01), lowercase verbs ("max out") and capitalized
    dictionary words ("the Envoy sidecar") as people: the reason it is not one, or None."""
    value = text[finding.start : finding.end]
    if _recognizer(finding) == "tunebot_workspace_members":
        return None  # a member's handle may look like an identifier (jasper.o)
    if _NOT_IN_NAMES.search(value):
        return "looks like an identifier, not a name"
    if _recognizer(finding) != "SpacyRecognizer" or " " in value:
        return None
    word = fold(value)
    if (value.islower() and word in ordinary) or word in AMBIGUOUS:
        return "an ordinary word that spaCy alone called a person"
    if word in dictionary and word not in names:
        return "a dictionary word that spaCy alone called a person"
    return None


def _recognizer(finding: RecognizerResult) -> str:
    return str((finding.recognition_metadata or {}).get("recognizer_name", "?"))


@dataclass(frozen=True)
class Explanation:
    """One finding and what the scrubber did with it (`tunebot scrub --explain`)."""

    entity: str
    value: str
    start: int
    end: int
    recognizer: str
    score: float
    replaced: bool
    reason: str


_SLACK_ID = re.compile(r"<@([UW][A-Z0-9]+)")


def _identity(entity: str, value: str) -> str:
    """What makes two mentions the same value: case and spacing do not, nor a Slack display name."""
    if entity == "SLACK_USER" and (match := _SLACK_ID.match(value)):
        return match.group(1)
    return " ".join(value.lower().rstrip(".").split())


class Pseudonyms:
    """Numbered placeholders for one conversation: the same value always gets the same number."""

    def __init__(self) -> None:
        self._numbers: dict[str, dict[str, int]] = {}

    def placeholder(self, entity: str, value: str) -> str:
        numbers = self._numbers.setdefault(entity, {})
        key = _identity(entity, value)
        if key not in numbers:
            alias = self._alias(numbers, key) if entity == "PERSON" else 0
            numbers[key] = alias or len(set(numbers.values())) + 1
        return f"<{entity}_{numbers[key]}>"

    @staticmethod
    def _alias(numbers: dict[str, int], key: str) -> int:
        # "Jane Roe" then "jane": the first name alone refers to the full name met before (or after).
        parts = key.split()
        for known, number in numbers.items():
            other = known.split()
            if len(parts) != len(other) and parts[0] == other[0]:
                return number
        return 0


_MARK = re.compile(r"\x00(\d+)\x00")


def _survives_overlaps(finding: RecognizerResult, kept: list[RecognizerResult]) -> bool:
    """Whether Presidio's anonymizer keeps this finding (it drops one inside a larger or higher one)."""
    for other in kept:
        if other is finding or other.end <= finding.start or finding.end <= other.start:
            continue
        inside = other.start <= finding.start and finding.end <= other.end
        if inside and (other.end - other.start > finding.end - finding.start or other.score > finding.score):
            return False
    return True


def _why_replaced(finding: RecognizerResult) -> str:
    explanation = finding.analysis_explanation
    if explanation is not None and explanation.pattern_name:
        return f"matches {explanation.pattern_name}"
    return f"{finding.entity_type.lower().replace('_', ' ')} recognized"


class Scrubber:
    """Replaces personal data and secrets with placeholders, as the privacy policy says."""

    def __init__(self, policy: PrivacyPolicy, workspace: WorkspaceNames | None = None):
        if importlib.util.find_spec(policy.spacy_model) is None:
            raise RuntimeError(
                f"privacy.spacy_model: spaCy model {policy.spacy_model!r} is not installed; "
                f"install it as a package (tunebot never downloads models at run time)"
            )
        use_bundled_suffix_list()
        self.policy = policy
        # Who the workspace's people are and which words are not people: refreshed from outside
        # (users.list, an export's users.json, /tune words), in memory only.
        self.workspace = workspace or WorkspaceNames()
        self.workspace.add_vocabulary(policy.allow_list)
        self._nlp_engine = GatedNerSpacy(policy.spacy_model)
        self._nlp_engine.load()
        self._analyzer = AnalyzerEngine(nlp_engine=self._nlp_engine, supported_languages=["en"])
        self._analyzer.registry.remove_recognizer("PhoneRecognizer")
        self._analyzer.registry.add_recognizer(GatedPhoneRecognizer())
        for recognizer in secret_recognizers():
            self._analyzer.registry.add_recognizer(recognizer)
        dictionary = self._nlp_engine.dictionary
        self._ordinary = ordinary_words(dictionary["verb"] | dictionary["adj"] | dictionary["adv"])
        nouns = dictionary["noun"]
        self._dictionary = self._ordinary | nouns
        names = self._names = first_names()
        vocabulary = self.workspace.shipped.words
        # Capitalized words NER need not look at: dictionary words and names, except names that are
        # also ordinary words ("June", "Austin"), where NER tells a date or place from a person; and
        # names of software and places that are nobody's first name.
        self._nlp_engine.known = (
            (self._ordinary | nouns | names) - (names & self._ordinary)
            | (vocabulary - names)
            | {fold(w) for w in policy.allow_list}
        )
        self._judge = PersonJudge(
            self.workspace, names, self._ordinary | (names & vocabulary), self._dictionary
        )
        if "PERSON" in policy.entities:
            self._analyzer.registry.add_recognizer(FirstNameRecognizer(self._ordinary, nouns))
            self._analyzer.registry.add_recognizer(MemberNameRecognizer(self.workspace))
            self._analyzer.registry.add_recognizer(EmailNameRecognizer())
        self._entities = [*policy.entities, "DENY_LIST"]
        if policy.deny_list:
            self._analyzer.registry.add_recognizer(deny_list_recognizer(policy.deny_list))
        self._analyzer.registry.add_recognizer(WordListRecognizer(self.workspace))
        self._thresholds = {e: policy.thresholds.get(e, policy.score_threshold) for e in self._entities}
        self._anonymizer = AnonymizerEngine()

    def _decide(self, text: str, artifacts: NlpArtifacts) -> list[tuple[RecognizerResult, bool, str]]:
        """Every finding above the lowest threshold: whether it is replaced, and why (or why not)."""
        findings = self._analyzer.analyze(
            text=text,
            language="en",
            entities=self._entities,
            nlp_artifacts=artifacts,
            score_threshold=min(self._thresholds.values()),
            allow_list=self.policy.allow_list or None,
        )
        decided: list[tuple[RecognizerResult, bool, str]] = []
        for finding in findings:
            if finding.score < self._thresholds[finding.entity_type]:
                decided.append((finding, False, f"score below the {finding.entity_type} threshold"))
            elif finding.entity_type != "PERSON":
                decided.append((finding, True, _why_replaced(finding)))
            elif reason := _implausible_person(finding, text, self._ordinary, self._dictionary, self._names):
                decided.append((finding, False, reason))
            else:
                verdict = self._judge.judge(finding, text, artifacts.tokens)
                decided.append((finding, verdict.person, verdict.reason))
        return decided

    def _analyze(self, text: str, artifacts: NlpArtifacts) -> list[RecognizerResult]:
        return [finding for finding, replaced, _ in self._decide(text, artifacts) if replaced]

    def explain(self, text: str) -> list[Explanation]:
        """Each finding in one text: what found it, its score, and whether (and why not) it is replaced.

        For an operator at a terminal (`tunebot scrub --explain`); the values are the input's own."""
        rendered = render_slack_markup(text.replace("\x00", ""))
        ((_, artifacts),) = self._nlp_engine.process_batch([rendered], "en")
        decided = self._decide(rendered, artifacts)
        kept = [f for f, replaced, _ in decided if replaced]
        out = []
        for finding, replaced, reason in sorted(decided, key=lambda d: (d[0].start, d[0].end)):
            if replaced and not _survives_overlaps(finding, kept):
                replaced, reason = False, "inside a longer finding that is replaced"
            out.append(
                Explanation(
                    finding.entity_type,
                    rendered[finding.start : finding.end],
                    finding.start,
                    finding.end,
                    _recognizer(finding),
                    round(finding.score, 2),
                    replaced,
                    reason,
                )
            )
        return out

    def scrub(self, text: str) -> str:
        """One text on its own (a conversation of one message)."""
        return self.scrub_conversation([text])[0]

    def scrub_many(self, texts: Sequence[str]) -> list[str]:
        """Unrelated texts, each numbered on its own, analyzed as one batch."""
        return [out[0] for out in self.scrub_conversations([[t] for t in texts])]

    def scrub_conversation(self, texts: Sequence[str]) -> list[str]:
        """The messages of one conversation, with placeholders numbered consistently across them."""
        return self.scrub_conversations([texts])[0]

    def scrub_conversations(
        self, conversations: Sequence[Sequence[str]], batch_size: int = 64
    ) -> list[list[str]]:
        """Many conversations in one spaCy batch (much faster than one text at a time)."""
        # NUL never occurs in Slack text; dropping it keeps the markers _replace uses unambiguous.
        rendered = [
            [render_slack_markup(t.replace("\x00", "")) if t and t.strip() else t for t in c]
            for c in conversations
        ]
        where = [(c, m) for c, texts in enumerate(rendered) for m, t in enumerate(texts) if t and t.strip()]
        docs = self._nlp_engine.process_batch([rendered[c][m] for c, m in where], "en", batch_size=batch_size)
        pseudonyms = [Pseudonyms() for _ in conversations]
        out = [list(texts) for texts in rendered]
        for (c, m), (text, artifacts) in zip(where, docs, strict=True):
            findings = self._analyze(str(text), artifacts)
            if findings:
                out[c][m] = self._replace(str(text), findings, pseudonyms[c])
        return out

    def _replace(self, text: str, findings: list[RecognizerResult], pseudonyms: Pseudonyms) -> str:
        # Presidio resolves overlapping findings and edits from the end of the text backwards, so
        # pseudonymized values are first replaced by markers, then numbered in reading order.
        found: list[tuple[str, str]] = []

        def mark(entity: str) -> Callable[[str], str]:
            def operate(value: str) -> str:
                found.append((entity, value))
                if entity == "PERSON":
                    self.workspace.count_replaced(value)
                return f"\x00{len(found) - 1}\x00"

            return operate

        operators = {f.entity_type: self._operator(f.entity_type, mark) for f in findings}
        marked = self._anonymizer.anonymize(
            text=text,
            analyzer_results=findings,  # type: ignore[arg-type]  # structurally the same type
            operators=operators,
        ).text
        return _MARK.sub(lambda m: pseudonyms.placeholder(*found[int(m.group(1))]), marked)

    def _operator(self, entity: str, mark: Callable[[str], Callable[[str], str]]) -> OperatorConfig:
        operator = self.policy.operators.get(entity, self.policy.default_operator)
        if operator == "pseudonym":
            return OperatorConfig("custom", {"lambda": mark(entity)})
        if operator == "replace":
            return OperatorConfig("replace", {"new_value": f"<{entity}>"})
        if operator == "mask":
            return OperatorConfig("mask", {"masking_char": "*", "chars_to_mask": 10_000, "from_end": False})
        return OperatorConfig("redact", {})
