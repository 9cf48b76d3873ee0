"""The session's mouth: the voice it speaks in, its TTS stream, and speech chunks out as events.

The translation stage hands each utterance's phrases over (`say`) and says when the utterance's translation is
complete (`translated`); each phrase goes to the TTS tagged with its own record, which names the utterance's
`Spoken`, so every chunk that comes back says whose it is. Once the last phrase of a translated utterance is
spoken, its latency figures go out as `Metrics`.

`cancel` drops utterances' phrases: the TTS stream is cancelled (it drops every queued phrase and stops the current
one soon) and the phrases of other utterances are said again. A phrase of another utterance that already sounds
is spoken to its end first, so nothing is cut or spoken twice; a chunk of a phrase dropped before it came out is
never passed on.

Which voice: `offer` a finished utterance (the front end does, before its translation is queued) or `use` a
given clip; the reference changes from the next phrase on (agent/voice.py decides). A TTS that clones speaks in the
reference itself; one that cannot speaks in its stock voice nearest the reference's pitch, or in the stock voice
the session named, and starts in the profile's stock voice until a reference is captured.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from agent.models import Models
from agent.outbox import Outbox
from agent.timings import Timings, Translated
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
    ended: bool = False  # its translation is over: no more phrases
    readings: Translated | None = None  # with the final translation (None when it failed)
    cancelled: bool = False


@dataclass(eq=False)
class _Said:
    """One phrase handed to the TTS, its tag: chunks of a phrase dropped by a cancel are known by it."""

    spoken: Spoken
    text: str
    sounding: bool = False  # a chunk of it went out


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
        self._pending: deque[_Said] = deque()  # said and not spoken to the end, in order; the first is sounding
        self._open: dict[int, Spoken] = {}  # utterances with phrases said and not all spoken, by id
        self._ended = False  # the stream takes no more phrases
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
        self._say(_Said(spoken, phrase))
        spoken.phrases += 1
        self._open[spoken.utterance_id] = spoken
        if spoken.handed_at is None:
            spoken.handed_at = at

    def translated(self, spoken: Spoken, readings: Translated | None, at: float) -> None:
        """The utterance's last phrase has been said; its figures go out once everything said is spoken (none
        when `readings` is None: its translation failed after some of it was said)."""
        spoken.ended, spoken.readings = True, readings
        if spoken.done == spoken.phrases:
            self._complete(spoken, at)

    def in_flight(self) -> set[int]:
        """The utterances with phrases said and not all spoken."""
        return set(self._open)

    def cancel(self, utterance_ids: set[int]) -> None:
        """Speak nothing more of these utterances; one whose speech had begun gets its last (empty) chunk at once,
        so its audio ends."""
        now = self._outbox.now()
        for uid in sorted(utterance_ids & set(self._open)):
            spoken = self._open.pop(uid)
            spoken.cancelled = True
            if spoken.first_chunk_at is not None:
                self._outbox.emit(SpeechChunk(uid, np.zeros(0, np.float32), self._tts.sample_rate, "", now, last=True))
        self._drop_cancelled()

    def end(self) -> None:
        """No more phrases: the stream ends once those said are spoken."""
        assert self._stream is not None
        self._stream.close()
        self._ended = True

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

    def _say(self, said: _Said) -> None:
        assert self._stream is not None
        self._stream.say(said.text, said)
        self._pending.append(said)

    def _drop_cancelled(self) -> None:
        """When a cancelled utterance's phrase is next to sound, or queued behind one that does not sound yet, cancel
        the TTS stream and say the other utterances' phrases again. A phrase that sounds is heard to its end first
        (`_on_chunk` comes back here after it); after `end` the stream takes no phrase, so then only a stream left
        with nothing else to say is cancelled, and the cancelled phrases' chunks are dropped as they come."""
        if not any(said.spoken.cancelled for said in self._pending):
            return
        kept = [said for said in self._pending if not said.spoken.cancelled]
        head = self._pending[0]
        if (head.sounding and not head.spoken.cancelled) or (self._ended and kept):
            return
        assert self._stream is not None
        self._pending.clear()
        self._stream.cancel()
        for said in kept:
            self._say(said)

    def _on_chunk(self, chunk: PhraseChunk) -> None:
        said: _Said = chunk.tag
        if not self._pending or said is not self._pending[0]:
            return  # the rest of a phrase the TTS stream dropped
        spoken, now = said.spoken, self._outbox.now()
        phrase_ended = chunk.end is not None
        if phrase_ended:
            self._pending.popleft()
        if spoken.cancelled:
            if phrase_ended:
                self._drop_cancelled()
            return
        if phrase_ended:
            spoken.done += 1
            spoken.cut_off |= chunk.end == MAX_FRAMES
        if chunk.end == FAILED:
            self._outbox.emit(Error("tts_failed", f"tts failed: {chunk.error}", False, now, spoken.utterance_id))
        last = spoken.ended and spoken.done == spoken.phrases
        if len(chunk.pcm) or last:
            uid = spoken.utterance_id
            self._outbox.emit(SpeechChunk(uid, chunk.pcm, chunk.sample_rate, chunk.text, now, chunk.first_frame, last))
            said.sounding = True
        if len(chunk.pcm) and spoken.first_chunk_at is None:
            spoken.first_chunk_at = now
        spoken.audio_s += len(chunk.pcm) / chunk.sample_rate
        if phrase_ended and last:
            self._complete(spoken, now)
        if phrase_ended:
            self._drop_cancelled()

    def _complete(self, spoken: Spoken, now: float) -> None:
        """All of the utterance is spoken: its latency figures, unless none of it was."""
        self._open.pop(spoken.utterance_id, None)
        if spoken.first_chunk_at is None or spoken.handed_at is None or spoken.readings is None:
            return
        timings = Timings(spoken.readings, spoken.handed_at, spoken.first_chunk_at, spoken.audio_s, now, spoken.cut_off)
        self._outbox.emit(Metrics(spoken.utterance_id, timings.figures(), at=now))
