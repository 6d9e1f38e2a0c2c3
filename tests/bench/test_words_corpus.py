"""The privacy benchmark's sentences without personal data: parts that do not share a name."""

from __future__ import annotations

from tests.bench import words_corpus


def _words(part: str) -> set[str]:
    names, _, _ = words_corpus._PARTS[part]
    return {w.lower() for name in names for w in name.replace("_", " ").split()}


def test_parts_share_no_name_and_every_name_is_used() -> None:
    parts = words_corpus.PARTS
    assert parts == ("tune", "dev", "dev2", "dev3", "dev4", "dev5", "check")
    for i, a in enumerate(parts):
        names, _, _ = words_corpus._PARTS[a]
        whole = {n.lower() for n in names}
        for b in parts[i + 1 :]:
            other = {n.lower() for n in words_corpus._PARTS[b][0]}
            assert not whole & other, (a, b, whole & other)
        sentences = words_corpus.no_personal_data(a, 600)
        used = {n for s in sentences for n in s.names}
        assert len(used) == words_corpus.distinct_names(a) >= 300
        assert all(n in s.text for s in sentences for n in s.names)
    # dev3 was written to share no word with the other parts either (cities of two words aside),
    # dev4 and dev5 none at all
    for b in ("tune", "dev", "dev2", "check"):
        assert not (_words("dev3") & _words(b)) - {"city", "santa", "cloud", "ninja"}, b
    for b in ("tune", "dev", "dev2", "dev3", "check"):
        assert not _words("dev4") & _words(b), b
    for b in ("tune", "dev", "dev2", "dev3", "dev4", "check"):
        assert not _words("dev5") & _words(b), b
