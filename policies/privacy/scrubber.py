"""The scrubber: Presidio analyzer + anonymizer configured from the privacy policy, fully offline."""

from __future__ import annotations

import importlib.util
import logging
import re

import tldextract
import tldextract.tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerResult
from presidio_analyzer.nlp_engine import NlpEngineProvider
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig

from policies.privacy.recognizers import deny_list_recognizer, secret_recognizers
from policies.privacy.slack_markup import render_slack_markup
from policies.schema import PrivacyPolicy

log = logging.getLogger(__name__)


def _use_bundled_suffix_list() -> None:
    # Presidio's email/URL recognizers call tldextract.extract(), whose default extractor fetches
    # the public suffix list over the network on first use. Use the snapshot shipped in the package.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
    )


_NOT_IN_NAMES = re.compile(r"[0-9_./@:=]")


def _host_like_person(finding: RecognizerResult, text: str) -> bool:
    # The small spaCy model tags host and service names (db-prod-01) as people; names have no digits.
    return finding.entity_type == "PERSON" and bool(_NOT_IN_NAMES.search(text[finding.start : finding.end]))


class Scrubber:
    """Replaces personal data and secrets with `<TYPE>` placeholders, as the privacy policy says."""

    def __init__(self, policy: PrivacyPolicy):
        if importlib.util.find_spec(policy.spacy_model) is None:
            raise RuntimeError(
                f"privacy.spacy_model: spaCy model {policy.spacy_model!r} is not installed; "
                f"install it as a package (tunebot never downloads models at run time)"
            )
        _use_bundled_suffix_list()
        self.policy = policy
        nlp = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": policy.spacy_model}],
            }
        ).create_engine()
        self._analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
        for recognizer in secret_recognizers():
            self._analyzer.registry.add_recognizer(recognizer)
        self._entities = list(policy.entities)
        if policy.deny_list:
            self._analyzer.registry.add_recognizer(deny_list_recognizer(policy.deny_list))
            self._entities.append("DENY_LIST")
        self._anonymizer = AnonymizerEngine()

    def find(self, text: str) -> list[RecognizerResult]:
        """Findings in already-rendered text, filtered by the policy's entities and threshold."""
        findings = self._analyzer.analyze(
            text=text,
            language="en",
            entities=self._entities,
            score_threshold=self.policy.score_threshold,
            allow_list=self.policy.allow_list or None,
        )
        return [f for f in findings if not _host_like_person(f, text)]

    def scrub(self, text: str) -> str:
        """The text with every finding replaced by its placeholder."""
        if not text or not text.strip():
            return text
        rendered = render_slack_markup(text)
        findings = self.find(rendered)
        if not findings:
            return rendered
        operators = {
            f.entity_type: OperatorConfig("replace", {"new_value": f"<{f.entity_type}>"}) for f in findings
        }
        # The anonymizer declares its own (structurally identical) RecognizerResult type.
        return self._anonymizer.anonymize(
            text=rendered,
            analyzer_results=findings,  # type: ignore[arg-type]
            operators=operators,
        ).text

    def scrub_many(self, texts: list[str]) -> list[str]:
        return [self.scrub(text) for text in texts]
