"""Words of a transcript or a translation: how text is cut into words, joined again and compared, and
LocalAgreement-2, which both the streaming ASR and the simultaneous translation use to commit stable words.

A Han character counts as a word, since Mandarin is written without spaces.
"""

from __future__ import annotations

import re

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
_HAN = re.compile(rf"[{_CJK}]")


def split_words(text: str) -> list[str]:
    """Space-separated words, and each Han character on its own."""
    return _WORD.findall(text)


def join_words(words: list[str]) -> str:
    out = ""
    for word in words:
        if out and not (is_han(out[-1]) and is_han(word[0])):
            out += " "
        out += word
    return out


def is_han(char: str) -> bool:
    return _HAN.match(char) is not None


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, spaces squeezed: two spellings of the same words compare equal."""
    kept = "".join(char if char.isalnum() or char.isspace() else " " for char in text.lower())
    return " ".join(kept.split())


class LocalAgreement:
    """LocalAgreement-2 over successive hypotheses of one growing text: a word is committed once two hypotheses in
    a row agree on it and on everything before it (compared `normalise`d), and is never taken back."""

    def __init__(self) -> None:
        self.committed: list[str] = []
        self._previous: list[str] | None = None  # the last hypothesis, past the committed words

    def agreed(self, words: list[str]) -> int:
        """How many leading words of a hypothesis past the committed ones the previous hypothesis had too, in the
        same places (0 before the first)."""
        if self._previous is None:
            return 0
        agreed, limit = 0, min(len(words), len(self._previous))
        while agreed < limit and normalise(words[agreed]) == normalise(self._previous[agreed]):
            agreed += 1
        return agreed

    def push(self, words: list[str]) -> list[str]:
        """Take the words of the next hypothesis that follow the committed ones; the words still tentative."""
        agreed = self.agreed(words)
        self.committed += words[:agreed]
        self._previous = words[agreed:]
        return self._previous

    def commit(self, words: list[str]) -> None:
        """Commit `words` without waiting for agreement, when the text they come from can no longer change."""
        self.committed += words
        self._previous = []
