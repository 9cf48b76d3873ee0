"""Silero voice activity detection: one ONNX model per process, one `VADStream` of state per session."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal

import numpy as np

SAMPLE_RATE = 16000
WINDOW = 512  # silero's window at 16 kHz: 32 ms
CONTEXT = 64  # samples of the previous window silero expects in front of each window
# How long an over-long utterance waits for a `split_silence_ms` pause before it is cut at its quietest window,
# so no piece is ever longer than `max_utterance_ms` + 3 s.
SPLIT_SEARCH_MS = 3000


@dataclass(frozen=True)
class VADSettings:
    """Endpointing, measured in bench/results/vad_cpu.json.

    `min_silence_ms` is pure added latency: 400 is the shortest that ends no utterance at a sentence pause inside
    one reading of the shared speech (up to 384 ms), and it needs 416 ms (13 windows) of silence. Past
    `max_utterance_ms` an utterance ends at the next `split_silence_ms` pause, so a monologue is still transcribed
    and translated piece by piece: 15 s is longer than nearly every spoken sentence, and every piece (at most 18 s)
    stays inside one 30 s whisper window. 160 ms finds the pauses between sentences of running speech and not the
    gaps between words (at most 96 ms on the shared speech).
    """

    threshold: float = 0.5
    end_threshold: float = 0.35
    min_silence_ms: int = 400
    min_speech_ms: int = 160
    speech_pad_ms: int = 100
    max_utterance_ms: int = 15000
    split_silence_ms: int = 160


@dataclass(frozen=True)
class VADEvent:
    kind: Literal["start", "end"]
    sample: int  # position in the session's 16 kHz input


class SileroVAD:
    """The shared network; `InferenceSession.run` is thread-safe, so sessions only keep their own state."""

    def __init__(self) -> None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        path = resources.files("silero_vad.data").joinpath("silero_vad.onnx")
        self._session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"], sess_options=opts)

    def probability(self, window: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        """Speech probability of one 512-sample window (with 64 samples of context in front)."""
        out, new_state = self._session.run(
            None,
            {"input": window[None, :], "state": state, "sr": np.array(SAMPLE_RATE, dtype=np.int64)},
        )
        return float(out[0, 0]), new_state

    def stream(self, settings: VADSettings) -> VADStream:
        return VADStream(self, settings)


class VADStream:
    """Turns 16 kHz audio of any frame size into speech start/end events with hysteresis.

    An utterance split for length ends at some sample and the next piece starts at that same sample, so the pieces
    join without losing or repeating audio.
    """

    def __init__(self, model: SileroVAD, settings: VADSettings) -> None:
        self._model = model
        self._settings = settings
        self._min_silence = _samples(settings.min_silence_ms)
        self._min_speech = _samples(settings.min_speech_ms)
        self._pad = _samples(settings.speech_pad_ms)
        self._max_utterance = _samples(settings.max_utterance_ms)
        self._split_silence = _samples(settings.split_silence_ms)
        self._hard_limit = self._max_utterance + _samples(SPLIT_SEARCH_MS)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._pending = np.zeros(CONTEXT, dtype=np.float32)  # context + not yet windowed samples
        self._position = 0  # samples of input consumed into windows
        self._speaking = False
        self._voiced_from = 0  # start of the current run of voiced windows (before it is confirmed)
        self._silence_from: int | None = None
        self._utterance_from = 0  # start sample of the open utterance
        self._quietest: tuple[float, int] | None = None  # (probability, window start) in the second half
        self._resume_at: int | None = None  # a split in a pause: where the next piece starts if the voice goes on

    @property
    def speaking(self) -> bool:
        """Whether an utterance is open (not in the pause right after a split)."""
        return self._speaking

    @property
    def paused(self) -> bool:
        """Whether an open utterance's voice has stopped for now: its end comes if the pause lasts `min_silence_ms`."""
        return self._speaking and self._silence_from is not None

    def push(self, audio: np.ndarray) -> list[VADEvent]:
        self._pending = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])
        events: list[VADEvent] = []
        while len(self._pending) >= CONTEXT + WINDOW:
            window = self._pending[: CONTEXT + WINDOW]
            self._pending = self._pending[WINDOW:]
            prob, self._state = self._model.probability(window, self._state)
            start = self._position
            self._position += WINDOW
            events += self._decide(prob, start)
        return events

    def flush(self) -> list[VADEvent]:
        """End an utterance still open when the input ends."""
        self._resume_at = None
        if not self._speaking:
            return []
        self._speaking = False
        return [VADEvent("end", self._position)]

    def _decide(self, prob: float, window_start: int) -> list[VADEvent]:
        """Start after `min_speech_ms` of consecutive voice; end after `min_silence_ms` below `end_threshold`, or
        split an utterance longer than `max_utterance_ms` at a shorter pause, and failing that at its quietest window.
        """
        s = self._settings
        if self._resume_at is not None:
            return self._after_split(prob)
        if not self._speaking:
            if prob < s.threshold:
                self._voiced_from = self._position
                return []
            if self._position - self._voiced_from < self._min_speech:
                return []
            return [self._open(max(0, self._voiced_from - self._pad))]
        if prob >= s.end_threshold:
            self._silence_from = None
        elif self._silence_from is None:
            self._silence_from = window_start
        length = self._position - self._utterance_from
        if self._silence_from is not None:
            silent = self._position - self._silence_from
            end = min(self._silence_from + self._pad, self._position)
            if silent >= self._min_silence:
                self._speaking = False
                self._voiced_from = self._position
                return [VADEvent("end", end)]
            if length >= self._max_utterance and (silent >= self._split_silence or length >= self._hard_limit):
                # Too long: end in this pause as a real end would; the next piece starts there if the voice goes on.
                self._speaking = False
                self._resume_at = end
                return [VADEvent("end", end)]
        if length < self._max_utterance // 2:
            return []
        if self._quietest is None or prob < self._quietest[0]:
            self._quietest = (prob, window_start)
        if length < self._hard_limit:
            return []
        # No pause came: cut in the least speech-like window of the second half, where a pause that ended just
        # before the limit is found too; no piece gets shorter than half the limit.
        cut = self._quietest[1] + WINDOW // 2
        self._open(cut)
        return [VADEvent("end", cut), VADEvent("start", cut)]

    def _after_split(self, prob: float) -> list[VADEvent]:
        """The pause after a split either turns into a real end (nothing more to say) or the next piece starts."""
        if prob >= self._settings.end_threshold:
            resume, self._resume_at = self._resume_at, None
            return [self._open(resume)]
        if self._position - self._silence_from >= self._min_silence:
            self._resume_at = None
            self._voiced_from = self._position
        return []

    def _open(self, sample: int) -> VADEvent:
        self._speaking = True
        self._silence_from = None
        self._utterance_from = sample
        self._quietest = None
        return VADEvent("start", sample)


def _samples(ms: int) -> int:
    return ms * SAMPLE_RATE // 1000
