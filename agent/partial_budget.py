"""How often partial captions are decoded: one budget per process, shared by every session's front end.

Partial decodes only show words early; the final decode is what translation waits for. So the partial decodes of
all sessions together run on at most all but one of the ASR's workers at once, leaving one free for a final, and
take on average at most `share` of one worker's time: a session's interval between partials widens with the number
of sessions speaking and with what a partial decode costs now (decodes slow down when the cores are busy), and
narrows back when either falls.
"""

from __future__ import annotations

COST_WEIGHT = 0.3  # weight of the newest partial decode in the running mean of their cost


class PartialBudget:
    """Counts of sessions speaking and partials decoding, and a running mean of a partial decode's seconds."""

    def __init__(self) -> None:
        self.speaking = 0
        self.decoding = 0
        self.cost_s = 0.0

    def enter(self) -> None:
        """A session's utterance started: it will ask for partials."""
        self.speaking += 1

    def leave(self) -> None:
        self.speaking -= 1

    def interval(self, floor_s: float, share: float) -> float:
        """Seconds of new speech between one session's partial decodes: at least `floor_s`, and long enough that
        every speaking session's partials together keep one worker busy for at most `share` of the time."""
        return max(floor_s, self.speaking * self.cost_s / share)

    def try_start(self, workers: int) -> bool:
        """Take a place for a partial decode; False when all but one of the ASR's `workers` decode partials."""
        if self.decoding >= max(1, workers - 1):
            return False
        self.decoding += 1
        return True

    def finished(self, cost_s: float | None) -> None:
        """A partial decode ended; `cost_s` is how long it took (None when it decoded nothing)."""
        self.decoding -= 1
        if cost_s is not None:
            self.cost_s = cost_s if self.cost_s == 0.0 else (1 - COST_WEIGHT) * self.cost_s + COST_WEIGHT * cost_s
