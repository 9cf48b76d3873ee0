"""Speech recognition with faster-whisper (CTranslate2): one model per process, shared by every session's
`StreamingASR` (`model/streaming_asr.py`).

Whisper's encoder takes any length: faster-whisper pads every input to a 30 s window, but the encoder's cost grows
faster than the window (tiny.en int8, one thread: 9 ms for 2 s, 45 ms for 7 s, 131 ms for 15 s, 497 ms for 30 s),
so a short utterance is encoded with `WINDOW_PAD_S` of padding only. With no padding whisper loops on the end of
the audio; with 0.5 to 4 s the five held English clips decode word for word as with the full window.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.loading import load
from model.words import is_han, join_words, normalise, split_words

SAMPLE_RATE = 16000
WINDOW_S = 30  # whisper's window: longer audio goes through faster-whisper's own windowing
WINDOW_PAD_S = 1.0
FRAMES_PER_S = 100  # mel frames
MAX_TOKENS_PER_S = 20  # no speech comes near; a decoding loop is cut here instead of running to 448 tokens
LOOP_TOKENS = 4  # a run of up to this many tokens said this many times in a row is a loop ("-est-est-est-est")


@dataclass(frozen=True)
class ASRSettings:
    """Decoding settings. A segment whisper itself thinks is silence (`no_speech_threshold`) and decoded with low
    confidence (`log_prob_threshold`) is dropped, as is a known silence phrase ("Thank you.") that whisper is
    not sure is speech. `compute_type` is a CTranslate2 type, or `auto`: float16 on a GPU, int8 on the CPU.

    `num_workers` decodes run in parallel (CTranslate2 workers of `cpu_threads` threads each; two calls to one worker
    queue), so an utterance's final decode never queues behind a partial. Partial captions come at least
    `partial_interval_ms` of new speech apart, further when partial decodes of every session together would keep
    more than `partial_share` of one worker busy. `full_window` encodes whisper's whole 30 s window, as faster-whisper
    does, instead of the audio and `WINDOW_PAD_S`: the short window is measured on tiny.en only.
    """

    beam_size: int = 1
    compute_type: str = "auto"
    cpu_threads: int = 1
    num_workers: int = 2
    partial_interval_ms: int = 500
    partial_share: float = 0.5
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    full_window: bool = False


@dataclass(frozen=True)
class TimedWord:
    """A word of a transcription and where whisper's cross-attention places it, in seconds from the audio's start."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Transcription:
    """`log_prob` is whisper's mean log-probability per token of the decode that gave the text (a streaming final:
    per word, over the decodes that gave its words; 0.0 when nothing was decoded): low when the words are a guess,
    as over two overlapping voices. `words` are the text's words with their times, when they were asked for."""

    text: str
    language: str
    log_prob: float = 0.0
    words: tuple[TimedWord, ...] = ()


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
REPEATS_ALLOWED = 2  # a short phrase said this many times in a row is speech; more is a decoding loop
LONG_PHRASE = 4  # a phrase of this many words said twice in a row is a loop (whisper repeats its window)
LONG_PHRASE_MAX = 12


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
            lambda p: WhisperModel(
                str(p),
                device=device,
                compute_type=compute_type,
                cpu_threads=settings.cpu_threads,
                num_workers=settings.num_workers,
            ),
        )
        self._tokenizers: dict[str, tuple] = {}

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

    def transcribe(self, audio: np.ndarray, language: str, *, timed: bool = False) -> Transcription:
        """Decode 16 kHz float32 audio; `language` is a language code or "auto"; `timed` places each word in time.
        Hallucination guards apply."""
        if language == "auto":
            language = self.detect_language(audio)
        segments = self._segments(audio, language, timed)
        kept = [segment for segment in segments if not _silence_phrase(segment)]
        tokens = sum(len(segment.tokens) for segment in kept)
        log_prob = sum(segment.avg_logprob * len(segment.tokens) for segment in kept) / tokens if tokens else 0.0
        if not timed:
            text = join_words(drop_loops(split_words(" ".join(segment.text.strip() for segment in kept))))
            return Transcription(text=text, language=language, log_prob=log_prob)
        words = [word for segment in kept for word in _timed_words(segment.words)]
        words = [words[i] for i in kept_indices([normalise(word.text) for word in words])]
        return Transcription(join_words([word.text for word in words]), language, log_prob, tuple(words))

    def _segments(self, audio: np.ndarray, language: str, timed: bool) -> list[_Segment]:
        """Audio shorter than a window is decoded by `_short`; longer, or when the short window made whisper
        loop, by faster-whisper in its 30 s windows."""
        if len(audio) < (WINDOW_S - WINDOW_PAD_S) * SAMPLE_RATE:
            segments = self._short(audio, language, timed)
            if segments is not None:
                return segments
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
            word_timestamps=timed,
        )
        return [
            _Segment(
                s.text, s.tokens, s.avg_logprob, s.no_speech_prob, [(w.word, w.start, w.end) for w in s.words or ()]
            )
            for s in segments
        ]

    def _short(self, audio: np.ndarray, language: str, timed: bool) -> list[_Segment] | None:
        """One decode of the audio and `WINDOW_PAD_S` of padding (padding to 30 s with `full_window`), checked as
        faster-whisper checks a segment; None when it looped (more tokens than speech has, or a short run of tokens
        over and over)."""
        whisper, settings = self._model, self.settings
        features = whisper.feature_extractor(audio)
        frames = features.shape[-1] - 1
        size = WINDOW_S * FRAMES_PER_S if settings.full_window else frames + round(WINDOW_PAD_S * FRAMES_PER_S)
        window = np.zeros((features.shape[0], size), dtype=features.dtype)
        window[:, :frames] = features[:, :frames]
        encoded = whisper.encode(window)
        tokenizer, suppressed = self._tokenizer(language)
        start = whisper.get_prompt(tokenizer, [], without_timestamps=True)
        limit = len(start) + round(MAX_TOKENS_PER_S * len(audio) / SAMPLE_RATE) + 10
        (result,) = whisper.model.generate(
            encoded,
            [start],
            beam_size=settings.beam_size,
            max_length=min(limit, whisper.max_length),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=suppressed,
        )
        tokens = [token for token in result.sequences_ids[0] if token < tokenizer.eot]
        text = tokenizer.decode(tokens)
        if len(start) + len(tokens) >= limit or _looped(tokens):
            return None
        # CTranslate2 scores a hypothesis by its summed log-probability over its length; faster-whisper's
        # average counts the end token too.
        log_prob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        if result.no_speech_prob > settings.no_speech_threshold and log_prob <= settings.log_prob_threshold:
            return []
        pieces = whisper.find_alignment(tokenizer, [tokens], encoded, frames)[0] if timed and tokens else []
        words = [(piece["word"], piece["start"], piece["end"]) for piece in pieces]
        return [_Segment(text, tokens, log_prob, result.no_speech_prob, words)]

    def _tokenizer(self, language: str) -> tuple:
        """The tokenizer of `language` and the tokens it may never produce, made once per language."""
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        if language not in self._tokenizers:
            whisper = self._model
            tokenizer = Tokenizer(whisper.hf_tokenizer, self.multilingual, task="transcribe", language=language)
            self._tokenizers[language] = (tokenizer, get_suppressed_tokens(tokenizer, [-1]))
        return self._tokenizers[language]


@dataclass(frozen=True)
class _Segment:
    """What the hallucination guards read of a decoded window; `words` are its aligned pieces when timed."""

    text: str
    tokens: list[int]
    avg_logprob: float
    no_speech_prob: float
    words: list[tuple[str, float, float]]  # (text, start s, end s)


def _timed_words(pieces: list[tuple[str, float, float]]) -> list[TimedWord]:
    """`split_words` words with times, from whisper's aligned pieces (words, or tokens of one).

    A piece that starts without a space continues the word before it (a suffix, a full stop), unless a Han
    character meets it, which is a word of its own; a piece of several words shares its span among them by length.
    """
    glued: list[list] = []  # [text, start, end]
    for text, start, end in pieces:
        if not text.strip():
            continue
        if glued and not text[0].isspace() and not (is_han(text[0]) or is_han(glued[-1][0][-1])):
            glued[-1][0] += text
            glued[-1][2] = float(end)
        else:
            glued.append([text.strip(), float(start), float(end)])
    words = []
    for text, start, end in glued:
        parts = split_words(text)
        total = sum(len(part) for part in parts)
        at = start
        for part in parts:
            span = (end - start) * len(part) / total
            words.append(TimedWord(part, at, at + span))
            at += span
    return words


def _looped(tokens: list[int]) -> bool:
    """Whether a run of 1 to LOOP_TOKENS tokens repeats LOOP_TOKENS times in a row: the short window's way to loop
    on the end of its audio (the full window decodes the same audio without it)."""
    for size in range(1, LOOP_TOKENS + 1):
        span = size * LOOP_TOKENS
        for index in range(len(tokens) - span + 1):
            run = tokens[index : index + size]
            if all(tokens[index + k * size : index + (k + 1) * size] == run for k in range(1, LOOP_TOKENS)):
                return True
    return False


def _silence_phrase(segment) -> bool:
    return normalise(segment.text) in SILENCE_PHRASES and segment.no_speech_prob >= SILENCE_PHRASE_MIN_NO_SPEECH


def drop_loops(words: list[str]) -> list[str]:
    """Cut a decoding loop down to what speech says: a run of the same 1-3 word phrase to REPEATS_ALLOWED repeats,
    of a 4-12 word phrase to one, and a loop's unfinished last repeat dropped with it."""
    return [words[i] for i in kept_indices([normalise(word) for word in words])]


def kept_indices(keys: list[str]) -> list[int]:
    """The positions `drop_loops` keeps of words compared as `keys`."""
    out: list[int] = []
    index = 0
    while index < len(keys):
        loop = _loop_at(keys, index)
        if loop is None:
            out.append(index)
            index += 1
            continue
        size, repeats, allowed = loop
        out += range(index, index + allowed * size)
        index += repeats * size
        tail = 0
        while index + tail < len(keys) and tail < size and keys[index + tail] == keys[index - size + tail]:
            tail += 1
        index += tail
    return out


def _loop_at(keys: list[str], index: int) -> tuple[int, int, int] | None:
    """(phrase size, repeats, repeats kept) of a loop starting at `index`."""
    for size in range(1, min(LONG_PHRASE_MAX, len(keys) - index) + 1):
        phrase = keys[index : index + size]
        repeats = 1
        while keys[index + repeats * size : index + (repeats + 1) * size] == phrase:
            repeats += 1
        allowed = REPEATS_ALLOWED if size < LONG_PHRASE else 1
        if repeats > allowed:
            return size, repeats, allowed
    return None
