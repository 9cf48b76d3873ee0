"""Committed target text cut into phrases for the TTS, each one ready to be spoken.

The TTS speaks one phrase at a time and can only start once the phrase's text is complete, so a phrase should
be a natural prosodic unit: long enough to sound natural (a sentence or a clause, not a word), short enough that
the first audio comes early and the phrase fits a TTS slot. `PhraseSplitter` cuts the growing committed text
at sentence ends, then at clauses, and only when a phrase would grow past its maximum at the best word boundary.
What a sentence end, a clause or a good boundary is in a language, its pack says (`agent/text/pack.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from agent.text.languages import pack_for
from agent.text.normaliser import speakable
from agent.text.pack import Boundary, LanguagePack, word_before_number, word_end
from model.words import is_han

_SENTENCE_MARKS = ".!?…。！？‼⁇⁈⁉"
_CLAUSE_MARKS = ",;:，；：、"
_MARKS = _SENTENCE_MARKS + _CLAUSE_MARKS
_WIDE_MARKS = "…。！？‼⁇⁈⁉，；：、"  # never part of a number or an abbreviation
_CLOSERS = "\"'”’»›)]}）］｝」』》〉】"
_OPENERS = "\"'“‘«‹([{（［｛「『《〈【"
_SPACES = re.compile(r"\s*")


@cache
def _abbreviations(pack: LanguagePack) -> tuple[frozenset[str], frozenset[str]]:
    """The keys of the pack's abbreviations: those a period never ends, and those it ends before a capital."""
    return (
        frozenset(each.key for each in pack.abbreviations if not each.final),
        frozenset(each.key for each in pack.abbreviations if each.final),
    )


class PhraseSplitter:
    """Cuts one utterance's committed target text into speakable phrases, as the text streams in.

    `push` takes the newly committed text (it may stop mid-word or mid-number) and returns the phrases that are
    complete; `flush` at the end of the utterance returns the rest. A phrase ends at the first sentence or clause
    end once it has `min_chars` characters, and never later than `max_chars`: a phrase that would grow past it is
    cut at its best word boundary (a weak comma, before a conjunction, after a Korean clause ending or a Chinese
    particle; else before a preposition; else the last one). Only a flush emits a phrase shorter than `min_chars`,
    and only a word longer than `max_chars` makes one longer. A cut is made only once the text after it settles it
    ("3." may become "3.5", "Dr." is followed by a name), so the phrases never depend on how the text was chunked.
    The defaults are the language pack's `limits`. Phrases come out through `speakable`, ready for the TTS.
    """

    def __init__(self, language: str, *, min_chars: int | None = None, max_chars: int | None = None) -> None:
        self._pack = pack_for(language)
        default_min, default_max = self._pack.limits
        self.language = language
        self.min_chars = default_min if min_chars is None else min_chars
        self.max_chars = default_max if max_chars is None else max_chars
        if not 0 < self.min_chars < self.max_chars:
            raise ValueError(f"need 0 < min_chars < max_chars, got {self.min_chars} and {self.max_chars}")
        self._abbreviations, self._final_abbreviations = _abbreviations(self._pack)
        self._text = ""

    def push(self, text: str) -> list[str]:
        """Add newly committed text; returns the phrases it completes."""
        self._text = (self._text + text).lstrip()
        return self._take(final=False)

    def flush(self) -> list[str]:
        """The utterance ended: the remaining text, as phrases."""
        return self._take(final=True)

    def _take(self, final: bool) -> list[str]:
        phrases = []
        while self._text:
            end = self._cut(self._text, final)
            if end is None:
                break
            phrase = speakable(self._text[:end].strip(), self.language)
            self._text = self._text[end:].lstrip()
            if any(char.isalnum() for char in phrase):  # a stray quote or dash is not worth a TTS call
                phrases.append(phrase)
        return phrases

    def _cut(self, text: str, final: bool) -> int | None:
        """Where the first phrase of `text` ends, or None while that is not settled."""
        best: dict[Boundary, int] = {}  # the last boundary of each kind in reach; a good one in the second half
        for end, kind in self._boundaries(text, final):
            size = len(text[:end].rstrip())
            if size > self.max_chars:
                for choice in (Boundary.CLAUSE, Boundary.PHRASE, Boundary.PLAIN):
                    if choice in best:
                        return best[choice]
                return None if kind is Boundary.UNKNOWN else end  # no boundary in reach: the first one after
            if kind is Boundary.UNKNOWN:
                return None
            if size < self.min_chars:
                continue
            if kind is Boundary.CUT:
                return end
            best[Boundary.PLAIN] = end
            if 2 * size >= self.max_chars:
                best[kind] = end
        return len(text) if final else None

    def _boundaries(self, text: str, final: bool) -> Iterator[tuple[int, Boundary]]:
        """Every place `text` could be cut, in order, with its kind; the first UNKNOWN one ends the list."""
        n = len(text)
        i = 0
        after_mark = False  # the space right after punctuation was judged with the punctuation
        while i < n:
            char = text[i]
            kind: Boundary | None = None
            if char in _MARKS:
                j = i
                while j < n and text[j] in _MARKS:
                    j += 1
                while j < n and text[j] in _CLOSERS:
                    j += 1
                kind = self._punctuation(text, i, j, final)
                if kind is not None:
                    yield j, kind
                if kind is Boundary.UNKNOWN:
                    return
                i, after_mark = j, True
                continue
            if char.isspace():
                if not after_mark and not text[i - 1].isspace():
                    kind = self._space(text, i, final)
            else:
                after_mark = False
                if i > 0 and self._pack.cuts_between(text[i - 1], char):
                    kind = self._pack.boundary(text, i, i, final)
            if kind is not None:
                yield i, kind
                if kind is Boundary.UNKNOWN:
                    return
            i += 1
        yield n, Boundary.CUT if final else Boundary.UNKNOWN

    def _punctuation(self, text: str, i: int, j: int, final: bool) -> Boundary | None:
        """The punctuation text[i:j] (closing quotes included): a cut, or not one (a number, an abbreviation)."""
        n = len(text)
        if j == n:
            return Boundary.CUT if final else Boundary.UNKNOWN
        marks = text[i:j].rstrip(_CLOSERS)
        if any(mark in _WIDE_MARKS for mark in marks):
            return Boundary.CLAUSE if set(marks) == {"、"} else Boundary.CUT  # 、 separates the items of a list
        if is_han(text[j]):
            return Boundary.CUT
        if not text[j].isspace():
            return None  # 3.5, 1,000, 12:30, e.g.
        k = _SPACES.match(text, j).end()
        if k == n:
            return Boundary.CUT if final else Boundary.UNKNOWN
        if marks == ".":
            return self._period(text, i, k, final)
        if marks == ",":
            return self._pack.comma(text[k])
        return Boundary.CUT

    def _period(self, text: str, i: int, k: int, final: bool) -> Boundary | None:
        """A single period at text[i], followed by spaces and text[k]: a sentence end, or not."""
        word = _word_before(text, i)
        key = word.lower()
        if len(word) == 1 or key in self._abbreviations or ("." in word and key not in self._final_abbreviations):
            return None  # an initial or an abbreviation: "J. K.", "z. B.", "e.g."
        if key in self._final_abbreviations and not text[k].isupper():
            return None
        if self._pack.period_ordinals and i > 0 and text[i - 1].isdigit():
            e = word_end(text, k)
            if e == len(text) and not final:
                return Boundary.UNKNOWN
            if self._pack.is_ordinal(word_before_number(text, i), text[k:e]):
                return None  # "am 3. Mai"
        return Boundary.CUT

    def _space(self, text: str, i: int, final: bool) -> Boundary | None:
        """The space at text[i] after a word: a boundary unless a number or symbol touches it ("5 km", "in 2024")."""
        k = _SPACES.match(text, i).end()
        if k == len(text):
            return None if final else Boundary.UNKNOWN
        before, after = text[i - 1], text[k]
        if not (before.isalpha() or before in _CLOSERS) or not (after.isalpha() or after in _OPENERS):
            return None
        return self._pack.boundary(text, i, k, final)


def _word_before(text: str, i: int) -> str:
    """The Latin letters and periods just before text[i]: "Dr", "e.g", "z"."""
    start = i
    while start > 0 and text[start - 1].isascii() and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    return text[start:i]
