"""`/tune words`: what the scrubber replaces as people, and the keep / scrub lists admins steer it with.

The lists are stored (shared by replicas, each change audited) and apply to text scrubbed from then
on. Raw text is never stored, so nothing already stored can be scrubbed again: a word replaced
before it was kept stays a placeholder in the examples that hold it.
"""

from __future__ import annotations

import logging
import re

from policies.privacy.names import fold
from policies.privacy.workspace import WorkspaceNames
from storage import Database
from storage.scrub_words import remove_word, set_word, word_lists

log = logging.getLogger(__name__)

_WORD = re.compile(r"^[^\W_][\w.+#-]{0,62}$")
USAGE = "Usage: `/tune words`, `/tune words keep WORD`, `/tune words scrub WORD`, `/tune words forget WORD`."


class WordsService:
    def __init__(self, db: Database, names: WorkspaceNames):
        self.db = db
        self.names = names

    def refresh(self) -> None:
        """Load the lists into the scrubber (each replica does, every few seconds)."""
        with self.db.session() as session:
            lists = word_lists(session)
        self.names.set_word_lists(lists["keep"], lists["scrub"])

    def listing(self, top: int = 15) -> str:
        with self.db.session() as session:
            lists = word_lists(session)
        replaced = self.names.replaced.most_common(top)
        lines = ["*Words replaced as people* (since this bot started; members' names are not listed):"]
        lines += [f"• {word} — {count}" for word, count in replaced] or ["• none yet"]
        lines.append(f"*Kept* (never a person): {', '.join(lists['keep']) or 'none'}")
        lines.append(f"*Always scrubbed*: {', '.join(lists['scrub']) or 'none'}")
        lines.append(
            "`/tune words keep WORD` keeps a word, `/tune words scrub WORD` always scrubs it, "
            "`/tune words forget WORD` takes it off both lists. They apply to text scrubbed from now "
            "on; what is stored was scrubbed already and cannot change."
        )
        return "\n".join(lines)

    def change(self, action: str, word: str, actor: str) -> str:
        if not _WORD.match(word):
            return f"`{word}` is not one word (letters, digits, . - _ + #; at most 63 characters). {USAGE}"
        key = fold(word)
        with self.db.session() as session:
            before = (
                remove_word(session, key, actor=actor)
                if action == "forget"
                else set_word(session, key, action, actor=actor)
            )
        self.refresh()
        log.info("words: %s %s by %s (was %s)", action, key, actor, before)
        if action == "forget":
            return f"`{key}` is on neither list now." if before else f"`{key}` was on neither list."
        verb = "kept (never taken for a person)" if action == "keep" else "always scrubbed"
        moved = f" (it was on the {before} list)" if before and before != action else ""
        return f"`{key}` is {verb} from now on{moved}. Stored examples are not changed."
