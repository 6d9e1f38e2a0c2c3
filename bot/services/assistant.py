"""Slack's assistant pane: what a new thread opens with (a greeting and suggested prompts)."""

from __future__ import annotations

from policies.privacy.placeholders import PLACEHOLDER
from policies.schema import AssistantPolicy
from storage import Database
from storage.exchanges import frequent_questions

MAX_PROMPTS = 4  # Slack shows at most four
PROMPT_TITLE_CHARACTERS = 75  # a suggested prompt's label
TITLE_CHARACTERS = 80  # a thread's title: the first question, cut at a word


class AssistantService:
    def __init__(self, db: Database, policy: AssistantPolicy):
        self.db = db
        self.policy = policy

    def suggested_prompts(self) -> list[dict[str, str]]:
        """The policy's prompts, else the team's most frequent questions (never one holding a
        placeholder: "<PERSON_1>" is no question anyone would click), as Slack's {title, message}."""
        if self.policy.suggested_prompts:
            chosen = self.policy.suggested_prompts[:MAX_PROMPTS]
        else:
            with self.db.session() as session:
                asked = frequent_questions(session)
            usable = [q for q in asked if not PLACEHOLDER.search(q)]
            chosen = usable[: self.policy.suggested_prompt_count]
        return [{"title": title(prompt, PROMPT_TITLE_CHARACTERS), "message": prompt} for prompt in chosen]


def title(text: str, limit: int = TITLE_CHARACTERS) -> str:
    """`text` on one line, cut at a word with an ellipsis past `limit` characters."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1].rsplit(" ", 1)[0] or line[: limit - 1]
    return cut.rstrip(",.;:") + "…"
