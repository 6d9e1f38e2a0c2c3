"""Privacy benchmark: recall per entity type, leaks, text kept, precision on tool and place names,
and throughput against Presidio's default.

    python -m tests.bench.privacy [--messages 600] [--business 300] [--show-leaks 20] [--members 0.85]

Recall is measured twice: with the workspace's member list known (as `tunebot serve` reads it
from users.list and `tunebot import` from users.json; the corpus's people are members, except a
share of outsiders set by --members) and without it (`tunebot scrub` with no --users). Precision
is the share of sentences without personal data (tests/bench/words_corpus.py, each part
apart) that come out unchanged, and of tool and place names kept beside real names.

Both scrubbers run in the same process on the same corpus: tunebot's (the default policy plus the
fictional company's product names on the allow-list, as a workspace would configure it) scrubbing
each conversation in one batch, and Presidio's default engine (same spaCy model) analyzing one text
at a time, which is how Presidio's documentation uses it. Throughput is reported as a ratio.
"""

from __future__ import annotations

import argparse
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from policies.privacy.workspace import Member
from tests.bench import words_corpus
from tests.bench.privacy_corpus import PRODUCTS, Message, Planted, business_facts, personal_data

TARGETS = {
    "overall": 0.99,
    "secrets": 1.0,
    "PERSON": 0.97,  # with the member list known
    "business_kept": 0.98,
    "unchanged": 0.99,  # sentences without personal data, the check part
    "names_kept": 1.0,  # tool and place names beside real people's names
}
_WORD = re.compile(r"[^\W_]+")


def leaked(item: Planted, scrubbed: str) -> str | None:
    """The first fragment of a planted value that survived, or None."""
    for fragment in item.fragments:
        if re.search(rf"(?<![^\W_]){re.escape(fragment)}(?![^\W_])", scrubbed, re.IGNORECASE):
            return fragment
    return None


def kept_tokens(original: str, scrubbed: str) -> tuple[int, int]:
    """(tokens of `original` still in `scrubbed`, tokens of `original`), as multisets of words."""
    before = Counter(w.lower() for w in _WORD.findall(original))
    after = Counter(w.lower() for w in _WORD.findall(scrubbed))
    return sum(min(n, after[w]) for w, n in before.items()), sum(before.values())


@dataclass
class Score:
    caught: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    leaks: list[tuple[str, str, str]] = field(default_factory=list)  # entity, fragment, message
    kept: int = 0
    tokens: int = 0

    def recall(self, entities: Sequence[str] | None = None) -> float:
        keys = list(self.total) if entities is None else [e for e in entities if e in self.total]
        total = sum(self.total[k] for k in keys)
        return sum(self.caught[k] for k in keys) / total if total else 1.0

    @property
    def kept_ratio(self) -> float:
        return self.kept / self.tokens if self.tokens else 1.0


def score(messages: Sequence[Message], scrubbed: Sequence[str]) -> Score:
    result = Score()
    for message, out in zip(messages, scrubbed, strict=True):
        background = message.text
        for item in message.planted:
            background = background.replace(item.value, " ")
            result.total[item.entity] += 1
            fragment = leaked(item, out)
            if fragment is None:
                result.caught[item.entity] += 1
            else:
                result.leaks.append((item.entity, fragment, message.text))
        kept, tokens = kept_tokens(background, out)
        result.kept += kept
        result.tokens += tokens
    return result


def members_of(messages: Sequence[Message], share: float = 1.0) -> list[Member]:
    """The corpus's people as workspace members; `1 - share` of them (by a hash) stay outsiders."""
    people = sorted({p.value for m in messages for p in m.planted if p.entity == "PERSON"})
    chosen = [v for v in people if zlib.crc32(v.lower().encode()) % 1000 < share * 1000]
    return [Member(id=f"U{i:06d}", real_name=v) for i, v in enumerate(chosen)]


def tunebot_scrubber(members: Sequence[Member] = ()) -> Callable[[Sequence[Message]], list[str]]:
    from policies.privacy import Scrubber
    from policies.schema import PrivacyPolicy

    defaults = PrivacyPolicy()
    scrubber = Scrubber(PrivacyPolicy(allow_list=[*defaults.allow_list, *PRODUCTS]))
    scrubber.workspace.set_members(members)

    def run(messages: Sequence[Message]) -> list[str]:
        conversations = [
            [m.text for m in group] for _, group in groupby(messages, key=lambda m: m.conversation)
        ]
        return [text for conversation in scrubber.scrub_conversations(conversations) for text in conversation]

    return run


def presidio_default(spacy_model: str) -> Callable[[Sequence[Message]], list[str]]:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    from policies.privacy.scrubber import use_bundled_suffix_list

    use_bundled_suffix_list()
    nlp = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": spacy_model}],
        }
    ).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    anonymizer = AnonymizerEngine()

    def run(messages: Sequence[Message]) -> list[str]:
        out = []
        for m in messages:
            results = analyzer.analyze(text=m.text, language="en")
            out.append(anonymizer.anonymize(text=m.text, analyzer_results=results).text)  # type: ignore[arg-type]
        return out

    return run


def _timed(
    run: Callable[[Sequence[Message]], list[str]], messages: Sequence[Message], repeat: int
) -> tuple[list[str], float]:
    """Output and the best of `repeat` timed runs (after a warm-up: first-call costs are not throughput)."""
    run(messages[:20])
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = run(messages)
        best = min(best, time.perf_counter() - start)
    return out, best


def _report(name: str, pii: Score, business: Score, seconds: float, n: int) -> None:
    print(f"\n== {name}")
    print(f"{'entity':<16}{'recall':>8}{'caught':>8}{'total':>7}")
    for entity in sorted(pii.total):
        print(f"{entity:<16}{pii.recall([entity]):>8.3f}{pii.caught[entity]:>8}{pii.total[entity]:>7}")
    secrets = sorted(e for e in pii.total if Planted(e, "", ()).secret)
    print(f"{'overall':<16}{pii.recall():>8.3f}   leaks: {len(pii.leaks)}")
    print(f"{'secrets':<16}{pii.recall(secrets):>8.3f}")
    print(f"text kept: personal-data corpus {pii.kept_ratio:.3f}, business facts {business.kept_ratio:.3f}")
    print(f"throughput: {n / seconds:.1f} messages/s ({seconds:.1f} s for {n})")


@dataclass
class Precision:
    unchanged: dict[str, float]  # part -> share of sentences unchanged
    changed: dict[str, list[tuple[str, str]]]  # part -> (sentence, scrubbed)
    names_kept: float  # tool and place names kept in the mixed messages
    names_lost: list[tuple[str, str]]  # (name, scrubbed message)
    mixed_person_recall: float
    names_used: dict[str, int]  # part -> distinct names its sentences use


def precision(run: Callable[[Sequence[Message]], list[str]], n: int = 300) -> Precision:
    unchanged, changed, used_names = {}, {}, {}
    for part in words_corpus.PARTS:
        sentences = words_corpus.no_personal_data(part, n)
        used_names[part] = len({name for s in sentences for name in s.names})
        out = run([Message(i, s.text) for i, s in enumerate(sentences)])
        changed[part] = [(s.text, o) for s, o in zip(sentences, out, strict=True) if o != s.text]
        unchanged[part] = 1 - len(changed[part]) / len(sentences)
    messages, names = words_corpus.mixed()
    out = run(messages)
    total = kept = 0
    lost = []
    for used, scrubbed in zip(names, out, strict=True):
        for name in used:
            total += 1
            if re.search(rf"(?<![^\W_]){re.escape(name)}(?![^\W_])", scrubbed):
                kept += 1
            else:
                lost.append((name, scrubbed))
    people = score(messages, out)
    return Precision(unchanged, changed, kept / total, lost, people.recall(["PERSON"]), used_names)


def _report_precision(p: Precision, show: int, show_check: bool = False) -> None:
    for part in words_corpus.PARTS:
        print(
            f"no-personal-data sentences unchanged ({part}, {p.names_used[part]} names): "
            f"{p.unchanged[part]:.3f}"
        )
        for before, after in p.changed[part][: show if part != "check" or show_check else 0]:
            print(f"  CHANGED {before!r}\n       -> {after!r}")
    print(
        f"tool and place names kept beside people: {p.names_kept:.3f}; "
        f"people caught there: {p.mixed_person_recall:.3f}"
    )
    for name, after in p.names_lost[:show]:
        print(f"  LOST {name!r} in {after!r}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=600, help="personal-data messages (default 600)")
    parser.add_argument("--business", type=int, default=300, help="business-facts messages (default 300)")
    parser.add_argument("--show-leaks", type=int, default=20, help="leaks to print (default 20)")
    parser.add_argument("--seed", type=int, default=7, help="corpus seed (default 7)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs per scrubber, best kept (default 3)"
    )
    parser.add_argument("--skip-baseline", action="store_true", help="only score tunebot's scrubber")
    parser.add_argument(
        "--show-check",
        action="store_true",
        help="also print the check part's changed sentences (read them, and it is no check part any more)",
    )
    parser.add_argument(
        "--members",
        type=float,
        default=0.85,
        help="share of the corpus's people who are workspace members; the rest are outsiders (default 0.85)",
    )
    args = parser.parse_args(argv)

    pii, facts = personal_data(args.messages, args.seed), business_facts(args.business, args.seed + 4)
    print(
        f"corpus: {len(pii)} messages with {sum(len(m.planted) for m in pii)} planted values, "
        f"{len(facts)} business-facts messages"
    )
    ours = tunebot_scrubber(members_of(pii, args.members))
    out, seconds = _timed(ours, pii + facts, args.repeat)
    ours_pii, ours_facts = score(pii, out[: len(pii)]), score(facts, out[len(pii) :])
    _report(
        f"tunebot scrubber, member list known ({args.members:.0%} of the corpus's people are members)",
        ours_pii,
        ours_facts,
        seconds,
        len(out),
    )
    for entity, fragment, text in ours_pii.leaks[: args.show_leaks]:
        print(f"  LEAK {entity}: {fragment!r} in {text[:100]!r}")
    with_list = precision(ours)
    _report_precision(with_list, args.show_leaks, args.show_check)

    no_list = tunebot_scrubber()
    alone_out, alone_seconds = _timed(no_list, pii + facts, 1)
    alone_pii = score(pii, alone_out[: len(pii)])
    alone_facts = score(facts, alone_out[len(pii) :])
    _report("tunebot scrubber, no member list", alone_pii, alone_facts, alone_seconds, len(alone_out))
    for entity, fragment, text in alone_pii.leaks[: args.show_leaks]:
        print(f"  LEAK {entity}: {fragment!r} in {text[:100]!r}")
    _report_precision(precision(no_list), args.show_leaks, args.show_check)

    ok = (
        ours_pii.recall() >= TARGETS["overall"]
        and ours_pii.recall(sorted(e for e in ours_pii.total if Planted(e, "", ()).secret))
        >= TARGETS["secrets"]
        and ours_pii.recall(["PERSON"]) >= TARGETS["PERSON"]
        and ours_facts.kept_ratio >= TARGETS["business_kept"]
        and with_list.unchanged["check"] >= TARGETS["unchanged"]
        and with_list.names_kept >= TARGETS["names_kept"]
    )
    if not args.skip_baseline:
        from policies.schema import PrivacyPolicy

        base = presidio_default(PrivacyPolicy().spacy_model)
        base_out, base_seconds = _timed(base, pii + facts, args.repeat)
        _report(
            "Presidio default (one text at a time)",
            score(pii, base_out[: len(pii)]),
            score(facts, base_out[len(pii) :]),
            base_seconds,
            len(base_out),
        )
        ratio = base_seconds / seconds
        print(f"\nthroughput ratio tunebot / Presidio default: {ratio:.2f}x (target >= 3)")
        ok = ok and ratio >= 3
    print(f"\ntargets {TARGETS}: {'MET' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
