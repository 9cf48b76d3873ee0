"""One conversation: audio in, events out. The same Session serves files, the CLI and every transport.

Three tasks keep the ear and the mouth apart: the front task runs VAD and ASR as audio arrives, the
back task translates finished utterances in order and hands each translation to the session's TTS
stream, and the voice task passes the stream's chunks on as they are decoded, so a long translation
never stops the session from hearing the next utterance, and speech leaves while it is still being
generated. Model compute runs in worker threads (the TTS on the shared generator's thread).

The voice reference (agent/voice.py) is decided when an utterance's final transcript is in, before its
translation is queued, so with the consecutive policy every phrase of an utterance, the first one included,
speaks in a reference that already holds that utterance. With the simultaneous policy phrases leave before the
utterance ends: those speak in the reference as it was then (the model's own voice before the first one).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from agent.clock import Clock
from agent.language import LanguagePolicy
from agent.models import Models
from agent.phrases import PhraseSplitter
from agent.translation import POLICIES, TranslationPolicy, make_policy
from agent.voice import MODES, Reference, VoicePolicy, given_voice, measure
from model.asr import LANGUAGES, StreamingASR, Transcription
from model.translator import Turn
from model.tts import FAILED, MAX_FRAMES, TTSStream
from model.tts import SpeechChunk as PhraseChunk
from model.vad import SAMPLE_RATE, VADEvent
from streaming.events import (
    Error,
    Event,
    Metrics,
    SpeechChunk,
    SpeechEnded,
    SpeechStarted,
    Transcript,
    Translation,
    VoiceUpdated,
)

log = logging.getLogger(__name__)

SOURCE_LANGUAGES = ("auto", *LANGUAGES)
IDLE_HISTORY = SAMPLE_RATE  # audio kept while nobody speaks, so a start event can reach back to its pre-roll
MAX_BACKLOG = 60 * SAMPLE_RATE  # unheard input beyond which `feed` stops reading the client (and its pings)


class SessionError(ValueError):
    """Session options that cannot work; the message says which and what to use instead."""


@dataclass
class _Utterance:
    id: int
    start_sample: int
    started_at: float
    ended_at: float = 0.0
    fed_from: int = 0  # first input sample handed to the ASR
    language: str | None = None  # chosen at its first decode
    transcription: Transcription | None = None
    asr_ms: float = 0.0
    translate_ms: float = 0.0
    policy: TranslationPolicy | None = None
    splitter: PhraseSplitter | None = None
    source_sent: str = ""  # committed source text handed to the translation policy
    committed: str = ""  # committed target text, all of it handed to the TTS in phrases
    translated: bool = False  # the final translation is in
    first_phrase_at: float | None = None
    phrases: int = 0
    phrases_done: int = 0
    cut_off: bool = False
    first_chunk_at: float | None = None
    audio_s: float = 0.0


@dataclass
class _SourceUpdate:
    utterance: _Utterance
    text: str  # the utterance's committed source text so far (all of it when final)
    final: bool


class Session:
    def __init__(
        self,
        models: Models,
        *,
        source_language: str,
        target_language: str,
        clock: Clock,
        policy: str | None = None,
        voice: str = "clone",
    ) -> None:
        """`policy` is the translation policy (consecutive or simultaneous); None takes the profile's. `voice` is
        clone (the speaker's own, captured from their speech) or default (the profile's stock voice)."""
        if source_language not in SOURCE_LANGUAGES:
            raise SessionError(
                f"source language '{source_language}' is not supported; use one of {', '.join(SOURCE_LANGUAGES)}."
            )
        if target_language not in LANGUAGES:
            raise SessionError(
                f"target language '{target_language}' is not supported; use one of {', '.join(LANGUAGES)}."
            )
        if not models.asr.multilingual and source_language not in ("auto", "en"):
            raise SessionError(
                f"the ASR model is English-only and cannot hear '{source_language}'; "
                "use --from en (or auto), or a profile with a multilingual ASR model such as default."
            )
        if policy is not None and policy not in POLICIES:
            raise SessionError(f"mode '{policy}' is not supported; use one of {', '.join(POLICIES)}.")
        if voice not in MODES:
            raise SessionError(
                f"voice '{voice}' is not supported; use clone (the speaker's own voice) or default (the server's)."
            )
        self._models = models
        self._policy = policy or models.translation.policy
        self._source_language = source_language
        self._target_language = target_language
        self._clock = clock
        self._origin = clock.now()
        self._vad = models.vad.stream(models.vad_settings)
        self._asr = StreamingASR(models.asr)
        self._language = LanguagePolicy(source_language, models.language_settings)
        self._fed = 0  # input samples of the open utterance handed to the ASR so far
        self._partial: asyncio.Task | None = None
        self._inbox: asyncio.Queue[tuple[np.ndarray, float] | None] = asyncio.Queue()
        self._queued = 0  # input samples in the inbox
        self._taken = asyncio.Event()  # set whenever the front task empties the inbox
        self._updates: asyncio.Queue[_SourceUpdate | None] = asyncio.Queue()
        self._turns: deque[Turn] = deque(maxlen=models.translation.context_turns or None)
        self._outbox: asyncio.Queue[Event | None] = asyncio.Queue()
        self._heard = 0  # input samples received
        # input audio from sample `_recent_from` to `_heard`, in pieces
        self._recent: list[np.ndarray] = [np.zeros(0, dtype=np.float32)]
        self._recent_from = 0
        self._arrivals: deque[tuple[int, float]] = deque(maxlen=4096)  # (end sample of a push, clock)
        self._open: _Utterance | None = None
        self._next_id = 1
        self._tasks: list[asyncio.Task] = []
        self._speech: TTSStream | None = None
        self._speaking: dict[tuple[int, int], _Utterance] = {}  # text span in the TTS stream -> utterance
        self._voices = VoicePolicy(models.voice, voice, models.default_voice)
        if self._voices.current is not None:
            self._announce(self._voices.current)

    def start(self) -> None:
        reference = self._voices.current
        self._speech = self._models.tts.open(reference.voice if reference else None, self._target_language)
        self._tasks = [
            asyncio.create_task(self._front()),
            asyncio.create_task(self._back()),
            asyncio.create_task(self._voice()),
        ]

    def push(self, pcm: np.ndarray) -> None:
        """Hand over 16 kHz float32 mono input; returns at once."""
        self._queued += len(pcm)
        self._inbox.put_nowait((pcm, self._now()))

    async def feed(self, pcm: np.ndarray) -> None:
        """`push`, then wait while more than MAX_BACKLOG of input is still unheard: a client that sends faster
        than the session hears is slowed down (its socket is read no further) instead of filling memory."""
        self.push(pcm)
        while self._queued > MAX_BACKLOG and self._tasks and not self._tasks[0].done():
            self._taken.clear()
            await self._taken.wait()

    async def use_reference(self, audio: np.ndarray, sample_rate: int, transcript: str) -> None:
        """Speak every later phrase in the voice of this clip (float32 mono) and its transcript, for the rest of
        the session: speech captured later never replaces it. Raises SessionError for a clip that cannot serve."""
        settings, rate = self._models.voice, self._models.tts.sample_rate
        try:
            voice = await asyncio.to_thread(given_voice, audio, sample_rate, transcript, settings, rate)
        except ValueError as exc:
            raise SessionError(str(exc)) from None
        self._adopt(self._voices.use(voice))

    def end_input(self) -> None:
        """No more audio: finish what was heard, then end the event stream."""
        self._inbox.put_nowait(None)

    async def events(self) -> AsyncIterator[Event]:
        while (event := await self._outbox.get()) is not None:
            yield event

    async def close(self) -> None:
        """Stop at once (client gone); pending work is dropped."""
        tasks = [*self._tasks, *([self._partial] if self._partial is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._voices.close()
        if self._speech is not None:
            await self._speech.aclose()
            self._speech.voice = None  # the reference's audio and codes go with the session

    def _now(self) -> float:
        return self._clock.now() - self._origin

    def _emit(self, event: Event | None) -> None:
        self._outbox.put_nowait(event)

    async def _front(self) -> None:
        try:
            ended = False
            while not ended:
                batch, ended = await self._take_input()
                if batch:
                    await self._hear(batch)
            await self._on_vad(self._vad.flush())
        except Exception as exc:  # noqa: BLE001 - a broken stage must end this session only, with a reason
            log.exception("session front end failed")
            self._emit(Error("internal", f"speech recognition stopped: {exc}", fatal=True, at=self._now()))
        finally:
            self._taken.set()  # a sender waiting in `feed` must not wait for a front end that is gone
            self._updates.put_nowait(None)

    async def _take_input(self) -> tuple[list[tuple[np.ndarray, float]], bool]:
        """Everything queued so far, so a backlog costs one VAD call instead of one per frame."""
        batch: list[tuple[np.ndarray, float]] = []
        item = await self._inbox.get()
        try:
            while item is not None:
                batch.append(item)
                if self._inbox.empty():
                    return batch, False
                item = self._inbox.get_nowait()
            return batch, True
        finally:
            self._queued -= sum(len(pcm) for pcm, _ in batch)
            self._taken.set()

    async def _hear(self, batch: list[tuple[np.ndarray, float]]) -> None:
        for pcm, at in batch:
            self._heard += len(pcm)
            self._arrivals.append((self._heard, at))
        audio = np.concatenate([pcm for pcm, _ in batch])
        self._recent.append(audio)
        await self._on_vad(await asyncio.to_thread(self._vad.push, audio))
        if self._open is not None:
            self._feed(self._heard)
            if self._asr.due and (self._partial is None or self._partial.done()):
                self._partial = asyncio.create_task(self._partial_transcript(self._open))

    async def _on_vad(self, events: list[VADEvent]) -> None:
        for event in events:
            if event.kind == "start":
                self._open = _Utterance(self._next_id, event.sample, self._arrival(event.sample))
                self._next_id += 1
                self._open.fed_from = self._fed = max(event.sample, self._recent_from)
                self._asr.reset()
                self._emit(SpeechStarted(self._open.id, event.sample / SAMPLE_RATE, self._open.started_at))
            elif self._open is not None:
                await self._finish(self._open, event.sample)
                self._open = None
        if self._open is None and self._heard - self._recent_from > IDLE_HISTORY:
            self._forget_before(self._heard - IDLE_HISTORY)

    def _feed(self, until: int) -> None:
        """Hand the open utterance's input up to sample `until` to the ASR."""
        if until > self._fed:
            self._asr.push(self._recent_slice(self._fed, until))
            self._fed = until

    def _recent_slice(self, start: int, end: int) -> np.ndarray:
        """Input samples [start, end), cut from the newest pieces: feeding a frame never rejoins the whole input."""
        pieces, piece_end = [], self._heard
        for piece in reversed(self._recent):
            piece_start = piece_end - len(piece)
            if piece_start < end:
                pieces.append(piece[max(0, start - piece_start) : end - piece_start])
            if piece_start <= start:
                break
            piece_end = piece_start
        return np.concatenate(pieces[::-1]) if pieces else np.zeros(0, dtype=np.float32)

    async def _partial_transcript(self, utterance: _Utterance) -> None:
        """Re-decode the utterance so far; emits a caption when it changed. Failures wait for the final decode."""
        try:
            language = await self._language_of(utterance)
            if language is None:
                return
            partial = await asyncio.to_thread(self._asr.poll, language)
        except Exception:  # noqa: BLE001 - the final decode reports a broken ASR; a partial only logs it
            log.exception("utterance %s: partial transcript failed", utterance.id)
            return
        if partial is not None:
            self._emit(
                Transcript(
                    utterance.id, partial.language, partial.committed, False, self._now(), tentative=partial.tentative
                )
            )
            if self._policy == "simultaneous" and partial.committed != utterance.source_sent:
                utterance.source_sent = partial.committed
                self._updates.put_nowait(_SourceUpdate(utterance, partial.committed, final=False))

    async def _language_of(self, utterance: _Utterance) -> str | None:
        """The utterance's language for a partial decode; None until there is enough speech to tell."""
        if utterance.language is not None:
            return utterance.language
        speech_ms = self._asr.samples * 1000 / SAMPLE_RATE
        if not self._language.fixed and speech_ms < self._language.settings.min_speech_ms:
            return None
        return await asyncio.to_thread(self._choose_language, utterance, speech_ms)

    def _choose_language(self, utterance: _Utterance, speech_ms: float) -> str:
        """Decide the utterance's language once, at its first decode (detection runs in a worker thread)."""
        if utterance.language is None:
            probabilities = {} if self._language.fixed else self._models.asr.language_probabilities(self._asr.audio)
            utterance.language = self._language.observe(probabilities, speech_ms)
        return utterance.language

    async def _finish(self, utterance: _Utterance, end_sample: int) -> None:
        utterance.ended_at = self._arrival(end_sample)
        self._emit(SpeechEnded(utterance.id, end_sample / SAMPLE_RATE, utterance.ended_at))
        self._feed(end_sample)
        if self._partial is not None:
            await asyncio.gather(self._partial, return_exceptions=True)  # the ASR decodes one thing at a time
            self._partial = None
        start = max(utterance.start_sample, self._recent_from)
        heard = self._recent_slice(start, end_sample) if self._voices.listening else None
        self._forget_before(end_sample)
        began = self._now()
        t = await self._stage("asr_failed", utterance, self._transcribe, utterance, end_sample - utterance.fed_from)
        if t is None:
            self._asr.reset()
            return
        utterance.transcription = t
        utterance.asr_ms = (self._now() - began) * 1000
        self._emit(Transcript(utterance.id, t.language, t.text, final=True, at=self._now()))
        if t.text:
            if heard is not None:
                await self._capture(utterance, heard, start, t)
            self._updates.put_nowait(_SourceUpdate(utterance, t.text, final=True))

    async def _capture(self, utterance: _Utterance, heard: np.ndarray, start: int, t: Transcription) -> None:
        """Offer the utterance as the voice reference, before its translation is queued (a few ms)."""
        clip = await asyncio.to_thread(measure, heard, start, SAMPLE_RATE, self._models.tts.sample_rate)
        reference = self._voices.offer(clip, t.text, t.log_prob, utterance.id)
        if reference is not None:
            self._adopt(reference)

    def _adopt(self, reference: Reference) -> None:
        """Speak in a new reference from the next phrase on (the stream encodes it at once) and say so."""
        if self._speech is not None:
            self._speech.voice = reference.voice
        self._announce(reference)

    def _announce(self, reference: Reference) -> None:
        self._emit(
            VoiceUpdated(
                reference.duration_s, reference.voice.transcript, reference.source, self._now(), reference.utterance_id
            )
        )

    def _transcribe(self, utterance: _Utterance, samples: int) -> Transcription:
        """The final decode, run in a worker thread (the language detection included)."""
        language = self._choose_language(utterance, min(samples, self._asr.samples) * 1000 / SAMPLE_RATE)
        return self._asr.finalize(language, samples)

    def _joined_recent(self) -> np.ndarray:
        """The recent input as one array; pieces are joined only when it is read, never per frame."""
        if len(self._recent) > 1:
            self._recent = [np.concatenate(self._recent)]
        return self._recent[0]

    def _forget_before(self, sample: int) -> None:
        recent = self._joined_recent()
        drop = min(max(0, sample - self._recent_from), len(recent))
        self._recent = [recent[drop:]]
        self._recent_from += drop

    def _arrival(self, sample: int) -> float:
        """When input sample `sample` reached the session, by the clock."""
        for end, at in self._arrivals:
            if end > sample:
                return at
        return self._arrivals[-1][1] if self._arrivals else self._now()

    async def _stage(self, code: str, utterance: _Utterance, call, *args):
        """Run one model call off the event loop; a failure costs this utterance only, reported as `code`."""
        try:
            return await asyncio.to_thread(call, *args)
        except Exception as exc:  # noqa: BLE001 - one bad utterance must not end the session
            log.exception("utterance %s: %s", utterance.id, code)
            self._emit(Error(code, f"{code.replace('_', ' ')}: {exc}", False, self._now(), utterance.id))
            return None

    async def _back(self) -> None:
        assert self._speech is not None
        ended = False
        while not ended:
            batch = [await self._updates.get()]
            while not self._updates.empty():
                batch.append(self._updates.get_nowait())
            ended = batch[-1] is None
            for update in _latest(batch):
                await self._translate(update)
        self._speech.close()

    async def _translate(self, update: _SourceUpdate) -> None:
        """Run the utterance's translation policy on its source so far; committed target text goes to the TTS."""
        assert self._speech is not None
        utterance = update.utterance
        if utterance.policy is None:
            language = utterance.language or (utterance.transcription.language if utterance.transcription else "en")
            utterance.policy = make_policy(
                self._policy,
                self._models.translator,
                language,
                self._target_language,
                list(self._turns),
            )
            utterance.splitter = PhraseSplitter(self._target_language)
        began = self._now()
        delta = await self._stage("translation_failed", utterance, utterance.policy.update, update.text, update.final)
        now = self._now()
        if update.final:
            utterance.translate_ms = (now - began) * 1000
        if delta is None:
            return
        self._emit(Translation(utterance.id, self._target_language, delta.committed, delta.final, now, delta.tentative))
        assert utterance.splitter is not None
        phrases = utterance.splitter.push(delta.committed[len(utterance.committed) :])
        utterance.committed = delta.committed
        if delta.final:
            phrases += utterance.splitter.flush()
            utterance.translated = True
            self._turns.append(Turn(update.text, delta.committed))
        for phrase in phrases:
            self._speech.push_text(phrase)
            span = self._speech.flush()
            if span is not None:
                self._speaking[span] = utterance
                utterance.phrases += 1
                if utterance.first_phrase_at is None:
                    utterance.first_phrase_at = now
        if utterance.translated and utterance.phrases == utterance.phrases_done:
            self._complete(utterance, now)

    async def _voice(self) -> None:
        """Pass TTS chunks on as events; ends the event stream once the TTS stream has spoken everything."""
        assert self._speech is not None
        try:
            async for chunk in self._speech:
                self._on_chunk(chunk)
        except Exception as exc:  # noqa: BLE001 - a broken TTS ends this session only, with a reason
            log.exception("session voice output failed")
            self._emit(Error("internal", f"speech output stopped: {exc}", fatal=True, at=self._now()))
        finally:
            self._emit(None)

    def _on_chunk(self, chunk: PhraseChunk) -> None:
        utterance = self._speaking.get(chunk.text_span)
        if utterance is None:
            return
        now = self._now()
        phrase_ended = chunk.end is not None
        if phrase_ended:
            del self._speaking[chunk.text_span]
            utterance.phrases_done += 1
            utterance.cut_off |= chunk.end == MAX_FRAMES
        if chunk.end == FAILED:
            self._emit(Error("tts_failed", f"tts failed: {chunk.error}", False, now, utterance.id))
        last = utterance.translated and utterance.phrases_done == utterance.phrases
        if len(chunk.pcm) or last:
            text = self._speech.text[chunk.text_span[0] : chunk.text_span[1]] if self._speech else ""
            self._emit(SpeechChunk(utterance.id, chunk.pcm, chunk.sample_rate, text, now, chunk.first_frame, last))
        if len(chunk.pcm) and utterance.first_chunk_at is None:
            utterance.first_chunk_at = now
        utterance.audio_s += len(chunk.pcm) / chunk.sample_rate
        if phrase_ended and last:
            self._complete(utterance, now)

    def _complete(self, utterance: _Utterance, now: float) -> None:
        """All of the utterance is spoken: its latency figures."""
        first, handed = utterance.first_chunk_at, utterance.first_phrase_at
        if first is None or handed is None:
            return
        # The listener hears the speech from its first chunk on, so it ends audio_s later unless generation
        # fell behind playback, in which case it ends when the last chunk arrives.
        spoken_until = max(first + utterance.audio_s, now)
        figures = {
            "ttfa_ms": (first - utterance.ended_at) * 1000,
            "start_offset_ms": (first - utterance.started_at) * 1000,
            "end_offset_ms": (spoken_until - utterance.ended_at) * 1000,
            "tts_first_chunk_ms": (first - handed) * 1000,
            "asr_ms": utterance.asr_ms,
            "translate_ms": utterance.translate_ms,
            "tts_rtf": (now - handed) / utterance.audio_s if utterance.audio_s else 0.0,
        }
        if utterance.cut_off:
            figures["tts_cut_off"] = 1.0
        self._emit(Metrics(utterance.id, figures, at=now))


def _latest(batch: list[_SourceUpdate | None]) -> list[_SourceUpdate]:
    """The updates worth translating: a partial one is skipped when a newer one for its utterance is queued."""
    updates = [update for update in batch if update is not None]
    return [
        update
        for index, update in enumerate(updates)
        if update.final or not any(later.utterance is update.utterance for later in updates[index + 1 :])
    ]
