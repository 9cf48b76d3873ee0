"""Whose voice the translation speaks in: a session's voice reference, captured from live speech or given.

With `voice: clone` nobody records a sample first. The first usable utterance (its voiced span, trimmed of
leading and trailing silence, with its final transcript) becomes the reference before that utterance's
translation is spoken, so the first translated sentence is already in the speaker's voice. Later clean
utterances are joined onto it until it is `max_reference_s` long (a longer single clip replaces a shorter
reference), and once `total_reference_s` of usable speech has been heard the reference is pinned, so the voice
stops changing. A reference the client gives (`voice.reference`, `s2st translate --voice`) is used as is and
pinned; `voice: default` speaks in the profile's stock clip, or the model's own voice without one.

Cross-lingual cloning: the reference transcript stays in the language it was spoken in while the phrase is in
the target language. This is the prompt of higgs-audio's own cross-lingual example (examples/README.md,
"Cross-lingual voice clone": the Chinese voice prompt `zh_man_sichuan` with its Chinese transcript, English text
to speak; examples/generation.py puts each prompt's own transcript as the user turn before its audio), and it
keeps the transcript true to the audio it describes, which a translated transcript would not be.

A backend that cannot clone (Kokoro) speaks in the stock voice nearest the reference's pitch instead: the same
reference is captured, and its median F0 (`voiced_pitch`) picks among the stock voices' nominal pitches
(`closest_stock_voice`), so a low-voiced speaker is heard in a male voice and a high-voiced one in a female voice.

The checks are simple energy and ASR-confidence measures, described with their limits in docs/voice.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from model.voice import Voice
from streaming.audio import resample

log = logging.getLogger(__name__)

FRAME_S = 0.02  # energy frames for trimming and the noise floor
FLOOR_SHARE = 0.1  # the quietest tenth of the frames is the noise floor: the VAD padding and the pauses
VOICED_DB = 10.0  # a frame this far above the floor is speech
EDGE_FRAMES = 2  # kept beyond the first and last voiced frame, so soft onsets (h, f, s) stay in the clip
CLIP_LEVEL = 0.99  # a sample this loud was clipped (or was about to be)
JOIN_GAP_S = 0.3  # silence between two joined clips, like a pause between sentences
SILENT_DB = -100.0  # energy of digital silence, so log10 never sees zero

PITCH_RATE = 8000  # F0 is estimated at this rate: ample for voices up to 400 Hz, a ninth of the work at 24 kHz
PITCH_FRAME_S = 0.04  # two periods of the lowest pitch
PITCH_HOP_S = 0.01
PITCH_RANGE_HZ = (60.0, 400.0)  # a deep man's voice to a child's
APERIODICITY = 0.15  # YIN's threshold: a frame whose normalised difference dips below it is voiced

# Nominal pitch of the packaged Kokoro voices: the median F0 (`voiced_pitch`) of each reading one English and one
# German sentence (jm_ is a man's voice, jf_ a woman's). Another Kokoro voice, such as the hub's af_bella or
# am_adam, is placed by the gender letter of its name at a typical woman's or man's speaking pitch.
STOCK_PITCH_HZ = {"jf_alpha": 273.0, "jf_gongitsune": 229.0, "jf_nezumi": 245.0, "jf_tebukuro": 331.0, "jm_kumo": 93.0}
GENDER_PITCH_HZ = {"f": 210.0, "m": 120.0}


@dataclass(frozen=True)
class VoiceSettings:
    """The capture policy's limits (profile key `voice:`; docs/voice.md says why these defaults).

    A reference shorter than `min_reference_s` is too little to clone from; Higgs clones best from 5-10 s, and
    every second of reference costs 25 prompt tokens on every phrase, hence `max_reference_s`.
    """

    max_reference_s: float = 10.0
    total_reference_s: float = 30.0
    min_reference_s: float = 1.0
    max_clipped_fraction: float = 0.001
    min_snr_db: float = 15.0
    min_log_prob: float = -0.75


@dataclass(frozen=True)
class Clip:
    """A finished utterance measured as a reference candidate; `audio` is its voiced span at the TTS rate."""

    span: tuple[int, int]  # input samples of the voiced span, silence trimmed
    audio: np.ndarray
    sample_rate: int
    duration_s: float
    clipped_fraction: float
    snr_db: float
    f0: np.ndarray = field(default_factory=lambda: np.zeros(0))  # Hz, of each voiced frame of the span


@dataclass(frozen=True, eq=False)
class Reference:
    """The voice a session speaks in, and where it came from: captured, explicit or default."""

    voice: Voice
    source: str
    duration_s: float
    utterance_id: int | None = None  # the last utterance joined into a captured reference
    spans: tuple[tuple[int, int], ...] = ()  # input samples of each captured clip in it
    f0: np.ndarray | None = None  # Hz, of each voiced frame of its clips as `measure` found them; None: not measured

    @cached_property
    def pitch_hz(self) -> float | None:
        """The median F0 of its voiced frames (None when none is voiced). A captured reference was measured in a
        worker thread; a given clip is measured here, once, on first use: about 1 ms per second of audio."""
        f0 = voiced_pitch(self.voice.audio, self.voice.sample_rate) if self.f0 is None else self.f0
        return float(np.median(f0)) if len(f0) else None


def measure(audio: np.ndarray, start: int, sample_rate: int, tts_rate: int) -> Clip:
    """Trim an utterance's span to its voiced part and measure how clean it is; run it in a worker thread.

    `audio` is the utterance from input sample `start`, VAD padding included. Energy is taken in 20 ms frames:
    the noise floor is the mean energy of the quietest tenth, a frame 10 dB above it is voiced, and the SNR is
    the voiced frames' mean energy over the floor. Clipping is the share of samples at |x| >= 0.99 in the span.
    """
    size = round(FRAME_S * sample_rate)
    count = len(audio) // size
    if count == 0:
        return Clip((start, start), np.zeros(0, np.float32), tts_rate, 0.0, 0.0, 0.0)
    power = np.mean(np.square(audio[: count * size], dtype=np.float64).reshape(count, size), axis=1)
    floor = max(float(np.mean(np.sort(power)[: max(1, round(count * FLOOR_SHARE))])), 10 ** (SILENT_DB / 10))
    voiced = np.flatnonzero(power > floor * 10 ** (VOICED_DB / 10))
    if len(voiced) == 0:
        return Clip((start, start), np.zeros(0, np.float32), tts_rate, 0.0, 0.0, 0.0)
    first = max(0, int(voiced[0]) - EDGE_FRAMES) * size
    last = min(count, int(voiced[-1]) + 1 + EDGE_FRAMES) * size
    span = audio[first:last]
    return Clip(
        span=(start + first, start + last),
        audio=resample(span, sample_rate, tts_rate),
        sample_rate=tts_rate,
        duration_s=len(span) / sample_rate,
        clipped_fraction=float(np.mean(np.abs(span) >= CLIP_LEVEL)),
        snr_db=10 * float(np.log10(np.mean(power[voiced]) / floor)),
        f0=voiced_pitch(span, sample_rate),
    )


def voiced_pitch(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """The F0 in Hz of each voiced 40 ms frame (10 ms apart), by YIN (de Cheveigne and Kawahara, 2002).

    Each frame's difference function comes from its autocorrelation (one FFT for all frames), normalised by its
    running mean; the frame is voiced when that dips under APERIODICITY within PITCH_RANGE_HZ, and its period is
    the lowest point of the first dip, which keeps a period's multiples (octave errors) out.
    """
    x = resample(np.asarray(audio, dtype=np.float32), sample_rate, PITCH_RATE).astype(np.float64)
    size, hop = round(PITCH_FRAME_S * PITCH_RATE), round(PITCH_HOP_S * PITCH_RATE)
    if len(x) < size:
        return np.zeros(0)
    frames = x[np.arange(0, len(x) - size + 1, hop)[:, None] + np.arange(size)]
    frames -= frames.mean(axis=1, keepdims=True)
    shortest, longest = int(PITCH_RATE / PITCH_RANGE_HZ[1]), math.ceil(PITCH_RATE / PITCH_RANGE_HZ[0])
    lags = np.arange(1, longest + 1)
    autocorrelation = np.fft.irfft(np.abs(np.fft.rfft(frames, 2 * size, axis=1)) ** 2, axis=1)[:, lags]
    energy = np.cumsum(np.square(frames), axis=1)  # d(lag) = head energy + tail energy - 2 autocorrelation
    difference = np.maximum(energy[:, size - 1 - lags] + energy[:, -1:] - energy[:, lags - 1] - 2 * autocorrelation, 0)
    running = np.cumsum(difference, axis=1)
    normalised = (difference * lags / np.where(running > 0, running, 1))[:, shortest - 1 :]
    normalised[running[:, shortest - 1 :] <= 0] = 1.0  # digital silence is not periodic
    dips = normalised < APERIODICITY
    position = np.arange(normalised.shape[1])
    start = np.argmax(dips, axis=1)[:, None]
    rises = ~dips & (position >= start)
    end = np.where(rises.any(axis=1), np.argmax(rises, axis=1), normalised.shape[1])[:, None]
    first_dip = np.where((position >= start) & (position < end), normalised, np.inf)
    periods = np.argmin(first_dip, axis=1) + shortest
    return PITCH_RATE / periods[dips.any(axis=1)]


def stock_pitch(voice: str) -> float | None:
    """A stock voice's nominal pitch in Hz: measured for the packaged voices, else by its name's gender letter."""
    if voice in STOCK_PITCH_HZ:
        return STOCK_PITCH_HZ[voice]
    gender = voice[1:2] if "_" in voice else ""
    return GENDER_PITCH_HZ.get(gender)


def closest_stock_voice(pitch_hz: float, voices: Sequence[str]) -> str | None:
    """The stock voice whose nominal pitch is nearest `pitch_hz` in semitones; None when no voice has one."""
    pitched = [(abs(math.log2(pitch / pitch_hz)), voice) for voice in voices if (pitch := stock_pitch(voice))]
    return min(pitched)[1] if pitched else None


def given_voice(audio: np.ndarray, sample_rate: int, transcript: str, settings: VoiceSettings, tts_rate: int) -> Voice:
    """A reference the client (or the profile) gives, as is, at the TTS rate; ValueError names what to fix.

    It is not trimmed or judged: whoever chose it knows it. Only its length is checked (`check_given`).
    """
    check_given(len(audio) / sample_rate, transcript, settings)
    return Voice(resample(np.asarray(audio, dtype=np.float32), sample_rate, tts_rate), transcript.strip(), tts_rate)


def check_given(seconds: float, transcript: str, settings: VoiceSettings) -> None:
    """A given clip too short to clone from, or one that crowds the phrase out of the TTS context, would spoil
    every phrase of the session: refuse it up front, with the fix."""
    low, high = settings.min_reference_s, settings.max_reference_s
    if not low <= seconds <= high:
        raise ValueError(
            f"the voice reference is {seconds:.1f} s long; use {low:g} to {high:g} s of the speaker talking "
            "(3 to 10 s of clean speech works best)."
        )
    if not transcript.strip():
        raise ValueError("the voice reference has no transcript; give the words said in the clip.")


class VoicePolicy:
    """One session's reference: which clip, when it changes, when it is pinned. Decisions run on the event loop
    (they are cheap); `measure` and `given_voice` do the audio work in a worker thread beforehand."""

    def __init__(self, settings: VoiceSettings, mode: str, default: Voice | None = None) -> None:
        self.settings = settings
        self.current: Reference | None = None
        self.pinned = mode != "clone"  # a stock voice (or none) is never replaced by captured speech
        self.heard_s = 0.0  # usable speech judged so far, towards total_reference_s
        if mode == "default" and default is not None:
            self.current = Reference(default, "default", len(default.audio) / default.sample_rate)

    @property
    def listening(self) -> bool:
        """Whether a finished utterance may still change the reference (else its audio need not be kept)."""
        return not self.pinned

    def refusal(self, clip: Clip, log_prob: float) -> str | None:
        """Why a clip cannot be a reference, or None when it can."""
        s = self.settings
        if clip.snr_db < s.min_snr_db:  # first: speech drowned in noise also leaves no voiced span
            return f"its SNR is {clip.snr_db:.1f} dB, under {s.min_snr_db:g} dB"
        if clip.clipped_fraction > s.max_clipped_fraction:
            return f"{clip.clipped_fraction:.2%} of it is clipped"
        if clip.duration_s < s.min_reference_s:
            return f"{clip.duration_s:.1f} s of speech is less than {s.min_reference_s:g} s"
        if log_prob < s.min_log_prob:
            return f"the ASR was unsure of its words (log-prob {log_prob:.2f}), as with overlapping voices"
        return None

    def offer(self, clip: Clip, transcript: str, log_prob: float, utterance_id: int) -> Reference | None:
        """Judge a finished utterance; the new reference when it changed the current one, else None."""
        if self.pinned:
            return None
        reason = self.refusal(clip, log_prob)
        if reason is not None:
            log.info("utterance %d is not taken as the voice reference: %s", utterance_id, reason)
            return None
        self.heard_s += clip.duration_s
        self.pinned = self.heard_s >= self.settings.total_reference_s
        reference = self._improve(clip, transcript.strip(), utterance_id)
        if reference is not None:
            self.current = reference
        return reference

    def _improve(self, clip: Clip, transcript: str, utterance_id: int) -> Reference | None:
        """A longer reference: the clip joined onto the current one while both fit in max_reference_s, else the
        clip alone when it is longer (counting at most max_reference_s: a longer clip is kept whole, since cutting
        it would part the audio from its transcript, but it is no better)."""
        current, limit = self.current, self.settings.max_reference_s
        voice = Voice(clip.audio, transcript, clip.sample_rate)
        alone = Reference(voice, "captured", clip.duration_s, utterance_id, (clip.span,), clip.f0)
        if current is None:
            return alone
        joined_s = current.duration_s + JOIN_GAP_S + clip.duration_s
        if joined_s <= limit:
            gap = np.zeros(round(JOIN_GAP_S * clip.sample_rate), dtype=np.float32)
            audio = np.concatenate([current.voice.audio, gap, clip.audio])
            voice = Voice(audio, f"{current.voice.transcript} {transcript}", clip.sample_rate)
            spans, f0 = (*current.spans, clip.span), np.concatenate([current.f0, clip.f0])  # only captured ones join
            return Reference(voice, "captured", joined_s, utterance_id, spans, f0)
        if min(clip.duration_s, limit) > min(current.duration_s, limit):
            return alone
        return None

    def use(self, voice: Voice) -> Reference:
        """An explicit reference: it replaces whatever there was and is never replaced by captured speech."""
        self.pinned = True
        self.current = Reference(voice, "explicit", len(voice.audio) / voice.sample_rate)
        return self.current

    def close(self) -> None:
        """Drop the reference, so its audio and codes go with the session."""
        self.current = None
        self.pinned = True
