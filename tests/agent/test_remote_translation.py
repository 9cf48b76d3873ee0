"""The Session with a RemoteTranslator: translations come from an HTTP server, and a dead or stalling server costs
each utterance an error event while the session runs on (real silero VAD on real speech, fake ASR and TTS)."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.models import Models
from agent.session import Session
from model.asr import ASRSettings, Transcription
from model.remote_translator import RemoteTranslator
from model.translator import TranslatorSettings
from model.vad import SileroVAD, VADSettings
from streaming.audio import read_audio
from streaming.events import Error, Metrics, SpeechChunk, Transcript, Translation
from tests.helpers import LONG_EN, FakeTTS, ScriptedClock, run_session

pytestmark = pytest.mark.speech


class FakeASR:
    multilingual = False
    settings = ASRSettings()

    def __init__(self):
        self.heard = 0

    def language_probabilities(self, audio):
        return {"en": 1.0}

    def transcribe(self, audio, language, timed=False):
        self.heard += 1
        return Transcription(text=f"sentence {self.heard}", language="en")


class Handler(BaseHTTPRequestHandler):
    """OpenAI-style streamed chat completion: 'sentence N' becomes 'Satz N' in two pieces, unless it must stall."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        text = body["messages"][-1]["content"]
        if text in self.server.stall_on:
            self.server.release.wait(5)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ("Satz", text.removeprefix("sentence")):
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.requests, server.stall_on, server.release = [], set(), threading.Event()
    server.url = f"http://127.0.0.1:{server.server_port}/v1"
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def _models(url):
    translator = RemoteTranslator(
        url,
        "qwen",
        api_key=None,
        api_key_env="S2ST_TRANSLATOR_API_KEY",
        timeout_s=0.3,
        deadline_s=5.0,
        settings=TranslatorSettings(),
    )
    return Models(vad=SileroVAD(), vad_settings=VADSettings(), asr=FakeASR(), translator=translator, tts=FakeTTS())


async def _run(models):
    clock = ScriptedClock()
    audio, _ = read_audio(LONG_EN)
    return await run_session(Session(models, source_language="auto", target_language="de", clock=clock), audio, clock)


def _of(kind, events):
    return [event for event in events if isinstance(event, kind)]


def _context(request):
    """The (source, translation) turns a request carries between its system prompt and the utterance."""
    turns = request["messages"][1:-1]
    assert [turn["role"] for turn in turns] == ["user", "assistant"] * (len(turns) // 2)
    return [(turns[j]["content"], turns[j + 1]["content"]) for j in range(0, len(turns), 2)]


async def test_five_utterances_are_translated_by_the_server_with_earlier_turns_as_context(server):
    models = _models(server.url)
    events = await _run(models)
    assert [(e.utterance_id, e.text) for e in _of(Translation, events) if e.final] == [
        (i, f"Satz {i}") for i in range(1, 6)
    ]
    assert [e.utterance_id for e in _of(Metrics, events)] == [1, 2, 3, 4, 5]
    assert not _of(Error, events)
    turns = models.translation.context_turns
    assert len(server.requests) == 5 and turns == 3
    for i, request in enumerate(server.requests, 1):
        system, last = request["messages"][0], request["messages"][-1]
        assert "English" in system["content"] and "German" in system["content"] and request["stream"] is True
        assert last == {"role": "user", "content": f"sentence {i}"}
        assert _context(request) == [(f"sentence {j}", f"Satz {j}") for j in range(max(1, i - turns), i)]


def _closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


@pytest.mark.parametrize("failure", ["dead", "stalling"])
async def test_an_unavailable_server_costs_each_utterance_an_error_and_the_session_goes_on(server, failure):
    url = _closed_port_url() if failure == "dead" else server.url
    server.stall_on = {f"sentence {i}" for i in range(1, 6)}
    events = await _run(_models(url))
    errors = _of(Error, events)
    assert [e.utterance_id for e in errors] == [1, 2, 3, 4, 5]
    for error in errors:
        assert error.code == "translation_failed" and not error.fatal
        assert error.message.startswith(f"translation failed: translator server {url} ")
        assert ("connection refused" if failure == "dead" else "did not answer within 0.3 s") in error.message
    finals = [e.text for e in _of(Transcript, events) if e.final]
    assert finals == [f"sentence {i}" for i in range(1, 6)]
    assert not _of(Translation, events) and not _of(SpeechChunk, events)


async def test_utterances_after_a_stalled_one_are_translated_again(server):
    server.stall_on = {"sentence 2", "sentence 4"}
    events = await _run(_models(server.url))
    assert [e.utterance_id for e in _of(Error, events)] == [2, 4]
    assert [e.text for e in _of(Translation, events) if e.final] == ["Satz 1", "Satz 3", "Satz 5"]
    assert [e.utterance_id for e in _of(Metrics, events)] == [1, 3, 5]
    # A failed utterance leaves no turn behind for the context of the next ones.
    assert _context(server.requests[-1]) == [("sentence 1", "Satz 1"), ("sentence 3", "Satz 3")]
