"""Test helpers: the shared real speech, a scripted clock, running a session, word error rate, and a fake TTS."""

from __future__ import annotations

import asyncio
import json
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
        while not self._phrases.empty():
            self._phrases.get_nowait()

    def close(self) -> None:
        self._phrases.put_nowait(None)

    async def aclose(self) -> None:
        self.cancel()
        self.close()

    async def __aiter__(self) -> AsyncIterator:
        while (phrase := await self._phrases.get()) is not None:
            for chunk in self.tts.speak(*phrase):
                yield chunk
