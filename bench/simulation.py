"""The real Session code at GPU scale without a GPU: a virtual-time event loop and fakes of the model stages whose
costs are calibrated to published H100 figures (`CALIBRATION`), for `s2st bench pipeline`.

Time is virtual: the loop's clock jumps to the next timer whenever nothing can run, so a minute of speech in 32
sessions takes seconds. Model calls still run in worker threads (`asyncio.to_thread`), as in the product; the loop
counts the threads that are computing and moves time only when none is. A fake's model call parks its thread on a
GPU resource model instead of computing, so its cost is virtual time, and calls that meet at one resource queue and
batch the way that model serves them. Decisions about who goes first are taken only when every thread is parked
and sorted by (arrival, session), so two runs give identical figures.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import re
import selectors
import threading
from collections.abc import Callable, Iterator

import numpy as np

from bench.calibration import Costs
from bench.replay import Utterance
from model.asr import ASRSettings, Transcription
from model.speech import EOS, PhraseStream, SpeechChunk
from streaming.vocabulary import LANGUAGES

WORKERS = 512  # parked model calls hold a worker thread each; a small pool would deadlock the virtual clock
TTS_RATE, FRAME_RATE = 24000, 25  # Higgs: 24 kHz audio, 40 ms code frames
SAMPLES_PER_FRAME = TTS_RATE // FRAME_RATE
CODEBOOK_DELAY = 7  # data frame t is complete after code step t + 7 (docs/architecture.md)


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock: it jumps to the next timer when nothing is runnable and no worker thread is
    computing. Resources register a `settler`, called when time is about to move, to start work they have queued."""

    def __init__(self) -> None:
        self._now = 0.0
        self.busy = 0  # worker threads computing (not parked on a resource); only the loop thread writes it
        self.settlers: list[Callable[[], bool]] = []
        self._wakes: list[Callable[[], None]] = []  # threads due to start or go on, released one at a time
        self._workers = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="sim")
        super().__init__(_VirtualSelector(self))

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def run_in_executor(self, executor, func, *args):  # noqa: ANN001, ANN201 - asyncio's own signature
        """Start the job once every thread is parked, one at a time: threads never race, so runs repeat exactly."""
        outer = self.create_future()

        def start() -> None:
            self.busy += 1
            job = (executor or self._workers).submit(func, *args)
            # after wrap_future's own callback, so the result is on the loop before the thread counts as done
            asyncio.wrap_future(job, loop=self).add_done_callback(lambda inner: _pass_on(inner, outer))
            job.add_done_callback(lambda _: self.call_soon_threadsafe(self._finished))

        self._wakes.append(start)
        return outer

    def _finished(self) -> None:
        self.busy -= 1

    def release_one(self) -> bool:
        """Let one thread start or go on; the next only once every thread is parked or done again, so threads due
        at one moment go on in the order they became due, never racing each other."""
        if not self._wakes:
            return False
        self._wakes.pop(0)()
        return True

    def park(self, submit: Callable[[Callable[[], None]], None]) -> None:
        """From a worker thread: hand `submit` (on the loop thread) a wake-up call, and wait until it is called."""
        woken = threading.Event()

        def release() -> None:
            self.busy += 1
            woken.set()

        def wake() -> None:
            self._wakes.append(release)

        def parked() -> None:
            self.busy -= 1
            submit(wake)

        self.call_soon_threadsafe(parked)
        woken.wait()

    def shutdown_default_executor(self, timeout=None):  # noqa: ANN001, ANN201 - asyncio's own signature
        self._workers.shutdown(wait=False, cancel_futures=True)
        return super().shutdown_default_executor()


def _pass_on(inner: asyncio.Future, outer: asyncio.Future) -> None:
    if outer.cancelled():
        return
    if inner.exception() is not None:
        outer.set_exception(inner.exception())
    else:
        outer.set_result(inner.result())


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self, loop: VirtualLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list:
        loop = self._loop
        if loop.busy:
            return super().select(0 if timeout == 0 else None)  # a thread computes: wait for what it posts
        events = super().select(0)
        if events or timeout == 0:
            return events
        if loop.release_one() or any([settle() for settle in loop.settlers]):
            return []
        if timeout is None:
            raise RuntimeError("simulation stalled: every task waits and no timer is due")
        loop.advance(timeout)
        return []


class VirtualClock:
    """The sessions' clock: the loop's virtual time."""

    def __init__(self, loop: VirtualLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        return self._loop.time()


class BatchQueue:
    """A GPU model serving calls from worker threads on `servers` workers at once: with `batching`, a free worker
    takes every call waiting (finals first) as one batch; without, one call at a time in arrival order."""

    def __init__(self, loop: VirtualLoop, cost_ms: Callable[[int], float], batching: bool, servers: int = 1) -> None:
        self._loop, self._cost_ms, self._batching = loop, cost_ms, batching
        self._waiting: list[tuple[tuple, Callable[[], None]]] = []
        self._free = servers
        self.batches: list[int] = []
        loop.settlers.append(self._dispatch)

    def call(self, session: int, urgent: bool = False) -> None:
        """Block the calling worker thread for as long as the model takes with it."""
        loop = self._loop
        loop.park(lambda wake: self._waiting.append(((not urgent, loop.time(), session), wake)))

    def _dispatch(self) -> bool:
        started = False
        while self._free and self._waiting:
            self._waiting.sort(key=lambda item: item[0] if self._batching else item[0][1:])
            count = len(self._waiting) if self._batching else 1
            batch, self._waiting = self._waiting[:count], self._waiting[count:]
            self._free -= 1
            self.batches.append(count)
            self._loop.call_later(self._cost_ms(count) / 1000, self._done, [wake for _, wake in batch])
            started = True
        return started

    def _done(self, wakes: list[Callable[[], None]]) -> None:
        self._free += 1
        for wake in wakes:
            wake()


class _Sequence:
    def __init__(self, key: tuple, tokens: int) -> None:
        self.key, self.tokens, self.made, self.taken = key, tokens, 0, 0
        self.wake: Callable[[], None] | None = None


class LLMEngine:
    """A translation server stepping every running sequence at once (continuous batching), a new one prefilled in
    the step it joins; the `local` engine runs one sequence at a time, as generate() behind a lock does."""

    def __init__(self, loop: VirtualLoop, costs: Costs) -> None:
        self._loop, self._costs = loop, costs
        self._waiting: list[_Sequence] = []
        self._running: list[_Sequence] = []
        self._stepping = False
        self.steps: list[int] = []
        loop.settlers.append(self._dispatch)

    def tokens(self, session: int, count: int) -> Iterator[None]:
        """From a worker thread: yields as each of `count` tokens comes out."""
        sequence = _Sequence((self._loop.time(), session), count)
        self._loop.park(lambda wake: self._join(sequence, wake))
        try:
            for _ in range(count):
                self._loop.park(lambda wake, s=sequence: self._await_token(s, wake))
                yield
        finally:  # a stream closed early is aborted, as a server does when its client goes
            self._loop.call_soon_threadsafe(self._drop, sequence)

    def _join(self, sequence: _Sequence, wake: Callable[[], None]) -> None:
        self._waiting.append(sequence)
        wake()

    def _await_token(self, sequence: _Sequence, wake: Callable[[], None]) -> None:
        sequence.taken += 1
        if sequence.made >= sequence.taken:
            wake()
        else:
            sequence.wake = wake

    def _drop(self, sequence: _Sequence) -> None:
        sequence.tokens = min(sequence.tokens, sequence.made)
        self._waiting = [s for s in self._waiting if s is not sequence]
        self._running = [s for s in self._running if s.made < s.tokens]

    def _dispatch(self) -> bool:
        if self._stepping or not (self._waiting or self._running):
            return False
        self._waiting.sort(key=lambda s: s.key)
        joining = self._waiting if self._costs.llm_engine == "remote" else self._waiting[: 1 - len(self._running)]
        self._waiting = self._waiting[len(joining) :]
        self._running += joining
        prefill = self._costs.llm_prefill_ms * len(joining)
        self._stepping = True
        self.steps.append(len(self._running))
        self._loop.call_later((prefill + self._costs.token_step(len(self._running))) / 1000, self._stepped)
        return True

    def _stepped(self) -> None:
        self._stepping = False
        for sequence in self._running:
            sequence.made += 1
            if sequence.wake is not None and sequence.made >= sequence.taken:
                wake, sequence.wake = sequence.wake, None
                wake()
        self._running = [s for s in self._running if s.made < s.tokens]


def pieces(text: str) -> list[str]:
    """`text` as the pieces a tokenizer would stream: words cut into runs of about four characters."""
    out = []
    for word in re.findall(r"\S+\s*", text):
        size = math.ceil(len(word.strip()) / 4) or 1
        step = math.ceil(len(word) / size)
        out += [word[i : i + step] for i in range(0, len(word), step)]
    return out


def punctuated(text: str) -> str:
    """The source words as a translation would read: capitalised, a comma every seven words, a full stop."""
    words = text.strip().split()
    joined = " ".join(w + ("," if i % 7 == 6 and i < len(words) - 1 else "") for i, w in enumerate(words))
    return joined[:1].upper() + joined[1:] + "." if joined else ""


class SimTranslator:
    """Answers with the source words punctuated (`punctuated`), as long as a translation, at the engine's pace.
    Both backend calls work: `translate` (the whole answer) and `stream` (piece by piece)."""

    def __init__(self, engine: LLMEngine, session: int) -> None:
        self._engine, self._session = engine, session

    def stream(  # noqa: ANN201 - a generator of str, closable
        self,
        text: str,
        source: str,
        target: str,
        *,
        context=(),
        prefix: str = "",
        stop=None,  # noqa: ANN001
    ):
        answer = pieces(punctuated(text))
        tokens = self._engine.tokens(self._session, len(answer))
        try:
            for piece, _ in zip(answer, tokens, strict=True):
                if stop is not None and stop.is_set():
                    return
                yield piece
        finally:
            tokens.close()

    def translate(self, text: str, source: str, target: str, *, context=(), prefix: str = "", stop=None) -> str:  # noqa: ANN001
        return "".join(self.stream(text, source, target, context=context, prefix=prefix, stop=stop)).strip()


class SimASR:
    """A WhisperASR that knows the held speech's utterances: a final decode (the utterance's exact length) gives its
    transcript, a partial the share of its words heard so far. Each decode waits on the shared ASR queue."""

    multilingual = True
    settings = ASRSettings()

    def __init__(self, queue: BatchQueue, session: int, utterances: list[Utterance], audio: np.ndarray) -> None:
        self._queue, self._session, self._utterances = queue, session, utterances
        self._by_opening = {audio[u.start : u.start + 64].tobytes(): u for u in utterances}

    def language_probabilities(self, audio: np.ndarray) -> dict[str, float]:
        return {"en": 1.0}

    def transcribe(self, audio: np.ndarray, language: str, **options: object) -> Transcription:
        utterance = self._by_opening.get(audio[:64].tobytes())
        final = utterance is not None and len(audio) == utterance.end - utterance.start
        self._queue.call(self._session, urgent=final)
        if utterance is None:
            return Transcription("", language)
        words = utterance.text.split()
        heard = len(words) if final else min(len(words), len(words) * len(audio) // (utterance.end - utterance.start))
        return Transcription(" ".join(words[:heard]), language, log_prob=-0.1)


class HiggsModel:
    """The shared Higgs generator: up to `slots` phrases at once, each admitted with a prefill between steps, one
    code step per slot per decode step; and the codec decoding chunks one at a time on the same GPU."""

    def __init__(self, loop: VirtualLoop, costs: Costs) -> None:
        self._loop, self._costs = loop, costs
        self._waiting: list[tuple[tuple, _Phrase]] = []
        self._active: list[_Phrase] = []
        self._stepping = False
        self._codec_free_at = 0.0
        self.steps: list[int] = []
        loop.settlers.append(self._dispatch)

    def submit(self, session: int, frames: int, opening: bool) -> _Phrase:
        """`opening`: the first phrase of its utterance, which the listener is waiting for."""
        phrase = _Phrase(frames)
        first = opening and self._costs.tts_openings_first
        self._waiting.append(((not first, self._loop.time(), session), phrase))
        return phrase

    async def decode_chunk(self) -> None:
        start = max(self._loop.time(), self._codec_free_at)
        self._codec_free_at = start + self._costs.codec_chunk_ms / 1000
        await asyncio.sleep(self._codec_free_at - self._loop.time())

    def _dispatch(self) -> bool:
        if self._stepping or not (self._waiting or self._active):
            return False
        self._waiting.sort(key=lambda item: item[0])
        free = self._costs.tts_slots - len(self._active)
        admitted = [phrase for _, phrase in self._waiting[:free]]
        self._waiting = self._waiting[len(admitted) :]
        for phrase in admitted:
            phrase.steps = 1  # the prefill samples the first code step
        self._active += admitted
        self._stepping = True
        self.steps.append(len(self._active))
        cost = self._costs.tts_prefill_ms * len(admitted) + self._costs.tts_step_ms
        self._loop.call_later(cost / 1000, self._stepped, admitted)
        return True

    def _stepped(self, admitted: list[_Phrase]) -> None:
        self._stepping = False
        for phrase in self._active:
            if phrase not in admitted:
                phrase.steps += 1
            phrase.progress.set()
        self._active = [p for p in self._active if p.complete < p.frames]


class _Phrase:
    def __init__(self, frames: int) -> None:
        self.frames, self.steps = frames, 0
        self.progress = asyncio.Event()

    @property
    def complete(self) -> int:
        return min(self.frames, max(0, self.steps - CODEBOOK_DELAY))


class SimTTS:
    """A Higgs-like backend on `HiggsModel`: clones, speaks every language, chunks as the codec would cut them."""

    name = "higgs"
    languages = LANGUAGES
    can_clone = True
    voices: tuple[str, ...] = ()
    sample_rate = TTS_RATE

    def __init__(self, model: HiggsModel, costs: Costs, session: int) -> None:
        self.model, self.costs, self.session = model, costs, session

    def open(self, voice, language: str) -> _SimStream:  # noqa: ANN001 - a Voice or None
        return _SimStream(self)

    def close(self) -> None:
        pass


class _SimStream(PhraseStream):
    def __init__(self, tts: SimTTS) -> None:
        self.tts, self.voice = tts, None
        super().__init__(TTS_RATE)

    async def _speak(self, text: str, tag: object) -> None:
        costs, model = self.tts.costs, self.tts.model
        frames = max(1, math.ceil(len(text) / costs.chars_per_second * FRAME_RATE))
        phrase = model.submit(self.tts.session, frames, getattr(tag, "first_chunk_at", None) is None)
        emitted = 0
        while emitted < frames:
            await phrase.progress.wait()
            phrase.progress.clear()
            size = costs.first_chunk_frames if emitted == 0 else costs.chunk_frames
            while emitted < frames and (
                phrase.complete == frames or phrase.complete >= emitted + size + costs.lookahead_frames
            ):
                stop = frames if phrase.complete == frames else emitted + size
                await model.decode_chunk()
                pcm = np.zeros((stop - emitted) * SAMPLES_PER_FRAME, np.float32)
                self._put(SpeechChunk(pcm, TTS_RATE, tag, text, emitted, EOS if stop == frames else None))
                emitted, size = stop, costs.chunk_frames

    def _stop(self) -> None:
        pass
