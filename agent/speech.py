"""The session's mouth: the voice it speaks in, its TTS stream, and speech chunks out as events.

The translation stage hands each utterance's phrases over (`say`) and says when the utterance's translation is
complete (`translated`); the phrases go to the TTS with the utterance's `Spoken` record as their tag, so every
chunk that comes back says whose it is. Once the last phrase of a translated utterance is spoken, its latency
figures go out as `Metrics`.

Which voice: `offer` a finished utterance (the front end does, before its translation is queued) or `use` a
given clip; the reference changes from the next phrase on (agent/voice.py decides). A TTS that clones speaks in the
reference itself; one that cannot speaks in its stock voice nearest the reference's pitch, or in the stock voice
the session named, and starts in the profile's stock voice until a reference is captured.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from agent.models import Models
from agent.outbox import Outbox
from agent.timings import Heard, Timings
from agent.voice import Clip, Reference, VoicePolicy, closest_stock_voice
from model.speech import FAILED, MAX_FRAMES, SpeechStream
from model.speech import SpeechChunk as PhraseChunk
from model.voice import Voice
from streaming.events import Error, Metrics, SpeechChunk, VoiceUpdated

log = logging.getLogger(__name__)


@dataclass
class Spoken:
    """One utterance's speech so far, the tag of its phrases. The translation stage makes one per utterance and
    hands it back with each phrase; only the speech stage writes it."""

    utterance_id: int
    phrases: int = 0  # handed to the TTS
    done: int = 0  # whose last chunk came back
    handed_at: float | None = None
    first_chunk_at: float | None = None
    audio_s: float = 0.0
    cut_off: bool = False
    translated: tuple[Heard, float] | None = None  # with the final translation: the front end's readings, its time


class Speech:
    def __init__(self, models: Models, voice: str, target_language: str, outbox: Outbox) -> None:
        """`voice` is the session's voice mode (one of VOICE_MODES) or the name of one of the TTS's stock voices."""
        self._tts = models.tts
        self._voices = VoicePolicy(models.voice, voice, models.default_voice)
        self._named = voice in self._tts.voices  # the session chose a stock voice: no reference changes it
        self._stock = voice if self._named else models.stock_voice
        self._language = target_language
        self._outbox = outbox
        self._stream: SpeechStream | None = None
        if self._voices.current is not None:
            self._pick_voice(self._voices.current)
            self._announce(self._voices.current)

    @property
    def stock_voice(self) -> str | None:
        """The stock voice the session speaks in; None with a TTS that clones."""
        return None if self._tts.can_clone else self._stock

    @property
    def listening(self) -> bool:
        """Whether a finished utterance may still become the voice (else its audio need not be kept)."""
        return self._voices.listening

    def offer(self, clip: Clip, transcript: str, log_prob: float, utterance_id: int) -> None:
        """A finished utterance as a voice reference candidate."""
        reference = self._voices.offer(clip, transcript, log_prob, utterance_id)
        if reference is not None:
            self._adopt(reference)

    def use(self, voice: Voice) -> None:
        """A given reference, kept for the rest of the session."""
        self._adopt(self._voices.use(voice))

    def start(self) -> asyncio.Task:
        """Open the TTS stream and pass its chunks on as events until it ends; then the event stream ends."""
        self._stream = self._tts.open(self._pick_voice(self._voices.current), self._language)
        return asyncio.create_task(self._run())

    def say(self, spoken: Spoken, phrase: str, at: float) -> None:
        """Speak one phrase of the utterance; `at` is when its text was ready."""
        assert self._stream is not None
        self._stream.say(phrase, spoken)
        spoken.phrases += 1
        if spoken.handed_at is None:
            spoken.handed_at = at

    def translated(self, spoken: Spoken, heard: Heard, translate_ms: float, at: float) -> None:
        """The utterance's last phrase has been said; its figures go out once everything said is spoken."""
        spoken.translated = (heard, translate_ms)
        if spoken.done == spoken.phrases:
            self._complete(spoken, at)

    def end(self) -> None:
        """No more phrases: the stream ends once those said are spoken."""
        assert self._stream is not None
        self._stream.close()

    async def close(self) -> None:
        """Stop speaking at once; the reference's audio and codes go with the session."""
        self._voices.close()
        if self._stream is not None:
            await self._stream.aclose()
            self._stream.voice = None

    def _pick_voice(self, reference: Reference | None) -> Voice | str | None:
        """What the TTS is to speak in with this reference: the reference itself, or the stock voice nearest its
        pitch, which becomes the session's (a named stock voice stays)."""
        if self._tts.can_clone:
            return None if reference is None else reference.voice
        if reference is not None and not self._named and reference.pitch_hz is not None:
            self._stock = closest_stock_voice(reference.pitch_hz, self._tts.voices) or self._stock
        return self._stock

    def _adopt(self, reference: Reference) -> None:
        """Speak in a new reference from the next phrase on (the stream encodes it at once) and say so."""
        voice = self._pick_voice(reference)
        if self._stream is not None:
            self._stream.voice = voice
        self._announce(reference)

    def _announce(self, reference: Reference) -> None:
        voice, now = reference.voice, self._outbox.now()
        self._outbox.emit(
            VoiceUpdated(
                reference.duration_s, voice.transcript, reference.source, now, reference.utterance_id, self.stock_voice
            )
        )

    async def _run(self) -> None:
        assert self._stream is not None
        try:
            async for chunk in self._stream:
                self._on_chunk(chunk)
        except Exception as exc:  # noqa: BLE001 - a broken TTS ends this session only, with a reason
            log.exception("session voice output failed")
            self._outbox.emit(Error("internal", f"speech output stopped: {exc}", fatal=True, at=self._outbox.now()))
        finally:
            self._outbox.end()

    def _on_chunk(self, chunk: PhraseChunk) -> None:
        spoken: Spoken = chunk.tag
        now = self._outbox.now()
        phrase_ended = chunk.end is not None
        if phrase_ended:
            spoken.done += 1
            spoken.cut_off |= chunk.end == MAX_FRAMES
        if chunk.end == FAILED:
            self._outbox.emit(Error("tts_failed", f"tts failed: {chunk.error}", False, now, spoken.utterance_id))
        last = spoken.translated is not None and spoken.done == spoken.phrases
        if len(chunk.pcm) or last:
            uid = spoken.utterance_id
            self._outbox.emit(SpeechChunk(uid, chunk.pcm, chunk.sample_rate, chunk.text, now, chunk.first_frame, last))
        if len(chunk.pcm) and spoken.first_chunk_at is None:
            spoken.first_chunk_at = now
        spoken.audio_s += len(chunk.pcm) / chunk.sample_rate
        if phrase_ended and last:
            self._complete(spoken, now)

    def _complete(self, spoken: Spoken, now: float) -> None:
        """All of the utterance is spoken: its latency figures, unless none of it was."""
        if spoken.first_chunk_at is None or spoken.handed_at is None or spoken.translated is None:
            return
        heard, translate_ms = spoken.translated
        timings = Timings(
            heard, translate_ms, spoken.handed_at, spoken.first_chunk_at, spoken.audio_s, now, spoken.cut_off
        )
        self._outbox.emit(Metrics(spoken.utterance_id, timings.figures(), at=now))
