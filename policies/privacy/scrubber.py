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

import tldextract
import tldextract.tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig

from policies.privacy.names import AMBIGUOUS, FirstNameRecognizer, first_names, fold, ordinary_words
from policies.privacy.nlp import GatedNerSpacy
from policies.privacy.recognizers import GatedPhoneRecognizer, deny_list_recognizer, secret_recognizers
from policies.privacy.slack_markup import render_slack_markup
from policies.schema import PrivacyPolicy

log = logging.getLogger(__name__)


def use_bundled_suffix_list() -> None:
    # Presidio's email/URL recognizers call tldextract.extract(), whose default extractor fetches
    # the public suffix list over the network on first use. Use the snapshot shipped in the package.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
    )


_NOT_IN_NAMES = re.compile(r"[0-9_/@:=]|\.\w")


def _implausible_person(finding: RecognizerResult, text: str, ordinary: frozenset[str]) -> bool:
    """spaCy's small model tags host names (db-prod-01) and lowercase verbs ("max out") as people."""
    if finding.entity_type != "PERSON":
        return False
    value = text[finding.start : finding.end]
    if _NOT_IN_NAMES.search(value):
        return True
    spacy_only = (finding.recognition_metadata or {}).get("recognizer_name") == "SpacyRecognizer"
    if not spacy_only or " " in value:
        return False
    return (value.islower() and value in ordinary) or value.lower() in AMBIGUOUS


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


class Scrubber:
    """Replaces personal data and secrets with placeholders, as the privacy policy says."""

    def __init__(self, policy: PrivacyPolicy):
        if importlib.util.find_spec(policy.spacy_model) is None:
            raise RuntimeError(
                f"privacy.spacy_model: spaCy model {policy.spacy_model!r} is not installed; "
                f"install it as a package (tunebot never downloads models at run time)"
            )
        use_bundled_suffix_list()
        self.policy = policy
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
        names = first_names()
        # Capitalized words NER need not look at: dictionary words and names, except names that are
        # also ordinary words ("June", "Austin"), where NER tells a date or place from a person.
        self._nlp_engine.known = (self._ordinary | nouns | names) - (names & self._ordinary) | {
            fold(w) for w in policy.allow_list
        }
        if "PERSON" in policy.entities:
            self._analyzer.registry.add_recognizer(FirstNameRecognizer(self._ordinary, nouns))
        self._entities = list(policy.entities)
        if policy.deny_list:
            self._analyzer.registry.add_recognizer(deny_list_recognizer(policy.deny_list))
            self._entities.append("DENY_LIST")
        self._thresholds = {e: policy.thresholds.get(e, policy.score_threshold) for e in self._entities}
        self._anonymizer = AnonymizerEngine()

    def _analyze(self, text: str, artifacts: NlpArtifacts) -> list[RecognizerResult]:
        findings = self._analyzer.analyze(
            text=text,
            language="en",
            entities=self._entities,
            nlp_artifacts=artifacts,
            score_threshold=min(self._thresholds.values()),
            allow_list=self.policy.allow_list or None,
        )
        return [
            f
            for f in findings
            if f.score >= self._thresholds[f.entity_type] and not _implausible_person(f, text, self._ordinary)
        ]

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
