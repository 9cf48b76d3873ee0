"""What every stage of a session shares: its clock, its event stream, and how a model call may fail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from agent.clock import Clock
from streaming.events import Error, Event

log = logging.getLogger(__name__)

T = TypeVar("T")


class Outbox:
    """The session's events in the order the stages emit them, each stamped on the session's clock, which starts
    at zero when the outbox is made."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._origin = clock.now()
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()

    def now(self) -> float:
        return self._clock.now() - self._origin

    def emit(self, event: Event) -> None:
        self._events.put_nowait(event)

    def end(self) -> None:
        """No more events: `events` ends after those emitted."""
        self._events.put_nowait(None)

    async def events(self) -> AsyncIterator[Event]:
        while (event := await self._events.get()) is not None:
            yield event

    async def model_call(self, code: str, utterance_id: int, call: Callable[..., T], *args) -> T | None:
        """Run one model call in a worker thread; a failure costs this utterance only: it is reported as an
        `Error` with `code`, and the result is None."""
        try:
            return await asyncio.to_thread(call, *args)
        except Exception as exc:  # noqa: BLE001 - one bad utterance must not end the session
            log.exception("utterance %s: %s", utterance_id, code)
            self.emit(Error(code, f"{code.replace('_', ' ')}: {exc}", False, self.now(), utterance_id))
            return None
