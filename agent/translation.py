"""When to translate and which target text is final enough to speak: the consecutive and simultaneous policies.

Both take the utterance's committed source text as it grows (`update(source, final)`) and return a
`TranslationDelta`: `committed` target text, which only ever grows and is all that gets spoken, and `tentative`
text, shown as a caption but never spoken. Translator calls block, so run `update` in a worker thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from model.asr import join_words, normalise, split_words
from model.translator import Turn

CLAUSE_END = re.compile(r"[,;:.!?…，、；：。！？]\s*$")
POLICIES = ("consecutive", "simultaneous")


class TranslatorBackend(Protocol):
    def translate(self, text: str, source: str, target: str, *, context=(), prefix: str = "") -> str: ...


@dataclass(frozen=True)
class TranslationDelta:
    committed: str
    tentative: str
    final: bool


class ConsecutivePolicy:
    """Translate each utterance once, when its transcript is final: the best quality, the most lag."""

    def __init__(self, translator: TranslatorBackend, source: str, target: str, context: list[Turn]) -> None:
        self.translator, self.source, self.target, self.context = translator, source, target, context

    def update(self, source_text: str, final: bool) -> TranslationDelta | None:
        if not final:
            return None
        text = self.translator.translate(source_text, self.source, self.target, context=self.context)
        return TranslationDelta(text, "", True)


class SimultaneousPolicy:
    """Translate the committed source as it grows and commit target words as soon as they are stable.

    Each translation is forced to start with the target text already committed, so what was committed stays.
    Beyond it, a word is committed once two successive translations agree on it and on everything before it
    (LocalAgreement-2); when the source so far ends a clause, the whole translation of it is committed, since
    more source will not change how that clause is said.
    """

    def __init__(self, translator: TranslatorBackend, source: str, target: str, context: list[Turn]) -> None:
        self.translator, self.source, self.target, self.context = translator, source, target, context
        self._committed: list[str] = []
        self._previous: list[str] | None = None
        self._translated = ""

    def update(self, source_text: str, final: bool) -> TranslationDelta | None:
        if not source_text.strip() or (source_text == self._translated and not final):
            return None
        self._translated = source_text
        prefix = join_words(self._committed)
        text = self.translator.translate(source_text, self.source, self.target, context=self.context, prefix=prefix)
        words = self._after_committed(split_words(text))
        if final or CLAUSE_END.search(source_text):
            self._committed += words
            words = []
        elif self._previous is not None:
            agreed = 0
            while agreed < min(len(words), len(self._previous)) and normalise(words[agreed]) == normalise(
                self._previous[agreed]
            ):
                agreed += 1
            self._committed += words[:agreed]
            words = words[agreed:]
        self._previous = words
        return TranslationDelta(join_words(self._committed), join_words(words), final)

    def _after_committed(self, words: list[str]) -> list[str]:
        """The translation's words after the committed ones (a backend that ignored the prefix repeats them)."""
        count = len(self._committed)
        if [normalise(w) for w in words[:count]] == [normalise(w) for w in self._committed]:
            return words[count:]
        return words[count:] if len(words) > count else []


@dataclass(frozen=True)
class TranslationSettings:
    policy: str = "consecutive"  # one of POLICIES
    context_turns: int = 3  # earlier utterances of the session given to the translator


TranslationPolicy = ConsecutivePolicy | SimultaneousPolicy


def make_policy(
    name: str, translator: TranslatorBackend, source: str, target: str, context: list[Turn]
) -> TranslationPolicy:
    if name == "simultaneous":
        return SimultaneousPolicy(translator, source, target, context)
    return ConsecutivePolicy(translator, source, target, context)
