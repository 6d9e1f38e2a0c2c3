"""What the scrubber knows about one workspace: who its people are, and which words are not people.

The strongest evidence that a word is a person is the workspace's own member list (Slack's
`users.list`, an export's `users.json`). Members' names are caught anywhere: any case, first or
last name alone, nicknames (the `nicknames` package's table), display names and handles. With the
list known, a capitalized word that is no member's name is a person only on strong evidence.

The vocabulary is the other side: names of software, services, products and places
(`vocabulary.txt`, built by `scripts/build_vocabulary.py`), plus the workspace's own words (channel
names, words in code spans and links, the policy's allow-list, `/tune words keep`). They are never
taken for people unless a member has that name; then the context decides.

Everything here lives in memory only: the member list is never written anywhere.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from spacy.lang.en.stop_words import STOP_WORDS

from policies.privacy.names import first_names, fold

_WORD = re.compile(r"[^\W\d_]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z][a-z])")  # VictoriaMetrics -> Victoria Metrics


def words_of(text: str) -> list[str]:
    """Folded alphabetic words: "Victoria-Metrics 2" -> ["victoria", "metrics"]."""
    return [fold(w) for w in _WORD.findall(text)]


@dataclass(frozen=True)
class Member:
    """A workspace member's names, as Slack's users.list (or users.json) gives them."""

    id: str
    real_name: str = ""
    display_name: str = ""
    first_name: str = ""
    last_name: str = ""
    handle: str = ""  # the legacy `name` field: jasper.ortiz

    @classmethod
    def from_slack(cls, user: Mapping) -> Member | None:
        """A member from a users.list / users.json entry; None for bots and Slackbot."""
        if user.get("is_bot") or user.get("is_app_user") or user.get("id") == "USLACKBOT":
            return None
        profile = user.get("profile") or {}
        return cls(
            id=str(user.get("id", "")),
            real_name=str(user.get("real_name") or profile.get("real_name") or ""),
            display_name=str(profile.get("display_name") or ""),
            first_name=str(profile.get("first_name") or ""),
            last_name=str(profile.get("last_name") or ""),
            handle=str(user.get("name") or ""),
        )

    def names(self) -> tuple[set[str], set[str]]:
        """(given names, family names), folded; given names include nicknames and handle parts."""
        real = words_of(self.real_name)
        given = {*words_of(self.first_name), *real[:1], *words_of(self.display_name)[:1]}
        family = {*words_of(self.last_name), *real[1:]}
        handle = words_of(self.handle)
        given.update(handle[:1])
        family.update(handle[1:])
        return {g for g in given if len(g) >= 2}, {f for f in family if len(f) >= 2}

    def nicknames(self) -> set[str]:
        """Names derived from the given names (bob <-> robert), folded: not the member's own words."""
        nick = _nicknames()
        return {n for g in self.names()[0] for n in nick.get(g, ()) if len(n) >= 2}


@functools.cache
def _nicknames() -> dict[str, frozenset[str]]:
    """First name -> its nicknames and the names it is a nickname of (both ways: bob <-> robert)."""
    from nicknames import NickNamer  # a hand-curated CSV, read offline

    namer = NickNamer()
    table: dict[str, set[str]] = {}
    for name, nicks in namer.nickname_lookup.items():
        for nick in nicks:
            table.setdefault(fold(name), set()).add(fold(nick))
            table.setdefault(fold(nick), set()).add(fold(name))
    return {k: frozenset(v) for k, v in table.items()}


@dataclass(frozen=True)
class Vocabulary:
    """Names that are not people: single words, and phrases of several words (by first word)."""

    words: frozenset[str]
    phrases: Mapping[str, tuple[tuple[str, ...], ...]]

    @classmethod
    def of(cls, names: Iterable[str], *, head_words: frozenset[str] | None = None) -> Vocabulary:
        """`head_words`: also take the first word of a longer name ("Envoy Proxy" is "Envoy" in
        chat), except the words given (first names: "John Deere" says nothing about "John")."""
        words: set[str] = set()
        phrases: dict[str, set[tuple[str, ...]]] = {}
        for name in names:
            parts = words_of(_CAMEL.sub(" ", name))
            if not parts:
                continue
            words.add("".join(parts))  # "Victoria Metrics" is also written VictoriaMetrics
            if len(parts) == 1:
                continue
            phrases.setdefault(parts[0], set()).add(tuple(parts))
            if head_words is not None and len(parts[0]) >= 4 and parts[0] not in head_words:
                words.add(parts[0])  # "Envoy Proxy" is "Envoy" in chat
        return cls(frozenset(words), {k: tuple(sorted(v)) for k, v in phrases.items()})

    def __or__(self, other: Vocabulary) -> Vocabulary:
        phrases = {
            k: tuple(sorted({*self.phrases.get(k, ()), *other.phrases.get(k, ())}))
            for k in {*self.phrases, *other.phrases}
        }
        return Vocabulary(self.words | other.words, phrases)

    def phrase_at(self, words: list[str], i: int) -> int:
        """Length of the longest phrase starting at words[i] (0 if none)."""
        best = 0
        for phrase in self.phrases.get(words[i], ()):
            if len(phrase) > best and tuple(words[i : i + len(phrase)]) == phrase:
                best = len(phrase)
        return best


@functools.cache
def shipped_vocabulary() -> Vocabulary:
    """The vocabulary file shipped with tunebot (software names count by their first word too)."""
    text = (importlib.resources.files("policies.privacy") / "vocabulary.txt").read_text(encoding="utf-8")
    software: list[str] = []
    places: list[str] = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            kind, _, name = line.partition("\t")
            (software if kind == "software" else places).append(name)
    return Vocabulary.of(software, head_words=first_names()) | Vocabulary.of(places)


_CODE_OR_LINK = re.compile(r"`([^`\n]+)`|https?://\S+|#([a-z0-9][a-z0-9_-]+)")
# "the marlo service", "our kestrel cluster": a word in front of what only things are
_THING = re.compile(
    r"\b(?:the|our|a|an)\s+([A-Za-z][\w-]{2,})\s+(?:service|services|cluster|database|db|dashboard|api|app|"
    r"job|queue|bucket|pipeline|repo|server|servers|sidecar|exporter|agent|plugin|connector|integration)\b",
    re.IGNORECASE,
)


def workspace_words(texts: Iterable[str]) -> set[str]:
    """Words a team writes inside code spans, links and #channel names, or in front of "service",
    "cluster", "dashboard"...: the names of its things."""
    found: set[str] = set()
    for text in texts:
        for match in _CODE_OR_LINK.finditer(text):
            found.update(w for w in words_of(match.group(0)) if len(w) >= 3)
        found.update(fold(m.group(1)) for m in _THING.finditer(text))
    return found


class WorkspaceNames:
    """The member list and the workspace's vocabulary, swapped atomically as they are refreshed."""

    def __init__(self, vocabulary: Vocabulary | None = None):
        self._lock = threading.Lock()
        self.shipped = vocabulary if vocabulary is not None else shipped_vocabulary()
        self.vocabulary = self.shipped
        self.given: frozenset[str] = frozenset()
        self.derived: frozenset[str] = frozenset()  # nicknames of given names no member has as such
        self.family: frozenset[str] = frozenset()
        self.handles: frozenset[str] = frozenset()  # whole handles with their dots: jasper.o
        self.members = 0
        self._extra: frozenset[str] = frozenset()
        self.keep: frozenset[str] = frozenset()  # /tune words keep
        self.scrub: frozenset[str] = frozenset()  # /tune words scrub
        # Words replaced as people since this process started, members' names aside: where an
        # admin spots a tool's name taken for a person (/tune words). Memory only, never stored.
        self.replaced: Counter[str] = Counter()

    @property
    def known(self) -> bool:
        """Whether a member list with names is loaded (then other words need strong evidence)."""
        return bool(self.given or self.family)

    def set_members(self, members: Iterable[Member]) -> None:
        given: set[str] = set()
        family: set[str] = set()
        handles: set[str] = set()
        derived: set[str] = set()
        count = 0
        for member in members:
            g, f = member.names()
            given |= g
            family |= f
            derived |= member.nicknames()
            if len(member.handle) >= 3:
                handles.add(fold(member.handle))
            count += 1
        # A display name such as "you" or "the boss" must not make every "you" a person.
        given -= STOP_WORDS
        family -= STOP_WORDS
        derived -= STOP_WORDS | given | family
        with self._lock:
            self.given, self.family, self.members = frozenset(given | derived), frozenset(family), count
            self.derived = frozenset(derived)
            self.handles = frozenset(handles - STOP_WORDS)

    def add_vocabulary(self, names: Iterable[str]) -> None:
        """The workspace's own names (channels, products, words from code spans and links)."""
        extra = Vocabulary.of(names)
        with self._lock:
            self._extra = self._extra | extra.words
            self.vocabulary = self.vocabulary | extra

    def set_word_lists(self, keep: Iterable[str], scrub: Iterable[str]) -> None:
        with self._lock:
            self.keep = frozenset(fold(w) for w in keep)
            self.scrub = frozenset(fold(w) for w in scrub)

    def count_replaced(self, value: str) -> None:
        words = words_of(value)
        if len(words) == 1 and not self.is_member_name(words[0]):
            self.replaced[value.strip()] += 1

    def is_member_name(self, word: str) -> bool:
        return word in self.given or word in self.family or word in self.handles

    def is_nickname_only(self, word: str) -> bool:
        """A member's name only as a nickname derived from another ("nancy" from "ann")."""
        return word in self.derived

    def is_workspace_word(self, word: str) -> bool:
        """Named as a thing by the workspace itself: a channel, a code span, "the marlo service"."""
        return word in self._extra or word in self.keep

    def is_vocabulary(self, word: str) -> bool:
        return word in self.vocabulary.words or word in self.keep
