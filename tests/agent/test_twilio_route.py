"""/v1/twilio end to end: a test client speaks the Media Streams protocol to the real server (tiny profile)."""

import asyncio
import base64
import json
import time

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from agent.config import ServerConfig
from agent.server import Server
from streaming.audio import mulaw_encode, read_audio, resample
from tests.helpers import SPEECH

pytestmark = pytest.mark.slow

CLIPS = [
    SPEECH / "en" / name
    for name in ("sense_and_sensibility_01_austen_64kb-0880.wav", "sense_and_sensibility_01_austen_64kb-0930.wav")
]
SID = "MZ18ad3ab5a668481ce02b83e7395059f0"


def _call_audio() -> np.ndarray:
    """Two sentences with a second of silence after each, as a caller would say them, at 8 kHz."""
    pieces = []
    for clip in CLIPS:
        audio, rate = read_audio(clip)
        pieces += [resample(audio, rate, 8000), np.zeros(8000, dtype=np.float32)]
    return np.concatenate(pieces)


def _start(parameters: dict) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "start": {
                "accountSid": "AC123",
                "streamSid": SID,
                "callSid": "CA123",
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": parameters,
            },
            "streamSid": SID,
        }
    )


def _media(payload: bytes, sequence: int) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(sequence),
            "media": {
                "track": "inbound",
                "chunk": str(sequence),
                "timestamp": str(20 * sequence),
                "payload": base64.b64encode(payload).decode(),
            },
            "streamSid": SID,
        }
    )


@pytest.fixture
async def server(tiny_higgs_models):
    server = Server(tiny_higgs_models, ServerConfig(port=0, shutdown_grace_s=5.0), token="tw1l10")
    await server.start("127.0.0.1", 0)
    yield server
    await server.shutdown()


@pytest.mark.speech
async def test_a_call_gets_its_translation_back_as_paced_media_with_a_mark_after_each_utterance(server):
    url = f"ws://127.0.0.1:{server.port}/v1/twilio"
    mulaw = mulaw_encode(_call_audio())
    arrivals: list[tuple[float, dict]] = []
    async with connect(url) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(_start({"target_language": "de", "source_language": "en", "token": "tw1l10"}))
        for sequence, start in enumerate(range(0, len(mulaw), 160), start=2):  # 20 ms media messages
            await ws.send(_media(mulaw[start : start + 160], sequence))
        async with asyncio.timeout(120):
            while sum(m["event"] == "mark" for _, m in arrivals) < len(CLIPS):
                message = json.loads(await ws.recv())
                arrivals.append((time.monotonic(), message))
                if message["event"] == "mark":  # Twilio echoes a mark once the audio before it has played
                    await ws.send(json.dumps({"event": "mark", "streamSid": SID, "mark": message["mark"]}))
        await ws.send(json.dumps({"event": "stop", "streamSid": SID, "stop": {"callSid": "CA123"}}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
        assert closed.value.rcvd.code == 1000

    messages = [m for _, m in arrivals]
    assert {m["event"] for m in messages} <= {"media", "mark"}
    assert all(m["streamSid"] == SID for m in messages)
    marks = [i for i, m in enumerate(messages) if m["event"] == "mark"]
    assert [messages[i]["mark"]["name"] for i in marks] == ["utterance-1", "utterance-2"]
    runs = [messages[: marks[0]], messages[marks[0] + 1 : marks[1]]]
    for index, run in zip(marks, runs, strict=True):
        assert run and all(m["event"] == "media" for m in run)
        assert all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in run)
        times = [t for t, m in arrivals[index - len(run) : index]]
        # paced at real time: n frames of 20 ms leave over at least (n - 1) * 20 ms, less the pacer's lead
        assert times[-1] - times[0] >= 0.02 * (len(run) - 1) - 0.15
    async with asyncio.timeout(10):  # the session is gone once its handler has cleaned up
        while server.connections:
            await asyncio.sleep(0.05)


async def test_a_call_without_a_target_language_or_token_is_refused(server):
    url = f"ws://127.0.0.1:{server.port}/v1/twilio"
    for parameters, reason in (({"token": "tw1l10"}, "invalid_field"), ({"target_language": "de"}, "unauthorized")):
        async with connect(url) as ws:
            await ws.send(_start(parameters))
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1008 and closed.value.rcvd.reason == reason
