"""The server side of a browser call over WebRTC (aiortc): microphone audio in, translated speech out.

Transport only: signalling (the SDP offer and answer) travels on the caller's WebSocket, and what is said and
played is decided by the caller. Media goes over the WebRTC connection, where Opus and the browser's jitter
buffer and echo cancellation do better than raw PCM over a WebSocket.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
from collections import deque
from collections.abc import AsyncIterator

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from streaming.audio import StreamResampler
from streaming.vocabulary import SESSION_RATE

log = logging.getLogger(__name__)

TRACK_RATE = 48000  # what Opus runs at: resampling here spares the encoder's own resampler
FRAME_SAMPLES = TRACK_RATE // 50  # 20 ms, the packetisation browsers use
_MIC_QUEUE_CHUNKS = 250  # 5 s of 20 ms frames: a consumer further behind than that hears the newest audio
_TIME_BASE = fractions.Fraction(1, TRACK_RATE)


class WebRTCError(ValueError):
    """An offer the server cannot answer, or a connection that failed; the message says which and why."""


class SpeechTrack(MediaStreamTrack):
    """The outgoing audio track: queued speech, or silence when there is none, paced in real time.

    It never stops sending while the call is up, so the browser's jitter buffer stays primed and the first
    translated word is not clipped; aiortc encodes each 20 ms frame with Opus.
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._chunks: deque[np.ndarray] = deque()
        self._queued = 0
        self._resampler: StreamResampler | None = None
        self._start: float | None = None
        self._pts = 0
        self.held = False  # while True, silence goes out and the queued speech waits (a room's other party speaks)

    @property
    def queued_s(self) -> float:
        """Seconds of speech not yet sent: the caller's measure of how far playback lags generation."""
        return self._queued / TRACK_RATE

    def play(self, pcm: np.ndarray, sample_rate: int) -> None:
        """Queue float32 mono speech; successive chunks at one rate are resampled as one stream (no seams)."""
        if self._resampler is not None and self._resampler.from_rate != sample_rate:
            self._append(self._resampler.flush())
            self._resampler = None
        if self._resampler is None:
            self._resampler = StreamResampler(sample_rate, TRACK_RATE)
        self._append(self._resampler.push(pcm))

    def clear(self) -> None:
        """Drop everything queued, including what the resampler holds back (barge-in, cancelled utterance)."""
        self._chunks.clear()
        self._queued = 0
        self._resampler = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._pts += FRAME_SAMPLES
            await asyncio.sleep(self._start + self._pts / TRACK_RATE - loop.time())
        speech = np.zeros(FRAME_SAMPLES, np.float32) if self.held else self._take(FRAME_SAMPLES)
        samples = np.clip(np.round(speech * 32768.0), -32768, 32767).astype(np.int16)
        # Interleaved stereo with both sides equal: aiortc's encoder is stereo, and its upmix of a mono frame
        # would lower the level by 3 dB.
        frame = av.AudioFrame.from_ndarray(np.repeat(samples, 2)[None, :], format="s16", layout="stereo")
        frame.sample_rate = TRACK_RATE
        frame.pts = self._pts
        frame.time_base = _TIME_BASE
        return frame

    def _append(self, pcm: np.ndarray) -> None:
        if len(pcm):
            self._chunks.append(pcm)
            self._queued += len(pcm)

    def _take(self, count: int) -> np.ndarray:
        if self._queued < count and self._resampler is not None:
            # Running dry: the end of an utterance (or a stall), so release the resampler's held-back tail now
            # rather than at the next utterance.
            self._append(self._resampler.flush())
            self._resampler = None
        out = np.zeros(count, dtype=np.float32)
        filled = 0
        while filled < count and self._chunks:
            chunk = self._chunks[0]
            taken = min(count - filled, len(chunk))
            out[filled : filled + taken] = chunk[:taken]
            if taken == len(chunk):
                self._chunks.popleft()
            else:
                self._chunks[0] = chunk[taken:]
            filled += taken
        self._queued -= filled
        return out


def frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
    """A packed or planar s16 or float AudioFrame as float32 mono; aiortc's Opus decoder gives interleaved
    stereo s16, its G.711 decoders mono."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    data = data if frame.format.is_planar else data.reshape(-1, channels).T
    if np.issubdtype(data.dtype, np.integer):
        data = data / float(-np.iinfo(data.dtype).min)
    return np.ascontiguousarray(data.mean(axis=0), dtype=np.float32)


class WebRTCPeer:
    """One browser call: answer its offer, read its microphone, play speech back to it.

    Create it inside the event loop; always `close()` it, also after `answer()` raised.
    """

    def __init__(self, ice_servers: list[dict] | None = None) -> None:
        """ice_servers: STUN/TURN servers as browsers write them ({"urls", "username", "credential"}); none
        (host candidates only) unless given, so localhost and LAN calls never wait on an unreachable STUN server."""
        servers = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in ice_servers or []
        ]
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self._pc.on("connectionstatechange", self._on_state)
        self._speech = SpeechTrack()
        self._mic: asyncio.Queue[np.ndarray | None] = asyncio.Queue(maxsize=_MIC_QUEUE_CHUNKS)
        self._reader: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()
        self._dropped = 0

    async def answer(self, offer_sdp: str) -> str:
        """The answer SDP with all our ICE candidates in it (no trickle ICE: one message each way)."""
        if not offer_sdp.lstrip().startswith("v=0"):
            raise WebRTCError("The offer is not SDP (it must start with 'v=0'); send the browser's offer.sdp.")
        kinds = [line[2:].split(" ", 1)[0] for line in offer_sdp.splitlines() if line.startswith("m=")]
        if kinds.count("audio") != 1 or "video" in kinds:
            raise WebRTCError(
                f"The offer must carry exactly one audio track and no video, it has media {kinds}; "
                "add the microphone track (and only it) before createOffer()."
            )
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:  # aiortc raises assorted types for malformed SDP; all mean a bad offer
            raise WebRTCError(f"The offer was refused: {exc}") from exc
        remote = next((t.receiver.track for t in self._pc.getTransceivers() if t.receiver.track), None)
        if remote is None:
            raise WebRTCError("The offer receives audio but sends none; offer the microphone as sendrecv.")
        self._reader = asyncio.create_task(self._read_mic(remote))
        self._reader.add_done_callback(lambda _: self._deliver(None))  # also when cancelled before it ran
        self._pc.addTrack(self._speech)
        await self._pc.setLocalDescription(await self._pc.createAnswer())  # returns once ICE gathering is done
        return self._pc.localDescription.sdp

    async def audio(self) -> AsyncIterator[np.ndarray]:
        """The microphone as 16 kHz float32 mono chunks (about 20 ms each), until the call ends."""
        while (chunk := await self._mic.get()) is not None:
            yield chunk
        self._mic.put_nowait(None)  # a later call ends at once too

    def play(self, pcm: np.ndarray, sample_rate: int) -> None:
        """Queue float32 mono speech for the browser; it leaves in real time, after what is already queued."""
        self._speech.play(pcm, sample_rate)

    def clear(self) -> None:
        """Drop the speech not yet sent."""
        self._speech.clear()

    def hold(self, held: bool) -> None:
        """Pause (True) or resume the speech: while paused the track sends silence and nothing queued is lost."""
        self._speech.held = held

    @property
    def queued_s(self) -> float:
        """Seconds of speech queued and not yet sent."""
        return self._speech.queued_s

    async def closed(self) -> None:
        """Wait until the connection fails or closes (either side), so the caller can end the session."""
        await self._ended.wait()

    async def close(self) -> None:
        self._speech.stop()
        await self._pc.close()
        self._end()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    def _on_state(self) -> None:
        state = self._pc.connectionState
        log.debug("WebRTC connection %s", state)
        if state in ("failed", "closed"):
            self._end()

    def _end(self) -> None:
        if self._ended.is_set():
            return
        self._ended.set()
        if self._reader is None:
            self._deliver(None)
        else:
            # A receiver that never started, or a failed connection, never ends its track: stop reading.
            self._reader.cancel()

    async def _read_mic(self, track: MediaStreamTrack) -> None:
        """Drain the remote track as fast as it delivers (aiortc's own queue is unbounded) into the bounded one."""
        resampler: StreamResampler | None = None
        try:
            while True:
                frame = await track.recv()
                if resampler is None:
                    resampler = StreamResampler(frame.sample_rate, SESSION_RATE)
                self._deliver(resampler.push(frame_to_mono(frame)))
        except MediaStreamError:
            pass
        finally:
            if resampler is not None:
                self._deliver(resampler.flush())

    def _deliver(self, chunk: np.ndarray | None) -> None:
        if chunk is not None and not len(chunk):
            return
        if self._mic.full():
            self._mic.get_nowait()
            self._dropped += 1
            if self._dropped % _MIC_QUEUE_CHUNKS == 1:
                log.warning(
                    "WebRTC microphone audio is read too slowly: dropped the oldest chunk (%d so far)", self._dropped
                )
        self._mic.put_nowait(chunk)
