"""The real server with the tiny profile, driven over real sockets: the native API, its limits and bad input."""

import asyncio
import json
import urllib.request

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from agent.config import ServerConfig
from agent.server import Server
from clients.python.stream_file import stream_file
from streaming.audio import pcm16_encode, read_audio
from tests.helpers import LONG_EN, SPEECH

pytestmark = pytest.mark.slow

SHORT = SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0880.wav"  # one sentence, about 3 s
CONFIG = ServerConfig(port=0, max_message_bytes=65536, shutdown_grace_s=20.0)
START = {"type": "session.start", "source_language": "en", "target_language": "de"}
FRAME = 320  # samples of 16 kHz audio in 20 ms


@pytest.fixture
async def serve(tiny_higgs_models):
    """Start servers with the given limits; every one is shut down after the test."""
    servers = []

    async def start(**limits) -> Server:
        token = limits.pop("token", None)
        server = Server(tiny_higgs_models, CONFIG.model_copy(update=limits), token=token)
        await server.start("127.0.0.1", 0)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.shutdown()


def _url(server: Server, path: str = "/v1/stream") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


async def _read_until(ws, kind: str, timeout: float = 60.0) -> list[dict]:
    """JSON messages up to and including the first of `kind`."""
    messages = []
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.recv()
            if isinstance(message, bytes):
                continue
            messages.append(json.loads(message))
            if messages[-1]["type"] == kind:
                return messages


async def _speak(ws, audio: np.ndarray) -> None:
    for start in range(0, len(audio), FRAME):
        await ws.send(pcm16_encode(audio[start : start + FRAME]))


def _short() -> np.ndarray:
    audio, rate = read_audio(SHORT)
    assert rate == 16000
    return audio


@pytest.mark.speech
async def test_long_english_over_the_native_api_gives_five_utterances_each_translated_and_spoken(serve):
    server = await serve()
    audio, rate = read_audio(LONG_EN)
    result = await stream_file(_url(server), audio, rate, target="de", source="en", realtime=False)
    types = [m["type"] for m in result.messages]
    assert types[0] == "session.started" and types[-1] == "session.ended"
    assert not result.errors
    assert len(result.transcripts) == 5 and len(result.translations) == 5
    assert all(t["language"] == "en" and t["text"] for t in result.transcripts)
    assert all(t["language"] == "de" for t in result.translations)
    ids = [t["utterance_id"] for t in result.transcripts]
    assert sorted(result.audio) == ids
    assert all(len(result.audio[i]) > 0.2 * result.sample_rate for i in ids)
    assert result.sample_rate == 24000
    assert sorted(result.metrics) == ids
    assert all(m["ttfa_ms"] > 0 for m in result.metrics.values())
    for uid in ids:  # per utterance: started, ended, its final transcript, then its audio between start and end
        mine = [m["type"] for m in result.messages if m.get("utterance_id") == uid]
        assert mine.index("speech.started") < mine.index("speech.ended") < mine.index("audio.start")
        assert mine.index("audio.start") < mine.index("audio.end")


@pytest.mark.speech
async def test_each_bad_input_gets_an_error_and_no_other_session_is_hurt(serve):
    server = await serve(token="s3cret")
    audio = _short()
    bystander = asyncio.create_task(
        stream_file(_url(server), audio, 16000, target="de", source="en", token="s3cret", realtime=True)
    )
    auth = {"additional_headers": {"Authorization": "Bearer s3cret"}}

    async with connect(_url(server), **auth) as ws:  # a session that survives every non-fatal mistake
        await ws.send("hello?")
        assert (await _read_until(ws, "error"))[-1]["code"] == "invalid_json"
        await ws.send(b"\x00\x01")
        error = (await _read_until(ws, "error"))[-1]
        assert error["code"] == "not_started" and error["fatal"] is False
        await ws.send(json.dumps(START))
        await _read_until(ws, "session.started")
        await ws.send(json.dumps({"type": "translate.please"}))
        assert (await _read_until(ws, "error"))[-1]["code"] == "unknown_type"
        await ws.send(b"\x00" * 321)
        assert (await _read_until(ws, "error"))[-1]["code"] == "odd_length"
        await ws.send(b"\x00" * (CONFIG.max_message_bytes + 2))
        error = (await _read_until(ws, "error"))[-1]
        assert error["code"] == "message_too_large" and "65536" in error["message"]
        await _speak(ws, audio)
        await ws.send(json.dumps({"type": "input.end"}))
        messages = await _read_until(ws, "session.ended")
        assert [m["text"] for m in messages if m["type"] == "transcript" and m["final"]]

    for bad, field in (
        ({"input_audio": {"encoding": "opus", "sample_rate": 48000}}, "encoding"),
        ({"input_audio": {"encoding": "pcm_s16le", "sample_rate": 44100}}, "44100"),
    ):
        async with connect(_url(server), **auth) as ws:
            await ws.send(json.dumps(START | bad))
            error = (await _read_until(ws, "error"))[-1]
            assert error["code"] == "unsupported_audio" and error["fatal"] is True and field in error["message"]
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1008

    async with connect(_url(server), additional_headers={"Authorization": "Bearer guess"}) as ws:
        error = (await _read_until(ws, "error"))[-1]
        assert error["code"] == "unauthorized" and "Bearer" in error["message"]
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 1008

    ws = await connect(_url(server) + "?token=s3cret")  # the token may also come in the URL
    await ws.send(json.dumps(START))
    await _read_until(ws, "session.started")
    await _speak(ws, audio[: 16000 * 2])
    ws.transport.abort()  # gone mid-utterance, no close handshake
    async with asyncio.timeout(30):
        while len(server.connections) > 1:  # only the bystander is left
            await asyncio.sleep(0.05)

    result = await bystander
    assert not result.errors
    assert len(result.transcripts) == 1 and len(result.translations) == 1 and len(result.audio) == 1
    assert result.messages[-1]["type"] == "session.ended"
    await _assert_healthy(server)


async def test_a_session_start_the_session_cannot_serve_is_refused_with_the_fix(serve):
    server = await serve()
    for bad, fix in (
        ({"target_language": "fr"}, "target language 'fr' is not supported; use one of en, zh"),
        ({"source_language": "ja"}, "source language 'ja' is not supported; use one of auto, en"),
        ({"voice": "robot"}, "voice 'robot' is not supported; use clone"),
        ({"mode": "fast"}, "mode 'fast' is not supported; use one of consecutive, simultaneous"),
    ):
        async with connect(_url(server)) as ws:
            await ws.send(json.dumps(START | bad))
            error = (await _read_until(ws, "error"))[-1]
            assert error["code"] == "invalid_field" and error["fatal"] is True and fix in error["message"]
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1008
    assert server.connections == set()


async def _assert_healthy(server: Server) -> None:
    body = await asyncio.to_thread(_get, server, "/healthz")
    assert body == "ok\n"


def _get(server: Server, path: str, headers: dict | None = None) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


@pytest.mark.speech
async def test_metrics_count_sessions_latencies_and_errors(serve):
    server = await serve()
    await stream_file(_url(server), _short(), 16000, target="ko", source="en", realtime=False)
    async with connect(_url(server)) as ws:
        await ws.send("not json")
        await _read_until(ws, "error")
    text = await asyncio.to_thread(_get, server, "/metrics")
    assert 's2st_sessions_total{route="stream"} 1.0' in text
    assert 's2st_latency_seconds_count{figure="ttfa"} 1.0' in text
    assert 's2st_errors_total{code="invalid_json"} 1.0' in text
    assert "s2st_utterances_total 1.0" in text
    assert "s2st_event_loop_lag_seconds_count" in text


async def test_the_page_and_its_files_are_served_and_unknown_paths_say_what_exists(serve):
    server = await serve()
    page = await asyncio.to_thread(_get, server, "/")
    assert "<html" in page.lower() and "app.js" in page
    assert "s2st" in await asyncio.to_thread(_get, server, "/app.js")
    with pytest.raises(urllib.error.HTTPError) as missing:
        await asyncio.to_thread(_get, server, "/nope")
    assert missing.value.code == 404 and "/v1/stream" in missing.value.read().decode()


async def test_metrics_need_the_token_when_one_is_set(serve):
    server = await serve(token="t")
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(_get, server, "/metrics")
    assert refused.value.code == 401
    assert "s2st_sessions" in await asyncio.to_thread(_get, server, "/metrics", {"Authorization": "Bearer t"})


async def test_sessions_beyond_the_limit_are_told_the_server_is_busy(serve):
    server = await serve(max_sessions=1)
    async with connect(_url(server)) as first:
        await first.send(json.dumps(START))
        await _read_until(first, "session.started")
        async with connect(_url(server)) as second:
            error = (await _read_until(second, "error"))[-1]
            assert error["code"] == "server_busy" and error["fatal"] and "1 sessions" in error["message"]
            with pytest.raises(ConnectionClosed) as closed:
                await second.recv()
            assert closed.value.rcvd.code == 1013
        await first.send(json.dumps({"type": "input.end"}))
        await _read_until(first, "session.ended")


async def test_browser_origins_other_than_the_server_own_need_to_be_allowed(serve):
    server = await serve(allowed_origins=["https://demo.example"])
    async with connect(_url(server), origin="https://evil.example") as ws:
        error = (await _read_until(ws, "error"))[-1]
        assert error["code"] == "origin_not_allowed" and "allowed_origins" in error["message"]
    for origin in ("https://demo.example", f"http://127.0.0.1:{server.port}"):
        async with connect(_url(server), origin=origin) as ws:
            await ws.send(json.dumps(START))
            await _read_until(ws, "session.started")
            await ws.send(json.dumps({"type": "input.end"}))
            await _read_until(ws, "session.ended")


@pytest.mark.speech
async def test_a_session_over_the_length_limit_ends_in_order(serve):
    server = await serve(max_session_s=1.5)
    async with connect(_url(server)) as ws:
        await ws.send(json.dumps(START))
        await _read_until(ws, "session.started")
        audio = _short()
        for start in range(0, len(audio), FRAME):  # at microphone pace, so the limit falls mid-sentence
            await ws.send(pcm16_encode(audio[start : start + FRAME]))
            await asyncio.sleep(0.02)
        messages = await _read_until(ws, "session.ended")
    codes = [m["code"] for m in messages if m["type"] == "error"]
    assert codes == ["session_too_long"]
    assert any(m["type"] == "transcript" and m["final"] for m in messages)


@pytest.mark.speech
async def test_shutdown_lets_open_sessions_finish_their_utterance(serve):
    server = await serve()
    url = _url(server)
    async with connect(url) as ws:
        await ws.send(json.dumps(START))
        await _read_until(ws, "session.started")
        audio = _short()
        await _speak(ws, audio[: len(audio) * 2 // 3])  # mid-sentence
        await asyncio.sleep(0.5)
        stopping = asyncio.create_task(server.shutdown())
        messages = await _read_until(ws, "session.ended")
        await stopping
    assert [m["code"] for m in messages if m["type"] == "error"] == ["shutting_down"]
    assert [m["type"] for m in messages].count("audio.end") == 1
    assert any(m["type"] == "translation" and m["final"] for m in messages)
    with pytest.raises(OSError):  # no longer listening
        async with connect(url):
            pass
