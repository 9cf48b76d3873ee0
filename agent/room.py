"""Two-party calls: two participants in one room, each one's speech translated for the other.

Each participant states the language they speak and the one they want to hear. Once both are in, the room opens
one Session per participant: its speech, into the language the other hears, in its own captured voice. Every event
of a session goes to its speaker, tagged `self`, and to the other, tagged `other`, except the translated speech,
which only the other hears. When either leaves (or their input ends and the last of it is spoken), the room is
over for both: the one left gets `PartyLeft` and their session ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from agent.session import Session
from streaming.events import Error, Event, PartyJoined, PartyLeft, SpeechChunk

SELF, OTHER = "self", "other"


class RoomFull(Exception):
    """A third participant: the room holds two."""


@dataclass(frozen=True)
class Routed:
    """An event for one participant: which session it came from and whose it is (`self`/`other`; None outside rooms)."""

    event: Event
    session: Session
    party: str | None = None


@dataclass(eq=False)
class Seat:
    """One participant: what they speak and hear, how their speech is translated, and what reaches them."""

    speaks: str
    hears: str
    policy: str | None
    voice: str
    inbox: asyncio.Queue[Routed | None] = field(default_factory=asyncio.Queue)
    session: Session | None = None

    async def events(self) -> AsyncIterator[Routed]:
        """What reaches this participant, until the room is over."""
        while (routed := await self.inbox.get()) is not None:
            yield routed


class Room:
    def __init__(self, room_id: str, open_session: Callable[[Seat, Seat], Session]) -> None:
        """`open_session(seat, other)` opens the session translating `seat`'s speech for `other` (SessionError when
        the models cannot serve it)."""
        self.id = room_id
        self.seats: list[Seat] = []
        self._open_session = open_session
        self._pumps: list[asyncio.Task] = []
        self._over = False

    @property
    def empty(self) -> bool:
        return not self.seats

    def join(self, seat: Seat) -> None:
        """Take a seat; with the second one in, both sessions start. Raises RoomFull, or SessionError with the
        room left as it was."""
        if len(self.seats) == 2 or self._over:
            busy = "already has two participants" if len(self.seats) == 2 else "has a call that is just ending"
            raise RoomFull(f"room '{self.id}' {busy}; pick another room id.")
        if self.seats:
            (other,) = self.seats
            seat.session = self._open_session(seat, other)
            try:
                other.session = self._open_session(other, seat)
            except BaseException:
                asyncio.get_running_loop().create_task(seat.session.close())
                seat.session = None
                raise
        self.seats.append(seat)
        if len(self.seats) == 2:
            for one, other in (self.seats, reversed(self.seats)):
                one.inbox.put_nowait(Routed(PartyJoined(other.speaks, other.hears), one.session))
                self._pumps.append(asyncio.create_task(self._pump(one, other)))

    def leave(self, seat: Seat) -> None:
        """The participant is gone: the room is over, and the other is told."""
        if seat not in self.seats:
            return
        self.seats.remove(seat)
        self._end(gone=seat)

    def _end(self, gone: Seat) -> None:
        if self._over:
            return
        self._over = True
        for pump in self._pumps:
            pump.cancel()
        for seat in self.seats:
            if seat is not gone and gone.session is not None:
                seat.inbox.put_nowait(Routed(PartyLeft(), gone.session))
            seat.inbox.put_nowait(None)
        if gone not in self.seats:
            gone.inbox.put_nowait(None)

    async def _pump(self, seat: Seat, other: Seat) -> None:
        """One session's events to both participants; its end (the speaker's input ended) ends the room."""
        assert seat.session is not None
        async for event in seat.session.events():
            if not isinstance(event, SpeechChunk):
                seat.inbox.put_nowait(Routed(event, seat.session, SELF))
            if not isinstance(event, Error):  # a problem with my speech is mine to hear of
                other.inbox.put_nowait(Routed(event, seat.session, OTHER))
        self._pumps.remove(asyncio.current_task())
        self._end(gone=seat)


class Rooms:
    """The server's rooms by id; a room is forgotten once its last participant left."""

    def __init__(self, open_session: Callable[[Seat, Seat], Session]) -> None:
        self._open_session = open_session
        self._rooms: dict[str, Room] = {}

    def join(self, room_id: str, seat: Seat) -> Room:
        room = self._rooms.get(room_id) or Room(room_id, self._open_session)
        room.join(seat)
        self._rooms[room_id] = room
        return room

    def leave(self, room: Room, seat: Seat) -> None:
        room.leave(seat)
        if room.empty and self._rooms.get(room.id) is room:
            del self._rooms[room.id]
