"""When to translate and which target text is final enough to speak: the consecutive and simultaneous policies.

Both take the utterance's committed source text as it grows (`stream(source, final)`) and turn each update into
`TranslationDelta`s as the translator's pieces arrive: `committed` target text, which only ever grows (as a string:
it may end in the middle of a word) and is all that gets spoken, and `tentative` text, shown as a caption but never
spoken. The streamed text is cleaned as `model.translator.clean` cleans a whole reply, and since cleaning a longer
reply never changes the cleaned start of a shorter one, what is committed early stays. The translator's stream
blocks, so iterate a policy's stream in a worker thread. The translator is told the languages by name, as its
prompt says them.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Protocol

from model.translator import StopSignal, Turn, clean
from model.words import LocalAgreement, is_han, join_words, normalise, split_words
from streaming.vocabulary import LANGUAGE_NAMES

CLAUSE_END = re.compile(r"[,;:.!?…，、；：。！？]\s*$")


class TranslatorBackend(Protocol):
    def stream(
        self, text: str, source: str, target: str, *, context=(), prefix: str = "", stop: StopSignal | None = None
    ) -> Generator[str, None, None]: ...


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

    def stream(self, source_text: str, final: bool, stop: StopSignal | None = None) -> Iterator[TranslationDelta]:
        raise NotImplementedError

    def _texts(self, text: str, prefix: str, stop: StopSignal | None) -> Iterator[str]:
        """The cleaned translation so far, starting with `prefix`, each time a piece changes it. It ends early once
        the first paragraph is complete: what a chat model adds after a blank line is notes, never spoken."""
        reply, last = prefix, None
        pieces = self.translator.stream(text, self.source, self.target, context=self.context, prefix=prefix, stop=stop)
        with closing(pieces):
            for piece in pieces:
                reply += piece
                cleaned = clean(reply)
                if cleaned != last:
                    last = cleaned
                    yield cleaned
                if "\n\n" in reply.lstrip():
                    return


class ConsecutivePolicy(_Policy):
    """Translate each utterance once, when its transcript is final: the best quality, the most lag. The translation
    is committed as it streams, so its first phrase is spoken while the rest is still being generated."""

    def stream(self, source_text: str, final: bool, stop: StopSignal | None = None) -> Iterator[TranslationDelta]:
        if not final:
            return
        text = ""
        for text in self._texts(source_text, "", stop):
            yield TranslationDelta(text, "", False)
        yield TranslationDelta(text, "", True)


class SimultaneousPolicy(_Policy):
    """Translate the committed source as it grows and commit target words as soon as they are stable.

    Each translation is forced to start with the target text already committed, so what was committed stays.
    Beyond it, a word is committed once two successive translations agree on it and on everything before it
    (LocalAgreement-2); when the source so far ends a clause, the whole translation of it is committed, since
    more source will not change how that clause is said. While a translation streams, a word it has completed is
    committed at once when the previous translation had it at the same place after the same words (agreement can
    already tell), and everything is committed as it comes when the update ends a clause or the utterance.
    """

    def __init__(self, translator: TranslatorBackend, source: str, target: str, context: list[Turn]) -> None:
        super().__init__(translator, source, target, context)
        self._agreement = LocalAgreement()
        self._translated = ""

    def stream(self, source_text: str, final: bool, stop: StopSignal | None = None) -> Iterator[TranslationDelta]:
        if not source_text.strip() or (source_text == self._translated and not final):
            return
        self._translated = source_text
        agreement = self._agreement
        commit_all = final or CLAUSE_END.search(source_text) is not None
        words: list[str] = []
        for text in self._texts(source_text, join_words(agreement.committed), stop):
            words = self._after_committed(split_words(text))
            early = len(words) if commit_all else self._agreed(words)
            yield TranslationDelta(join_words(agreement.committed + words[:early]), join_words(words[early:]), False)
        if commit_all:
            agreement.commit(words)
            words = []
        else:
            words = agreement.push(words)
        yield TranslationDelta(join_words(agreement.committed), join_words(words), final)

    def _agreed(self, words: list[str]) -> int:
        """How many of a streaming translation's words agreement commits whatever follows: complete ones (all but
        a last Latin word, which may still grow) that the previous translation had too, and all before them."""
        complete = len(words) if words and is_han(words[-1]) else len(words) - 1
        return self._agreement.agreed(words[:complete])

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
    streaming: bool = True  # phrases leave while the translation streams; false: once the whole of it is in


TranslationPolicy = ConsecutivePolicy | SimultaneousPolicy


def make_policy(
    name: str, translator: TranslatorBackend, source: str, target: str, context: list[Turn]
) -> TranslationPolicy:
    if name == "simultaneous":
        return SimultaneousPolicy(translator, source, target, context)
    return ConsecutivePolicy(translator, source, target, context)
