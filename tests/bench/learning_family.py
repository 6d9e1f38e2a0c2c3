"""A family of learning benchmarks: a distinct fictional workspace from every seed.

Each seed draws a company (an invented name, products, services and people with names), 10 to 200
facts of different kinds (ports, numbers, URLs, tool and product names, teams' roles, procedures
of two or three sentences, lists, yes/no policies), one to five phrasings of each asked in Slack
(typos and slang among them) and two held-out phrasings that appear nowhere in the export. Feedback
is mixed as a team gives it: answers approved with :+1: (sometimes twice), wrong answers corrected,
an earlier wrong correction overridden by a later right one, an approval contradicted by a :-1:,
chatter nobody asks the bot about, and a password said in chat.

Seeds are split in two: TUNE_SEEDS, on which defaults may be chosen, and CHECK_SEEDS, on which they
are only reported (docs/learning.md).

    python -m tests.bench.learning_family SEED FOLDER     # writes that seed's export
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TUNE_SEEDS = (1, 2, 3, 4, 5)
CHECK_SEEDS = (101, 102, 103, 104, 105, 106)
# Facts per workspace, by seed: small ones run on a CPU in minutes, the large ones on a GPU.
SIZES = (10, 12, 16, 24, 40, 200)

_SYLLABLES = (
    "ka lo mi ren tor vex qua zil bri dun fal gor hes jun kel mar nor pel quin sar tev vol wyn yar".split()
)
_ENDINGS = "feather works forge loop mint grove stack wing field haven byte leaf".split()
_FIRST = (
    "Amara Bastien Chioma Dario Elif Farid Greta Hiroshi Ines Joaquin Keanu Leila Mateo Nadia Oskar Priya"
).split()
_LAST = "Okafor Lindqvist Moreau Tanaka Petrova Haddad Novak Castillo Brennan Sato Mbeki Larsen".split()
_DATABASES = "PostgreSQL CockroachDB MySQL Cassandra ClickHouse MongoDB ScyllaDB DynamoDB".split()
_CITIES = "Porto Lisbon Krakow Tallinn Valencia Ljubljana Bergen Ghent Lyon Bologna Seville Tartu".split()
_DAYS = "Monday Tuesday Wednesday Thursday Friday".split()
_REGIONS = "eu-west-1 eu-central-1 us-east-2 us-west-2 ap-south-1 ap-northeast-1 sa-east-1".split()
_TEAMS = "platform payments identity data growth mobile infra security".split()
_TYPOS = {"what": "wat", "which": "wich", "the": "teh", "password": "pasword", "where": "were", "is": "iz"}


@dataclass(frozen=True)
class Fact:
    key: str  # an answer is right when it contains this (case-insensitive)
    answer: str
    train: tuple[str, ...]  # asked in the export
    heldout: tuple[str, ...]  # never in the export


@dataclass
class Workspace:
    seed: int
    company: str
    people: list[tuple[str, str, str]]  # user id, first name, last name
    facts: list[Fact]
    secret: str
    secret_questions: tuple[str, ...]
    secret_heldout: str
    writer: Callable[[Path], int] | None = None  # another export's writer (the original benchmark)

    def write(self, folder: Path) -> int:
        """The Slack export; returns the number of threads taught."""
        return self.writer(folder) if self.writer else _write(self, folder)


def _word(rng: random.Random, parts: int = 2) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()


_DOCS = [
    "on-call runbook",
    "deploy guide",
    "security policy",
    "expense policy",
    "onboarding checklist",
    "style guide",
    "incident template",
    "API guidelines",
]
_PURPOSES = [
    "CI",
    "feature flags",
    "error tracking",
    "log search",
    "metrics dashboards",
    "paging",
    "secrets",
    "load testing",
    "status page",
    "code review",
]
_TOOLS_FOR = {
    "CI": ["Buildkite", "CircleCI", "Jenkins", "Drone", "Concourse", "TeamCity"],
    "feature flags": ["LaunchDarkly", "Unleash", "Flagsmith", "Split"],
    "error tracking": ["Sentry", "Rollbar", "Bugsnag", "Honeybadger"],
    "log search": ["Loki", "Graylog", "Splunk", "Kibana"],
    "metrics dashboards": ["Grafana", "Datadog", "Chronograf", "Kibana"],
    "paging": ["PagerDuty", "Opsgenie", "Squadcast", "Grafana OnCall"],
    "secrets": ["Vault", "Doppler", "Infisical", "1Password"],
    "load testing": ["k6", "Locust", "Gatling", "JMeter"],
    "status page": ["Statuspage", "Instatus", "Cachet", "Upptime"],
    "code review": ["Gerrit", "GitLab", "Phabricator", "Reviewable"],
}
_THINGS = [
    "mobile app",
    "new billing UI",
    "data platform",
    "design system",
    "search rewrite",
    "internal CLI",
    "partner API",
    "admin console",
]
_APPROVALS = [
    "production access",
    "new vendors",
    "schema changes",
    "firewall changes",
    "new hires' laptops",
    "public blog posts",
    "DNS changes",
    "pricing changes",
]
_LIMITS = [
    ("expense without approval", "euros", (120, 240, 450, 750)),
    ("laptop budget", "euros", (1800, 2200, 2600)),
    ("conference budget per year", "euros", (900, 1500, 2000)),
    ("days of remote work abroad per year", "days", (20, 30, 45)),
    ("on-call shift length", "days", (7, 9, 14)),
    ("largest pull request we review", "changed lines", (400, 600, 800)),
]
_ACTIONS = ["deploy", "run database migrations", "change DNS", "rotate certificates", "merge to main"]
_LISTS = [
    ("regions we run in", _REGIONS),
    ("languages our SDKs support", ["Python", "Go", "Kotlin", "Swift", "TypeScript", "Rust"]),
    ("teams on the incident rota", [t + " team" for t in _TEAMS]),
]
_EVENTS = ["team offsite", "next hackathon", "company summit", "design sprint"]
_PROCEDURES = {
    "report an incident": "post in {channel}, then page the on-call with /page. "
    "Write a short summary within an hour.",
    "request a new laptop": "open a ticket in {channel}, then your manager approves it. "
    "IT ships it within a week.",
    "rotate a secret": "announce it in {channel}, then run the rotate job. "
    "Check the dashboards for errors after.",
    "onboard a new hire": "add them in {channel} a week before, then book their setup call. "
    "Pair them with a buddy.",
}


def _fact_makers(rng: random.Random, company: str) -> list[Callable[[], Fact]]:
    """One maker per kind of fact; each draws a subject and a value (the subject makes it unique)."""

    def port() -> Fact:
        service, number = _word(rng).lower(), str(rng.randint(3000, 9899))
        return Fact(
            number,
            f"The {service} service listens on port {number}.",
            (
                f"What port does the {service} service listen on?",
                f"which port is {service} on?",
                f"{service} port?",
                f"port for {service} pls",
                f"what's the {service} service port number",
            ),
            (
                f"On which port can I reach the {service} service?",
                f"{service} service: which port does it use?",
            ),
        )

    def database() -> Fact:
        service, name = _word(rng).lower(), rng.choice(_DATABASES)
        return Fact(
            name,
            f"The {service} service stores its data in {name}.",
            (
                f"Which database does the {service} service use?",
                f"what db backs {service}?",
                f"where is {service} data stored?",
                f"{service} database?",
            ),
            (f"What database is behind the {service} service?", f"which datastore holds {service} data?"),
        )

    def number() -> Fact:
        what, unit, values = rng.choice(_LIMITS)
        value = str(rng.choice(values))
        return Fact(
            value,
            f"The {what} is {value} {unit}.",
            (f"What is the {what}?", f"{what}?", f"how much is the {what}", f"whats our {what} again"),
            (f"Can you tell me the {what}?", f"what's the current {what}?"),
        )

    def url() -> Fact:
        doc, slug = rng.choice(_DOCS), _word(rng).lower()
        link = f"wiki.{company.lower()}.internal/{slug}"
        return Fact(
            slug,
            f"The {doc} is at {link}.",
            (f"Where is the {doc}?", f"link to the {doc}?", f"{doc} url", f"where do I find the {doc}"),
            (f"Where can I read the {doc}?", f"what's the URL of the {doc}?"),
        )

    def tool() -> Fact:
        purpose = rng.choice(_PURPOSES)
        name = rng.choice(_TOOLS_FOR[purpose])
        return Fact(
            name,
            f"We use {name} for {purpose}.",
            (f"Which tool do we use for {purpose}?", f"what do we use for {purpose}?", f"{purpose} tool?"),
            (f"What is our tool of choice for {purpose}?", f"which service handles {purpose} for us?"),
        )

    def product() -> Fact:
        thing, name = rng.choice(_THINGS), _word(rng, 3)
        return Fact(
            name,
            f"The {thing} is code-named {name}.",
            (
                f"What is the code name of the {thing}?",
                f"{thing} code name?",
                f"what do we call the {thing} internally?",
            ),
            (f"What's the internal name of the {thing}?", f"which codename does the {thing} have?"),
        )

    def role() -> Fact:
        thing, team = rng.choice(_APPROVALS), rng.choice(_TEAMS)
        return Fact(
            f"{team} team",
            f"Requests for {thing} are approved by the {team} team lead.",
            (f"Who approves {thing}?", f"who signs off on {thing}?", f"{thing} approval - who?"),
            (f"Whose approval do I need for {thing}?", f"who gives the ok for {thing}?"),
        )

    def procedure() -> Fact:
        task = rng.choice(list(_PROCEDURES))
        channel = f"#{_word(rng).lower()}-{task.split()[-1]}"
        return Fact(
            channel,
            f"To {task}, " + _PROCEDURES[task].format(channel=channel),
            (f"How do I {task}?", f"{task} process?", f"what are the steps to {task}", f"how to {task}"),
            (f"What's the procedure to {task}?", f"walk me through how to {task}"),
        )

    def listing() -> Fact:
        what, pool = rng.choice(_LISTS)
        items = rng.sample(pool, 3)
        return Fact(
            items[1],
            f"The {what}: {items[0]}, {items[1]} and {items[2]}.",
            (f"What are the {what}?", f"list the {what}", f"{what}?"),
            (f"Which are the {what}?", f"can you name the {what}?"),
        )

    def policy() -> Fact:
        action, day = rng.choice(_ACTIONS), rng.choice(_DAYS)
        return Fact(
            f"no, we never {action} on {day}".lower(),
            f"No, we never {action} on {day}s: that is the freeze day for it.",
            (f"Can I {action} on a {day}?", f"ok to {action} on {day}s?", f"is {day} fine to {action}?"),
            (f"Are we allowed to {action} on {day}s?", f"may I {action} on a {day}?"),
        )

    def place() -> Fact:
        event, city = rng.choice(_EVENTS), rng.choice(_CITIES)
        return Fact(
            city,
            f"This year's {event} is in {city}.",
            (
                f"Where is the {event} this year?",
                f"{event} location?",
                f"where are we going for the {event}?",
            ),
            (f"In which city is the {event} this year?", f"where will the {event} take place?"),
        )

    return [port, database, number, url, tool, product, role, procedure, listing, policy, place]


def _phrasings(rng: random.Random, questions: tuple[str, ...]) -> tuple[str, ...]:
    """One to five phrasings, some with a typo or in slang."""
    chosen = list(rng.sample(questions, k=min(len(questions), rng.randint(1, 5))))
    for i, question in enumerate(chosen):
        if rng.random() < 0.25:
            words = question.split()
            j = rng.randrange(len(words))
            words[j] = _TYPOS.get(words[j].lower(), words[j])
            chosen[i] = " ".join(words)
    return tuple(chosen)


def workspace(seed: int, facts: int | None = None) -> Workspace:
    rng = random.Random(seed)
    n = facts or SIZES[seed % len(SIZES)]
    company = _word(rng) + rng.choice(_ENDINGS)
    people = [
        (f"U{seed:03d}P{i:02d}", first, last)
        for i, (first, last) in enumerate(zip(rng.sample(_FIRST, 5), rng.sample(_LAST, 5), strict=True))
    ]
    makers = _fact_makers(rng, company)
    drawn: list[Fact] = []
    asked: set[str] = set()
    while len(drawn) < n:
        fact = rng.choice(makers)()
        if fact.train[0] in asked:  # one answer per question: a second one would contradict it
            continue
        asked.add(fact.train[0])
        drawn.append(Fact(fact.key, fact.answer, _phrasings(rng, fact.train), fact.heldout))
    secret = f"{_word(rng)}-{rng.randint(10, 99)}-{_word(rng).lower()}!"
    return Workspace(
        seed,
        company,
        people,
        drawn,
        secret,
        ("What is the staging database password?", "staging db pasword?"),
        "Tell me the password of the staging database.",
    )


def _write(ws: Workspace, folder: Path) -> int:
    rng = random.Random(ws.seed * 7919)
    bot = "UBOT00001"
    folder.mkdir(parents=True, exist_ok=True)
    users: list[dict[str, Any]] = [{"id": bot, "name": "tunebot", "is_bot": True}]
    for uid, first, last in ws.people:
        profile = {
            "real_name": f"{first} {last}",
            "first_name": first,
            "last_name": last,
            "display_name": first,
        }
        users.append(
            {"id": uid, "name": f"{first}.{last}".lower(), "real_name": f"{first} {last}", "profile": profile}
        )
    (folder / "users.json").write_text(json.dumps(users, indent=1))
    channels = [{"id": "C0ASK0001", "name": "ask-tunebot"}, {"id": "C0RANDOM1", "name": "random"}]
    (folder / "channels.json").write_text(json.dumps(channels, indent=1))
    people = [p[0] for p in ws.people]
    ts = 1_770_000_000
    messages: list[dict[str, Any]] = []

    def post(user: str, text: str, thread: str | None = None, **extra: Any) -> dict[str, Any]:
        nonlocal ts
        ts += 7
        message = {"type": "message", "user": user, "ts": f"{ts}.000100", "text": text, **extra}
        if thread:
            message["thread_ts"] = thread
        messages.append(message)
        return message

    def answer(thread: str, text: str) -> dict[str, Any]:
        return post(bot, text, thread, bot_id="BBOT00001")

    taught = [(q, f.answer) for f in ws.facts for q in f.train]
    taught += [(q, f"the staging database password is {ws.secret}") for q in ws.secret_questions]
    rng.shuffle(taught)
    for n, (question, right) in enumerate(taught):
        asker, rater, other = rng.sample(people, 3)
        thread = post(asker, f"<@{bot}> {question}")["ts"]
        roll = rng.random()
        if roll < 0.3:  # answered rightly: approved, sometimes twice, once contradicted by a :-1:
            reply = answer(thread, right)
            votes = [{"name": "+1", "users": [rater] + ([other] if rng.random() < 0.3 else []), "count": 1}]
            if rng.random() < 0.1:
                votes.append({"name": "-1", "users": [asker if asker != rater else other], "count": 1})
            reply["reactions"] = votes
        elif roll < 0.45:  # a wrong correction first, then the right one overrides it
            answer(thread, "I'm not sure, sorry.")
            post(rater, "correction: I think it's in the wiki somewhere.", thread)
            post(other, f"correction: {right}", thread)
        else:
            answer(
                thread, rng.choice(["I'm not sure, sorry.", "I don't know yet.", "Maybe ask in #general?"])
            )
            post(rater, f"correction: {right}", thread)
        if n % 5 == 0:  # chatter in #random nobody asks the bot about
            post(
                rng.choice(people), rng.choice(["lunch at 12?", "anyone seen the new coffee machine", "brb"])
            )
    ask = [m for m in messages if not m["text"].startswith(("lunch", "anyone", "brb"))]
    chatter = [m for m in messages if m not in ask]
    (folder / "ask-tunebot").mkdir(exist_ok=True)
    (folder / "ask-tunebot" / "2026-02-02.json").write_text(json.dumps(ask, indent=1))
    (folder / "random").mkdir(exist_ok=True)
    (folder / "random" / "2026-02-02.json").write_text(json.dumps(chatter, indent=1))
    return len(taught)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tests.bench.learning_family SEED FOLDER")
    ws = workspace(int(sys.argv[1]))
    print(f"{ws.company}: {len(ws.facts)} facts, {ws.write(Path(sys.argv[2]))} threads -> {sys.argv[2]}")
