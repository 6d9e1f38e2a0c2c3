"""A labelled, deterministic corpus of chat-ops messages with planted personal data and secrets.

Generated offline from Faker (pinned in the dev extras, so the same seed gives the same corpus) and
chat-style templates: lowercase names and nicknames, Slack markup, code blocks, logs, stack traces,
URLs with credentials, multi-line keys. Every planted value carries the fragments that must not
survive scrubbing; everything else in a message is text that should survive.

A second corpus, `business_facts`, holds no personal data at all: times, places, product names,
internal host names, ticket ids, versions, commit hashes. Its text must survive (over-scrubbing ruins
training data). `python -m tests.bench.privacy` scores a scrubber on both.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field

from faker import Faker

# The fictional company's own vocabulary: a workspace would put its product names on the allow-list.
PRODUCTS = ["Ledgerly", "Quokka", "Harbor", "Pinecone Sync", "Atlas", "Beacon", "Sparrow CRM"]
SERVICES = ["billing-api", "auth-svc", "orders", "search-indexer", "payments-gw", "notifier", "cdn-edge"]
HOSTS = ["db-prod-01", "db-replica-02", "kafka-3.int", "web-7", "redis-cache-01", "bastion.corp.internal"]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "Frankfurt", "Dublin", "Oregon"]
PLACES = ["Berlin", "London", "Austin", "Toronto", "Lisbon", "Singapore", "Denver", "Amsterdam"]
ROOMS = ["Room 4.12", "the Fjord room", "Building C", "floor 3", "the Orca room"]

SECRET_TYPES = frozenset(
    {
        "SLACK_TOKEN",
        "AWS_ACCESS_KEY",
        "AWS_SECRET_KEY",
        "GITHUB_TOKEN",
        "PRIVATE_KEY",
        "URL_CREDENTIALS",
        "PASSWORD",
        "API_KEY",
        "JWT",
    }
)

# Locales whose names and phone formats a team chatting in English is likely to see.
NAME_LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "pl_PL", "en_IN"]
PHONE_LOCALES = ["en_US", "en_GB", "en_IN"]
NICKNAMES = {
    "Michael": "mike",
    "Robert": "bob",
    "William": "bill",
    "Elizabeth": "liz",
    "Jennifer": "jen",
    "Christopher": "chris",
    "Daniel": "dan",
    "Katherine": "kate",
    "Matthew": "matt",
    "Nicholas": "nick",
    "Alexander": "alex",
    "Samantha": "sam",
    "Benjamin": "ben",
    "Joseph": "joe",
    "Anthony": "tony",
    "Thomas": "tom",
    "James": "jim",
    "Rebecca": "becky",
    "Margaret": "maggie",
    "Jonathan": "jon",
}


@dataclass(frozen=True)
class Planted:
    entity: str
    value: str  # as written in the message
    fragments: tuple[str, ...]  # the parts that must not survive (word-bounded, case-insensitive)

    @property
    def secret(self) -> bool:
        return self.entity in SECRET_TYPES


@dataclass
class Message:
    conversation: int
    text: str
    planted: list[Planted] = field(default_factory=list)


def _words(value: str, min_length: int = 3) -> tuple[str, ...]:
    return tuple(w for w in re.findall(r"[^\W_]+", value) if len(w) >= min_length)


class _Maker:
    """Draws planted values; one instance per corpus so a seed fixes everything."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.fakers = {loc: Faker(loc) for loc in sorted(set(NAME_LOCALES) | set(PHONE_LOCALES))}
        for i, faker in enumerate(self.fakers.values()):
            faker.seed_instance(seed * 100 + i)
        self.en = self.fakers["en_US"]

    def _faker(self, locales: list[str]) -> Faker:
        return self.fakers[self.rng.choice(locales)]

    def _chars(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    # -- personal data -------------------------------------------------------------------------------
    def person(self) -> Planted:
        faker = self._faker(NAME_LOCALES)
        first, last = faker.first_name(), faker.last_name()
        style = self.rng.random()
        if style < 0.25:
            value = f"{first} {last}"
        elif style < 0.45:
            value = first
        elif style < 0.6:
            value = first.lower()
        elif style < 0.72:
            value = f"{first.lower()} {last.lower()}"
        elif style < 0.82:
            value = f"{first} {last[0]}."
        else:
            english = self.en.first_name_male() if self.rng.random() < 0.5 else self.en.first_name()
            value = NICKNAMES.get(english, english.lower())
        return Planted("PERSON", value, _words(value, 2))

    def email(self) -> Planted:
        faker = self._faker(NAME_LOCALES)
        local = self.rng.choice(
            [
                f"{faker.first_name()}.{faker.last_name()}".lower(),
                faker.user_name(),
                f"{faker.first_name()[0]}{faker.last_name()}".lower(),
            ]
        )
        local = re.sub(r"[^a-z0-9._-]", "", local.lower()) or "someone"
        domain = self.rng.choice(["acme.internal", "corp.example", faker.free_email_domain(), "ledgerly.io"])
        value = f"{local}@{domain}"
        return Planted("EMAIL_ADDRESS", value, (value, *_words(local, 4)))

    def mailto(self) -> Planted:
        """An email as Slack sends a link to it: <mailto:a@b|a@b>."""
        email = self.email()
        return Planted("EMAIL_ADDRESS", f"<mailto:{email.value}|{email.value}>", email.fragments)

    def phone(self) -> Planted:
        faker = self._faker(PHONE_LOCALES)
        value = faker.phone_number()
        if self.rng.random() < 0.3:
            value = (
                self.rng.choice(["+1 ", "+44 ", "+49 "])
                + self._chars(string.digits, 3)
                + " "
                + (self._chars(string.digits, 3) + " " + self._chars(string.digits, 4))
            )
        groups = re.findall(r"\d{3,}", value)
        long_groups = [d for d in groups if len(d) >= 4] or groups
        return Planted("PHONE_NUMBER", value, (value, *long_groups))

    def card(self) -> Planted:
        number = self.en.credit_card_number(card_type=self.rng.choice(["visa16", "mastercard", "amex"]))
        if self.rng.random() < 0.5 and len(number) == 16:
            number = " ".join(number[i : i + 4] for i in range(0, 16, 4))
        return Planted("CREDIT_CARD", number, (number, *_words(number, 4)))

    def iban(self) -> Planted:
        value = self._faker(["de_DE", "en_GB", "fr_FR", "nl_NL"]).iban()
        return Planted("IBAN_CODE", value, (value,))

    def ssn(self) -> Planted:
        value = self.en.ssn()
        return Planted("US_SSN", value, (value,))

    def ip(self) -> Planted:
        value = self.en.ipv4_public() if self.rng.random() < 0.8 else self.en.ipv6()
        return Planted("IP_ADDRESS", value, (value,))

    def slack_user(self) -> Planted:
        uid = self.rng.choice("UW") + self._chars(string.ascii_uppercase + string.digits, 10)
        if self.rng.random() < 0.3:
            name = self.en.first_name().lower()
            return Planted("SLACK_USER", f"<@{uid}|{name}>", (uid, name))
        return Planted("SLACK_USER", f"<@{uid}>", (uid,))

    # -- secrets ---------------------------------------------------------------------------------------
    def slack_token(self) -> Planted:
        alnum = string.ascii_letters + string.digits
        kind = self.rng.random()
        if kind < 0.6:
            value = (
                f"xox{self.rng.choice('bpa')}-{self._chars(string.digits, 12)}-"
                f"{self._chars(string.digits, 13)}-{self._chars(alnum, 24)}"
            )
        elif kind < 0.8:
            value = f"xapp-1-A{self._chars(string.digits, 10)}-{self._chars(string.digits, 13)}-" + (
                self._chars("abcdef0123456789", 64)
            )
        else:
            value = (
                f"https://hooks.slack.com/services/T{self._chars(string.digits, 8)}/"
                f"B{self._chars(string.digits, 8)}/{self._chars(alnum, 24)}"
            )
        return Planted("SLACK_TOKEN", value, (value, *[w for w in _words(value, 8) if w != "services"]))

    def aws_access_key(self) -> Planted:
        value = "AKIA" + self._chars(string.ascii_uppercase + "234567", 16)
        return Planted("AWS_ACCESS_KEY", value, (value,))

    def aws_secret_key(self) -> Planted:
        alphabet = string.ascii_letters + string.digits + "+/"
        while True:
            value = self._chars(alphabet, 40)
            if re.search("[A-Z]", value) and re.search("[a-z]", value) and re.search("[0-9]", value):
                return Planted("AWS_SECRET_KEY", value, (value, *_words(value, 8)))

    def github_token(self) -> Planted:
        alnum = string.ascii_letters + string.digits
        if self.rng.random() < 0.7:
            value = self.rng.choice(["ghp_", "gho_", "ghs_"]) + self._chars(alnum, 36)
        else:
            value = f"github_pat_{self._chars(alnum, 22)}_{self._chars(alnum, 59)}"
        return Planted("GITHUB_TOKEN", value, (value, *_words(value, 8)))

    def private_key(self) -> Planted:
        kind = self.rng.choice(["RSA ", "OPENSSH ", "EC ", ""])
        lines = [self._chars(string.ascii_letters + string.digits + "+/", 64) for _ in range(4)]
        body = "\n".join(lines)
        if self.rng.random() < 0.25:  # pasted and cut off mid-key
            value = f"-----BEGIN {kind}PRIVATE KEY-----\n{body}"
        else:
            value = f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"
        return Planted("PRIVATE_KEY", value, tuple(w for line in lines for w in _words(line, 8)))

    def url_credentials(self) -> Planted:
        user = self.rng.choice(["app", "admin", "svc_orders", "deploy", "readonly", "root"])
        password = self._password()
        host = self.rng.choice(HOSTS)
        template = self.rng.choice(
            [
                "postgres://{u}:{p}@{h}:5432/orders",
                "postgresql://{u}:{p}@{h}/billing?sslmode=require",
                "mysql://{u}:{p}@{h}:3306/app",
                "redis://:{p}@{h}:6379/0",
                "amqp://{u}:{p}@{h}:5672/",
                "https://{u}:{p}@git.corp.internal/platform/infra.git",
            ]
        )
        value = template.format(u=user, p=password, h=host)
        return Planted("URL_CREDENTIALS", value, (password, *_words(password, 4)))

    def _password(self) -> str:
        style = self.rng.random()
        if style < 0.4:
            return self._chars(string.ascii_letters + string.digits, self.rng.randint(10, 20))
        if style < 0.7:
            word = self.en.word().capitalize()
            return f"{word}{self.rng.randint(10, 9999)}{self.rng.choice('!#$%-')}"
        return self.en.password(length=self.rng.randint(10, 16), special_chars=True).replace("@", "#")

    def password(self) -> Planted:
        value = self._password()
        return Planted("PASSWORD", value, (value, *_words(value, 4)))

    def api_key(self) -> Planted:
        alnum = string.ascii_letters + string.digits
        value = self.rng.choice(
            [
                "sk_live_" + self._chars(alnum, 24),
                "sk-proj-" + self._chars(alnum + "_-", 48),
                "AIza" + self._chars(alnum + "_-", 35),
                "glpat-" + self._chars(alnum + "_-", 20),
                "npm_" + self._chars(alnum, 36),
            ]
        )
        return Planted("API_KEY", value, (value, *_words(value, 8)))

    def jwt(self) -> Planted:
        b64 = string.ascii_letters + string.digits + "_-"
        value = (
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
            + "eyJ"
            + self._chars(b64, 60)
            + "."
            + self._chars(b64, 43)
        )
        return Planted("JWT", value, (value, *[w for w in _words(value, 10) if not w.startswith("eyJhbGci")]))


# Templates: {name} slots filled by a _Maker method; a template is one message (may be multi-line).
_CHAT: list[str] = [
    "thanks {person} for jumping on the {service} incident!",
    "ask {person} about the {service} deploy, they own it",
    "cc {person} - can you review the migration before 15:00?",
    "{person} said the {service} rollout is paused until Monday",
    "ping {person} when {host} is back",
    "hey {person}, is {host} still on {region}?",
    "pairing with {person} on the flaky test in {service}",
    "{person} and {person} are on call this week",
    "lgtm, but {person} should sign off on the {product} change",
    "who is {person}? they opened the ticket OPS-{n4}",
    "reach me at {email} or {phone} if the pager fails",
    "mail {mailto} about the {service} outage, cc {slack_user}",
    "{slack_user} see <https://wiki.corp.internal/{service}|the runbook> before paging {person}",
    "customer {person} ({email}) cannot log in to {product}",
    "my cell is {phone}, text me if {service} pages again",
    "refund the card {card} for {person}, order #{n5}",
    "payout failed for IBAN {iban}, owner {person}",
    "SSN on the form was {ssn}, please delete the attachment",
    "blocked {ip} after 400 failed logins on {service}",
    "{slack_user} can you look at {service}?",
    "{slack_user} {slack_user} standup moved to 10:30",
    "here's the bot token so you can test: {slack_token}",
    "webhook for alerts is {slack_token}",
    "AWS creds for staging: {aws_access_key} / {aws_secret_key}",
    "use key id {aws_access_key} (rotating it tomorrow)",
    "oops pasted my token {github_token} - revoking now",
    "CI needs GITHUB_TOKEN={github_token}",
    "connection string: {url_credentials}",
    "try `psql {url_credentials}` from {host}",
    "the staging password is {password}",
    "db password: {password} (don't share)",
    "login with admin / password={password}",
    "stripe key {api_key} leaked in the logs, rotate it",
    "set OPENAI_API_KEY to {api_key} in the runner",
    "curl -H 'Authorization: Bearer {jwt}' https://{service}.corp.internal/v1/me",
    "session cookie was {jwt}",
]

_BLOCKS: list[str] = [
    "here's the key, careful:\n```\n{private_key}\n```",
    "{private_key}",
    "```\nDATABASE_URL={url_credentials}\nSECRET_KEY={password}\nLOG_LEVEL=info\n```",
    "```\nexport AWS_ACCESS_KEY_ID={aws_access_key}\nexport AWS_SECRET_ACCESS_KEY={aws_secret_key}\n```",
    "logs from {host}:\n```\n2026-03-14T09:12:44Z INFO login ok user={email} ip={ip}\n"
    "2026-03-14T09:12:51Z WARN retrying {service} (attempt 2/5)\n```",
    '```\nTraceback (most recent call last):\n  File "/srv/{service}/handlers.py", line 88, in charge\n'
    '    gateway.charge(card="{card}")\nPaymentError: card declined for {email}\n```',
    "config.yaml:\n```\nslack:\n  bot_token: {slack_token}\n  signing_secret: {password}\n```",
    '```json\n{{"user": "{email}", "phone": "{phone}", "api_key": "{api_key}"}}\n```',
]

_BUSINESS: list[str] = [
    "deploy {service} {version} to {host} in {region} at {time} UTC on {weekday}",
    "ticket OPS-{n4} is blocked on {service}; see INC{n7}",
    "{product} {version} ships {weekday}, release notes in the wiki",
    "the {place} office moves to {room} next {weekday}",
    "p95 latency on {service} went from {n2}ms to {n3}ms after {version}",
    "rolled back commit {sha} on {host}, error rate back to 0.{n2}%",
    "{service} listens on port {port}; health check at /healthz every {n2}s",
    "maintenance window: {date} {time}-{time2} UTC, {region} only",
    "{product} invoices are generated on the {day}th, totals in EUR",
    "pod {service}-{hash} OOMKilled at {time}, limit 512Mi, restarted {n1} times",
    "the {product} dashboard is at https://grafana.corp.internal/d/{hash}/{service}",
    "run `kubectl -n {service} rollout restart deploy/{service}` then check {host}",
    "migration {n4}_add_index took {n2} minutes on {host}",
    "request {uuid} failed with HTTP 502 from {service}",
    "standup moved to {time} in {room}; {product} demo after lunch",
    "```\n2026-03-14T09:12:44Z ERROR {service} timeout after {n4}ms talking to {host}:{port}\n"
    "2026-03-14T09:12:45Z INFO retry 1/3 request_id={uuid}\n```",
    '```\nTraceback (most recent call last):\n  File "/srv/{service}/worker.py", line {n2}, in run\n'
    "    queue.ack(job_id)\nConnectionError: {host}:{port} refused the connection\n```",
    "quarterly target for {product}: {n2}% more trials in {place} and {place}",
    "budget for {region} is ${n3}k/month, {product} team owns it",
    "the {place} and {place} teams share the {service} runbook (page 4)",
    "we will mark OPS-{n4} as done and bill the customer in {weekday}'s run",
    "grant read access to the {service} role; it may need a restart of {host}",
    "the summer freeze starts in June, traffic rose {n2}% since April",
    "chase the vendor about the invoice, then page the on-call if {service} errors rise",
    "art assets for {product} are in the design drive; hope to max out the cache hit rate",
    "thanks for the quick fix! ask in #ops if {service} acts up again",
    "ping the {service} owners and cc #incidents when the patch is out",
    "Traceback shows the worker died in {service}; Sentry grouped {n3} events",
    "hey team, {product} {version} is live in {place} - great work everyone",
    "who is on call for {service}? the pager said {host} is down",
]


def _fill(template: str, maker: _Maker, planted: list[Planted]) -> str:
    rng = maker.rng

    def value(match: re.Match[str]) -> str:
        slot = match.group(1)
        if slot in _BUSINESS_SLOTS:
            return _BUSINESS_SLOTS[slot](rng)
        item: Planted = getattr(maker, slot)()
        planted.append(item)
        return item.value

    return (
        re.sub(r"\{(\w+)\}", value, template.replace("{{", "\x00").replace("}}", "\x01"))
        .replace("\x00", "{")
        .replace("\x01", "}")
    )


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


_BUSINESS_SLOTS: dict[str, Callable[[random.Random], str]] = {
    "service": lambda r: r.choice(SERVICES),
    "host": lambda r: r.choice(HOSTS),
    "region": lambda r: r.choice(REGIONS),
    "product": lambda r: r.choice(PRODUCTS),
    "place": lambda r: r.choice(PLACES),
    "room": lambda r: r.choice(ROOMS),
    "weekday": lambda r: r.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]),
    "time": lambda r: f"{r.randint(0, 23):02d}:{r.choice(['00', '15', '30', '45'])}",
    "time2": lambda r: f"{r.randint(0, 23):02d}:00",
    "date": lambda r: f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    "day": lambda r: str(r.randint(4, 20)),
    "version": lambda r: f"v{r.randint(1, 4)}.{r.randint(0, 19)}.{r.randint(0, 9)}",
    "sha": lambda r: _hex(r, 40),
    "hash": lambda r: _hex(r, 8),
    "uuid": lambda r: f"{_hex(r, 8)}-{_hex(r, 4)}-{_hex(r, 4)}-{_hex(r, 4)}-{_hex(r, 12)}",
    "port": lambda r: str(r.choice([5432, 6379, 8080, 8443, 9092, 3000])),
    "n1": lambda r: str(r.randint(1, 9)),
    "n2": lambda r: str(r.randint(10, 99)),
    "n3": lambda r: str(r.randint(100, 999)),
    "n4": lambda r: str(r.randint(1000, 9999)),
    "n5": lambda r: str(r.randint(10000, 99999)),
    "n7": lambda r: str(r.randint(1000000, 9999999)),
}


def _background_clean(text: str, planted: list[Planted]) -> bool:
    """A fragment must not also occur in the message's own text, or its survival proves nothing."""
    rest = text
    for item in planted:
        rest = rest.replace(item.value, " ")
    return not any(
        re.search(rf"(?<![^\W_]){re.escape(f)}(?![^\W_])", rest, re.IGNORECASE)
        for item in planted
        for f in item.fragments
    )


def personal_data(n_messages: int = 600, seed: int = 7) -> list[Message]:
    """Messages with planted values, grouped into conversations of 2-5 messages."""
    maker = _Maker(seed)
    messages: list[Message] = []
    conversation = 0
    while len(messages) < n_messages:
        conversation += 1
        for _ in range(maker.rng.randint(2, 5)):
            template = maker.rng.choice(_BLOCKS if maker.rng.random() < 0.2 else _CHAT)
            while True:
                planted: list[Planted] = []
                text = _fill(template, maker, planted)
                if _background_clean(text, planted):
                    break
            messages.append(Message(conversation, text, planted))
    return messages[:n_messages]


def business_facts(n_messages: int = 300, seed: int = 11) -> list[Message]:
    """Messages with no personal data: every token should survive scrubbing."""
    maker = _Maker(seed)
    return [Message(i // 4, _fill(maker.rng.choice(_BUSINESS), maker, [])) for i in range(n_messages)]
