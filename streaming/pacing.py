"""Real-time pacing of outgoing audio. Sending faster than real time fills the receiver's buffer, and
audio in a remote buffer can no longer be taken back (a Twilio `clear` drops it, but only after the
listener heard some); a small lead keeps playback from starving on network jitter."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class Pacer:
    """Schedules pieces of audio so the audio already sent never reaches more than `lead_s` past now."""

    def __init__(
        self, clock: Clock, lead_s: float = 0.1, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    ) -> None:
        self._clock = clock
        self._lead_s = lead_s
        self._sleep = sleep
        self._origin: float | None = None  # clock time at which the schedule's audio began playing
        self._sent_s = 0.0  # seconds of audio sent since the origin

    async def wait(self, duration_s: float) -> None:
        """Return when the next piece (lasting `duration_s`) may be sent."""
        now = self._clock.now()
        if self._origin is None or now > self._origin + self._sent_s:
            # The receiver ran out (a pause between utterances): start a new schedule rather than burst to catch up.
            self._origin, self._sent_s = now, 0.0
        delay = self._origin + self._sent_s - self._lead_s - now
        if delay > 0:
            await self._sleep(delay)
        self._sent_s += duration_s
