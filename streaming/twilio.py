"""Twilio Media Streams (bidirectional, from TwiML `<Connect><Stream>`): JSON text messages carrying base64
mu-law audio at 8 kHz in both directions. One codec per call, because it holds the stream id, the
resamplers and the part of a 20 ms frame not yet sent; it does no I/O, so it is tested with golden messages.
Errors reuse the native API's codes (streaming.wire.ProtocolError)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from streaming.audio import StreamResampler, mulaw_decode, mulaw_encode
from streaming.events import AudioIn, InputEnd
from streaming.vocabulary import SESSION_RATE
from streaming.wire import ProtocolError, dumps, json_object

TWILIO_RATE = 8000
FRAME_BYTES = 160  # 20 ms of mu-law at 8 kHz, the frame size Twilio itself sends
FRAME_S = FRAME_BYTES / TWILIO_RATE  # how long one media message plays
_SILENCE = b"\xff"  # mu-law code of 0


@dataclass(frozen=True)
class TwilioStart:
    """The call's identity and the `<Parameter>`s of the TwiML `<Stream>` (they carry the session settings)."""

    stream_sid: str
    call_sid: str
    parameters: dict[str, str]


@dataclass(frozen=True)
class MarkPlayed:
    """Twilio played all audio sent before the mark of this name (or a clear discarded it)."""

    name: str


def _field(message: dict, path: str, kind: type) -> Any:
    value: Any = message
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, kind):
        raise ProtocolError(
            "invalid_field",
            f"Twilio {message['event']} message has no {path} of type {kind.__name__}; the stream must send "
            "messages in the Media Streams format (TwiML <Connect><Stream>).",
        )
    return value


class TwilioCodec:
    def __init__(self) -> None:
        self.start: TwilioStart | None = None
        self._inbound = StreamResampler(TWILIO_RATE, SESSION_RATE)
        self._outbound: dict[int, StreamResampler] = {}  # by source rate
        self._held = b""  # mu-law bytes short of a whole frame

    # Twilio -> server

    def decode(self, text: str) -> list[object]:
        """Events in one Twilio message; raises ProtocolError for a message the server cannot use."""
        message = json_object(text, "Twilio message", "event")
        handlers = {
            "connected": lambda _: [],
            "start": self._decode_start,
            "media": self._decode_media,
            "mark": lambda m: [MarkPlayed(_field(m, "mark.name", str))],
            "stop": self._decode_stop,
            "dtmf": lambda _: [],
        }
        event = message.get("event")
        if not isinstance(event, str) or event not in handlers:
            raise ProtocolError(
                "unknown_type",
                f"Twilio message has unknown event {json.dumps(event)}; expected one of: {', '.join(handlers)}.",
            )
        if event not in ("connected", "start") and self.start is None:
            raise ProtocolError(
                "not_started", f"Twilio {event} message came before start; the stream must send start first."
            )
        return handlers[event](message)

    def _decode_start(self, message: dict) -> list[object]:
        if self.start is not None:
            raise ProtocolError("already_started", "Twilio start message came twice; use one stream per connection.")
        media_format = _field(message, "start.mediaFormat", dict)
        encoding, rate, channels = (media_format.get(key) for key in ("encoding", "sampleRate", "channels"))
        if (encoding, rate, channels) != ("audio/x-mulaw", TWILIO_RATE, 1):
            raise ProtocolError(
                "unsupported_audio",
                f"Twilio stream audio is {encoding} at {rate} Hz with {channels} channel(s); only audio/x-mulaw at "
                "8000 Hz mono is supported, which is what <Connect><Stream> sends.",
            )
        parameters = message["start"].get("customParameters", {})
        if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
            raise ProtocolError(
                "invalid_field",
                "Twilio start.customParameters must map names to strings; set them with <Parameter name=... "
                "value=.../> in the <Stream>.",
            )
        self.start = TwilioStart(
            stream_sid=_field(message, "start.streamSid", str),
            call_sid=_field(message, "start.callSid", str),
            parameters=dict(parameters),
        )
        return [self.start]

    def _decode_media(self, message: dict) -> list[object]:
        payload = _field(message, "media.payload", str)
        if message["media"].get("track", "inbound") != "inbound":
            return []  # our own audio echoed back: not the caller's speech
        try:
            data = base64.b64decode(payload, validate=True)
        except binascii.Error:
            raise ProtocolError(
                "invalid_audio", "Twilio media.payload is not valid base64; it must be base64 mu-law bytes."
            ) from None
        pcm = self._inbound.push(mulaw_decode(data))
        return [AudioIn(pcm)] if len(pcm) else []

    def _decode_stop(self, message: dict) -> list[object]:
        tail = self._inbound.flush()
        return [AudioIn(tail), InputEnd()] if len(tail) else [InputEnd()]

    # server -> Twilio

    def media(self, pcm: np.ndarray, sample_rate: int) -> list[str]:
        """Media messages of whole 20 ms frames; the part of a frame left over waits for the next call."""
        resampler = self._outbound.get(sample_rate)
        if resampler is None:
            resampler = self._outbound[sample_rate] = StreamResampler(sample_rate, TWILIO_RATE)
        return self._frames(mulaw_encode(resampler.push(pcm)))

    def flush_media(self) -> list[str]:
        """Send everything held back (resampler tails, a partial frame padded with silence), e.g. at the end
        of an utterance, before its mark."""
        messages = self._frames(b"".join(mulaw_encode(resampler.flush()) for resampler in self._outbound.values()))
        if self._held:
            messages.append(self._media_message(self._held.ljust(FRAME_BYTES, _SILENCE)))
            self._held = b""
        return messages

    def mark(self, name: str) -> str:
        """Twilio answers with a mark of this name once the audio sent before it has played."""
        return dumps({"event": "mark", "streamSid": self._stream_sid(), "mark": {"name": name}})

    def clear(self) -> str:
        """Tells Twilio to drop the audio it has queued; the audio held here is dropped with it."""
        self._held = b""
        self._outbound.clear()
        return dumps({"event": "clear", "streamSid": self._stream_sid()})

    def _frames(self, data: bytes) -> list[str]:
        data = self._held + data
        whole = len(data) - len(data) % FRAME_BYTES
        self._held = data[whole:]
        return [self._media_message(data[i : i + FRAME_BYTES]) for i in range(0, whole, FRAME_BYTES)]

    def _media_message(self, frame: bytes) -> str:
        payload = base64.b64encode(frame).decode("ascii")
        return dumps({"event": "media", "streamSid": self._stream_sid(), "media": {"payload": payload}})

    def _stream_sid(self) -> str:
        if self.start is None:
            raise RuntimeError("TwilioCodec has no stream yet; decode Twilio's start message before sending to it.")
        return self.start.stream_sid
