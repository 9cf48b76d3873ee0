"""One client on one socket, for each route: a Session, its wire codec and the limits that bound it.

`Connection` holds what every route shares: the session's lifetime, a bounded queue of outgoing messages (a
client that stops reading is disconnected instead of growing the server's memory), the session length limit and
the orderly end (`drain`). Each route says how a session starts, how client messages reach it, and how its events
leave: JSON and PCM on the native API, JSON plus an Opus track for WebRTC, paced mu-law media for Twilio.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from agent.session import Session, SessionError
from streaming.events import AudioIn, Error, Event, SpeechChunk
from streaming.native import InputEnd, NativeCodec, ProtocolError, SessionStart, VoiceReference
from streaming.pacing import Pacer
from streaming.twilio import MarkPlayed, TwilioCodec, TwilioStart
from streaming.webrtc import WebRTCError, WebRTCPeer

if TYPE_CHECKING:
    from agent.server import Server

log = logging.getLogger(__name__)

FRAME_S = 0.02  # one Twilio media message


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    close_code: int


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


class Connection:
    route = ""

    def __init__(self, server: Server, ws: ServerConnection) -> None:
        self.server = server
        self.ws = ws
        self.session_id = uuid.uuid4().hex
        self.session: Session | None = None
        self.task: asyncio.Task | None = None
        self.input_open = True  # client audio still reaches the session
        self._outgoing: asyncio.Queue[str | bytes | _Close] = asyncio.Queue(server.config.send_queue_messages)
        self._sender: asyncio.Task | None = None
        self._closer: asyncio.Task | None = None  # closes the socket of a client that stopped reading
        self._aborted = False
        self._closing = False
        self._counted = False

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
        """Read until the session can start; create `self.session` and tell the client. False: no session."""
        raise NotImplementedError

    async def receive(self) -> None:
        """Pass client messages to the session until the socket closes."""
        raise NotImplementedError

    def encode(self, event: Event) -> list[str | bytes]:
        raise NotImplementedError

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

    def refuse(self, refusal: Refusal) -> None:
        self.server.metrics.rejected.labels(refusal.code).inc()
        for message in self.error(refusal.code, refusal.message, fatal=True):
            self.send(message)
        self.send(_Close(refusal.close_code, refusal.code))

    def open_session(self, source: str, target: str, mode: str | None, voice: str) -> Session:
        """Raises SessionError for options the models cannot serve; counts the session once it exists."""
        session = Session(
            self.server.models,
            source_language=source,
            target_language=target,
            clock=self.server.clock,
            policy=mode,
            voice=voice,
        )
        self.session = session
        self.server.connections.add(self)
        self.server.metrics.opened(self.route)
        self._counted = True
        session.start()
        return session

    def send(self, message: str | bytes | _Close) -> None:
        """Queue a message; a client that lets the queue fill up is not reading and is let go."""
        if self._aborted or self._closing:
            return
        self._closing = isinstance(message, _Close)  # nothing after a close goes out
        try:
            self._outgoing.put_nowait(message)
        except asyncio.QueueFull:
            self._abort()

    def report(self, code: str, message: str, fatal: bool = False) -> None:
        self.server.metrics.error(code)
        for wire in self.error(code, message, fatal):
            self.send(wire)

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
        limit = self.server.config.max_session_s
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
            self.server.metrics.observe(event)
            if isinstance(event, Error):
                log.warning("%s %s: %s: %s", self.route, self.session_id, event.code, event.message)
            for message in self.encode(event):
                self.send(message)
        await self.finish()
        for message in self.goodbye():
            self.send(message)
        self.send(_Close(1000, ""))

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
        self.server.metrics.error("slow_consumer")
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
        if self._counted:
            self.server.connections.discard(self)
            self.server.metrics.closed(self.route)


class _JSONConnection(Connection):
    """The native API and WebRTC signalling: JSON messages in the native codec, checked for size."""

    codec: NativeCodec

    def error(self, code: str, message: str, fatal: bool) -> list[str | bytes]:
        super().error(code, message, fatal)
        return [self.codec.error(code, message, fatal)]

    def goodbye(self) -> list[str | bytes]:
        return [self.codec.ended()]

    async def messages(self):
        """Client messages decoded; a bad one is answered with an error and skipped."""
        async for message in self.ws:
            if len(message) > self.server.config.max_message_bytes:
                self.report(
                    "message_too_large",
                    f"a message of {len(message)} bytes is over the limit of {self.server.config.max_message_bytes}; "
                    "send audio in frames of 20-100 ms and voice references under 10 s.",
                )
                continue
            try:
                events = self.codec.decode(message)
            except ProtocolError as exc:
                fatal = self.codec.start is None and exc.code in ("invalid_field", "unsupported_audio")
                self.report(exc.code, str(exc), fatal)
                if fatal:
                    self.send(_Close(1008, exc.code))
                    return
                continue
            for event in events:
                yield event

    async def start_session(self) -> SessionStart | None:
        """The first valid session.start, with the session opened; None when the client never sent one."""
        refusal = self.server.refusal(self.ws.request)
        if refusal is not None:
            self.refuse(refusal)
            return None
        async for event in self.messages():
            if not isinstance(event, SessionStart):
                continue
            try:
                self.open_session(event.source_language, event.target_language, event.mode, event.voice)
            except SessionError as exc:
                self.report("invalid_field", str(exc), fatal=True)
                self.send(_Close(1008, "invalid_field"))
                return None
            return event
        return None

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


class NativeConnection(_JSONConnection):
    route = "stream"

    def __init__(self, server: Server, ws: ServerConnection) -> None:
        super().__init__(server, ws)
        self.codec = NativeCodec()

    async def begin(self) -> bool:
        if await self.start_session() is None:
            return False
        self.send(self.codec.started(self.session_id))
        return True

    async def receive(self) -> None:
        async for event in self.messages():
            await self.handle(event)

    def encode(self, event: Event) -> list[str | bytes]:
        return self.codec.encode(event)


class WebRTCConnection(_JSONConnection):
    """Signalling and events on the socket; the microphone and the translated speech in one peer connection."""

    route = "webrtc"

    def __init__(self, server: Server, ws: ServerConnection) -> None:
        super().__init__(server, ws)
        self.codec = NativeCodec(webrtc=True)
        self.peer = WebRTCPeer(server.config.ice_servers)

    async def begin(self) -> bool:
        start = await self.start_session()
        if start is None:
            return False
        try:
            answer = await self.peer.answer(start.sdp or "")
        except WebRTCError as exc:
            self.report("invalid_field", str(exc), fatal=True)
            self.send(_Close(1008, "invalid_field"))
            return False
        self.send(self.codec.answer(answer))
        self.send(self.codec.started(self.session_id))
        return True

    async def receive(self) -> None:
        microphone = asyncio.create_task(self._hear())
        try:
            async for event in self.messages():
                await self.handle(event)
        finally:
            microphone.cancel()

    async def _hear(self) -> None:
        assert self.session is not None
        async for pcm in self.peer.audio():
            if not self.input_open:
                break
            await self.session.feed(pcm)
        self.end_input()  # the browser hung up the call: finish what it said

    def encode(self, event: Event) -> list[str | bytes]:
        if isinstance(event, SpeechChunk) and len(event.pcm):
            self.peer.play(event.pcm, event.sample_rate)
        return [message for message in self.codec.encode(event) if isinstance(message, str)]

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

    def __init__(self, server: Server, ws: ServerConnection) -> None:
        super().__init__(server, ws)
        self.codec = TwilioCodec()
        # media and marks in the order Twilio should play them; True: a 20 ms media message, sent at real time
        self._playout: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        self._player: asyncio.Task | None = None

    async def messages(self):
        """Twilio's messages decoded; a bad one is logged and skipped (Twilio reads no errors)."""
        async for message in self.ws:
            try:
                events = self.codec.decode(message)
            except ProtocolError as exc:
                self.report(exc.code, str(exc))
                continue
            for event in events:
                yield event

    async def begin(self) -> bool:
        async for event in self.messages():
            if isinstance(event, TwilioStart):
                return self._start(event)
        return False

    def _start(self, start: TwilioStart) -> bool:
        # Twilio cannot send headers on a media stream, so the token may come as a custom parameter.
        refusal = self.server.refusal(self.ws.request, token=start.parameters.get("token"))
        if refusal is not None:
            self.refuse(refusal)
            return False
        target = start.parameters.get("target_language")
        if target is None:
            self.refuse(Refusal("invalid_field", "set the target_language <Parameter> of the <Stream>.", 1008))
            return False
        try:
            settings = start.parameters
            self.open_session(
                settings.get("source_language", "auto"), target, settings.get("mode"), settings.get("voice", "clone")
            )
        except SessionError as exc:
            self.refuse(Refusal("invalid_field", str(exc), 1008))
            return False
        self._player = asyncio.create_task(self._play())
        return True

    async def receive(self) -> None:
        assert self.session is not None
        async for event in self.messages():
            match event:
                case AudioIn(pcm=pcm) if self.input_open:
                    await self.session.feed(pcm)
                case MarkPlayed(name=name):
                    log.debug("twilio %s: played up to %s", self.session_id, name)
                case InputEnd():
                    self.end_input()

    def encode(self, event: Event) -> list[str | bytes]:
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
        return []

    async def finish(self) -> None:
        await self._playout.join()

    def silence(self) -> None:
        """Drop the speech not yet sent, and tell Twilio to drop what it holds."""
        while not self._playout.empty():
            self._playout.get_nowait()
            self._playout.task_done()
        self.send(self.codec.clear())

    async def _play(self) -> None:
        pacer = Pacer(self.server.clock)
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
