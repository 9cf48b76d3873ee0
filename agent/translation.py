"""When to translate and which target text is final enough to speak: the consecutive and simultaneous policies.

Both take the utterance's committed source text as it grows (`update(source, final)`) and return a
`TranslationDelta`: `committed` target text, which only ever grows and is all that gets spoken, and `tentative`
text, shown as a caption but never spoken. Translator calls block, so run `update` in a worker thread. The
translator is told the languages by name, as its prompt says them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from model.translator import Turn
from model.words import LocalAgreement, join_words, normalise, split_words
from streaming.vocabulary import LANGUAGE_NAMES

CLAUSE_END = re.compile(r"[,;:.!?…，、；：。！？]\s*$")


class TranslatorBackend(Protocol):
    def translate(self, text: str, source: str, target: str, *, context=(), prefix: str = "") -> str: ...


@dataclass(frozen=True)
class TranslationDelta:
    committed: str
    tentative: str
    final: bool


class _Policy:
    def __init__(self, translator: TranslatorBackend, source: str, target: str, context: list[Turn]) -> None:
        """`source` and `target` are language codes; `context` the session's earlier turns."""
        self.translator, self.context = translator, context
        self.source, self.target = LANGUAGE_NAMES[source], LANGUAGE_NAMES[target]


class ConsecutivePolicy(_Policy):
    """Translate each utterance once, when its transcript is final: the best quality, the most lag."""

    def update(self, source_text: str, final: bool) -> TranslationDelta | None:
        if not final:
            return None
        text = self.translator.translate(source_text, self.source, self.target, context=self.context)
        return TranslationDelta(text, "", True)


class SimultaneousPolicy(_Policy):
    """Translate the committed source as it grows and commit target words as soon as they are stable.

    Each translation is forced to start with the target text already committed, so what was committed stays.
    Beyond it, a word is committed once two successive translations agree on it and on everything before it
    (LocalAgreement-2); when the source so far ends a clause, the whole translation of it is committed, since
    more source will not change how that clause is said.
    """

    def __init__(self, translator: TranslatorBackend, source: str, target: str, context: list[Turn]) -> None:
        super().__init__(translator, source, target, context)
        self._agreement = LocalAgreement()
        self._translated = ""

    def update(self, source_text: str, final: bool) -> TranslationDelta | None:
        if not source_text.strip() or (source_text == self._translated and not final):
            return None
        self._translated = source_text
        prefix = join_words(self._agreement.committed)
        text = self.translator.translate(source_text, self.source, self.target, context=self.context, prefix=prefix)
        words = self._after_committed(split_words(text))
        if final or CLAUSE_END.search(source_text):
            self._agreement.commit(words)
            words = []
        else:
            words = self._agreement.push(words)
        return TranslationDelta(join_words(self._agreement.committed), join_words(words), final)

    def _after_committed(self, words: list[str]) -> list[str]:
        """The translation's words after the committed ones (a backend that ignored the prefix repeats them)."""
        committed = self._agreement.committed
        count = len(committed)
        if [normalise(w) for w in words[:count]] == [normalise(w) for w in committed]:
            return words[count:]
        return words[count:] if len(words) > count else []


@dataclass(frozen=True)
class TranslationSettings:
    policy: str = "consecutive"  # one of streaming.vocabulary.POLICIES
    context_turns: int = 3  # earlier utterances of the session given to the translator


TranslationPolicy = ConsecutivePolicy | SimultaneousPolicy


def make_policy(
    name: str, translator: TranslatorBackend, source: str, target: str, context: list[Turn]
) -> TranslationPolicy:
    if name == "simultaneous":
        return SimultaneousPolicy(translator, source, target, context)
    return ConsecutivePolicy(translator, source, target, context)
