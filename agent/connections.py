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
from agent.session import Session, SessionError
from streaming.events import AudioIn, Error, Event, InputEnd, SpeechChunk, VoiceReference
from streaming.messages import JSONCodec, SessionStart
from streaming.native import NativeCodec
from streaming.pacing import Pacer
from streaming.signalling import SignallingCodec
from streaming.twilio import FRAME_S, MarkPlayed, TwilioCodec, TwilioStart
from streaming.vocabulary import AUTO
from streaming.webrtc import WebRTCError, WebRTCPeer
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
        self.session: Session | None = None  # set once the host opened it, and counted there until the end
        self.input_open = True  # client audio still reaches the session
        self._outgoing: asyncio.Queue[str | bytes | _Close] = asyncio.Queue(host.config.send_queue_messages)
        self._sender: asyncio.Task | None = None
        self._closer: asyncio.Task | None = None  # closes the socket of a client that stopped reading
        self._aborted = False
        self._closing = False

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

    def deliver(self, event: Event) -> None:
        """Pass one session event on to the client."""
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
        assert self.session is not None
        match event:
            case AudioIn(pcm=pcm) if self.input_open:
                await self.session.feed(pcm)
            case InputEnd():
                self.end_input()
            case VoiceReference(audio=audio, sample_rate=rate, transcript=transcript):
                try:
                    await self.session.use_reference(audio, rate, transcript)
                except SessionError as exc:  # a clip too short or too long: the session goes on as it was
                    self.report("invalid_audio", str(exc))

    def refuse(self, refusal: Refusal) -> None:
        self.host.metrics.refused(refusal.code)
        self.send(*self.error(refusal.code, refusal.message, fatal=True), _Close(refusal.close_code, refusal.code))

    def open_session(self, source: str, target: str, mode: str | None, voice: str) -> Session:
        """Raises SessionError for options the models cannot serve."""
        self.session = self.host.open_session(
            self, source_language=source, target_language=target, policy=mode, voice=voice
        )
        return self.session

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
        if self.session is not None and self.input_open:
            self.input_open = False
            self.report(code, message)
            self.session.end_input()

    def end_input(self) -> None:
        if self.input_open and self.session is not None:
            self.input_open = False
            self.session.end_input()

    async def _converse(self) -> None:
        assert self.session is not None
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
                await self.session.close()
                pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
        finally:
            timer.cancel()
            receiver.cancel()
            pump.cancel()
            await asyncio.gather(pump, receiver, return_exceptions=True)

    async def _pump(self) -> None:
        assert self.session is not None
        async for event in self.session.events():
            self.host.metrics.observe(event)
            if isinstance(event, Error):
                log.warning("%s %s: %s: %s", self.route, self.session_id, event.code, event.message)
            self.deliver(event)
        await self.finish()
        self.send(*self.goodbye(), _Close(1000, ""))

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
        if self.session is not None:
            await self.session.close()
        if self._closer is not None:
            await asyncio.gather(self._closer, return_exceptions=True)
        if self.session is not None:
            self.host.close_session(self)


class _JSONConnection(Connection):
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

    def deliver(self, event: Event) -> None:
        self.send(*self.codec.encode(event))

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
                self.open_session(event.source_language, event.target_language, event.mode, event.voice)
            except SessionError as exc:
                self.fail("invalid_field", str(exc))
                return None
            return event
        return None


class NativeConnection(_JSONConnection):
    route = "stream"

    def __init__(self, host: Host, ws: ServerConnection) -> None:
        super().__init__(host, ws)
        self.codec = NativeCodec()

    async def begin(self) -> bool:
        if await self.start_session() is None:
            return False
        self.send(self.codec.started(self.session_id, self.session.stock_voice))
        return True


class WebRTCConnection(_JSONConnection):
    """Signalling and events on the socket; the microphone and the translated speech in one peer connection."""

    route = "webrtc"

    def __init__(self, host: Host, ws: ServerConnection) -> None:
        super().__init__(host, ws)
        self.codec = SignallingCodec()
        self.peer = WebRTCPeer(host.config.ice_servers)

    async def begin(self) -> bool:
        start = await self.start_session()
        if start is None:
            return False
        try:
            answer = await self.peer.answer(start.sdp or "")
        except WebRTCError as exc:
            self.fail("invalid_field", str(exc))
            return False
        self.send(self.codec.answer(answer), self.codec.started(self.session_id, self.session.stock_voice))
        return True

    async def receive(self) -> None:
        microphone = asyncio.create_task(self._hear())
        try:
            await super().receive()
        finally:
            microphone.cancel()

    async def _hear(self) -> None:
        assert self.session is not None
        async for pcm in self.peer.audio():
            if not self.input_open:
                break
            await self.session.feed(pcm)
        self.end_input()  # the browser hung up the call: finish what it said

    def deliver(self, event: Event) -> None:
        """Speech goes to the peer connection's track; the socket gets the JSON that frames it."""
        if isinstance(event, SpeechChunk) and len(event.pcm):
            self.peer.play(event.pcm, event.sample_rate)
        super().deliver(event)

    async def finish(self) -> None:
        """session.ended goes once the last words have left, or the call is gone."""
        closed = asyncio.ensure_future(self.peer.closed())
        try:
            while (queued := self.peer.queued_s) > 0 and not closed.done():
                await asyncio.sleep(min(queued, 0.1))
        finally:
            closed.cancel()

    def silence(self) -> None:
        self.peer.clear()

    async def _end(self) -> None:
        await self.peer.close()
        await super()._end()


class TwilioConnection(Connection):
    """Twilio Media Streams: mu-law in, translated speech back as media paced at real time, with marks."""

    route = "twilio"

    def __init__(self, host: Host, ws: ServerConnection) -> None:
        super().__init__(host, ws)
        self.codec = TwilioCodec()
        # media and marks in the order Twilio should play them; True: a 20 ms media message, sent at real time
        self._playout: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        self._player: asyncio.Task | None = None

    def decode(self, message: str | bytes) -> list[object]:
        return self.codec.decode(message)

    async def begin(self) -> bool:
        async for event in self.messages():
            if isinstance(event, TwilioStart):
                return self._start(event)
        return False

    def _start(self, start: TwilioStart) -> bool:
        # Twilio cannot send headers on a media stream, so the token may come as a custom parameter.
        settings = start.parameters
        refusal = self.host.refusal(self.ws.request, token=settings.get("token"))
        if refusal is not None:
            self.refuse(refusal)
            return False
        target = settings.get("target_language")
        if target is None:
            self.refuse(Refusal("invalid_field", "set the target_language <Parameter> of the <Stream>.", 1008))
            return False
        try:
            self.open_session(
                settings.get("source_language", AUTO), target, settings.get("mode"), settings.get("voice", "clone")
            )
        except SessionError as exc:
            self.refuse(Refusal("invalid_field", str(exc), 1008))
            return False
        self._player = asyncio.create_task(self._play())
        return True

    async def handle(self, event: object) -> None:
        if isinstance(event, MarkPlayed):
            log.debug("twilio %s: played up to %s", self.session_id, event.name)
        else:
            await super().handle(event)

    def deliver(self, event: Event) -> None:
        """Speech is queued for real-time playout, with a mark after each utterance; Twilio reads nothing else."""
        if isinstance(event, SpeechChunk):
            media = self.codec.media(event.pcm, event.sample_rate)
            if event.last:
                media += self.codec.flush_media()
            for message in media:
                self._playout.put_nowait((message, True))
            if event.last:
                self._playout.put_nowait((self.codec.mark(f"utterance-{event.utterance_id}"), False))
        elif isinstance(event, Error) and event.fatal:
            self.silence()

    async def finish(self) -> None:
        await self._playout.join()

    def silence(self) -> None:
        """Drop the speech not yet sent, and tell Twilio to drop what it holds."""
        while not self._playout.empty():
            self._playout.get_nowait()
            self._playout.task_done()
        self.send(self.codec.clear())

    async def _play(self) -> None:
        pacer = Pacer(self.host.clock)
        while True:
            message, paced = await self._playout.get()
            if paced:
                await pacer.wait(FRAME_S)
            self.send(message)
            self._playout.task_done()

    async def _end(self) -> None:
        if self._player is not None:
            self._player.cancel()
        await super()._end()
