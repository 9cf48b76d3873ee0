"""Silero voice activity detection: one ONNX model per process, one `VADStream` of state per session."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal

import numpy as np

SAMPLE_RATE = 16000
WINDOW = 512  # silero's window at 16 kHz: 32 ms
CONTEXT = 64  # samples of the previous window silero expects in front of each window


@dataclass(frozen=True)
class VADSettings:
    threshold: float = 0.5
    end_threshold: float = 0.35
    min_silence_ms: int = 400
    min_speech_ms: int = 160
    speech_pad_ms: int = 100


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
        self._session = onnxruntime.InferenceSession(
            str(path), providers=["CPUExecutionProvider"], sess_options=opts
        )

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
    """Turns 16 kHz audio of any frame size into speech start/end events with hysteresis."""

    def __init__(self, model: SileroVAD, settings: VADSettings) -> None:
        self._model = model
        self._settings = settings
        self._min_silence = settings.min_silence_ms * SAMPLE_RATE // 1000
        self._min_speech = settings.min_speech_ms * SAMPLE_RATE // 1000
        self._pad = settings.speech_pad_ms * SAMPLE_RATE // 1000
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._pending = np.zeros(CONTEXT, dtype=np.float32)  # context + not yet windowed samples
        self._position = 0  # samples of input consumed into windows
        self._speaking = False
        self._voiced_from = 0  # start of the current run of voiced windows (before it is confirmed)
        self._silence_from: int | None = None

    @property
    def speaking(self) -> bool:
        return self._speaking

    def push(self, audio: np.ndarray) -> list[VADEvent]:
        self._pending = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])
        events: list[VADEvent] = []
        while len(self._pending) >= CONTEXT + WINDOW:
            window = self._pending[: CONTEXT + WINDOW]
            self._pending = self._pending[WINDOW:]
            prob, self._state = self._model.probability(window, self._state)
            start = self._position
            self._position += WINDOW
            event = self._decide(prob, start)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[VADEvent]:
        """End an utterance still open when the input ends."""
        if not self._speaking:
            return []
        self._speaking = False
        return [VADEvent("end", self._position)]

    def _decide(self, prob: float, window_start: int) -> VADEvent | None:
        """Start after `min_speech_ms` of consecutive voice; end after `min_silence_ms` below `end_threshold`."""
        s = self._settings
        if not self._speaking:
            if prob < s.threshold:
                self._voiced_from = self._position
                return None
            if self._position - self._voiced_from < self._min_speech:
                return None
            self._speaking = True
            self._silence_from = None
            return VADEvent("start", max(0, self._voiced_from - self._pad))
        if prob >= s.end_threshold:
            self._silence_from = None
            return None
        if self._silence_from is None:
            self._silence_from = window_start
        if self._position - self._silence_from < self._min_silence:
            return None
        self._speaking = False
        self._voiced_from = self._position
        return VADEvent("end", min(self._silence_from + self._pad, self._position))
