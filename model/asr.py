"""Speech recognition with faster-whisper (CTranslate2): one model per process, one buffer per utterance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.loading import load

SAMPLE_RATE = 16000
LANGUAGES = ("en", "zh", "de", "ko")


@dataclass(frozen=True)
class ASRSettings:
    beam_size: int = 1
    compute_type: str = "default"
    cpu_threads: int = 0


@dataclass(frozen=True)
class Transcription:
    text: str
    language: str


class WhisperASR:
    """Shared faster-whisper model; CTranslate2 serves concurrent calls from worker threads."""

    def __init__(self, model_dir: Path, *, device: str, settings: ASRSettings) -> None:
        from faster_whisper import WhisperModel

        self._settings = settings
        self._model = load(
            "ASR model",
            model_dir,
            lambda p: WhisperModel(
                str(p), device=device, compute_type=settings.compute_type, cpu_threads=settings.cpu_threads
            ),
        )

    @property
    def multilingual(self) -> bool:
        return self._model.model.is_multilingual

    def detect_language(self, audio: np.ndarray) -> str:
        """Pick among the product's four languages only, so a noisy clip never switches to a fifth one."""
        if not self.multilingual:
            return "en"
        _, _, ranked = self._model.detect_language(audio)
        probs = dict(ranked)
        return max(LANGUAGES, key=lambda lang: probs.get(lang, 0.0))

    def transcribe(self, audio: np.ndarray, language: str) -> Transcription:
        """Decode one utterance of 16 kHz float32 audio; `language` is one of LANGUAGES or "auto"."""
        if language == "auto":
            language = self.detect_language(audio)
        segments, _ = self._model.transcribe(
            audio,
            language=language if self.multilingual else None,
            beam_size=self._settings.beam_size,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        text = " ".join(segment.text.strip() for segment in segments).strip()
        return Transcription(text=text, language=language)


class StreamingASR:
    """Per-session utterance buffer; a later stage adds partial transcripts and LocalAgreement commits."""

    def __init__(self, model: WhisperASR, language: str) -> None:
        self._model = model
        self._language = language
        self._chunks: list[np.ndarray] = []

    def push(self, audio: np.ndarray) -> None:
        self._chunks.append(audio)

    def finalize(self) -> Transcription:
        """Transcribe the whole utterance and start a fresh one."""
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)
        self.reset()
        if len(audio) < SAMPLE_RATE // 10:
            return Transcription(text="", language=self._language)
        return self._model.transcribe(audio, self._language)

    def reset(self) -> None:
        self._chunks = []
