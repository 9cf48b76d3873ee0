"""One conversation: audio in, events out. The same Session serves files, the CLI and every transport.

Three stages, each a task that owns what it writes, keep the ear and the mouth apart:

    push/feed -> FrontEnd --SourceUpdate queue--> Translating --phrases, tagged--> Speech --> events
                 (VAD, ASR, language)              (policy, phrase splitting)       (voice, TTS, metrics)

The front end (agent/front_end.py) hears the input as it arrives, the translation stage (agent/translating.py)
translates the utterances in the order they were heard and hands their phrases to the speech stage
(agent/speech.py), which passes the TTS stream's chunks on as they are decoded. So a long translation never stops
the session from hearing the next utterance, and speech leaves while it is still being generated. Every stage
emits into one `Outbox`, which stamps events on the session's clock. Model compute runs in worker threads (the TTS
on the shared generator's thread).

The voice reference (agent/voice.py) is decided when an utterance's final transcript is in, before its
translation is queued, so with the consecutive policy every phrase of an utterance, the first one included,
speaks in a reference that already holds that utterance. With the simultaneous policy phrases leave before the
utterance ends: those speak in the reference as it was then (the model's own voice before the first one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from agent.clock import Clock
from agent.front_end import FrontEnd
from agent.models import Models
from agent.outbox import Outbox
from agent.speech import Speech
from agent.translating import SourceUpdate, Translating
from agent.voice import given_voice
from model.speech import SpeechBackend
from streaming.events import Event
from streaming.vocabulary import AUTO, LANGUAGE_NAMES, LANGUAGES, POLICIES, SOURCE_LANGUAGES, VOICE_MODES


class SessionError(ValueError):
    """Session options that cannot work; the message says which and what to use instead."""


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
        clone (the speaker's own, captured from their speech), default (the profile's stock voice) or the name of
        one of the TTS's stock voices."""
        check_settings(models, source_language, target_language, policy, voice)
        self._models = models
        self._outbox = Outbox(clock)
        updates: asyncio.Queue[SourceUpdate | None] = asyncio.Queue()
        policy = policy or models.translation.policy
        self._speech = Speech(models, voice, target_language, self._outbox)
        self._translating = Translating(models, policy, target_language, updates, self._speech, self._outbox)
        self._front_end = FrontEnd(
            models,
            source_language,
            simultaneous=policy == "simultaneous",
            speech=self._speech,
            updates=updates,
            outbox=self._outbox,
        )
        self._tasks: list[asyncio.Task] = []

    @property
    def stock_voice(self) -> str | None:
        """The stock voice the session speaks in (a TTS that cannot clone); None with one that clones."""
        return self._speech.stock_voice

    def start(self) -> None:
        self._tasks = [self._front_end.start(), self._translating.start(), self._speech.start()]

    def push(self, pcm: np.ndarray) -> None:
        """Hand over 16 kHz float32 mono input; returns at once."""
        self._front_end.push(pcm)

    async def feed(self, pcm: np.ndarray) -> None:
        """`push`, then wait while more than MAX_BACKLOG (agent/front_end.py) of input is still unheard: a client
        that sends faster than the session hears is slowed down (its socket is read no further) instead of filling
        memory."""
        await self._front_end.feed(pcm)

    async def use_reference(self, audio: np.ndarray, sample_rate: int, transcript: str) -> None:
        """Speak every later phrase in the voice of this clip (float32 mono) and its transcript, for the rest of
        the session: speech captured later never replaces it. Raises SessionError for a clip that cannot serve."""
        settings, rate = self._models.voice, self._models.tts.sample_rate
        try:
            voice = await asyncio.to_thread(given_voice, audio, sample_rate, transcript, settings, rate)
        except ValueError as exc:
            raise SessionError(str(exc)) from None
        self._speech.use(voice)

    def cancel(self, utterance_id: int | None = None) -> None:
        """Barge-in: stop an utterance's translation and its speech together, at once (None: every utterance being
        translated or spoken). It is never spoken again, later utterances go on, and `UtteranceCancelled` is the last
        event about it (after the last, empty, speech chunk if its speech had begun); see docs/protocol.md."""
        self._translating.cancel(utterance_id)

    def end_input(self) -> None:
        """No more audio: finish what was heard, then end the event stream."""
        self._front_end.end_input()

    def now(self) -> float:
        """The session's clock: seconds since it began, as the `at` of its events."""
        return self._outbox.now()

    def events(self) -> AsyncIterator[Event]:
        return self._outbox.events()

    async def close(self) -> None:
        """Stop at once (client gone); pending work is dropped."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._speech.close()


def check_settings(models: Models, source_language: str, target_language: str, policy: str | None, voice: str) -> None:
    if source_language not in SOURCE_LANGUAGES:
        raise SessionError(
            f"source language '{source_language}' is not supported; use one of {', '.join(SOURCE_LANGUAGES)}."
        )
    if target_language not in LANGUAGES:
        raise SessionError(f"target language '{target_language}' is not supported; use one of {', '.join(LANGUAGES)}.")
    tts = models.tts
    check_tts_language(tts, target_language)
    if not models.asr.multilingual and source_language not in (AUTO, "en"):
        raise SessionError(
            f"the ASR model is English-only and cannot hear '{source_language}'; "
            "use --from en (or auto), or a profile with a multilingual ASR model such as default."
        )
    if policy is not None and policy not in POLICIES:
        raise SessionError(f"mode '{policy}' is not supported; use one of {', '.join(POLICIES)}.")
    if voice not in VOICE_MODES and voice not in tts.voices:
        stock = f", or one of the {tts.name} TTS's stock voices: {', '.join(tts.voices)}" if tts.voices else ""
        raise SessionError(
            f"voice '{voice}' is not supported; use clone (the speaker's own voice) or default (the server's){stock}."
        )


def check_tts_language(tts: SpeechBackend, language: str) -> None:
    """Refuse, up front and with the fix, a language the profile's TTS cannot speak."""
    if language not in tts.languages:
        raise SessionError(
            f"the {tts.name} TTS cannot speak '{language}'; it speaks {', '.join(tts.languages)}. "
            f"Use a profile with the higgs backend (such as default) for {LANGUAGE_NAMES[language]}."
        )
