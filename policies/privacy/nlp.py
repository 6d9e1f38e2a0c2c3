"""spaCy for the scrubber: the tagger on every text, the statistical NER only where it can help.

The attribute ruler and lemmatizer (a pattern matcher run over every token, a quarter of the time
left) are replaced by the tagger's tag -> part-of-speech table they hold and lowercase lemmas,
which is all the recognizers and Presidio's context words read.

Most of spaCy's time goes to the named-entity model, and in chat text it finds little that the
first-name gazetteer (names.py) does not: its use is capitalized words that no dictionary or name
list knows ("Okonkwo reviewed it") and telling places from people ("the Austin office"). So a text
goes through NER only if it holds such a capitalized word; the rest skip it. The dependency parser
is never loaded: no recognizer reads the parse. Measured by `python -m tests.bench.privacy`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import spacy
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.language import Language
from spacy.tokens import Doc

from policies.privacy.names import fold

_TITLE_WORD = re.compile(r"(?<![\w@#./-])[A-Z][a-z\u00c0-\u024f]+(?:[-'][A-Za-z\u00c0-\u024f]+)*")


class GatedNerSpacy(SpacyNlpEngine):
    """Presidio's spaCy engine without the parser, running NER only on texts that need it."""

    def __init__(self, model_name: str):
        super().__init__(models=[{"lang_code": "en", "model_name": model_name}])
        self.known: frozenset[str] = frozenset()  # lowercased words NER need not look at

    def load(self) -> None:
        (model,) = self.models
        nlp = spacy.load(model["model_name"], exclude=["parser"])
        ruler = nlp.get_pipe("attribute_ruler")
        self.tag_to_pos = {
            rule["patterns"][0][0]["TAG"]: rule["attrs"]["POS"]
            for rule in ruler.patterns  # type: ignore[attr-defined]
            if len(rule["patterns"][0]) == 1
            and set(rule["patterns"][0][0]) == {"TAG"}
            and "POS" in rule["attrs"]
        }
        lemmatizer = nlp.get_pipe("lemmatizer")
        index = lemmatizer.lookups.get_table("lemma_index")  # type: ignore[attr-defined]
        self.dictionary = {
            pos: frozenset(w.lower() for w in index[pos]) for pos in ("noun", "verb", "adj", "adv")
        }
        nlp.remove_pipe("attribute_ruler")
        nlp.remove_pipe("lemmatizer")
        self.nlp = {model["lang_code"]: nlp}  # type: ignore[assignment]  # Presidio annotates it as None

    def _annotate(self, doc: Doc) -> Doc:
        for token in doc:
            token.pos_ = self.tag_to_pos.get(token.tag_, "X")
            token.lemma_ = token.lower_
        return doc

    def needs_ner(self, text: str) -> bool:
        """Whether a capitalized word in the text is in no dictionary (or is a name and a word)."""
        return any(fold(word) not in self.known for word in _TITLE_WORD.findall(text))

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return next(iter(self.process_batch([text], language)))[1]

    def process_batch(  # type: ignore[override]  # plain texts only; as_tuples is not used here
        self, texts: Sequence[str], language: str, batch_size: int = 64, n_process: int = 1, **_: object
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        nlp = self._pipeline(language)
        texts = [str(t) for t in texts]
        gated = [self.needs_ner(t) for t in texts]
        with_ner = iter(nlp.pipe([t for t, g in zip(texts, gated, strict=True) if g], batch_size=batch_size))
        without = iter(
            nlp.pipe(
                [t for t, g in zip(texts, gated, strict=True) if not g],
                batch_size=batch_size,
                disable=["ner"],
            )
        )
        for text, needs_ner in zip(texts, gated, strict=True):
            doc = next(with_ner if needs_ner else without)
            yield text, self._doc_to_nlp_artifact(self._annotate(doc), language)

    def _pipeline(self, language: str) -> Language:
        if not self.nlp:
            raise ValueError("the spaCy pipeline is not loaded: call load() first")
        return self.nlp[language]
