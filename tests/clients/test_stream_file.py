"""The Python streaming client against a scripted server that checks what the client sends."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus

import numpy as np
import pytest
import soundfile as sf
from websockets.asyncio.server import ServerConnection, serve

from clients.python.stream_file import main, stream_file
from tests.helpers import SPEECH

pytestmark = pytest.mark.speech

CLIP = SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0880.wav"
TOKEN = "s3cret"


def _tone(seconds: float, hz: float) -> np.ndarray:
    t = np.arange(round(seconds * 24000)) / 24000
    return np.round(np.sin(2 * np.pi * hz * t) * 8000).astype("<i2")


def _text(kind: str, utterance_id: int, language: str, text: str, *, final: bool = True) -> dict:
    return {
        "type": kind,
        "utterance_id": utterance_id,
        "language": language,
        "text": text,
        "final": final,
        "tentative": "",
    }


SPEECH_1, SPEECH_2 = _tone(0.5, 220), _tone(0.3, 330)
SOURCE_TEXT, TARGET_TEXT = "he was not an ill disposed young man", "er war kein übel gesinnter junger Mann"
SPLIT = 101  # an odd byte count: a sample split across two binary frames must survive
REPLIES: list[dict | bytes] = [
    {"type": "speech.started", "utterance_id": 1, "at_ms": 120},
    _text("transcript", 1, "en", "he was", final=False),
    {"type": "speech.ended", "utterance_id": 1, "at_ms": 2900},
    _text("transcript", 1, "en", SOURCE_TEXT),
    _text("translation", 1, "de", TARGET_TEXT),
    {"type": "audio.start", "utterance_id": 1, "encoding": "pcm_s16le", "sample_rate": 24000},
    SPEECH_1.tobytes()[:SPLIT],
    SPEECH_1.tobytes()[SPLIT:],
    {"type": "audio.end", "utterance_id": 1},
    {"type": "metrics", "utterance_id": 1, "ttfa_ms": 812.4, "end_offset_ms": 1500.0},
    _text("transcript", 2, "en", "yes"),
    _text("translation", 2, "de", "ja"),
    {"type": "audio.start", "utterance_id": 2, "encoding": "pcm_s16le", "sample_rate": 24000},
    SPEECH_2.tobytes(),
    {"type": "audio.end", "utterance_id": 2},
    {"type": "metrics", "utterance_id": 2, "ttfa_ms": 640.0},
    _text("transcript", 3, "en", "hm"),
    {"type": "error", "code": "tts_failed", "message": "no speech for utterance 3", "fatal": False, "utterance_id": 3},
    {"type": "session.ended"},
]


@dataclass
class Received:
    """What the scripted server saw, in order: JSON messages by type, binary frames as ("frame", bytes)."""

    authorization: str | None = None
    messages: list[dict] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    first_frame_at: float | None = None
    input_end_at: float | None = None


Handler = Callable[[ServerConnection, Received], Awaitable[None]]


async def _collect(ws: ServerConnection, received: Received, *, stop_after_frames: int | None = None) -> None:
    """Record the client's messages until input.end (or `stop_after_frames`), greeting session.start."""
    received.authorization = ws.request.headers.get("Authorization")
    async for message in ws:
        if isinstance(message, bytes):
            received.first_frame_at = received.first_frame_at or time.monotonic()
            received.frames.append(message)
            received.order.append("frame")
            if len(received.frames) == stop_after_frames:
                return
            continue
        event = json.loads(message)
        received.messages.append(event)
        received.order.append(event["type"])
        if event["type"] == "session.start":
            await ws.send(json.dumps({"type": "session.started", "session_id": "sess-1"}))
        if event["type"] == "input.end":
            received.input_end_at = time.monotonic()
            return


async def translating(ws: ServerConnection, received: Received) -> None:
    await _collect(ws, received)
    for reply in REPLIES:
        await ws.send(reply if isinstance(reply, bytes) else json.dumps(reply))


async def failing(ws: ServerConnection, received: Received) -> None:
    await _collect(ws, received, stop_after_frames=5)
    await ws.send(json.dumps({"type": "error", "code": "model_failed", "message": "the ASR crashed", "fatal": True}))
    await ws.wait_closed()


async def crashing(ws: ServerConnection, received: Received) -> None:
    await _collect(ws, received, stop_after_frames=5)
    await ws.close(1011, "internal error")


def _require_token(connection, request):
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return connection.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
    return None


@asynccontextmanager
async def scripted_server(handler: Handler, *, token_required: bool = False) -> AsyncIterator[tuple[str, Received]]:
    received = Received()
    process_request = _require_token if token_required else None
    async with serve(lambda ws: handler(ws, received), "127.0.0.1", 0, process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/v1/stream", received


def _speech() -> tuple[np.ndarray, int]:
    audio, rate = sf.read(CLIP, dtype="float32")
    return audio, rate


async def test_stream_file_speaks_the_protocol_and_collects_the_replies():
    audio, rate = _speech()
    reference = CLIP.read_bytes()
    seen: list[str] = []
    async with scripted_server(translating, token_required=True) as (url, received):
        result = await stream_file(
            url,
            audio,
            rate,
            target="de",
            source="en",
            mode="simultaneous",
            token=TOKEN,
            realtime=False,
            voice_reference=(reference, SOURCE_TEXT),
            on_message=lambda event: seen.append(event["type"]),
        )

    assert received.authorization == f"Bearer {TOKEN}"
    assert received.messages[0] == {
        "type": "session.start",
        "source_language": "en",
        "target_language": "de",
        "input_audio": {"encoding": "pcm_s16le", "sample_rate": 16000},
        "output_audio": {"encoding": "pcm_s16le", "sample_rate": 24000},
        "mode": "simultaneous",
        "voice": "clone",
    }
    voice = received.messages[1]
    assert voice["type"] == "voice.reference" and voice["transcript"] == SOURCE_TEXT
    assert base64.b64decode(voice["audio"]) == reference
    assert received.order[:2] == ["session.start", "voice.reference"] and received.order[-1] == "input.end"
    assert set(received.order[2:-1]) == {"frame"}

    assert {len(frame) for frame in received.frames} == {640}  # 20 ms of 16-bit samples at 16 kHz
    assert len(received.frames) == -(-len(audio) // 320)
    sent = b"".join(received.frames)
    expected = sf.read(CLIP, dtype="int16")[0].astype("<i2").tobytes()
    assert sent[: len(expected)] == expected and not any(sent[len(expected) :])

    assert result.session_id == "sess-1"
    assert seen == [m["type"] for m in result.messages]
    assert [m["type"] for m in result.messages] == ["session.started"] + [
        r["type"] for r in REPLIES if isinstance(r, dict)
    ]
    assert [(t["utterance_id"], t["text"]) for t in result.transcripts] == [
        (1, SOURCE_TEXT),
        (2, "yes"),
        (3, "hm"),
    ]
    assert [(t["utterance_id"], t["language"]) for t in result.translations] == [(1, "de"), (2, "de")]
    assert result.sample_rate == 24000
    assert sorted(result.audio) == [1, 2]
    np.testing.assert_array_equal(result.audio[1], SPEECH_1.astype(np.float32) / 32768)
    np.testing.assert_array_equal(result.audio[2], SPEECH_2.astype(np.float32) / 32768)
    assert result.metrics == {1: {"ttfa_ms": 812.4, "end_offset_ms": 1500.0}, 2: {"ttfa_ms": 640.0}}
    assert [e["code"] for e in result.errors] == ["tts_failed"] and result.fatal_error is None


async def test_realtime_sending_is_paced_and_optional_fields_are_left_out():
    audio, rate = _speech()
    async with scripted_server(translating) as (url, received):
        await stream_file(url, audio, rate, target="de")

    assert received.authorization is None
    assert "mode" not in received.messages[0] and received.messages[0]["source_language"] == "auto"
    assert received.order[-1] == "input.end" and "voice.reference" not in received.order
    assert received.input_end_at - received.first_frame_at >= 0.8 * len(audio) / rate


async def test_audio_at_another_rate_is_resampled_to_the_output_rate():
    async def speaking_48k(ws: ServerConnection, received: Received) -> None:
        await _collect(ws, received)
        await ws.send(
            json.dumps({"type": "audio.start", "utterance_id": 7, "encoding": "pcm_s16le", "sample_rate": 48000})
        )
        await ws.send(np.zeros(4800, dtype="<i2").tobytes())
        await ws.send(json.dumps({"type": "audio.end", "utterance_id": 7}))
        await ws.send(json.dumps({"type": "session.ended"}))

    audio, rate = _speech()
    async with scripted_server(speaking_48k) as (url, _):
        result = await stream_file(url, audio, rate, target="zh", realtime=False)

    assert result.sample_rate == 24000 and len(result.audio[7]) == 2400


async def test_command_writes_the_wav_and_captions(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("S2ST_TOKEN", TOKEN)
    output, captions = tmp_path / "out.wav", tmp_path / "out.json"
    async with scripted_server(translating, token_required=True) as (url, received):
        argv = [str(CLIP), "--to", "de", "--url", url, "--fast", "-o", str(output), "--captions", str(captions)]
        argv += ["--voice-ref", str(CLIP), "--voice-text", SOURCE_TEXT]
        code = await asyncio.to_thread(main, argv)

    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"[1] en: {SOURCE_TEXT}\n[1] de: {TARGET_TEXT}" in out
    assert "[1] TTFA 812 ms" in out and "[2] TTFA 640 ms" in out and "[3] TTFA -" in out
    assert "tts_failed" in err
    reference = sf.read(io.BytesIO(base64.b64decode(received.messages[1]["audio"])))[0]
    assert len(reference) == len(_speech()[0])

    speech, rate = sf.read(output, dtype="int16")
    gap = np.zeros(round(0.3 * 24000), dtype=np.int16)
    assert rate == 24000
    np.testing.assert_array_equal(speech, np.concatenate([SPEECH_1, gap, SPEECH_2]))
    second = (len(SPEECH_1) + len(gap)) / 24000
    assert json.loads(captions.read_text(encoding="utf-8")) == [
        {
            "utterance_id": 1,
            "source_language": "en",
            "source_text": SOURCE_TEXT,
            "target_language": "de",
            "target_text": TARGET_TEXT,
            "audio_start_s": 0.0,
            "audio_end_s": pytest.approx(len(SPEECH_1) / 24000, abs=1e-3),
        },
        {
            "utterance_id": 2,
            "source_language": "en",
            "source_text": "yes",
            "target_language": "de",
            "target_text": "ja",
            "audio_start_s": pytest.approx(second, abs=1e-3),
            "audio_end_s": pytest.approx(second + len(SPEECH_2) / 24000, abs=1e-3),
        },
        {
            "utterance_id": 3,
            "source_language": "en",
            "source_text": "hm",
            "target_language": None,
            "target_text": "",
            "audio_start_s": None,
            "audio_end_s": None,
        },
    ]


async def test_command_resamples_to_the_requested_rate(tmp_path):
    async with scripted_server(translating) as (url, received):
        argv = [str(CLIP), "--to", "ko", "--rate", "8000", "--url", url, "--fast", "-o", str(tmp_path / "o.wav")]
        assert await asyncio.to_thread(main, argv) == 0

    assert received.messages[0]["input_audio"] == {"encoding": "pcm_s16le", "sample_rate": 8000}
    assert {len(frame) for frame in received.frames} == {320}
    assert len(received.frames) == 150  # 2.99 s in 20 ms frames, the last one padded


async def test_fatal_error_stops_the_stream_with_exit_code_1(tmp_path, capsys):
    async with scripted_server(failing) as (url, received):
        code = await asyncio.to_thread(main, [str(CLIP), "--to", "de", "--url", url, "-o", str(tmp_path / "o.wav")])

    assert code == 1
    assert "model_failed: the ASR crashed" in capsys.readouterr().err
    assert "input.end" not in received.order
    assert len(received.frames) < 150


async def test_abnormal_close_is_exit_code_2(tmp_path, capsys):
    async with scripted_server(crashing) as (url, _):
        code = await asyncio.to_thread(main, [str(CLIP), "--to", "de", "--url", url, "-o", str(tmp_path / "o.wav")])

    assert code == 2
    err = capsys.readouterr().err
    assert url in err and "closed abnormally (code 1011 internal error)" in err


async def test_rejected_token_names_the_fix(tmp_path, capsys):
    async with scripted_server(translating, token_required=True) as (url, _):
        argv = [str(CLIP), "--to", "de", "--url", url, "--token", "wrong", "-o", str(tmp_path / "o.wav")]
        code = await asyncio.to_thread(main, argv)

    assert code == 2
    err = capsys.readouterr().err
    assert url in err and "HTTP 401" in err and "S2ST_TOKEN" in err


def test_unreachable_server_names_the_url(tmp_path, capsys):
    with socket.socket() as probe:  # a port nobody listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{probe.getsockname()[1]}/v1/stream"

    assert main([str(CLIP), "--to", "de", "--url", url, "--fast", "-o", str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err
    assert url in err and "s2st serve" in err
    assert not (tmp_path / "o.wav").exists()
