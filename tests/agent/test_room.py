"""The Room's routing with scripted sessions: whose events reach whom, and how a room ends."""

import asyncio

import numpy as np
import pytest

from agent.room import Room, RoomFull, Seat
from agent.session import SessionError
from streaming.events import Error, PartyJoined, PartyLeft, SpeechChunk, Transcript


class ScriptedSession:
    """A session whose events are what the test puts in; None ends them."""

    def __init__(self, seat: Seat, other: Seat) -> None:
        self.source, self.target = seat.speaks, other.hears
        self.queue: asyncio.Queue = asyncio.Queue()
        self.closed = False

    async def events(self):
        while (event := await self.queue.get()) is not None:
            yield event

    async def close(self) -> None:
        self.closed = True


async def _drain(seat: Seat) -> list:
    """Everything routed to the seat until the room is over for it."""
    return [(type(r.event).__name__, r.party, r.session) async for r in seat.events()]


async def test_each_event_goes_to_its_speaker_and_the_other_and_speech_to_the_other_only():
    room = Room("r1", ScriptedSession)
    anna, jun = Seat("de", "de", None, "clone"), Seat("ko", "ko", None, "clone")
    room.join(anna)
    assert anna.session is None  # alone: nothing to translate for
    room.join(jun)
    assert (anna.session.source, anna.session.target) == ("de", "ko")
    assert (jun.session.source, jun.session.target) == ("ko", "de")

    said = Transcript(1, "de", "Guten Tag", True, 1.0)
    anna.session.queue.put_nowait(said)
    anna.session.queue.put_nowait(SpeechChunk(1, np.zeros(240, np.float32), 24000, "안녕하세요", 2.0, last=True))
    anna.session.queue.put_nowait(Error("tts_failed", "scripted", False, 3.0, 1))
    anna.session.queue.put_nowait(None)  # her input ended and all of it is out: the room is over
    to_anna, to_jun = await asyncio.gather(_drain(anna), _drain(jun))

    a, j = anna.session, jun.session
    assert to_anna == [("PartyJoined", None, a), ("Transcript", "self", a), ("Error", "self", a)]
    assert to_jun == [
        ("PartyJoined", None, j),
        ("Transcript", "other", a),
        ("SpeechChunk", "other", a),
        ("PartyLeft", None, a),
    ]


async def test_the_other_hears_of_the_languages_and_a_third_is_refused():
    room = Room("r2", ScriptedSession)
    anna, jun = Seat("en", "de", None, "clone"), Seat("ko", "zh", None, "clone")
    room.join(anna)
    room.join(jun)
    joined = (await anext(anna.events())).event
    assert joined == PartyJoined("ko", "zh")
    with pytest.raises(RoomFull, match="r2"):
        room.join(Seat("en", "en", None, "clone"))
    room.leave(jun)
    left = [r.event async for r in anna.events()]
    assert left == [PartyLeft()]
    assert room.seats == [anna]
    assert [r.event async for r in jun.events()] == [PartyJoined("en", "de")]  # gone: told nothing of his leaving
    with pytest.raises(RoomFull, match="ending"):  # until the last one leaves, the id is not free
        room.join(Seat("en", "en", None, "clone"))


async def test_a_session_the_models_cannot_open_leaves_the_room_as_it_was():
    opened = []

    def open_session(seat, other):
        if other.hears == "fr":
            raise SessionError("no fr")
        session = ScriptedSession(seat, other)
        opened.append(session)
        return session

    room = Room("r3", open_session)
    anna = Seat("en", "de", None, "clone")
    room.join(anna)
    with pytest.raises(SessionError):  # the newcomer's session opens, then anna's (into fr) cannot
        room.join(Seat("de", "fr", None, "clone"))
    await asyncio.sleep(0)  # the half-opened session's close runs
    assert room.seats == [anna] and anna.session is None
    assert len(opened) == 1 and opened[0].closed
