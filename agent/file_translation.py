"""Translate a recording by streaming it through a live Session, 20 ms at a time."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field

import numpy as np

from agent.clock import Clock
from agent.models import Models
from agent.session import Session
from streaming.audio import frames
from streaming.events import (
    Error,
    Metrics,
    SpeechChunk,
    SpeechEnded,
    SpeechStarted,
    Transcript,
    Translation,
    VoiceReference,
)
from streaming.vocabulary import SESSION_RATE

FRAME_MS = 20
GAP_S = 0.3  # least silence between two translated utterances in the output file


@dataclass
class Caption:
    id: int
    start: float
    end: float
    source_language: str = ""
    source_text: str = ""
    target_language: str = ""
    target_text: str = ""
    audio_start: float = 0.0
    audio_end: float = 0.0

    def to_json(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass
class FileTranslation:
    audio: np.ndarray
    sample_rate: int
    captions: list[Caption]
    metrics: dict[int, dict[str, float]] = field(default_factory=dict)
    errors: list[Error] = field(default_factory=list)


async def translate_audio(
    models: Models,
    audio: np.ndarray,
    *,
    source: str,
    target: str,
    clock: Clock,
    realtime: bool = False,
    voice: VoiceReference | None = None,
) -> FileTranslation:
    """`audio` is 16 kHz float32 mono. With `realtime`, frames are paced like a live microphone. `voice` is a
    reference clip to speak in from the start; without one the speaker's voice is captured as they talk.
    Raises SessionError for a reference that cannot serve."""
    session = Session(models, source_language=source, target_language=target, clock=clock)
    if voice is not None:
        await session.use_reference(voice.audio, voice.sample_rate, voice.transcript)
    session.start()
    feeder = asyncio.create_task(_feed(session, audio, clock, realtime))
    captions: dict[int, Caption] = {}
    speech: dict[int, list[np.ndarray]] = {}
    result = FileTranslation(np.zeros(0, dtype=np.float32), models.tts.sample_rate, [])
    try:
        async for event in session.events():
            match event:
                case SpeechStarted(utterance_id=uid, audio_time=t):
                    captions[uid] = Caption(uid, start=t, end=t)
                case SpeechEnded(utterance_id=uid, audio_time=t):
                    captions[uid].end = t
                case Transcript(utterance_id=uid, language=lang, text=text, final=True):
                    captions[uid].source_language, captions[uid].source_text = lang, text
                case Translation(utterance_id=uid, language=lang, text=text, final=True):
                    captions[uid].target_language, captions[uid].target_text = lang, text
                case SpeechChunk(utterance_id=uid, pcm=pcm):
                    speech.setdefault(uid, []).append(pcm)
                case Metrics(utterance_id=uid, figures=figures):
                    result.metrics[uid] = figures
                case Error():
                    result.errors.append(event)
        await feeder
    finally:
        feeder.cancel()
        await session.close()
    result.captions = [c for c in captions.values() if c.source_text]
    result.audio = _lay_out(result.captions, speech, result.sample_rate)
    return result


async def _feed(session: Session, audio: np.ndarray, clock: Clock, realtime: bool) -> None:
    began = clock.now()
    for index, frame in enumerate(frames(audio, SESSION_RATE, FRAME_MS)):
        if realtime:
            await asyncio.sleep(max(0.0, began + index * FRAME_MS / 1000 - clock.now()))
        else:
            await asyncio.sleep(0)
        await session.feed(frame)
    session.end_input()


def _lay_out(captions: list[Caption], speech: dict[int, list[np.ndarray]], rate: int) -> np.ndarray:
    """Place each translation where its source began, but never before the previous one ended."""
    pieces: list[np.ndarray] = []
    cursor = 0
    for caption in captions:
        pcm = np.concatenate(speech.get(caption.id, [np.zeros(0, dtype=np.float32)]))
        if not len(pcm):
            continue
        start = max(round(caption.start * rate), cursor + (round(GAP_S * rate) if pieces else 0))
        pieces += [np.zeros(start - cursor, dtype=np.float32), pcm]
        caption.audio_start, caption.audio_end = start / rate, (start + len(pcm)) / rate
        cursor = start + len(pcm)
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
