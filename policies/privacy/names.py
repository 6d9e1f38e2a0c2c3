"""Finding people's names in chat text, where spaCy's small model misses most of them.

Chat writes names lowercase ("ask priya"), alone ("thanks Halil!") and from every culture, which a
statistical model trained on news text rarely tags. This recognizer adds a gazetteer of ~37,000
first names from many countries (the `gender-guesser` package's dictionary, read offline) and
extends a name to the surname that follows it ("lauren tucker", "Bruno P.").

A first name that is also an ordinary English word ("will", "mark", "summer", "Austin") counts only
where the sentence treats it as a person: next to a cue ("thanks mark", "mark said") and not tagged
by spaCy as a date or place ("in June", "the Austin office"), or followed by a surname. A word that
no dictionary or name list knows counts next to a cue ("ping Siddharth", "parth palan said").
"""

from __future__ import annotations

import functools
import importlib.resources
import unicodedata
from collections.abc import Iterable

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.tokens import Doc, Token

# Words just before or after a name in chat ("thanks X", "X said").
CUES_BEFORE = frozenset(
    "thanks thank thx ty ask asked ping pinged paging cc hi hey hello dear with by from for owner assignee "
    "and told tell is was @ to via per customer user colleague manager contact or".split()
)
CUES_AFTER = frozenset(
    "said says wrote mentioned thinks asked confirmed approved reviewed owns should can could and "
    "is was will did has had , ? !".split()
)
# Ordinary words that are also first names, beyond the verbs, adjectives and adverbs found below.
_COMMON_NOUNS = (
    "hey hi hello thanks okay yes nope lol lgtm ptal afaik imo tbh fyi wfh eod asap brb btw nvm thx np "
    "ack nit wip ooo pto sre "
    "summer rose amber june april may august dawn ivy pearl ruby daisy holly penny faith joy sky art "
    "dean guy gene cliff dale glen heath forest lane jay max ray page hunter chase king major price "
    "bishop miles mason will bill mark bob jack sue pat rob drew grant sterling star storm river "
    "crystal iris lily violet hazel autumn winter spring rain angel baby honey sunny happy misty "
    "london berlin dublin austin denver jordan paris florence victoria georgia sydney chelsea phoenix "
    "dallas houston orlando lincoln kent york camden carolina virginia india china asia africa israel "
    "brooklyn "
    "atlas beacon harbor apollo orion echo nova luna delta sierra tango oscar kilo lima golf hotel "
    "java ruby rust go julia kafka helm vault consul nomad jenkins travis"
).split()
# Cues strong enough that an unknown word next to them is a name ("ping Siddharth", "jeet said").
STRONG_BEFORE = frozenset(
    "thanks thank thx ty ask asked ping pinged paging cc hi hey hello dear owner customer assignee "
    "reporter mr mrs ms mx dr prof".split()
)
STRONG_AFTER = frozenset("said says wrote mentioned thinks".split())
_NOT_PEOPLE = frozenset({"GPE", "LOC", "FAC", "DATE", "TIME"})
_NEVER_NAMES = frozenset(
    {"DET", "AUX", "PRON", "ADP", "CCONJ", "SCONJ", "PART", "NUM", "PUNCT", "SYM", "INTJ"}
)
_PARTICLES = frozenset({"van", "von", "der", "den", "de", "da", "di", "del", "la", "le", "du", "bin", "al"})


@functools.cache
def first_names() -> frozenset[str]:
    """Lowercased first names (3+ letters) from gender-guesser's international name dictionary."""
    data = importlib.resources.files("gender_guesser") / "data" / "nam_dict.txt"
    names: set[str] = set()
    with data.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith("#") or len(line) < 30:
                continue
            for part in line[3:29].replace("+", " ").replace("-", " ").split():
                if len(part) >= 3 and part.isalpha():
                    names.add(fold(part))
    return frozenset(names)


_UNACCENTED = str.maketrans(
    {"ł": "l", "ø": "o", "æ": "ae", "ß": "ss", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)
AMBIGUOUS = frozenset(_COMMON_NOUNS)  # spaCy alone may not call these people (see scrubber.py)


def fold(word: str) -> str:
    """Lowercase without accents, so "Estefanía" and "estefania", "Wiesław" and "wieslaw" match."""
    decomposed = unicodedata.normalize("NFKD", word.lower().translate(_UNACCENTED))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def ordinary_words(words: Iterable[str]) -> frozenset[str]:
    """Words that are names only in context: the given (verbs, adjectives...), common nouns, stop words."""
    return frozenset(w.lower() for w in words) | frozenset(_COMMON_NOUNS) | STOP_WORDS


def _base_forms(word: str) -> list[str]:
    """The word and what it may be an inflection of: owners -> owner, deployed -> deploy."""
    forms = [word]
    for suffix, replacement in (
        ("ies", "y"),
        ("es", ""),
        ("s", ""),
        ("ed", ""),
        ("ed", "e"),
        ("ing", ""),
        ("ing", "e"),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            forms.append(word[: -len(suffix)] + replacement)
    return forms


def _in_identifier(doc: Doc, token: Token, names: frozenset[str]) -> bool:
    """Part of auth-svc, redis_cache or api.internal (glued to - _ .), but not of anna-maria."""

    def glued(glue: Token, other: int) -> bool:
        if glue.text not in {"-", "_", "."}:
            return False
        return not (glue.text == "-" and 0 <= other < len(doc) and fold(doc[other].text) in names)

    i = token.i
    after = i + 1 < len(doc) and not token.whitespace_ and glued(doc[i + 1], i + 2)
    before = i > 0 and not doc[i - 1].whitespace_ and glued(doc[i - 1], i - 2)
    return bool(after or before)


class FirstNameRecognizer(EntityRecognizer):
    """PERSON findings from the first-name gazetteer, extended to a following surname or initial."""

    # Above spaCy's 0.85, so that where both find a name, this finding (checked in context) is kept.
    def __init__(self, ordinary: frozenset[str], nouns: frozenset[str], score: float = 0.9):
        self.names = first_names()
        self.ordinary = ordinary
        self.nouns = nouns
        self.score = score
        super().__init__(supported_entities=["PERSON"], name="tunebot_first_names")

    def load(self) -> None:  # the gazetteer is loaded (and cached) in __init__
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if "PERSON" not in entities or nlp_artifacts is None or nlp_artifacts.tokens is None:
            return []
        doc: Doc = nlp_artifacts.tokens
        results = []
        i = 0
        while i < len(doc):
            token = doc[i]
            if self._is_name(doc, token):
                end = self._surname_end(doc, i)
                results.append(
                    RecognizerResult(
                        "PERSON",
                        token.idx,
                        doc[end - 1].idx + len(doc[end - 1].text),
                        self.score,
                    )
                )
                i = end
            else:
                i += 1
        return results

    def _is_name(self, doc: Doc, token: Token) -> bool:
        word = fold(token.text)
        if token.text.isupper() and len(token.text) > 1:  # IBAN, SRE: acronyms, not names
            return False
        before = doc[token.i - 1].text.lower().rstrip(".") if token.i > 0 else ""
        after = doc[token.i + 1].text.lower() if token.i + 1 < len(doc) else ""
        who_is = before == "is" and token.i > 1 and doc[token.i - 2].text.lower() == "who"
        strong = before in STRONG_BEFORE or after in STRONG_AFTER or who_is
        cue = strong or before in CUES_BEFORE or after in CUES_AFTER or after == "'s"
        if word not in self.names:
            return self._unknown_name(doc, token, strong, cue)
        if word in self.ordinary:
            if (
                word in STOP_WORDS
                or word in CUES_BEFORE
                or word in STRONG_BEFORE
                or token.pos_ in _NEVER_NAMES
            ):
                return False
            if strong:
                return True
            if (
                token.pos_ in ("PROPN", "NOUN")
                and self._surname_end(doc, token.i) > token.i + 1
                and (token.text.istitle() or self._unknown_word(doc, token.i + 1))
            ):
                return True  # "Julia Doherty", "april vasquez"
            if token.ent_type_ in _NOT_PEOPLE:  # "in June", "Austin and Denver"
                return False
            return cue and token.pos_ in ("PROPN", "NOUN") and (token.text[0].isupper() or before != "to")
        if token.text.islower() and not cue and any(f in self.nouns for f in (*_base_forms(word), word[:-1])):
            return False  # "every night", "the rota": a dictionary noun written as one, no cue
        # spaCy's tags for lowercase names are noise ("darren" INTJ, "flavia" ADP): not used here.
        return not _in_identifier(doc, token, self.names)

    def _unknown_name(self, doc: Doc, token: Token, strong: bool, cue: bool) -> bool:
        """A word no dictionary or name list knows, next to "ping", "said", "and"...: a name."""
        text = token.text
        if len(text) < 3 or not (text.islower() or text.istitle()) or not self._unknown_word(doc, token.i):
            return False
        if _in_identifier(doc, token, self.names):
            return False
        end = self._surname_end(doc, token.i)
        after_name = doc[end].text.lower() if end < len(doc) else ""  # "parth palan said"
        if strong or after_name in STRONG_AFTER:
            return token.pos_ not in _NEVER_NAMES
        pair = end > token.i + 1 and self._unknown_word(doc, token.i + 1)  # "ekapad singh and"
        return (cue or after_name in CUES_AFTER) and (token.pos_ == "PROPN" or pair)

    def _unknown_word(self, doc: Doc, i: int) -> bool:
        """A word in no dictionary (in any inflection) and no name list."""
        if i >= len(doc) or not doc[i].is_alpha:
            return False
        word = fold(doc[i].text)
        if word in self.names:
            return False
        return not any(form in self.ordinary or form in self.nouns for form in _base_forms(word))

    def _surname_end(self, doc: Doc, i: int) -> int:
        """Index after the name that starts at i: hyphenated parts, particles, a surname, an initial."""
        end = i + 1
        # anna-maria: parts joined by hyphens without spaces
        while end + 1 < len(doc) and doc[end].text == "-" and not doc[end - 1].whitespace_:
            if not doc[end + 1].is_alpha:
                break
            end += 2
        capital = doc[i].text[0].isupper()
        # "van den Berg", "da Silva": particles count only when a surname follows them
        particles = end
        while particles < len(doc) and doc[particles].text.lower() in _PARTICLES:
            particles += 1
        if particles > end and particles < len(doc) and self._surname_like(doc[particles], capital):
            end = particles
        # up to two more names: "Maria Julia Sales", "maria liz freitas"
        taken = 0
        while taken < 2 and end < len(doc) and self._surname_like(doc[end], capital):
            end += 1
            taken += 1
        if taken:
            if end < len(doc) and doc[end].text == "." and len(doc[end - 1].text) == 1:
                end += 1
        elif (
            end < len(doc)
            and len(doc[end].text) == 2
            and doc[end].text[1] == "."
            and doc[end].text[0].isalpha()
        ):
            end += 1  # "Bruno P."
        return end

    def _surname_like(self, token: Token, capital: bool) -> bool:
        text = token.text
        if not token.is_alpha or _in_identifier(token.doc, token, self.names):
            return False
        if text.lower() in CUES_AFTER or text.lower() in STRONG_AFTER:
            return False  # "lauren tucker said": the cue ends the name
        if len(text) == 1:
            return text.isupper()
        if fold(text) in self.ordinary and fold(text) not in self.names:
            return bool(capital and text[0].isupper() and token.pos_ == "PROPN")
        return text[0].isupper() if capital else text.islower()
