"""Silero's decisions on the held speech, recorded once and replayed in every simulated session
(bench/simulation.py): the same endpoints as the real VAD, at no cost."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from model.vad import VADEvent


@dataclass(frozen=True)
class Utterance:
    start: int  # the VAD start event's sample: where the front end's ASR audio begins
    end: int
    text: str


class ReplayVAD:
    """Silero's decisions on the held speech, recorded once (`record`) and replayed per session at no cost: its
    events, and whether it was in a pause of an open utterance (`paused`), by input samples pushed."""

    def __init__(self, events: list[tuple[int, VADEvent]], pauses: list[tuple[int, bool]]) -> None:
        self.events, self.pauses = events, pauses

    @classmethod
    def record(cls, vad, settings, audio: np.ndarray, frame: int) -> ReplayVAD:  # noqa: ANN001 - SileroVAD, settings
        stream, events, pauses = vad.stream(settings), [], []
        for start in range(0, len(audio), frame):
            events += [(start + frame, event) for event in stream.push(audio[start : start + frame])]
            pauses.append((start + frame, bool(getattr(stream, "paused", False))))
        events += [(len(audio), event) for event in stream.flush()]
        return cls(events, pauses)

    def utterances(self, texts: list[str]) -> list[Utterance]:
        starts = [e.sample for _, e in self.events if e.kind == "start"]
        ends = [e.sample for _, e in self.events if e.kind == "end"]
        pairs = enumerate(zip(starts, ends, strict=False))  # an utterance still open at the end has no end event
        return [Utterance(s, e, texts[min(i, len(texts) - 1)]) for i, (s, e) in pairs]

    def stream(self, settings) -> _ReplayStream:  # noqa: ANN001 - VADSettings, ignored: the recording has them
        return _ReplayStream(self)


class _ReplayStream:
    def __init__(self, replay: ReplayVAD) -> None:
        self._replay, self._next, self._pushed = replay, 0, 0
        self._marks = [pushed for pushed, _ in replay.pauses]

    @property
    def paused(self) -> bool:
        index = bisect.bisect_right(self._marks, self._pushed) - 1
        return index >= 0 and self._replay.pauses[index][1]

    def push(self, audio: np.ndarray) -> list[VADEvent]:
        self._pushed += len(audio)
        return self._take(self._pushed)

    def flush(self) -> list[VADEvent]:
        return self._take(math.inf)

    def reset(self) -> None:
        pass

    def _take(self, until: float) -> list[VADEvent]:
        events, out = self._replay.events, []
        while self._next < len(events) and events[self._next][0] <= until:
            out.append(events[self._next][1])
            self._next += 1
        return out
