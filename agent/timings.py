"""One utterance's clock readings, and the latency figures of its `Metrics` event (docs/latency.md).

Every reading is seconds on the session's clock, taken by the stage that saw the moment: the front end its
speech boundaries, when the VAD declared the end and when the final transcript was out (`Heard`), the translation
stage when the final translation's first piece arrived and how long it took (`Translated`), the speech stage when
the first phrase went to the TTS, when speech came out and how much. The figures are differences of them, the hops
all counted from the end of speech, so one utterance's path reads as a row of growing numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Heard:
    """The front end's readings of a finished utterance."""

    started_at: float  # its first sample arrived
    ended_at: float  # its last sample arrived
    asr_ms: float  # the final decode took
    declared_at: float  # the VAD declared its end (after its silence wait)
    final_at: float  # its final transcript was emitted


@dataclass(frozen=True)
class Translated:
    """The translation stage's readings of an utterance's final translation."""

    heard: Heard
    first_token_at: float  # its first translated piece arrived
    translate_ms: float  # it took, from the final transcript handed over to its last piece


@dataclass(frozen=True)
class Timings:
    translated: Translated
    handed_at: float  # its first phrase went to the TTS
    first_chunk_at: float  # its first speech came out
    audio_s: float  # seconds of speech it came to
    done_at: float  # the last of it came out (or its translation was in, when that was later)
    cut_off: bool = False  # the babbling guard ended one of its phrases

    def figures(self) -> dict[str, float]:
        first, heard, end = self.first_chunk_at, self.translated.heard, self.translated.heard.ended_at
        # The listener hears the speech from its first chunk on, so it ends audio_s later unless generation
        # fell behind playback, in which case it ends when the last chunk arrives.
        spoken_until = max(first + self.audio_s, self.done_at)
        figures = {
            "ttfa_ms": (first - end) * 1000,
            "start_offset_ms": (first - heard.started_at) * 1000,
            "end_offset_ms": (spoken_until - end) * 1000,
            "tts_first_chunk_ms": (first - self.handed_at) * 1000,
            "asr_ms": heard.asr_ms,
            "translate_ms": self.translated.translate_ms,
            "tts_rtf": (self.done_at - self.handed_at) / self.audio_s if self.audio_s else 0.0,
            "vad_end_ms": (heard.declared_at - end) * 1000,
            "asr_final_ms": (heard.final_at - end) * 1000,
            "first_token_ms": (self.translated.first_token_at - end) * 1000,
            "first_phrase_ms": (self.handed_at - end) * 1000,
            "first_pcm_ms": (first - end) * 1000,
        }
        if self.cut_off:
            figures["tts_cut_off"] = 1.0
        return figures
