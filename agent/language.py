"""Which language the speaker is speaking: fixed by the caller, or detected once and kept."""

from __future__ import annotations

from dataclasses import dataclass

from streaming.vocabulary import AUTO, LANGUAGES


@dataclass(frozen=True)
class LanguageSettings:
    min_speech_ms: int = 1000
    switch_probability: float = 0.8


class LanguagePolicy:
    """With `requested == AUTO`, the first utterance with `min_speech_ms` of speech sets the session's language.

    It then holds, because a short or unclear utterance often looks like another language to whisper; a later
    utterance with enough speech switches it only when that other language is at least `switch_probability`
    likely. Detection only ever chooses among LANGUAGES.
    """

    def __init__(self, requested: str, settings: LanguageSettings) -> None:
        self.requested = requested
        self.settings = settings
        self.current: str | None = None if requested == AUTO else requested

    @property
    def fixed(self) -> bool:
        return self.requested != AUTO

    def observe(self, probabilities: dict[str, float], speech_ms: float) -> str:
        """The language of an utterance with these language `probabilities` (already restricted to LANGUAGES)."""
        if self.fixed:
            return self.requested
        ranked = {lang: probabilities.get(lang, 0.0) for lang in LANGUAGES}
        best = max(ranked, key=ranked.__getitem__)
        if speech_ms < self.settings.min_speech_ms:
            return self.current or best
        if self.current is None or (best != self.current and ranked[best] >= self.settings.switch_probability):
            self.current = best
        return self.current
