"""The services one Bolt app needs, handed to every listener module."""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.assistant import AssistantService
from bot.services.chat import ChatService
from bot.services.feedback import FeedbackService
from bot.services.tune import TuneService
from bot.services.words import WordsService


@dataclass(frozen=True)
class Services:
    chat: ChatService
    feedback: FeedbackService
    tune: TuneService
    words: WordsService
    assistant: AssistantService
