"""A connection whose client stops reading is let go, and the server's memory for it stays bounded."""

import asyncio
import json

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from agent.config import ServerConfig
from agent.connections import NativeConnection
from agent.server import Server
from streaming.audio import pcm16_encode, read_audio
from tests.helpers import LONG_EN

pytestmark = [pytest.mark.slow, pytest.mark.speech]


class DeafSocket:
    """A client that sends a whole recording at once and then never reads a byte."""

    def __init__(self, messages):
        self.request = Request("/v1/stream", Headers())
        self.messages = messages
        self.sent = 0
        self.closed: tuple[int, str] | None = None

    async def __aiter__(self):
        for message in self.messages:
            yield message
        await asyncio.Event().wait()  # the socket stays open

    async def send(self, message):
        self.sent += 1
        await asyncio.Event().wait()  # the client's buffers are full: nothing more goes out

    async def close(self, code=1000, reason=""):
        self.closed = (code, reason)


async def test_a_client_that_stops_reading_is_closed_with_slow_consumer(tiny_higgs_models):
    server = Server(tiny_higgs_models, ServerConfig(port=0, send_queue_messages=16))
    audio, _ = read_audio(LONG_EN)
    frames = [pcm16_encode(audio[i : i + 1600]) for i in range(0, len(audio), 1600)]
    start = json.dumps({"type": "session.start", "source_language": "en", "target_language": "de"})
    ws = DeafSocket([start, *frames, json.dumps({"type": "input.end"})])
    connection = NativeConnection(server, ws)
    async with asyncio.timeout(120):
        await connection.run()
    assert ws.closed == (1008, "slow_consumer")
    assert ws.sent == 1  # session.started went out, then the client stopped reading
    assert connection.session is not None and all(task.done() for task in connection.session._tasks)
    assert server.connections == set()
    assert b's2st_errors_total{code="slow_consumer"} 1.0' in server.metrics.text()
