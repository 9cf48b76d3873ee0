"""The one event vocabulary shared by the session, the transports and the wire codecs: what a client sends
(`AudioIn`, `VoiceReference`, `InputEnd`, `CancelUtterance`) and what a session says back (the rest).

`at` is a reading of the session's injected clock (seconds since the session began), so every latency
is a difference of two `at`s. For speech boundaries `at` is when that input sample reached the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class AudioIn:
    """Input audio at the session rate (16 kHz, float32 mono, [-1, 1])."""

    pcm: np.ndarray


@dataclass(frozen=True)
class VoiceReference:
    """A clip of the speaker with its transcript, to clone the voice from before the speaker says much."""

    audio: np.ndarray  # float32 mono
    sample_rate: int
    transcript: str


@dataclass(frozen=True)
class InputEnd:
    """The client has no more input; the session finishes what it heard, then ends."""


@dataclass(frozen=True)
class CancelUtterance:
    """The client wants an utterance's translation and speech stopped now (barge-in); None: whatever is in flight."""

    utterance_id: int | None = None


@dataclass(frozen=True)
class SpeechStarted:
    utterance_id: int
    audio_time: float  # seconds into the input
    at: float


@dataclass(frozen=True)
class SpeechEnded:
    utterance_id: int
    audio_time: float
    at: float


@dataclass(frozen=True)
class _Caption:
    utterance_id: int
    language: str
    text: str
    final: bool
    at: float
    tentative: str = ""


@dataclass(frozen=True)
class Transcript(_Caption):
    """A caption of the speaker. Partial ones (`final` false) come while the utterance goes on: `text` is the
    committed words, which later captions only extend, and `tentative` the rest of the current hypothesis."""


@dataclass(frozen=True)
class Translation(_Caption):
    """A caption of the translation: `text` is committed (and spoken); `tentative` may still change."""


@dataclass(frozen=True)
class SpeechChunk:
    """Translated speech, float32 mono; chunks of one utterance arrive in order, `last` marks the final one."""

    utterance_id: int
    pcm: np.ndarray
    sample_rate: int
    text: str  # the phrase this audio speaks
    at: float
    first_frame: int = 0  # the codec frame (40 ms) of the phrase that pcm[0] belongs to
    last: bool = False


@dataclass(frozen=True)
class VoiceUpdated:
    """The voice the translation speaks in changed: `source` is captured (from the speaker's own speech, last from
    utterance `utterance_id`), explicit (a clip the client gave) or default (the server's stock voice). With a TTS
    that cannot clone, `stock_voice` names the stock voice the reference picked."""

    duration_s: float
    transcript: str
    source: str
    at: float
    utterance_id: int | None = None
    stock_voice: str | None = None


@dataclass(frozen=True)
class UtteranceCancelled:
    """An utterance was cancelled: its translation and speech stopped, and this is the last event about it."""

    utterance_id: int
    at: float


@dataclass(frozen=True)
class Error:
    code: str
    message: str
    fatal: bool
    at: float
    utterance_id: int | None = None


@dataclass(frozen=True)
class Metrics:
    """Latency figures of one finished utterance, in milliseconds (names from docs/latency.md)."""

    utterance_id: int
    figures: dict[str, float] = field(default_factory=dict)
    at: float = 0.0


@dataclass(frozen=True)
class PartyJoined:
    """In a room: the other participant is in, speaking `source_language` and hearing `target_language`."""

    source_language: str
    target_language: str


@dataclass(frozen=True)
class PartyLeft:
    """In a room: the other participant left; the room is over."""


Event = (
    AudioIn
    | SpeechStarted
    | SpeechEnded
    | Transcript
    | Translation
    | SpeechChunk
    | VoiceUpdated
    | UtteranceCancelled
    | Error
    | Metrics
    | PartyJoined
    | PartyLeft
)
