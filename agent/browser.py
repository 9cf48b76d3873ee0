"""A browser call: WebRTC signalling and events on the socket, the microphone and the translated speech in one peer
connection (streaming/webrtc.py)."""

from __future__ import annotations

import asyncio

from websockets.asyncio.server import ServerConnection

from agent.connections import JSONConnection
from agent.host import Host
from agent.session import Session
from streaming.events import Event, SpeechChunk
from streaming.signalling import SignallingCodec
from streaming.webrtc import WebRTCError, WebRTCPeer


class WebRTCConnection(JSONConnection):
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
        self.send(self.codec.answer(answer), self.codec.started(self.session_id, self.stock_voice))
        return True

    async def receive(self) -> None:
        microphone = asyncio.create_task(self._hear())
        try:
            await super().receive()
        finally:
            microphone.cancel()

    async def _hear(self) -> None:
        async for pcm in self.peer.audio():
            if not self.input_open:
                break
            if self.session is not None:  # in a room, nobody hears it until the other participant is in
                await self.session.feed(pcm)
        self.end_input()  # the browser hung up the call: finish what it said

    def deliver(self, event: Event, party: str | None = None) -> None:
        """Speech goes to the peer connection's track; the socket gets the JSON that frames it."""
        if isinstance(event, SpeechChunk) and len(event.pcm):
            self.peer.play(event.pcm, event.sample_rate)
        super().deliver(event, party)

    def first_audio(self, key: tuple[Session, int], chunk: SpeechChunk) -> None:
        """The track sends in real time, so the chunk's first sample leaves once the speech ahead of it has."""
        self.audio_left(key, self.peer.queued_s)

    def hold(self, held: bool) -> None:
        self.peer.hold(held)

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
