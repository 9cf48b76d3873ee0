"""What every text-to-speech backend offers a session: phrases in, PCM chunks out, each chunk tagged.

Higgs Audio v2 (`model/tts.py`) and Kokoro (`model/kokoro.py`) implement it, and the session knows only this: a
backend says which languages it speaks and whether it can clone a voice, opens one stream per session, and each
stream takes phrases with a tag of the caller's and hands back chunks that carry that tag and the phrase's text.
`PhraseStream` is the bookkeeping both streams share (the queue of phrases, cancel, close, the chunks out).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # model.voice brings in torch, which a backend that does not clone never needs
    from model.voice import Voice

log = logging.getLogger(__name__)

EOS = "eos"  # the phrase is spoken to its end
MAX_FRAMES = "max_frames"  # a guard cut a runaway phrase off
FAILED = "failed"  # the phrase could not be spoken; `SpeechChunk.error` says why


@dataclass(frozen=True)
class SpeechChunk:
    """A run of a phrase's speech: float32 mono PCM in [-1, 1].

    `tag` is whatever the caller handed over with the phrase (so it knows whose speech this is without keeping
    its own books), `text` the phrase as spoken, `first_frame` the chunk's first 40 ms frame within the phrase.
    The phrase's last chunk says why it ended: EOS, MAX_FRAMES or FAILED, with `error` saying what went wrong.
    """

    pcm: np.ndarray
    sample_rate: int
    tag: object
    text: str
    first_frame: int
    end: str | None = None
    error: str = ""


class SpeechStream(Protocol):
    """One session's speech. Phrases are spoken in the order said; `cancel` drops the pending ones and stops the
    current one soon; `close` ends the iteration once every phrase said is spoken."""

    voice: Voice | str | None

    def say(self, text: str, tag: object) -> None: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...

    async def aclose(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[SpeechChunk]: ...


class SpeechBackend(Protocol):
    """A TTS model loaded once per process and shared by every session."""

    name: str
    languages: tuple[str, ...]  # what it can speak
    can_clone: bool  # whether it speaks in a reference clip's voice
    voices: tuple[str, ...]  # its stock voices, by name (none for a backend that only clones)
    sample_rate: int

    def open(self, voice: Voice | str | None, language: str) -> SpeechStream:
        """A cloning backend speaks in a `Voice`; one that cannot takes the name of one of its `voices`. None is
        the backend's own default voice. A language not in `languages` raises ValueError naming the backend and
        the languages it has."""
        ...

    def close(self) -> None: ...


def check_language(backend: SpeechBackend, language: str) -> None:
    """Refuse a language the backend cannot speak, in the same words for every backend."""
    if language not in backend.languages:
        raise ValueError(f"{backend.name} cannot speak '{language}'; it speaks {', '.join(backend.languages)}.")


class PhraseStream:
    """A `SpeechStream` but for the speaking: phrases queue up and one task speaks them in turn.

    A backend's stream subclasses it and implements `_speak` (put the phrase's chunks, the last with its end) and
    `_stop` (stop the phrase being spoken). A phrase whose `_speak` raises gives one FAILED chunk and the stream
    goes on. Construct it on the event loop that will iterate it.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._phrases: asyncio.Queue[tuple[str, object] | None] = asyncio.Queue()
        self._chunks: asyncio.Queue[SpeechChunk | None] = asyncio.Queue()
        self._closed = False
        self._loop = asyncio.get_running_loop()
        self._pump = self._loop.create_task(self._speak_all())

    def say(self, text: str, tag: object) -> None:
        """Queue `text` as one phrase, spoken after those said before; each of its chunks carries `tag`."""
        if self._closed:
            raise RuntimeError(f"say on a closed {type(self).__name__}")
        phrase = text.strip()
        if not phrase:
            raise ValueError("a phrase needs words to say; this one is blank")
        self._phrases.put_nowait((phrase, tag))

    def cancel(self) -> None:
        """Drop the queued phrases and stop the phrase being spoken; the stream stays usable."""
        _drain(self._phrases)
        self._stop()
        _drain(self._chunks)

    def close(self) -> None:
        """No more phrases: the iteration ends once those said are spoken."""
        if not self._closed:
            self._closed = True
            self._phrases.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[SpeechChunk]:
        while (chunk := await self._chunks.get()) is not None:
            yield chunk

    async def aclose(self) -> None:
        """Stop at once and wait for the stream's task (session teardown)."""
        self.cancel()
        self.close()
        self._pump.cancel()
        await asyncio.gather(self._pump, return_exceptions=True)

    async def _speak(self, text: str, tag: object) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def _put(self, chunk: SpeechChunk) -> None:
        self._chunks.put_nowait(chunk)

    def _fail(self, tag: object, text: str, first_frame: int, error: str) -> None:
        self._put(SpeechChunk(np.zeros(0, dtype=np.float32), self.sample_rate, tag, text, first_frame, FAILED, error))

    async def _speak_all(self) -> None:
        try:
            while (phrase := await self._phrases.get()) is not None:
                text, tag = phrase
                try:
                    await self._speak(text, tag)
                except Exception as exc:  # noqa: BLE001 - one failed phrase must not end the stream
                    log.exception("TTS phrase failed")
                    self._fail(tag, text, 0, str(exc))
        finally:
            self._chunks.put_nowait(None)


def _drain(queue: asyncio.Queue) -> None:
    """Empty a queue but keep its end marker."""
    ended = False
    while not queue.empty():
        ended = queue.get_nowait() is None or ended
    if ended:
        queue.put_nowait(None)
