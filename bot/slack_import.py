"""`tunebot import`: a standard Slack workspace export (zip or folder) into exchanges and feedback.

Bot answers in threads become exchanges (the earlier thread messages are their prompt), reactions on
them become approvals or rejections, and later `correction:` replies become corrections. Everything
passes through the same scrubber and feedback policy as live events.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from bot.services.chat import ExchangeRecorder, Turn
from bot.services.feedback import FeedbackService
from policies.privacy.workspace import Member, WorkspaceNames, words_of, workspace_words


class ExportError(ValueError):
    """The export cannot be read; the message names the file and what is wrong."""


@dataclass
class ImportReport:
    channels: int = 0
    messages: int = 0
    exchanges: int = 0
    feedback: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    skipped_files: list[str] = field(default_factory=list)


class _Export:
    """Read-only view of an export, folder or zip alike."""

    def __init__(self, path: Path):
        self.path = path
        self._prefix = ""
        if path.is_dir():
            self._zip = None
            self.names = [p.relative_to(path).as_posix() for p in path.rglob("*.json")]
        elif zipfile.is_zipfile(path):
            self._zip = zipfile.ZipFile(path)
            self.names = [n for n in self._zip.namelist() if n.endswith(".json")]
            # Exports zipped with their top folder: strip it.
            roots = {n.split("/", 1)[0] for n in self.names if "/" in n}
            if "channels.json" not in self.names and len(roots) == 1:
                self._prefix = roots.pop() + "/"
        else:
            raise ExportError(f"{path}: not a folder or a zip file")

    def read(self, name: str) -> Any:
        try:
            if self._zip is None:
                raw = (self.path / name).read_bytes()
            else:
                raw = self._zip.read(self._prefix + name)
            return json.loads(raw)
        except (OSError, KeyError) as exc:
            raise FileNotFoundError(name) from exc
        except json.JSONDecodeError as exc:
            raise ExportError(f"{self.path}/{name}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc

    def channel_files(self, channel_name: str) -> list[str]:
        names = [n.removeprefix(self._prefix) for n in self.names]
        return sorted(n for n in names if PurePosixPath(n).parent.as_posix() == channel_name)


def _bot_user_ids(export: _Export, extra: list[str]) -> set[str]:
    ids = set(extra)
    try:
        users = export.read("users.json")
    except FileNotFoundError:
        return ids
    return ids | {u["id"] for u in users if u.get("is_bot") or u.get("is_app_user")}


def _members(export: _Export) -> list[Member]:
    try:
        users = export.read("users.json")
    except FileNotFoundError:
        return []
    if not isinstance(users, list):
        raise ExportError(f"{export.path}/users.json: expected a list of users")
    return [m for u in users if isinstance(u, dict) and (m := Member.from_slack(u)) is not None]


def export_members(path: Path) -> list[Member]:
    """The members of an export (its folder or zip) or of a users.json file: for the scrubber only."""
    if path.is_file() and path.suffix == ".json":
        try:
            users = json.loads(path.read_bytes())
        except json.JSONDecodeError as exc:
            raise ExportError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        if not isinstance(users, list):
            raise ExportError(f"{path}: expected a list of users, as in an export's users.json")
        return [m for u in users if isinstance(u, dict) and (m := Member.from_slack(u)) is not None]
    return _members(_Export(path))


def learn_workspace(export: _Export, channels: list[dict], names: WorkspaceNames) -> None:
    """Tell the scrubber who the export's people are and which words name the team's things.

    Members come from users.json; the vocabulary from channel names and the words people write in
    code spans and links. Both stay in memory: nothing of them is stored."""
    names.set_members(_members(export))
    vocabulary = {w for c in channels for w in words_of(c.get("name", "")) if len(w) >= 3}
    for channel in channels:
        vocabulary |= workspace_words(m.get("text") or "" for m in _messages(export, channel, ImportReport()))
    names.add_vocabulary(v for v in vocabulary if not names.is_member_name(v))


def _messages(export: _Export, channel: dict, report: ImportReport) -> Iterator[dict]:
    for name in export.channel_files(channel["name"]):
        try:
            day = export.read(name)
        except ExportError as exc:
            report.skipped_files.append(str(exc))
            continue
        if isinstance(day, list):
            yield from (m for m in day if isinstance(m, dict) and m.get("type") == "message")


@dataclass
class ExportChannel:
    id: str
    name: str
    messages: list[dict]  # oldest first


@dataclass
class ExportContents:
    users: dict[str, str]  # user id -> name
    bots: set[str]
    channels: list[ExportChannel]
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # user id -> users.json entry


def read_export(path: Path) -> ExportContents:
    """The export's users and channels with their messages, as they are (not scrubbed): for showing
    it in the sandbox's page, never for storing."""
    export = _Export(path)
    try:
        channels = export.read("channels.json")
    except FileNotFoundError:
        raise ExportError(f"{path}: no channels.json; is this a Slack workspace export?") from None
    try:
        entries = export.read("users.json")
    except FileNotFoundError:
        entries = []
    users = {u["id"]: u.get("name") or u["id"] for u in entries}
    report = ImportReport()
    return ExportContents(
        users,
        _bot_user_ids(export, []),
        [
            ExportChannel(c["id"], c["name"], sorted(_messages(export, c, report), key=_ts_key))
            for c in channels
        ],
        {u["id"]: u for u in entries},
    )


def _ts_key(message: dict) -> float:
    return float(message["ts"])


def _ts_time(ts: str) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)


def import_export(
    path: Path,
    recorder: ExchangeRecorder,
    feedback: FeedbackService,
    *,
    bot_users: list[str] | None = None,
    progress: Callable[[str], None] = lambda _m: None,
    on_thread: Callable[[str, int, int], None] | None = None,
    workspace: WorkspaceNames | None = None,
) -> ImportReport:
    """`progress` gets a line per channel; `on_thread` (channel, threads done, threads in it) each thread."""
    export = _Export(path)
    try:
        channels = export.read("channels.json")
    except FileNotFoundError:
        raise ExportError(f"{path}: no channels.json; is this a Slack workspace export?") from None
    bots = _bot_user_ids(export, bot_users or [])
    if workspace is not None:
        learn_workspace(export, channels, workspace)
    report = ImportReport()
    for channel in channels:
        report.channels += 1
        threads: dict[str, list[dict]] = defaultdict(list)
        for message in _messages(export, channel, report):
            report.messages += 1
            threads[message.get("thread_ts") or message["ts"]].append(message)
        for done, (thread_ts, messages) in enumerate(threads.items(), 1):
            messages.sort(key=lambda m: float(m["ts"]))
            _import_thread(channel["id"], thread_ts, messages, bots, recorder, feedback, report)
            if on_thread is not None:
                on_thread(channel["name"], done, len(threads))
        progress(f"#{channel['name']}: {report.exchanges} exchanges so far")
    return report


def _strip_bot_mentions(text: str, bots: set[str]) -> str:
    for bot in bots:
        text = re.sub(rf"<@{re.escape(bot)}(?:\|[^>]*)?>", "", text)
    return text.strip()


def _is_bot(message: dict, bots: set[str]) -> bool:
    return bool(message.get("bot_id")) or message.get("user") in bots


def _import_thread(
    channel_id: str,
    thread_ts: str,
    messages: list[dict],
    bots: set[str],
    recorder: ExchangeRecorder,
    feedback: FeedbackService,
    report: ImportReport,
) -> None:
    turns: list[Turn] = []
    for message in messages:
        text = message.get("text") or ""
        if _is_bot(message, bots):
            if turns and turns[-1].role == "user":
                _import_answer(channel_id, thread_ts, message, turns, recorder, feedback, report)
            turns.append(Turn("assistant", text))
            continue
        corrected = feedback.correction_text(text)
        if corrected is not None and any(t.role == "assistant" for t in turns):
            exchange_id = feedback.correct(
                user_id=message.get("user", "unknown"),
                corrected=corrected,
                channel_id=channel_id,
                thread_ts=thread_ts,
                before_ts=message["ts"],
                context=[t.text for t in turns],
                message_ts=message["ts"],
            )
            if exchange_id is not None:
                report.feedback["correct"] += 1
                _import_reactions(channel_id, message, feedback, report)  # approvals of the correction
            continue
        text = _strip_bot_mentions(text, bots)
        if text:
            turns.append(Turn("user", text, message.get("user")))


def _import_answer(
    channel_id: str,
    thread_ts: str,
    message: dict,
    turns: list[Turn],
    recorder: ExchangeRecorder,
    feedback: FeedbackService,
    report: ImportReport,
) -> None:
    recorder.record(
        channel_id=channel_id,
        thread_ts=thread_ts,
        question_ts=thread_ts,
        reply_ts=message["ts"],
        turns=list(turns),
        reply=message.get("text") or "",
        adapter_version="import",
        asked_by=next((t.user for t in reversed(turns) if t.role == "user"), None),
        source="import",
        created_at=_ts_time(message["ts"]),
    )
    report.exchanges += 1
    _import_reactions(channel_id, message, feedback, report)


def _import_reactions(
    channel_id: str, message: dict, feedback: FeedbackService, report: ImportReport
) -> None:
    for reaction in message.get("reactions", []):
        for user in reaction.get("users", []):
            kind = feedback.react(
                channel_id=channel_id,
                message_ts=message["ts"],
                reaction=reaction.get("name", ""),
                user_id=user,
            )
            if kind:
                report.feedback[kind] += 1
