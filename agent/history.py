"""The session's recent input: its samples, and when each push of them arrived.

The front end keeps it so that an utterance the VAD opens can reach back to its pre-roll, so the ASR and the voice
capture get the utterance's samples, and so a speech boundary can be stamped with when its sample reached the
server (latency is measured from there, not from when the VAD noticed).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from operator import itemgetter

import numpy as np

ARRIVALS = 4096  # pushes remembered; at 20 ms a push, over a minute, far longer than any utterance


class InputHistory:
    """Input samples [`start`, `end`) in the pieces they were pushed in, joined only when they are forgotten, so
    taking the newest samples never rejoins the whole input."""

    def __init__(self, arrivals: int = ARRIVALS) -> None:
        self.start = 0  # the first sample still kept
        self.end = 0  # samples pushed so far
        self._pieces: list[np.ndarray] = []
        self._arrivals: deque[tuple[int, float]] = deque(maxlen=arrivals)  # (end sample of a push, its arrival)

    def push(self, pcm: np.ndarray, at: float) -> None:
        """Input that arrived at clock reading `at`."""
        self.end += len(pcm)
        self._pieces.append(pcm)
        self._arrivals.append((self.end, at))

    def slice(self, start: int, end: int) -> np.ndarray:
        """Samples [start, end), as far as they are still kept."""
        pieces, piece_end = [], self.end
        for piece in reversed(self._pieces):
            piece_start = piece_end - len(piece)
            if piece_start < end:
                pieces.append(piece[max(0, start - piece_start) : end - piece_start])
            if piece_start <= start:
                break
            piece_end = piece_start
        return np.concatenate(pieces[::-1]) if pieces else np.zeros(0, dtype=np.float32)

    def forget_before(self, sample: int) -> None:
        """Drop the samples before `sample` (their arrivals stay: a start event may still ask for one)."""
        sample = min(max(sample, self.start), self.end)
        kept = self.slice(sample, self.end)
        self._pieces = [kept] if len(kept) else []
        self.start = sample

    def arrival(self, sample: int) -> float:
        """When input sample `sample` arrived: the arrival of the push that held it, or of the oldest push still
        remembered for an older sample, or of the last push for a sample not heard yet. Needs one push first."""
        index = bisect_right(self._arrivals, sample, key=itemgetter(0))
        return self._arrivals[min(index, len(self._arrivals) - 1)][1]
