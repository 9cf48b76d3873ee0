"""A phone call: Twilio Media Streams, mu-law in, translated speech back as media paced at real time, with marks."""

from __future__ import annotations

import asyncio
import logging

from websockets.asyncio.server import ServerConnection

from agent.connections import Connection
from agent.host import Host, Refusal
from agent.room import RoomFull
from agent.session import Session, SessionError
from streaming.events import Error, Event, SpeechChunk
from streaming.messages import room_id
from streaming.pacing import Pacer
from streaming.twilio import FRAME_S, MarkPlayed, TwilioCodec, TwilioStart
from streaming.vocabulary import AUTO
from streaming.wire import ProtocolError

log = logging.getLogger(__name__)


class TwilioConnection(Connection):
    """Twilio Media Streams: mu-law in, translated speech back as media paced at real time, with marks."""

    route = "twilio"

    def __init__(self, host: Host, ws: ServerConnection) -> None:
        super().__init__(host, ws)
        self.codec = TwilioCodec()
        # media and marks in the order Twilio should play them; True: a 20 ms media message, sent at real time;
        # (session, utterance id): that utterance's first speech was just sent
        self._playout: asyncio.Queue[tuple[str, bool] | tuple[Session, int]] = asyncio.Queue()
        self._first: tuple[Session, int] | None = None  # the utterance whose first speech `deliver` will queue
        self._playing = asyncio.Event()  # cleared while a room's caller speaks: the other's speech waits
        self._playing.set()
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
        try:
            room = room_id(settings.get("room"))
        except ProtocolError as exc:
            self.refuse(Refusal(exc.code, str(exc), 1008))
            return False
        target = settings.get("target_language")
        if target is None:
            self.refuse(Refusal("invalid_field", "set the target_language <Parameter> of the <Stream>.", 1008))
            return False
        try:
            self.open_session(
                settings.get("source_language", AUTO),
                target,
                settings.get("mode"),
                settings.get("voice", "clone"),
                room,
            )
        except SessionError as exc:
            self.refuse(Refusal("invalid_field", str(exc), 1008))
            return False
        except RoomFull as exc:
            self.refuse(Refusal("room_full", str(exc), 1008))
            return False
        self._player = asyncio.create_task(self._play())
        return True

    async def handle(self, event: object) -> None:
        if isinstance(event, MarkPlayed):
            log.debug("twilio %s: played up to %s", self.session_id, event.name)
        else:
            await super().handle(event)

    def deliver(self, event: Event, party: str | None = None) -> None:
        """Speech is queued for real-time playout, with a mark after each utterance; Twilio reads nothing else."""
        if isinstance(event, SpeechChunk):
            media = self.codec.media(event.pcm, event.sample_rate)
            if event.last:
                media += self.codec.flush_media()
            for message in media:
                self._playout.put_nowait((message, True))
                if self._first is not None:
                    self._playout.put_nowait(self._first)
                    self._first = None
            if event.last:
                self._playout.put_nowait((self.codec.mark(f"utterance-{event.utterance_id}"), False))
        elif isinstance(event, Error) and event.fatal:
            self.silence()

    def first_audio(self, key: tuple[Session, int], chunk: SpeechChunk) -> None:
        """Its first sample leaves when the player gets to it, at real time after the speech ahead of it."""
        self._first = key

    def hold(self, held: bool) -> None:
        if held:
            self._playing.clear()
        else:
            self._playing.set()

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
            item = await self._playout.get()
            if isinstance(item[0], str):
                message, paced = item
                if paced:
                    await self._playing.wait()
                    await pacer.wait(FRAME_S)
                self.send(message)
            else:
                self.audio_left(item)
            self._playout.task_done()

    async def _end(self) -> None:
        if self._player is not None:
            self._player.cancel()
        await super()._end()
