"""Two-party rooms on the real server (tiny models) with real sockets: each side hears only the other's translation."""

import asyncio
import json

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from agent.config import ServerConfig
from agent.server import Server
from streaming.audio import read_audio
from tests.agent.test_server import _read_until, _speak
from tests.helpers import SPEECH

pytestmark = pytest.mark.slow

SHORT = SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0880.wav"
CONFIG = ServerConfig(port=0, max_sessions=4, shutdown_grace_s=20.0)


def _join(room: str, hears: str) -> str:
    # tiny.en hears English only, so both speak English; each wants to hear another language
    return json.dumps({"type": "session.start", "source_language": "en", "target_language": hears, "room": room})


@pytest.fixture
async def server(tiny_higgs_models):
    server = Server(tiny_higgs_models, CONFIG)
    await server.start("127.0.0.1", 0)
    yield server
    await server.shutdown()


def _url(server: Server) -> str:
    return f"ws://127.0.0.1:{server.port}/v1/stream"


async def _until_heard(ws, timeout: float = 120.0) -> tuple[list[dict], int]:
    """Messages up to the end of the first translated speech that arrives, and the bytes of speech received."""
    messages, speech = [], 0
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.recv()
            if isinstance(message, bytes):
                speech += len(message)
                continue
            messages.append(json.loads(message))
            if messages[-1]["type"] == "audio.end":
                return messages, speech


@pytest.mark.speech
async def test_two_participants_hear_only_each_others_translation_and_see_both_captions(server):
    speech, _ = read_audio(SHORT)
    audio = np.concatenate([speech, np.zeros(16000, np.float32)])  # the pause after it ends the utterance
    async with connect(_url(server)) as anna, connect(_url(server)) as jun:
        await anna.send(_join("call-1", hears="de"))
        started = (await _read_until(anna, "session.started"))[-1]
        assert started["room"] == "call-1"
        await jun.send(_join("call-1", hears="ko"))
        await _read_until(jun, "session.started")
        for ws, other_hears in ((anna, "ko"), (jun, "de")):
            joined = (await _read_until(ws, "room.party_joined"))[-1]
            assert joined == {"type": "room.party_joined", "source_language": "en", "target_language": other_hears}
        assert len(server.connections) == 2

        await asyncio.gather(_speak(anna, audio), _speak(jun, audio))
        (anna_got, anna_speech), (jun_got, jun_speech) = await asyncio.gather(_until_heard(anna), _until_heard(jun))
        assert anna_speech > 0 and jun_speech > 0
        for got, mine, theirs in ((anna_got, "ko", "de"), (jun_got, "de", "ko")):
            translations = [m for m in got if m["type"] == "translation" and m["final"]]
            assert {m["party"] for m in translations} <= {"self", "other"}
            # my speech is translated into the language the other hears, theirs into mine
            assert all(m["language"] == (mine if m["party"] == "self" else theirs) for m in translations)
            heard = next(m for m in got if m["type"] == "audio.start")["utterance_id"]
            # the speech I hear is the other's utterance: its captions reached me tagged `other`
            transcripts = [m for m in got if m["type"] == "transcript"]
            assert any(m["party"] == "other" and m["utterance_id"] == heard for m in transcripts)
            assert all("party" in m for m in got if m["type"] in ("transcript", "translation", "speech.started"))

        await anna.send(json.dumps({"type": "input.end"}))
        assert (await _read_until(anna, "session.ended"))[-1]["type"] == "session.ended"
        left = await _read_until(jun, "session.ended")
        assert "room.party_left" in [m["type"] for m in left]
    await _until_empty(server)


async def _until_empty(server: Server) -> None:
    async with asyncio.timeout(30):
        while server.connections or server.rooms._rooms:
            await asyncio.sleep(0.05)


async def test_a_third_participant_is_refused_and_one_leaving_ends_the_room_for_the_other(server):
    async with connect(_url(server)) as anna, connect(_url(server)) as jun:
        await anna.send(_join("call-2", hears="de"))
        await jun.send(_join("call-2", hears="zh"))
        await _read_until(anna, "room.party_joined")
        await _read_until(jun, "room.party_joined")

        async with connect(_url(server)) as third:
            await third.send(_join("call-2", hears="en"))
            error = (await _read_until(third, "error"))[-1]
            assert error["code"] == "room_full" and error["fatal"] and "call-2" in error["message"]
            with pytest.raises(ConnectionClosed) as closed:
                await third.recv()
            assert closed.value.rcvd.code == 1008

        await anna.close()  # gone without input.end
        types = [m["type"] for m in await _read_until(jun, "session.ended")]
        assert types.index("room.party_left") < types.index("session.ended")
    await _until_empty(server)


async def test_a_room_id_that_is_not_one_and_a_language_the_tts_lacks_are_refused_before_joining(server):
    async with connect(_url(server)) as ws:
        await ws.send(json.dumps({"type": "session.start", "target_language": "de", "room": "a b/c"}))
        error = (await _read_until(ws, "error"))[-1]
        assert error["code"] == "invalid_field" and "room" in error["message"] and error["fatal"]
    async with connect(_url(server)) as ws:
        await ws.send(json.dumps({"type": "session.start", "target_language": "fr", "room": "call-3"}))
        error = (await _read_until(ws, "error"))[-1]
        assert error["code"] == "invalid_field" and "fr" in error["message"]
    await _until_empty(server)


async def test_alone_in_a_room_input_end_leaves_it_and_frees_the_slot(server):
    async with connect(_url(server)) as ws:
        await ws.send(_join("call-4", hears="de"))
        await _read_until(ws, "session.started")
        assert len(server.connections) == 1
        await ws.send(json.dumps({"type": "input.end"}))
        await _read_until(ws, "session.ended")
    await _until_empty(server)
