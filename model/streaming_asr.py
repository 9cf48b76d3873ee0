"""One utterance's streaming recognition: partial decodes of its uncommitted audio, LocalAgreement-2 commits, a final
decode, over the process's shared `WhisperASR`."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from model.asr import SAMPLE_RATE, TimedWord, Transcription, WhisperASR
from model.words import LocalAgreement, join_words, normalise, split_words

OVERLAP_WORDS = 2  # committed words kept at the front of a partial's window, to find where its new words start
LEAD_WORDS = 1  # words a hypothesis may hear before them, from a fragment of the word before the cut
CONTEXT_S = 3.0  # committed speech kept in the window: tiny.en hears a window of a word or two badly
CUT_OFF_S = 0.2  # a last word ending this close to the audio's end may be cut off ("am you" for "amiable")
CUT_MARGIN_S = 0.3  # the cut comes this long before its word's aligned start, which runs late by about that much


@dataclass(frozen=True)
class PartialTranscript:
    """`committed` never changes once emitted (it only grows); `tentative` is the rest of the latest hypothesis."""

    committed: str
    tentative: str
    language: str


class StreamingASR:
    """One utterance at a time: partial decodes of its uncommitted audio, LocalAgreement-2 commits, a final decode.

    A decode reads a window from `start` on: the audio of words committed before it is cut off, so a decode costs
    the same late in a long utterance as early. Each partial places its words in time, and once more than
    OVERLAP_WORDS words are committed in the window it moves up to the gap before the last OVERLAP_WORDS of them.
    The committed text is not given to whisper as a prompt: tiny.en then repeats it (the five held clips, streamed:
    22.5 % WER with the prompt, 9.9 % without, 8.5 % decoded whole). Committed words are never retracted, not even
    by the final decode, which only adds what follows them.

    `poll` and `finalize` may run in two threads at once: `finalize` (and `reset`) drop a partial still decoding.
    """

    def __init__(self, model: WhisperASR) -> None:
        self._model = model
        self._lock = threading.Lock()
        self._epoch = 0  # bumped by finalize and reset: a decode begun before them is dropped
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._epoch += 1
            self._chunks: list[np.ndarray] = []
            self._samples = 0
            self._polled = 0  # samples in the buffer when the last partial decode began
            self._agreement = LocalAgreement()
            self._start = 0  # first sample of the decoded window
            self._before = 0  # committed words wholly before the window
            self._last: tuple[str, str] | None = None
            # (words committed, log-prob of the decode that committed them): the final's confidence covers them
            self._confidence: list[tuple[int, float]] = []

    @property
    def samples(self) -> int:
        return self._samples

    @property
    def start(self) -> int:
        """The first sample a decode reads: everything before it is committed words."""
        return self._start

    @property
    def unpolled(self) -> int:
        """Samples pushed since the last partial decode began."""
        return self._samples - self._polled

    @property
    def audio(self) -> np.ndarray:
        """The utterance so far (a snapshot: later pushes do not change it)."""
        chunks = list(self._chunks)  # a copy first: the session may push while a worker thread reads
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)

    def push(self, audio: np.ndarray) -> None:
        self._chunks.append(audio)
        self._samples += len(audio)

    def poll(self, language: str) -> PartialTranscript | None:
        """Decode the window; a new PartialTranscript when the captions changed, else None (also when dropped)."""
        with self._lock:
            epoch, start, before = self._epoch, self._start, self._before
            audio = self.audio[start:]
            self._polled = self._samples
            committed = list(self._agreement.committed)
        decoded = self._model.transcribe(audio, language, timed=True)
        with self._lock:
            if epoch != self._epoch:
                return None
            words = split_words(decoded.text)
            skip, shift = _skip(committed[before:], words)
            timed = len(decoded.words) == len(words)
            cut_off = timed and words[skip:] and decoded.words[-1].end > len(audio) / SAMPLE_RATE - CUT_OFF_S
            held = words[len(words) - 1 :] if cut_off else []  # shown, not offered for agreement
            tentative = self._agreement.push(words[skip : len(words) - len(held)]) + held
            if (newly := len(self._agreement.committed) - len(committed)) > 0:
                self._confidence.append((newly, decoded.log_prob))
            end = skip + len(self._agreement.committed) - len(committed)  # hypothesis words now committed
            if shift is not None and end and timed:
                self._advance(decoded.words, end, shift, start)
            partial = (join_words(self._agreement.committed), join_words(tentative))
            if partial == self._last:
                return None
            self._last = partial
            return PartialTranscript(*partial, language=language)

    def finalize(self, language: str, samples: int | None = None) -> Transcription:
        """The final transcript of the first `samples` pushed samples (all by default); then start afresh."""
        with self._lock:
            self._epoch += 1
            start, before = self._start, self._before
            audio = self.audio[start:samples]
            words = list(self._agreement.committed)
            confidence = list(self._confidence)
        if len(audio) >= SAMPLE_RATE // 10:
            decoded = self._model.transcribe(audio, language)
            hypothesis = split_words(decoded.text)
            tail = hypothesis[_skip(words[before:], hypothesis)[0] :]
            words += tail
            confidence.append((len(tail), decoded.log_prob))
        self.reset()
        return Transcription(text=join_words(words), language=language, log_prob=_per_word(confidence))

    def _advance(self, words: tuple[TimedWord, ...], end: int, shift: int, start: int) -> None:
        """Cut the window at a gap between the timed `words` of a hypothesis whose first `end` words are committed
        (word i being the window's committed word i + `shift`), keeping CONTEXT_S and OVERLAP_WORDS of them."""
        keep_from = words[end - 1].end - CONTEXT_S
        cuts = range(max(1, 1 - shift), end - OVERLAP_WORDS + 1)
        first = max((i for i in cuts if words[i].start <= keep_from), default=None)  # the latest that keeps enough
        if first is None:
            return
        cut = max(words[first].start - CUT_MARGIN_S, 0.0)
        self._start = start + round(cut * SAMPLE_RATE)
        self._before += first + shift


def _per_word(confidence: list[tuple[int, float]]) -> float:
    """The utterance's log-prob: each decode's, weighted by the words it gave the transcript (0.0 with none), so
    a final that decoded only a short tail is judged over every word, as a voice reference candidate must be."""
    words = sum(count for count, _ in confidence)
    return sum(count * log_prob for count, log_prob in confidence) / words if words else 0.0


def _skip(committed: list[str], words: list[str]) -> tuple[int, int | None]:
    """Where the words of a hypothesis after `committed` (the committed words inside its window) begin, and the
    shift from a hypothesis word's index to its committed word's, when the hypothesis holds them in order.

    The window's cut may leave a fragment of the word before it (up to LEAD_WORDS words of it are skipped) or
    clip the first committed word (the rest must then match). When whisper has changed its mind about them, the
    new words start after the hypothesis word that best matches the last committed one, and there is no shift.
    """
    keys = [normalise(word) for word in words]
    wanted = [normalise(word) for word in committed]
    if not wanted:
        return 0, 0
    for clipped in range(min(2, len(wanted))):
        rest = wanted[clipped:]
        for lead in range(LEAD_WORDS + 1):
            if keys[lead : lead + len(rest)] == rest:
                return lead + len(rest), clipped - lead
    matches = [i for i, key in enumerate(keys) if key == wanted[-1]]
    if matches:
        return min(matches, key=lambda i: abs(i - (len(wanted) - 1))) + 1, None
    return len(wanted), None
