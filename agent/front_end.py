"""The session's ear: input audio in, VAD and streaming ASR over it, speech boundaries and captions out as events,
and each utterance's committed source text out to the translation stage.

Audio is taken in batches (everything queued so far costs one VAD call), and a partial decode of the open
utterance runs as its own task when enough new speech came (how much, the process's `PartialBudget` says), so
hearing never waits for the decoder. No partial starts while the voice pauses: the VAD may declare the end any
moment. When an utterance ends, its final decode starts at once, on another ASR worker than a partial still in
flight, whose result is dropped. Once its final transcript is in, the utterance is offered as the voice reference,
before its translation is queued, so with the consecutive policy every phrase of it already speaks in a reference
that holds it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass

import numpy as np

from agent.history import InputHistory
from agent.language import LanguagePolicy
from agent.models import Models
from agent.outbox import Outbox
from agent.speech import Speech
from agent.timings import Heard
from agent.translating import SourceUpdate
from agent.voice import measure
from model.asr import Transcription
from model.streaming_asr import StreamingASR
from model.vad import VADEvent
from streaming.events import Error, SpeechEnded, SpeechStarted, Transcript
from streaming.vocabulary import SESSION_RATE

log = logging.getLogger(__name__)

IDLE_HISTORY = SESSION_RATE  # audio kept while nobody speaks, so a start event can reach back to its pre-roll
MAX_BACKLOG = 60 * SESSION_RATE  # unheard input beyond which `feed` stops reading the client (and its pings)


@dataclass
class _Utterance:
    """The utterance the front end is hearing."""

    id: int
    start_sample: int
    started_at: float
    fed_from: int  # first input sample handed to the ASR
    language: str | None = None  # chosen at its first decode
    source_sent: str = ""  # committed source text last sent to the translation stage
    ended: bool = False  # the VAD declared its end: later partials are not shown


class FrontEnd:
    def __init__(
        self,
        models: Models,
        source_language: str,
        *,
        simultaneous: bool,
        speech: Speech,
        updates: asyncio.Queue[SourceUpdate | None],
        outbox: Outbox,
    ) -> None:
        """With `simultaneous`, committed partial text goes to translation too. `updates` ends with None."""
        self._asr_model = models.asr
        self._partials = models.partials
        self._tts_rate = models.tts.sample_rate
        self._simultaneous = simultaneous
        self._speech = speech
        self._updates = updates
        self._outbox = outbox
        self._vad = models.vad.stream(models.vad_settings)
        self._asr = StreamingASR(models.asr)
        self._language = LanguagePolicy(source_language, models.language_settings)
        self._history = InputHistory()
        self._inbox: asyncio.Queue[tuple[np.ndarray, float] | None] = asyncio.Queue()
        self._queued = 0  # input samples in the inbox
        self._taken = asyncio.Event()  # set whenever the front end empties the inbox
        self._open: _Utterance | None = None
        self._next_id = 1
        self._fed = 0  # input samples of the open utterance handed to the ASR so far
        self._partial: asyncio.Task | None = None
        self._choosing = threading.Lock()  # a partial's and the final's worker threads may choose the language
        self._task: asyncio.Task | None = None

    def start(self) -> asyncio.Task:
        self._task = asyncio.create_task(self._run())
        return self._task

    def push(self, pcm: np.ndarray) -> None:
        self._queued += len(pcm)
        self._inbox.put_nowait((pcm, self._outbox.now()))

    async def feed(self, pcm: np.ndarray) -> None:
        self.push(pcm)
        while self._queued > MAX_BACKLOG and self._task is not None and not self._task.done():
            self._taken.clear()
            await self._taken.wait()

    def end_input(self) -> None:
        self._inbox.put_nowait(None)

    async def _run(self) -> None:
        try:
            ended = False
            while not ended:
                batch, ended = await self._take_input()
                if batch:
                    await self._hear(batch)
            await self._on_vad(self._vad.flush())
        except Exception as exc:  # noqa: BLE001 - a broken stage must end this session only, with a reason
            log.exception("session front end failed")
            self._outbox.emit(
                Error("internal", f"speech recognition stopped: {exc}", fatal=True, at=self._outbox.now())
            )
        finally:
            if self._open is not None and not self._open.ended:
                self._partials.leave()
            if self._partial is not None:
                self._partial.cancel()
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
            self._history.push(pcm, at)
        audio = np.concatenate([pcm for pcm, _ in batch])
        await self._on_vad(await asyncio.to_thread(self._vad.push, audio))
        if self._open is not None:
            self._feed(self._history.end)
            if self._partial_due():
                self._partial = asyncio.create_task(self._partial_transcript(self._open))

    async def _on_vad(self, events: list[VADEvent]) -> None:
        history = self._history
        for event in events:
            if event.kind == "start":
                fed_from = max(event.sample, history.start)
                self._open = _Utterance(self._next_id, event.sample, history.arrival(event.sample), fed_from)
                self._next_id += 1
                self._fed = fed_from
                self._asr.reset()
                self._partials.enter()
                self._outbox.emit(SpeechStarted(self._open.id, event.sample / SESSION_RATE, self._open.started_at))
            elif self._open is not None:
                await self._finish(self._open, event.sample)
                self._open = None
        if self._open is None and history.end - history.start > IDLE_HISTORY:
            history.forget_before(history.end - IDLE_HISTORY)

    def _feed(self, until: int) -> None:
        """Hand the open utterance's input up to sample `until` to the ASR."""
        if until > self._fed:
            self._asr.push(self._history.slice(self._fed, until))
            self._fed = until

    def _partial_due(self) -> bool:
        """Whether to start a partial decode now, taking its place in the budget if so: none in flight for this
        session, the voice not pausing, the budget's interval of new speech heard and a worker left for finals."""
        in_flight = self._partial is not None and not self._partial.done()
        if in_flight or self._vad.paused:
            return False
        settings = self._asr_model.settings
        interval = self._partials.interval(settings.partial_interval_ms / 1000, settings.partial_share)
        return self._asr.unpolled >= interval * SESSION_RATE and self._partials.try_start(settings.num_workers)

    async def _partial_transcript(self, utterance: _Utterance) -> None:
        """Decode the utterance's uncommitted audio; emits a caption when it changed, unless the utterance ended
        meanwhile (its final transcript holds every committed word). Failures wait for the final decode."""
        began, cost = self._outbox.now(), None
        try:
            language = await self._language_of(utterance)
            if language is None:
                return
            partial = await asyncio.to_thread(self._asr.poll, language)
            cost = self._outbox.now() - began
        except Exception:  # noqa: BLE001 - the final decode reports a broken ASR; a partial only logs it
            log.exception("utterance %s: partial transcript failed", utterance.id)
            return
        finally:
            self._partials.finished(cost)
        if partial is None or utterance.ended:
            return
        uid, committed = utterance.id, partial.committed
        self._outbox.emit(
            Transcript(uid, partial.language, committed, False, self._outbox.now(), tentative=partial.tentative)
        )
        if self._simultaneous and committed != utterance.source_sent:
            utterance.source_sent = committed
            self._updates.put_nowait(SourceUpdate(uid, partial.language, committed, final=False))

    async def _language_of(self, utterance: _Utterance) -> str | None:
        """The utterance's language for a partial decode; None until there is enough speech to tell."""
        if utterance.language is not None:
            return utterance.language
        speech_ms = self._asr.samples * 1000 / SESSION_RATE
        if not self._language.fixed and speech_ms < self._language.settings.min_speech_ms:
            return None
        return await asyncio.to_thread(self._choose_language, utterance, speech_ms)

    def _choose_language(self, utterance: _Utterance, speech_ms: float) -> str:
        """Decide the utterance's language once, at its first decode (detection runs in a worker thread)."""
        with self._choosing:
            if utterance.language is None:
                fixed = self._language.fixed
                probabilities = {} if fixed else self._asr_model.language_probabilities(self._asr.audio)
                utterance.language = self._language.observe(probabilities, speech_ms)
            return utterance.language

    async def _finish(self, utterance: _Utterance, end_sample: int) -> None:
        ended_at = self._history.arrival(end_sample)
        utterance.ended = True
        self._partials.leave()
        self._outbox.emit(SpeechEnded(utterance.id, end_sample / SESSION_RATE, ended_at))
        declared_at = self._outbox.now()
        self._feed(end_sample)
        start = max(utterance.start_sample, self._history.start)
        heard = self._history.slice(start, end_sample) if self._speech.listening else None
        self._history.forget_before(end_sample)
        began = self._outbox.now()
        samples = end_sample - utterance.fed_from
        t = await self._outbox.model_call("asr_failed", utterance.id, self._transcribe, utterance, samples)
        if t is None:
            self._asr.reset()
            return
        final_at = self._outbox.now()
        self._outbox.emit(Transcript(utterance.id, t.language, t.text, final=True, at=final_at))
        if t.text:
            if heard is not None:
                await self._capture(utterance, heard, start, t)
            readings = Heard(
                started_at=utterance.started_at,
                ended_at=ended_at,
                asr_ms=(final_at - began) * 1000,
                declared_at=declared_at,
                final_at=final_at,
            )
            self._updates.put_nowait(SourceUpdate(utterance.id, t.language, t.text, final=True, heard=readings))

    async def _capture(self, utterance: _Utterance, heard: np.ndarray, start: int, t: Transcription) -> None:
        """Offer the utterance as the voice reference, before its translation is queued (a few ms)."""
        clip = await asyncio.to_thread(measure, heard, start, SESSION_RATE, self._tts_rate)
        self._speech.offer(clip, t.text, t.log_prob, utterance.id)

    def _transcribe(self, utterance: _Utterance, samples: int) -> Transcription:
        """The final decode, run in a worker thread (the language detection included)."""
        language = self._choose_language(utterance, min(samples, self._asr.samples) * 1000 / SESSION_RATE)
        return self._asr.finalize(language, samples)
