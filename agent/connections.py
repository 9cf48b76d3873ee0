"""One client on one socket, for each route: a Session, its wire codec and the limits that bound it.

`Connection` holds what every route shares: the session's lifetime, the client's messages decoded and handed to
the session, a bounded queue of outgoing messages (a client that stops reading is disconnected instead of growing
the server's memory), the session length limit and the orderly end (`drain`). Each route says how a session
starts and how its events reach the client (`deliver`): JSON and PCM on the native API, JSON plus an Opus track
for WebRTC, paced mu-law media for Twilio. What a connection needs of the server comes through `agent.host.Host`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from agent.host import Host, Refusal
from agent.room import OTHER, SELF, Room, RoomFull, Routed, Seat
from agent.session import Session, SessionError
from streaming.events import (
    AudioIn,
    CancelUtterance,
    Error,
    Event,
    InputEnd,
    Metrics,
    SpeechChunk,
    SpeechEnded,
    SpeechStarted,
    UtteranceCancelled,
    VoiceReference,
)
from streaming.messages import JSONCodec, SessionStart
from streaming.native import NativeCodec
from streaming.wire import ProtocolError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


class Connection:
    route = ""

    def __init__(self, host: Host, ws: ServerConnection) -> None:
        self.host = host
        self.ws = ws
        self.session_id = uuid.uuid4().hex
        self._session: Session | None = None  # set once the host opened it, and counted there until the end
        self.room: Room | None = None  # a two-party room the client joined, with its seat in it
        self.seat: Seat | None = None
        self.input_open = True  # client audio still reaches the session
        self._outgoing: asyncio.Queue[str | bytes | _Close] = asyncio.Queue(host.config.send_queue_messages)
        self._sender: asyncio.Task | None = None
        self._closer: asyncio.Task | None = None  # closes the socket of a client that stopped reading
        self._aborted = False
        self._closing = False
        # (session, utterance id) -> the end of its speech on that session's clock, until its first audio left;
        # then how long after that end it left, until its Metrics go out
        self._speech_ended: dict[tuple[Session, int], float] = {}
        self._first_byte_ms: dict[tuple[Session, int], float] = {}

    @property
    def session(self) -> Session | None:
        """The session translating this client's speech; in a room, None until the other participant is in."""
        return self.seat.session if self.seat is not None else self._session

    async def run(self) -> None:
        self._sender = asyncio.create_task(self._send_all())
        try:
            if await self.begin():
                await self._converse()
            self.send(_Close(1000, ""))  # a no-op when a close is already queued
            await asyncio.wait({self._sender})
        except ConnectionClosed:
            pass
        finally:
            self._sender.cancel()
            await self._end()

    async def begin(self) -> bool:
        """Read until the session can start; open `self.session` and tell the client. False: no session."""
        raise NotImplementedError

    def decode(self, message: str | bytes) -> list[object]:
        """The client events in one message; raises ProtocolError for a message that cannot be used."""
        raise NotImplementedError

    def deliver(self, event: Event, party: str | None = None) -> None:
        """Pass one session event on to the client; in a room, `party` says whose speech it is about."""
        raise NotImplementedError

    def fatal(self, problem: ProtocolError) -> bool:
        """Whether a bad client message ends the session."""
        return False

    def error(self, code: str, message: str, fatal: bool) -> list[str | bytes]:
        """The route's way of telling the client about a problem (Twilio has none: it is only logged)."""
        log.warning("%s %s: %s: %s", self.route, self.session_id, code, message)
        return []

    def goodbye(self) -> list[str | bytes]:
        """Sent once every event of the session is out."""
        return []

    async def finish(self) -> None:
        """Wait until the client has everything (Twilio plays audio out at real time)."""

    def silence(self) -> None:
        """Drop translated speech that is queued for playback."""

    async def messages(self) -> AsyncIterator[object]:
        """The client's events; a bad message is reported and skipped, or ends the session when `fatal`."""
        async for message in self.ws:
            try:
                events = self.decode(message)
            except ProtocolError as exc:
                if self.fatal(exc):
                    self.fail(exc.code, str(exc))
                    return
                self.report(exc.code, str(exc))
                continue
            for event in events:
                yield event

    async def receive(self) -> None:
        """Pass client messages to the session until the socket closes."""
        async for event in self.messages():
            await self.handle(event)

    async def handle(self, event: object) -> None:
        if self.session is None:  # a room whose other participant is not in yet: nobody would hear it
            if isinstance(event, InputEnd):
                self.end_input()
            return
        match event:
            case AudioIn(pcm=pcm) if self.input_open:
                await self.session.feed(pcm)
            case InputEnd():
                self.end_input()
            case CancelUtterance(utterance_id=uid):
                self.session.cancel(uid)
            case VoiceReference(audio=audio, sample_rate=rate, transcript=transcript):
                try:
                    await self.session.use_reference(audio, rate, transcript)
                except SessionError as exc:  # a clip too short or too long: the session goes on as it was
                    self.report("invalid_audio", str(exc))

    def refuse(self, refusal: Refusal) -> None:
        self.host.metrics.refused(refusal.code)
        self.send(*self.error(refusal.code, refusal.message, fatal=True), _Close(refusal.close_code, refusal.code))

    def open_session(self, source: str, target: str, mode: str | None, voice: str, room: str | None = None) -> None:
        """Open the session, or take a seat in `room`. Raises SessionError for options the models cannot serve and
        RoomFull for a room that has its two participants."""
        options = {"source_language": source, "target_language": target, "policy": mode, "voice": voice}
        if room is None:
            self._session = self.host.open_session(self, **options)
        else:
            self.room, self.seat = self.host.join_room(self, room, **options)

    def send(self, *messages: str | bytes | _Close) -> None:
        """Queue messages; a client that lets the queue fill up is not reading and is let go."""
        for message in messages:
            if self._aborted or self._closing:
                return
            self._closing = isinstance(message, _Close)  # nothing after a close goes out
            try:
                self._outgoing.put_nowait(message)
            except asyncio.QueueFull:
                self._abort()

    def report(self, code: str, message: str, fatal: bool = False) -> None:
        self.host.metrics.error(code)
        self.send(*self.error(code, message, fatal))

    def fail(self, code: str, message: str) -> None:
        """A problem the session cannot go on with: the client is told, then the socket closes (1008)."""
        self.report(code, message, fatal=True)
        self.send(_Close(1008, code))

    def drain(self, code: str, message: str) -> None:
        """End the session in order: no more input, the current utterance is finished and spoken."""
        if self.input_open:
            self.report(code, message)
            self.end_input()

    def end_input(self) -> None:
        if not self.input_open:
            return
        self.input_open = False
        if self.session is not None:
            self.session.end_input()
        else:  # alone in a room: nothing more to wait for
            self._vacate()

    async def _converse(self) -> None:
        loop = asyncio.get_running_loop()
        limit = self.host.config.max_session_s
        timer = loop.call_later(
            limit, self.drain, "session_too_long", f"the session reached the server's limit of {limit:.0f} s."
        )
        pump = asyncio.create_task(self._pump())
        receiver = asyncio.create_task(self.receive())
        try:
            await asyncio.wait({pump, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if receiver.done():  # the client went away: nobody is left to hear the rest
                await self._leave()
                pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
        finally:
            timer.cancel()
            receiver.cancel()
            pump.cancel()
            results = await asyncio.gather(pump, receiver, return_exceptions=True)
            for name, result in zip(("sending events", "receiving"), results, strict=True):
                if isinstance(result, Exception) and not isinstance(result, ConnectionClosed):
                    log.error("%s %s: %s failed", self.route, self.session_id, name, exc_info=result)

    def audio_left(self, key: tuple[Session, int], delay_s: float = 0.0) -> None:
        """The first translated audio of an utterance (its session and id) leaves for the client now, or `delay_s`
        from now where the route knows how much audio is ahead of it: the last hop of its latency, `first_byte_ms`."""
        ended = self._speech_ended.pop(key, None)
        if ended is None:
            return
        seconds = key[0].now() + delay_s - ended
        self._first_byte_ms[key] = seconds * 1000
        self.host.metrics.first_byte(seconds)

    def first_audio(self, key: tuple[Session, int], chunk: SpeechChunk) -> None:
        """The first speech of an utterance is about to be delivered; by default it goes out at once, with the
        messages `deliver` queues (a client too slow to take them is let go: see `send`)."""
        self.audio_left(key)

    def hold(self, held: bool) -> None:
        """In a room: the client speaks (True) or stopped; a route that plays the other's speech pauses it."""

    @property
    def stock_voice(self) -> str | None:
        """The stock voice the client's speech is spoken in, for session.started (unknown in a room until both are
        in: voice.updated tells)."""
        return None if self.session is None else self.session.stock_voice

    async def events(self) -> AsyncIterator[Routed]:
        """The events for this client: its session's, or in a room those the room routes to its seat."""
        if self.seat is not None:
            async for routed in self.seat.events():
                yield routed
        elif self._session is not None:
            async for event in self._session.events():
                yield Routed(event, self._session)

    async def _pump(self) -> None:
        async for routed in self.events():
            event, party = routed.event, routed.party
            key = (routed.session, getattr(event, "utterance_id", 0))
            match event:
                case SpeechStarted() | SpeechEnded() if party == SELF:  # in a room; its speech goes to the other
                    self.hold(isinstance(event, SpeechStarted))
                case SpeechEnded(at=at):
                    self._speech_ended[key] = at
                case Metrics() if key in self._first_byte_ms:
                    event.figures["first_byte_ms"] = self._first_byte_ms.pop(key)
                case UtteranceCancelled():
                    self.silence()  # what the route queued for playout of it goes too (barge-in)
                case Error():
                    log.warning("%s %s: %s: %s", self.route, self.session_id, event.code, event.message)
                case SpeechChunk(pcm=pcm) if len(pcm) and key in self._speech_ended:
                    self.first_audio(key, event)
            if party != OTHER:  # the other's figures are counted by their own connection
                self.host.metrics.observe(event)
            self.deliver(event, party)
        self.hold(False)
        await self.finish()
        self.send(*self.goodbye(), _Close(1000, ""))

    async def _leave(self) -> None:
        """Stop this client's session; in a room, the room is over for the other participant too."""
        self._vacate()
        if self.session is not None:
            await self.session.close()

    def _vacate(self) -> None:
        """Give up the seat in the room, once."""
        if self.room is not None and self.seat is not None:
            self.host.leave_room(self, self.room, self.seat)
            self.room = None

    async def _send_all(self) -> None:
        try:
            while True:
                message = await self._outgoing.get()
                if isinstance(message, _Close):
                    await self.ws.close(message.code, message.reason)
                    return
                await self.ws.send(message)
        except ConnectionClosed:
            return

    def _abort(self) -> None:
        """The client stopped reading: hang up, so its backlog cannot grow the server's memory.

        The socket is closed with code 1008 and reason `slow_consumer`; no error message is queued, since the
        client is not reading them.
        """
        self._aborted = True
        self.input_open = False
        self.host.metrics.error("slow_consumer")
        log.warning("%s %s: the client is not reading; closing the session", self.route, self.session_id)
        self.silence()
        if self._sender is not None:
            self._sender.cancel()
        self._closer = asyncio.get_running_loop().create_task(self.ws.close(1008, "slow_consumer"))
        if self.session is not None:
            asyncio.get_running_loop().create_task(self.session.close())

    async def _end(self) -> None:
        opened = self._session is not None
        await self._leave()
        if self._closer is not None:
            await asyncio.gather(self._closer, return_exceptions=True)
        if opened:
            self.host.close_session(self)


class JSONConnection(Connection):
    """The native API and WebRTC signalling: the JSON messages of streaming.messages, checked for size."""

    codec: JSONCodec

    def decode(self, message: str | bytes) -> list[object]:
        limit = self.host.config.max_message_bytes
        if len(message) > limit:
            raise ProtocolError(
                "message_too_large",
                f"a message of {len(message)} bytes is over the limit of {limit}; "
                "send audio in frames of 20-100 ms and voice references under 10 s.",
            )
        return self.codec.decode(message)

    def fatal(self, problem: ProtocolError) -> bool:
        """A session.start the server cannot use: there is no session to go on with."""
        return self.codec.start is None and problem.code in ("invalid_field", "unsupported_audio")

    def error(self, code: str, message: str, fatal: bool) -> list[str | bytes]:
        super().error(code, message, fatal)
        return [self.codec.error(code, message, fatal)]

    def goodbye(self) -> list[str | bytes]:
        return [self.codec.ended()]

    def deliver(self, event: Event, party: str | None = None) -> None:
        self.send(*self.codec.encode(event, party))

    async def start_session(self) -> SessionStart | None:
        """The first valid session.start, with the session opened; None when the client never sent one."""
        refusal = self.host.refusal(self.ws.request)
        if refusal is not None:
            self.refuse(refusal)
            return None
        async for event in self.messages():
            if not isinstance(event, SessionStart):
                continue
            try:
                self.open_session(event.source_language, event.target_language, event.mode, event.voice, event.room)
            except SessionError as exc:
                self.fail("invalid_field", str(exc))
                return None
            except RoomFull as exc:
                self.fail("room_full", str(exc))
                return None
            return event
        return None


class NativeConnection(JSONConnection):
    route = "stream"

    def __init__(self, host: Host, ws: ServerConnection) -> None:
        super().__init__(host, ws)
        self.codec = NativeCodec()

    async def begin(self) -> bool:
        if await self.start_session() is None:
            return False
        self.send(self.codec.started(self.session_id, self.stock_voice))
        return True
