"""Speech recognition with faster-whisper (CTranslate2): one model per process, one buffer per utterance."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.loading import load
from model.words import LocalAgreement, join_words, normalise, split_words

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class ASRSettings:
    """Decoding settings. A segment whisper itself thinks is silence (`no_speech_threshold`) and decoded with low
    confidence (`log_prob_threshold`) is dropped, as is a known silence phrase ("Thank you.") that whisper is
    not sure is speech; `partial_interval_ms` of new speech triggers a partial re-decode. `compute_type` is a
    CTranslate2 type, or `auto`: float16 on a GPU, int8 on the CPU.
    """

    beam_size: int = 1
    compute_type: str = "auto"
    cpu_threads: int = 0
    partial_interval_ms: int = 500
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0


@dataclass(frozen=True)
class Transcription:
    """`log_prob` is whisper's mean log-probability per token of the decode that gave the text (0.0 when nothing
    was decoded): low when the words are a guess, as over two overlapping voices."""

    text: str
    language: str
    log_prob: float = 0.0


@dataclass(frozen=True)
class PartialTranscript:
    """`committed` never changes once emitted (it only grows); `tentative` is the rest of the latest hypothesis."""

    committed: str
    tentative: str
    language: str


# Whisper's best-known inventions on silence and noise (YouTube subtitle credits), per language.
SILENCE_PHRASES = frozenset(
    {
        "thank you",
        "thank you very much",
        "thanks for watching",
        "thank you for watching",
        "please subscribe",
        "bye",
        "you",
        "vielen dank",
        "danke",
        "untertitel im auftrag des zdf für funk 2017",
        "untertitel der amara org community",
        "谢谢",
        "谢谢观看",
        "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
        "字幕由amara org社区提供",
        "감사합니다",
        "시청해주셔서 감사합니다",
        "구독과 좋아요 부탁드립니다",
    }
)
SILENCE_PHRASE_MIN_NO_SPEECH = 0.3
REPEATS_ALLOWED = 2  # a phrase said this many times in a row is speech; more is a decoding loop


class WhisperASR:
    """Shared faster-whisper model; CTranslate2 serves concurrent calls from worker threads.

    Language detection chooses among `languages` only (by default, any language whisper knows), so a noisy clip
    never switches to one the caller does not serve.
    """

    def __init__(self, model_dir: Path, *, device: str, settings: ASRSettings, languages: Collection[str] = ()) -> None:
        from faster_whisper import WhisperModel

        self.settings = settings
        self.languages = tuple(languages)
        compute_type = settings.compute_type
        if compute_type == "auto":
            compute_type = "float16" if device == "cuda" else "int8"
        self._model = load(
            "ASR model",
            model_dir,
            lambda p: WhisperModel(str(p), device=device, compute_type=compute_type, cpu_threads=settings.cpu_threads),
        )

    @property
    def multilingual(self) -> bool:
        return self._model.model.is_multilingual

    def language_probabilities(self, audio: np.ndarray) -> dict[str, float]:
        """Whisper's language probabilities, restricted to `languages` and renormalised."""
        if not self.multilingual:
            return {"en": 1.0}
        _, _, ranked = self._model.detect_language(audio)
        probs = dict(ranked)
        languages = self.languages or tuple(probs)
        total = sum(probs.get(lang, 0.0) for lang in languages)
        if total <= 0:
            return {lang: 1.0 / len(languages) for lang in languages}
        return {lang: probs.get(lang, 0.0) / total for lang in languages}

    def detect_language(self, audio: np.ndarray) -> str:
        probs = self.language_probabilities(audio)
        return max(probs, key=probs.__getitem__)

    def transcribe(self, audio: np.ndarray, language: str) -> Transcription:
        """Decode 16 kHz float32 audio; `language` is a language code or "auto". Hallucination guards apply."""
        if language == "auto":
            language = self.detect_language(audio)
        settings = self.settings
        segments, _ = self._model.transcribe(
            audio,
            language=language if self.multilingual else None,
            beam_size=settings.beam_size,
            temperature=0.0,  # deterministic, so successive partial hypotheses can agree
            no_speech_threshold=settings.no_speech_threshold,
            log_prob_threshold=settings.log_prob_threshold,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        kept = [segment for segment in segments if not _silence_phrase(segment)]
        tokens = sum(len(segment.tokens) for segment in kept)
        log_prob = sum(segment.avg_logprob * len(segment.tokens) for segment in kept) / tokens if tokens else 0.0
        text = join_words(drop_loops(split_words(" ".join(segment.text.strip() for segment in kept))))
        return Transcription(text=text, language=language, log_prob=log_prob)


def _silence_phrase(segment) -> bool:
    return normalise(segment.text) in SILENCE_PHRASES and segment.no_speech_prob >= SILENCE_PHRASE_MIN_NO_SPEECH


def drop_loops(words: list[str]) -> list[str]:
    """Cut a run of the same 1-8 word phrase repeated more than REPEATS_ALLOWED times down to that many."""
    keys = [normalise(word) for word in words]
    out: list[str] = []
    index = 0
    while index < len(words):
        loop = _loop_at(keys, index)
        if loop is None:
            out.append(words[index])
            index += 1
        else:
            size, repeats = loop
            out += words[index : index + REPEATS_ALLOWED * size]
            index += repeats * size
    return out


def _loop_at(keys: list[str], index: int) -> tuple[int, int] | None:
    for size in range(1, min(8, len(keys) - index) + 1):
        phrase = keys[index : index + size]
        repeats = 1
        while keys[index + repeats * size : index + (repeats + 1) * size] == phrase:
            repeats += 1
        if repeats > REPEATS_ALLOWED:
            return size, repeats
    return None


class StreamingASR:
    """One utterance at a time: re-decode the growing buffer for partials, LocalAgreement-2 commits, a final decode.

    Committed words are never retracted, not even by the final decode, which only adds what follows them.
    """

    def __init__(self, model: WhisperASR) -> None:
        self._model = model
        self._interval = model.settings.partial_interval_ms * SAMPLE_RATE // 1000
        self.reset()

    def reset(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._samples = 0
        self._decoded = 0  # samples in the buffer at the last partial decode
        self._agreement = LocalAgreement()
        self._last: tuple[str, str] | None = None

    @property
    def samples(self) -> int:
        return self._samples

    @property
    def audio(self) -> np.ndarray:
        """The utterance so far (a snapshot: later pushes do not change it)."""
        chunks = list(self._chunks)  # a copy first: the session may push while a worker thread reads
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)

    @property
    def due(self) -> bool:
        """Enough new speech since the last partial decode for another one."""
        return self._samples - self._decoded >= self._interval

    def push(self, audio: np.ndarray) -> None:
        self._chunks.append(audio)
        self._samples += len(audio)

    def poll(self, language: str) -> PartialTranscript | None:
        """Re-decode everything heard; a new PartialTranscript when the captions changed, else None."""
        audio = self.audio
        self._decoded = len(audio)
        words = self._agreement.push(self._tail(split_words(self._model.transcribe(audio, language).text)))
        partial = (join_words(self._agreement.committed), join_words(words))
        if partial == self._last:
            return None
        self._last = partial
        return PartialTranscript(*partial, language=language)

    def finalize(self, language: str, samples: int | None = None) -> Transcription:
        """The final transcript of the first `samples` pushed samples (all by default); then start afresh."""
        audio = self.audio[:samples]
        words = list(self._agreement.committed)
        log_prob = 0.0
        if len(audio) >= SAMPLE_RATE // 10:
            decoded = self._model.transcribe(audio, language)
            words += self._tail(split_words(decoded.text))
            log_prob = decoded.log_prob
        self.reset()
        return Transcription(text=join_words(words), language=language, log_prob=log_prob)

    def _tail(self, words: list[str]) -> list[str]:
        """The words of a hypothesis after the committed ones.

        Usually the hypothesis starts with the committed words; when whisper has changed its mind about them,
        the tail starts after the hypothesis word that best matches the last committed one.
        """
        committed = [normalise(word) for word in self._agreement.committed]
        if not committed:
            return words
        keys = [normalise(word) for word in words]
        if keys[: len(committed)] == committed:
            return words[len(committed) :]
        matches = [i for i, key in enumerate(keys) if key == committed[-1]]
        if matches:
            best = min(matches, key=lambda i: abs(i - (len(committed) - 1)))
            return words[best + 1 :]
        return words[len(committed) :]
