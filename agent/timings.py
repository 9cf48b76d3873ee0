"""One utterance's clock readings, and the latency figures of its `Metrics` event (docs/latency.md).

Every reading is seconds on the session's clock, taken by the stage that saw the moment: the front end its
speech boundaries and decode time (`Heard`), the translation stage its compute time, the speech stage when the
first phrase went to the TTS, when speech came out and how much. The figures are differences of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Heard:
    """The front end's readings of a finished utterance."""

    started_at: float  # its first sample arrived
    ended_at: float  # its last sample arrived
    asr_ms: float  # the final decode took


@dataclass(frozen=True)
class Timings:
    heard: Heard
    translate_ms: float  # the final translation took
    handed_at: float  # its first phrase went to the TTS
    first_chunk_at: float  # its first speech came out
    audio_s: float  # seconds of speech it came to
    done_at: float  # the last of it came out (or its translation was in, when that was later)
    cut_off: bool = False  # the babbling guard ended one of its phrases

    def figures(self) -> dict[str, float]:
        first, heard = self.first_chunk_at, self.heard
        # The listener hears the speech from its first chunk on, so it ends audio_s later unless generation
        # fell behind playback, in which case it ends when the last chunk arrives.
        spoken_until = max(first + self.audio_s, self.done_at)
        figures = {
            "ttfa_ms": (first - heard.ended_at) * 1000,
            "start_offset_ms": (first - heard.started_at) * 1000,
            "end_offset_ms": (spoken_until - heard.ended_at) * 1000,
            "tts_first_chunk_ms": (first - self.handed_at) * 1000,
            "asr_ms": heard.asr_ms,
            "translate_ms": self.translate_ms,
            "tts_rtf": (self.done_at - self.handed_at) / self.audio_s if self.audio_s else 0.0,
        }
        if self.cut_off:
            figures["tts_cut_off"] = 1.0
        return figures
