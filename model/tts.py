"""Higgs Audio v2 text-to-speech as a stream: text in, PCM chunks out while the phrase is still being generated.

`HiggsTTS` holds the shared models and one `HiggsGenerator` that batches every session's phrases; each session
opens its own `TTSStream`, which keeps that session's voice and its last few spoken phrases as context.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import (
    AutoTokenizer,
    HiggsAudioV2ForConditionalGeneration,
    HiggsAudioV2TokenizerModel,
    PreTrainedTokenizerBase,
)

from model.codec import ChunkedCodecDecoder, CodecSettings
from model.higgs import CANCELLED, HiggsGenerator, Request, Sampling, build_prompt
from model.loading import load
from model.speech import EOS, MAX_FRAMES, PhraseStream, SpeechChunk, check_language
from model.voice import Voice

log = logging.getLogger(__name__)

FRAMES_PER_SECOND = 25


@dataclass(frozen=True)
class TTSSettings:
    """Sampling (the reference README's defaults), batching and streaming settings of the TTS stage.

    `context_phrases` earlier phrases of the session go into each prompt, so the voice stays the same from one
    phrase to the next; `slots` phrases are generated at once across all sessions, each within a cache row of
    `context_tokens` tokens (prompt plus generated frames).
    """

    sampling: Sampling = field(default_factory=Sampling)
    codec: CodecSettings = field(default_factory=CodecSettings)
    context_phrases: int = 2
    slots: int = 16
    context_tokens: int = 2048


def max_frames(text: str) -> int:
    """The frame budget for a phrase: a babbling model is cut off instead of talking forever.

    Generous on purpose (about twice a slow speaker): 2 s of slack plus 0.16 s per character, and three times
    that for a Han, kana or Hangul character, since one of those carries a whole syllable.
    """
    units = sum(3 if _is_syllabic(char) else 1 for char in text.strip())
    return 2 * FRAMES_PER_SECOND + 4 * units


def _is_syllabic(char: str) -> bool:
    name = unicodedata.name(char, "")
    return name.startswith(("CJK", "HANGUL", "HIRAGANA", "KATAKANA"))


class HiggsTTS:
    """Higgs Audio v2 and its audio tokenizer, loaded once and shared by every session (a `SpeechBackend`)."""

    name = "higgs"
    languages = ("en", "zh", "de", "ko")
    can_clone = True
    voices: tuple[str, ...] = ()  # it speaks in a clone or in its own voice, never in a named one

    def __init__(
        self,
        model: HiggsAudioV2ForConditionalGeneration,
        tokenizer: PreTrainedTokenizerBase,
        codec: HiggsAudioV2TokenizerModel,
        settings: TTSSettings,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.codec = codec
        self.settings = settings
        self.sample_rate: int = codec.config.sample_rate
        self.hop_length: int = codec.config.hop_length
        self.generator = HiggsGenerator(
            model, settings.sampling, slots=settings.slots, context_tokens=settings.context_tokens
        )

    @classmethod
    def load(
        cls,
        model_dir: Path,
        audio_tokenizer_dir: Path,
        *,
        device: str,
        dtype: torch.dtype,
        settings: TTSSettings,
    ) -> HiggsTTS:
        """Load from local directories only; a missing or broken one raises `ModelError` naming it.

        The codec stays in float32 whatever `dtype` says: it is a small share of the compute, and its long
        convolution stack is where reduced precision would be audible.
        """
        model_dir, audio_tokenizer_dir = Path(model_dir), Path(audio_tokenizer_dir)
        tokenizer = load("TTS model", model_dir, lambda path: AutoTokenizer.from_pretrained(_existing(path)))
        model = load(
            "TTS model",
            model_dir,
            lambda path: HiggsAudioV2ForConditionalGeneration.from_pretrained(_existing(path), dtype=dtype),
        )
        codec = load(
            "audio tokenizer",
            audio_tokenizer_dir,
            lambda path: HiggsAudioV2TokenizerModel.from_pretrained(_existing(path), dtype=torch.float32),
        )
        model.to(device).eval().requires_grad_(False)
        codec.to(device).eval().requires_grad_(False)
        return cls(model, tokenizer, codec, settings)

    def open(self, voice: Voice | None, language: str) -> TTSStream:
        """A stream for one session, speaking `language` in `voice` (None: the model's own voice); a language not
        in `languages` raises ValueError. Call it from the event loop that will iterate the stream."""
        check_language(self, language)
        return TTSStream(self, voice, language)

    def close(self) -> None:
        self.generator.close()


class TTSStream(PhraseStream):
    """One session's speech: `say` a phrase with a tag, async-iterate the `SpeechChunk`s, which carry it.

    Phrases are spoken one after another, each through a slot of the shared generator; `cancel` drops everything
    pending and stops the current phrase within one decode step. `close` ends the iteration once every phrase
    said is spoken.
    """

    def __init__(self, tts: HiggsTTS, voice: Voice | None, language: str) -> None:
        self.tts = tts
        self.language = language
        self._history: deque[tuple[str, torch.Tensor]] = deque(maxlen=tts.settings.context_phrases or None)
        self._current: Request | None = None
        self._encoding: asyncio.Task | None = None
        super().__init__(tts.sample_rate)
        self.voice = voice

    @property
    def voice(self) -> Voice | None:
        return self._voice

    @voice.setter
    def voice(self, voice: Voice | None) -> None:
        """Speak in `voice` from the next phrase on. Its codes are encoded now in a worker thread, so that phrase
        does not wait for them; the context phrases spoken in the old voice are dropped, or they would pull the
        next phrase back towards it."""
        self._voice = voice
        self._history.clear()
        self._encoding = None
        if voice is not None:
            self._encoding = self._loop.create_task(asyncio.to_thread(_encode, voice, self.tts.codec))
            # a failure is reported by the phrases, which encode again and fail with the reason
            self._encoding.add_done_callback(lambda task: task.cancelled() or task.exception())

    async def aclose(self) -> None:
        """Stop at once and wait for the stream's tasks (session teardown)."""
        if self._encoding is not None:
            self._encoding.cancel()
            await asyncio.gather(self._encoding, return_exceptions=True)
        await super().aclose()
        self._stop()

    def _stop(self) -> None:
        if self._current is not None:
            self.tts.generator.cancel(self._current)

    async def _speak(self, text: str, tag: object) -> None:
        tts = self.tts
        speaker, voice = self.voice, None
        if speaker is not None:
            voice = (speaker.transcript, await asyncio.to_thread(speaker.codes, tts.codec))
        budget = max_frames(text)
        context = list(self._history)
        prompt = build_prompt(tts.tokenizer, tts.model.config, text, voice=voice, context=context)
        while context and not tts.generator.fits(prompt, budget):
            context.pop(0)  # the oldest context phrase goes first; the voice reference stays
            prompt = build_prompt(tts.tokenizer, tts.model.config, text, voice=voice, context=context)
        arrivals: asyncio.Queue[torch.Tensor | str] = asyncio.Queue()
        request = Request(
            prompt,
            budget,
            on_frames=lambda frame: self._loop.call_soon_threadsafe(arrivals.put_nowait, frame),
            on_end=lambda reason: self._loop.call_soon_threadsafe(arrivals.put_nowait, reason),
        )
        self._current = request
        tts.generator.submit(request)
        decoder = ChunkedCodecDecoder(tts.codec, tts.settings.codec)
        frames: list[torch.Tensor] = []
        emitted = 0  # samples handed out so far
        end: str | None = None
        try:
            while True:
                batch, end = await _take(arrivals)
                if batch:
                    frames += batch
                    pcm = await asyncio.to_thread(decoder.push, torch.cat(batch))
                    if len(pcm) and not request.cancelled:
                        self._put(SpeechChunk(pcm, tts.sample_rate, tag, text, emitted // tts.hop_length))
                        emitted += len(pcm)
                if end is None:
                    continue
                if end == CANCELLED or request.cancelled:
                    return
                if end not in (EOS, MAX_FRAMES):
                    self._fail(tag, text, emitted // tts.hop_length, end)
                    return
                pcm = await asyncio.to_thread(decoder.finish)
                if end == MAX_FRAMES:
                    log.warning("TTS phrase cut off after %d frames (babbling guard): %r", budget, text)
                elif frames and self.voice is speaker:  # a phrase in a voice since replaced is no context
                    self._history.append((text, torch.cat(frames)))
                if not request.cancelled:
                    self._put(SpeechChunk(pcm, tts.sample_rate, tag, text, emitted // tts.hop_length, end))
                return
        finally:
            if end is None:  # this task was cancelled mid-phrase: free the slot
                tts.generator.cancel(request)
            self._current = None


async def _take(arrivals: asyncio.Queue) -> tuple[list[torch.Tensor], str | None]:
    """Wait for the next arrival, then take whatever else is already there, so a backlog is decoded at once."""
    items = [await arrivals.get()]
    while not arrivals.empty():
        items.append(arrivals.get_nowait())
    frames = [item for item in items if isinstance(item, torch.Tensor)]
    ends = [item for item in items if isinstance(item, str)]
    return frames, (ends[0] if ends else None)


def _encode(voice: Voice, codec: HiggsAudioV2TokenizerModel) -> None:
    """Fill the voice's codes cache; returns nothing, so no finished task keeps the codes alive."""
    voice.codes(codec)


def _existing(path: Path) -> Path:
    """Refuse a missing directory up front, so from_pretrained never mistakes it for a hub id."""
    if not path.is_dir():
        raise FileNotFoundError(f"no such directory: {path}")
    return path
