"""Test helpers: the shared real speech, a scripted clock, running a session, word error rate, and a fake TTS."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator

import numpy as np

from bench import speech_dir
from streaming.audio import frames

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


_NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen".split()


def normalise(text: str) -> list[str]:
    """Lower case, no punctuation, small numbers as words: the usual WER normalisation."""
    text = re.sub(r"\d+", lambda m: _NUMBERS[int(m.group())] if int(m.group()) < len(_NUMBERS) else m.group(), text)
    return re.sub(r"[^\w\s']|'(?!\w)", " ", text.lower()).replace("-", " ").split()


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    errors = words = 0
    for ref, hyp in zip(references, hypotheses, strict=True):
        r, h = normalise(ref), normalise(hyp)
        row = list(range(len(h) + 1))
        for i, rw in enumerate(r, 1):
            prev, row[0] = row[0], i
            for j, hw in enumerate(h, 1):
                prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (rw != hw))
        errors += row[-1]
        words += len(r)
    return errors / words


async def speak(tts, *phrases: str, language: str = "de", voice=None) -> list:
    """Speak `phrases` through one TTS stream and return every `model.tts.SpeechChunk` it produced."""
    stream = tts.open(voice, language)
    for phrase in phrases:
        stream.push_text(phrase)
        stream.flush()
    stream.close()
    return [chunk async for chunk in stream]


class FakeTTS:
    """`model.tts.HiggsTTS` for tests of what surrounds the speech: no model, each phrase spoken at once.

    `spoken` records every flushed phrase as (text, voice, language), the voice being the stream's at the flush,
    so tests see what reached the TTS and in which voice. Each phrase is `seconds` of speech in one final chunk;
    a subclass scripting more (timing, several chunks) overrides `speak`.
    """

    sample_rate = TTS_RATE

    def __init__(self, seconds: float = 0.5) -> None:
        self.seconds = seconds
        self.spoken: list[tuple] = []

    def open(self, voice, language: str) -> FakeTTSStream:
        return FakeTTSStream(self, voice, language)

    def speak(self, span: tuple[int, int]) -> Iterator:
        """The `model.tts.SpeechChunk`s of the phrase at `span`, produced as the stream is iterated."""
        from model.higgs import EOS  # imported here: the torch stack would slow every test module using helpers
        from model.tts import SpeechChunk

        pcm = np.full(round(self.seconds * self.sample_rate), 0.1, np.float32)
        yield SpeechChunk(pcm, self.sample_rate, span, first_frame=0, end=EOS)


class FakeTTSStream:
    """`model.tts.TTSStream`'s interface over a queue of flushed phrases; `FakeTTS.speak` says what each becomes.

    Unlike the real stream, `text` joins phrases with no separator and keeps them unstripped.
    """

    def __init__(self, tts: FakeTTS, voice, language: str) -> None:
        self.tts, self.voice, self.language = tts, voice, language
        self.text, self._pending = "", ""
        self._phrases: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()

    def push_text(self, text: str) -> None:
        self._pending += text

    def flush(self) -> tuple[int, int]:
        span = (len(self.text), len(self.text) + len(self._pending))
        self.text += self._pending
        self.tts.spoken.append((self._pending, self.voice, self.language))
        self._pending = ""
        self._phrases.put_nowait(span)
        return span

    def cancel(self) -> None:
        self._pending = ""
        while not self._phrases.empty():
            self._phrases.get_nowait()

    def close(self) -> None:
        self._phrases.put_nowait(None)

    async def aclose(self) -> None:
        self.cancel()
        self.close()

    async def __aiter__(self) -> AsyncIterator:
        while (span := await self._phrases.get()) is not None:
            for chunk in self.tts.speak(span):
                yield chunk
