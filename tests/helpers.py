"""Test helpers: the shared real speech, a scripted clock, running a session, word error rate, fake translators
and fake TTSes."""

from __future__ import annotations

import asyncio
import json
import queue
from collections.abc import AsyncIterator, Iterator

import numpy as np

from agent.wer import normalise as normalise
from agent.wer import word_error_rate as word_error_rate
from bench import speech_dir
from model.speech import EOS, SpeechChunk
from streaming.audio import frames
from streaming.vocabulary import LANGUAGES

SPEECH = speech_dir()  # tests that read it are marked `speech`, so they skip (or, in CI, fail) without it
LONG_EN = SPEECH / "long_en_16k.wav"
TTS_RATE = 24000  # the fake TTS speaks at Higgs's own rate


def english_references() -> list[str]:
    """The five reference transcripts, in the order they are spoken in long_en_16k.wav."""
    transcripts = json.loads((SPEECH / "en" / "transcripts.json").read_text())
    return [transcripts[name] for name in sorted(transcripts)]


class ScriptedClock:
    """Time moves only when a test (or a fake stage) says so."""

    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


async def run_session(session, audio: np.ndarray, clock: ScriptedClock | None = None) -> list:
    """Start `session`, push 16 kHz `audio` in 20 ms frames, end the input and collect every event until the end.

    With `clock`, time moves 20 ms a frame, as the frames would arrive from a microphone.
    """
    session.start()
    for frame in frames(audio, 16000):
        if clock is not None:
            clock.advance(0.02)
        session.push(frame)
    session.end_input()
    events = [event async for event in session.events()]
    await session.close()
    return events


async def speak(tts, *phrases: str, language: str = "de", voice=None) -> list:
    """Speak `phrases` through one TTS stream and return every `model.speech.SpeechChunk` it produced; each phrase's
    tag is its position among `phrases`."""
    stream = tts.open(voice, language)
    for index, phrase in enumerate(phrases):
        stream.say(phrase, index)
    stream.close()
    return [chunk async for chunk in stream]


class FakeTTS:
    """`model.tts.HiggsTTS` for tests of what surrounds the speech: no model, each phrase spoken at once.

    `spoken` records every phrase said as (text, voice, language), the voice being the stream's when it was said,
    so tests see what reached the TTS and in which voice. Each phrase is `seconds` of speech in one final chunk;
    a subclass scripting more (timing, several chunks) overrides `speak`.
    """

    name = "higgs"
    languages = LANGUAGES
    can_clone = True
    voices: tuple[str, ...] = ()
    sample_rate = TTS_RATE

    def __init__(self, seconds: float = 0.5) -> None:
        self.seconds = seconds
        self.spoken: list[tuple] = []

    def open(self, voice, language: str) -> FakeTTSStream:
        return FakeTTSStream(self, voice, language)

    def speak(self, text: str, tag) -> Iterator:
        """The `model.speech.SpeechChunk`s of the phrase `text` said with `tag`, produced as the stream is iterated."""
        pcm = np.full(round(self.seconds * self.sample_rate), 0.1, np.float32)
        yield SpeechChunk(pcm, self.sample_rate, tag, text, first_frame=0, end=EOS)


class FakeTTSStream:
    """`model.tts.TTSStream`'s interface over a queue of phrases; `FakeTTS.speak` says what each becomes."""

    def __init__(self, tts: FakeTTS, voice, language: str) -> None:
        self.tts, self.voice, self.language = tts, voice, language
        self._phrases: asyncio.Queue[tuple | None] = asyncio.Queue()

    def say(self, text: str, tag) -> None:
        self.tts.spoken.append((text, self.voice, self.language))
        self._phrases.put_nowait((text, tag))

    def cancel(self) -> None:
        """Drop the queued phrases but not the end marker, as `model.speech.PhraseStream` does."""
        ended = False
        while not self._phrases.empty():
            ended = self._phrases.get_nowait() is None or ended
        if ended:
            self._phrases.put_nowait(None)

    def close(self) -> None:
        self._phrases.put_nowait(None)

    async def aclose(self) -> None:
        self.cancel()
        self.close()

    async def __aiter__(self) -> AsyncIterator:
        while (phrase := await self._phrases.get()) is not None:
            for chunk in self.tts.speak(*phrase):
                yield chunk


class HeldTTS(FakeTTS):
    """Each phrase in two chunks of `seconds / 2`, the first `delay` s of the scripted clock after the phrase comes
    up and the second only once the test sets `resume`; `cancel` drops the rest of the phrase being spoken, as a
    real stream does."""

    def __init__(self, clock: ScriptedClock, delay: float = 0.0, seconds: float = 0.5) -> None:
        super().__init__(seconds)
        self.clock, self.delay = clock, delay
        self.resume = asyncio.Event()
        self.cancels = 0

    def open(self, voice, language: str) -> HeldTTSStream:
        return HeldTTSStream(self, voice, language)


class HeldTTSStream(FakeTTSStream):
    tts: HeldTTS

    def cancel(self) -> None:
        super().cancel()
        self.tts.cancels += 1

    async def __aiter__(self) -> AsyncIterator:
        tts = self.tts
        half = np.full(round(tts.seconds * tts.sample_rate / 2), 0.1, np.float32)
        while (phrase := await self._phrases.get()) is not None:
            text, tag = phrase
            cancels = tts.cancels
            tts.clock.advance(tts.delay)
            yield SpeechChunk(half, tts.sample_rate, tag, text, first_frame=0)
            await tts.resume.wait()
            if tts.cancels == cancels:
                yield SpeechChunk(half, tts.sample_rate, tag, text, first_frame=len(half) // 960, end=EOS)


class StreamsWhole:
    """For a fake translator that answers with `translate`: its `stream` yields the answer in one piece (what follows
    the forced prefix, as the real backends do)."""

    def stream(self, text, source, target, *, context=(), prefix="", stop=None):
        answer = self.translate(text, source, target, context=context, prefix=prefix)
        yield answer[len(prefix) :] if answer.startswith(prefix) else answer


class ScriptedTranslator:
    """A translator whose `stream` yields scripted pieces, the scripted clock moving `step` s before each.

    With `gated`, each piece waits in the worker thread until the test `release`s it, so the test says when the
    translation moves on. A set stop signal wakes a waiting piece, as it shuts a real backend's connection; the
    fake records that (`stopped`), whether its iterator was closed (`closed`) and how many pieces were pulled.
    `replies` maps a source text to its pieces; any other text gets `pieces`.
    """

    def __init__(self, clock: ScriptedClock, pieces=(), *, step: float = 0.1, gated: bool = False, replies=None):
        self.clock, self.pieces, self.step, self.gated = clock, list(pieces), step, gated
        self.replies = replies or {}
        self.calls: list[tuple[str, str]] = []  # (source text, prefix)
        self.pulled = 0
        self.stopped = self.closed = False
        self._gate: queue.Queue[bool] = queue.Queue()

    def release(self, pieces: int = 1) -> None:
        for _ in range(pieces):
            self._gate.put(True)

    def stream(self, text, source, target, *, context=(), prefix="", stop=None):
        self.calls.append((text, prefix))
        if stop is not None:
            stop.on_set(lambda: self._gate.put(False))
        try:
            for piece in self.replies.get(text, self.pieces):
                if self.gated and not self._gate.get():
                    self.stopped = True
                    return
                self.clock.advance(self.step)
                self.pulled += 1
                yield piece
        finally:
            self.closed = True
