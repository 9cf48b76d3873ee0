import asyncio
import contextlib
import logging

import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from streaming.audio import read_audio, resample
from streaming.webrtc import FRAME_SAMPLES, TRACK_RATE, SpeechTrack, WebRTCError, WebRTCPeer, frame_to_mono
from tests.helpers import LONG_EN


def tone(seconds: float, rate: int, hz: float = 440.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def dominant_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * rate / len(audio))


def envelope(audio: np.ndarray, rate: int) -> np.ndarray:
    """RMS per 20 ms: robust to Opus, which keeps the loudness contour but not the waveform."""
    size = rate // 50
    blocks = audio[: len(audio) // size * size].reshape(-1, size)
    return np.sqrt((blocks**2).mean(axis=1))


@contextlib.asynccontextmanager
async def call(mic: MediaStreamTrack):
    """A browser stand-in (an aiortc peer) calling a WebRTCPeer over localhost, no STUN."""
    client = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    server = WebRTCPeer([])
    incoming: list[MediaStreamTrack] = []
    client.on("track", incoming.append)
    client.addTrack(mic)
    try:
        await client.setLocalDescription(await client.createOffer())
        answer = await server.answer(client.localDescription.sdp)
        await client.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        async with asyncio.timeout(5):
            while client.connectionState != "connected":
                await asyncio.sleep(0.01)
        assert [t.kind for t in incoming] == ["audio"]
        yield client, server, incoming[0]
    finally:
        await client.close()
        await server.close()


async def read_seconds(chunks, seconds: float, rate: int) -> np.ndarray:
    parts, total = [], 0
    async with asyncio.timeout(seconds + 5):
        async for chunk in chunks:
            parts.append(chunk)
            total += len(chunk)
            if total >= seconds * rate:
                break
    return np.concatenate(parts)


@pytest.mark.speech
@pytest.mark.slow
async def test_microphone_arrives_as_16k_float_mono_speech():
    speech, rate = read_audio(LONG_EN)
    clip = speech[: 2 * rate]
    mic = SpeechTrack()
    mic.play(clip, rate)
    async with call(mic) as (_, server, _):
        heard = await read_seconds(server.audio(), 2.4, 16000)
    assert heard.dtype == np.float32 and heard.ndim == 1
    sent, got = envelope(clip, 16000), envelope(heard, 16000)
    lag = int(np.argmax(np.correlate(got, sent, mode="valid")))  # the connection's start-up delay, in 20 ms
    aligned = got[lag : lag + len(sent)]
    assert np.corrcoef(aligned, sent)[0, 1] > 0.95
    assert 0.8 < aligned.sum() / sent.sum() < 1.25  # level kept (a mono upmix would cost 3 dB: 0.71)


@pytest.mark.slow
async def test_played_speech_reaches_the_client_and_silence_otherwise():
    async with call(SpeechTrack()) as (_, server, speaker):
        before: list[np.ndarray] = []
        after: list[np.ndarray] = []
        frames = before

        async def listen():
            while True:
                frames.append(frame_to_mono(await speaker.recv()))

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.5)
        frames = after
        server.play(tone(1.0, 24000), 24000)
        assert 0.9 < server.queued_s <= 1.0  # the stream resampler holds back a few ms
        await asyncio.sleep(1.6)
        listener.cancel()
        assert server.queued_s == 0
    assert len(before) > 10 and np.abs(np.concatenate(before)).max() < 1e-3
    heard = np.concatenate(after)
    loud = envelope(heard, TRACK_RATE) > 0.1
    assert 45 <= loud.sum() <= 52  # one second of 20 ms frames, give or take the Opus edges
    assert abs(dominant_hz(heard, TRACK_RATE) - 440) < 5
    assert np.abs(heard[-FRAME_SAMPLES * 5 :]).max() < 1e-3  # silent again once the queue ran dry


async def test_speech_track_sends_paced_20ms_frames_then_silence():
    track = SpeechTrack()
    sent = tone(0.1, 24000)
    track.play(sent, 24000)
    loop = asyncio.get_running_loop()
    start = loop.time()
    frames = [await track.recv() for _ in range(10)]
    assert loop.time() - start >= 0.17  # nine 20 ms waits: real time, not as fast as the encoder asks
    first = frames[0]
    assert (first.format.name, first.layout.name, first.sample_rate, first.samples) == ("s16", "stereo", 48000, 960)
    assert [f.pts for f in frames] == [i * FRAME_SAMPLES for i in range(10)]
    out = np.concatenate([frame_to_mono(f) for f in frames])
    expected = resample(sent, 24000, TRACK_RATE)
    assert np.abs(out[: len(expected)] - expected).max() < 2e-3  # all of it, the held-back tail included
    assert np.abs(out[len(expected) + 10 :]).max() < 1e-3
    assert track.queued_s == 0


async def test_clear_drops_queued_speech():
    track = SpeechTrack()
    track.play(tone(2.0, 16000), 16000)
    assert track.queued_s > 1.9
    track.clear()
    assert track.queued_s == 0
    assert not np.any(frame_to_mono(await track.recv()))
    track.play(tone(0.5, 48000), 48000)  # a new utterance plays normally after a clear
    assert track.queued_s == 0.5
    assert np.abs(frame_to_mono(await track.recv())).max() > 0.25


async def test_hanging_up_ends_audio_and_closed():
    async with call(SpeechTrack()) as (client, server, _):
        await client.close()
        async with asyncio.timeout(5):
            await server.closed()
            async for _ in server.audio():
                pass


async def test_closing_before_any_offer_ends_everything():
    server = WebRTCPeer()
    await server.close()
    assert [chunk async for chunk in server.audio()] == []
    await server.closed()


async def offer_with(*kinds: str, direction: str = "sendrecv") -> str:
    client = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    for kind in kinds:
        if kind == "data":
            client.createDataChannel("chat")
        else:
            client.addTransceiver(kind, direction=direction)
    await client.setLocalDescription(await client.createOffer())
    await client.close()
    return client.localDescription.sdp


@pytest.mark.parametrize(
    "kinds, direction, message",
    [
        pytest.param((), None, "not SDP", id="garbage"),
        pytest.param(("data",), "sendrecv", "exactly one audio track", id="data-only"),
        pytest.param(("audio", "video"), "sendrecv", "no video", id="video"),
        pytest.param(("audio", "audio"), "sendrecv", "exactly one audio track", id="two-audio"),
        pytest.param(("audio",), "recvonly", "sends none", id="listen-only"),
    ],
)
async def test_offers_without_one_microphone_are_refused(kinds, direction, message):
    offer = "this is not an offer" if direction is None else await offer_with(*kinds, direction=direction)
    server = WebRTCPeer()
    with pytest.raises(WebRTCError, match=message):
        await server.answer(offer)
    await server.close()


def test_frame_to_mono_handles_interleaved_and_planar_stereo():
    packed = av.AudioFrame.from_ndarray(np.array([[16384, 0, -32768, -16384]], np.int16), "s16", "stereo")
    assert np.allclose(frame_to_mono(packed), [0.25, -0.75])
    planar = av.AudioFrame.from_ndarray(np.array([[0.5, -0.5], [0.1, 0.1]], np.float32), "fltp", "stereo")
    assert np.allclose(frame_to_mono(planar), [0.3, -0.2])


async def test_a_slow_reader_loses_the_oldest_audio_not_memory(caplog):
    server = WebRTCPeer()
    with caplog.at_level(logging.WARNING, logger="streaming.webrtc"):
        for i in range(300):
            server._deliver(np.full(320, i, np.float32))
    await server.close()
    kept = [int(chunk[0]) async for chunk in server.audio()]
    assert kept == list(range(300 - len(kept), 300)) and len(kept) < 250  # bounded, newest kept, in order
    assert "dropped the oldest chunk" in caplog.text
