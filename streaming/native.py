"""The native WebSocket API (`/v1/stream`, and the signalling of `/v1/webrtc`): JSON text messages for
control and captions, binary messages for audio. One codec per connection, because it keeps the
negotiated formats and the resamplers; it does no I/O, so every message can be tested as a golden string.
The wire format is documented in docs/protocol.md."""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from streaming.audio import StreamResampler, mulaw_decode, pcm16_decode, pcm16_encode, to_mono
from streaming.events import (
    AudioIn,
    Error,
    Metrics,
    SpeechChunk,
    SpeechEnded,
    SpeechStarted,
    Transcript,
    Translation,
    VoiceUpdated,
)

SESSION_RATE = 16000
LANGUAGES = ("en", "zh", "de", "ko")
SOURCE_LANGUAGES = ("auto", *LANGUAGES)
MODES = ("consecutive", "simultaneous")
VOICES = ("clone", "default")
RATES = (8000, 16000, 24000, 48000)
INPUT_ENCODINGS = {"pcm_s16le": RATES, "mulaw": (8000,)}
OUTPUT_ENCODINGS = {"pcm_s16le": RATES}


class ProtocolError(ValueError):
    """A client message the server cannot use; `code` is the wire error code, the message names the fix.
    Whether it ends the session is the caller's decision."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def json_object(text: str, what: str, key: str) -> dict:
    """`text` parsed as a JSON object, or the invalid_json error saying what was wrong and what to send."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(
            "invalid_json", f"{what} is not JSON ({exc.msg} at position {exc.pos}); send one JSON object."
        ) from None
    if not isinstance(obj, dict):
        kind = type(obj).__name__
        raise ProtocolError(
            "invalid_json", f'{what} is not a JSON object but a JSON {kind}; send an object with a "{key}" key.'
        )
    return obj


@dataclass(frozen=True)
class AudioFormat:
    encoding: str
    sample_rate: int


DEFAULT_INPUT = AudioFormat("pcm_s16le", SESSION_RATE)
DEFAULT_OUTPUT = AudioFormat("pcm_s16le", 24000)


@dataclass(frozen=True)
class SessionStart:
    """The client's settings. `mode` None leaves the policy to the server profile. On /v1/webrtc the audio
    formats keep their defaults (the peer connection carries the audio) and `sdp` holds the browser's offer."""

    source_language: str
    target_language: str
    input_audio: AudioFormat
    output_audio: AudioFormat
    mode: str | None
    voice: str
    sdp: str | None


@dataclass(frozen=True)
class InputEnd:
    """The client has no more input; the session finishes what it heard, then ends."""


@dataclass(frozen=True)
class VoiceReference:
    """A clip of the speaker with its transcript, to clone the voice from before the speaker says much."""

    audio: np.ndarray  # float32 mono
    sample_rate: int
    transcript: str


def _dumps(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def _choices(values: tuple) -> str:
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def _check_keys(message: dict, where: str, allowed: tuple[str, ...]) -> None:
    for key in message:
        if key not in allowed:
            raise ProtocolError(
                "invalid_field", f"{where} has unknown key {key!r}; allowed keys: {', '.join(allowed)}."
            )


class NativeCodec:
    """Wire codec for one connection. `webrtc` is the /v1/webrtc route: the same JSON, but the audio travels
    in the peer connection, so binary messages are refused and session.start carries an SDP offer."""

    def __init__(self, webrtc: bool = False) -> None:
        self.webrtc = webrtc
        self.start: SessionStart | None = None
        self._input: StreamResampler | None = None
        self._output: dict[int, StreamResampler | None] = {}  # utterances whose audio is open, by id

    # client -> server

    def decode(self, message: str | bytes) -> list[object]:
        """Client events in one message; raises ProtocolError for a message the server must refuse."""
        if isinstance(message, bytes):
            return self._decode_audio(message)
        obj = json_object(message, "text message", "type")
        kind = obj.get("type")
        handlers = {
            "session.start": self._decode_start,
            "input.end": self._decode_input_end,
            "voice.reference": self._decode_voice,
        }
        if not isinstance(kind, str) or kind not in handlers:
            problem = 'has no "type"' if kind is None else f"has unknown type {json.dumps(kind, ensure_ascii=False)}"
            raise ProtocolError("unknown_type", f"message {problem}; use one of: {', '.join(handlers)}.")
        if kind != "session.start" and self.start is None:
            raise ProtocolError("not_started", f"{kind} came before session.start; send session.start first.")
        return handlers[kind](obj)

    def _decode_audio(self, data: bytes) -> list[object]:
        if self.webrtc:
            raise ProtocolError(
                "unexpected_binary",
                "binary message on /v1/webrtc; send audio over the peer connection (or use /v1/stream for binary).",
            )
        if self.start is None:
            raise ProtocolError("not_started", "audio came before session.start; send session.start first.")
        if self.start.input_audio.encoding == "mulaw":
            pcm = mulaw_decode(data)
        elif len(data) % 2:
            raise ProtocolError(
                "odd_length",
                f"pcm_s16le audio message has {len(data)} bytes, an odd number; send whole 2-byte samples.",
            )
        else:
            pcm = pcm16_decode(data)
        pcm = self._input.push(pcm)
        return [AudioIn(pcm)] if len(pcm) else []

    def _decode_start(self, obj: dict) -> list[object]:
        if self.start is not None:
            raise ProtocolError("already_started", "session.start came twice; send it once per connection.")
        allowed = ("type", "source_language", "target_language", "mode", "voice")
        allowed += ("sdp",) if self.webrtc else ("input_audio", "output_audio")
        if self.webrtc:
            for key in ("input_audio", "output_audio"):
                if key in obj:
                    raise ProtocolError(
                        "invalid_field",
                        f"session.start.{key} is not allowed on /v1/webrtc: the audio travels in the peer "
                        "connection; remove it.",
                    )
        _check_keys(obj, "session.start", allowed)
        if "target_language" not in obj:
            raise ProtocolError(
                "invalid_field", f"session.start.target_language is required; use one of {_choices(LANGUAGES)}."
            )
        sdp = None
        if self.webrtc:
            sdp = obj.get("sdp")
            if not isinstance(sdp, str) or not sdp.strip():
                raise ProtocolError(
                    "invalid_field",
                    "session.start.sdp must be the browser's SDP offer (a non-empty string); send the offer's "
                    "sdp after ICE gathering completes.",
                )
        start = SessionStart(
            source_language=_enum(obj, "source_language", SOURCE_LANGUAGES, "auto"),
            target_language=_enum(obj, "target_language", LANGUAGES, None),
            input_audio=_audio_format(obj, "input_audio", INPUT_ENCODINGS, DEFAULT_INPUT),
            output_audio=_audio_format(obj, "output_audio", OUTPUT_ENCODINGS, DEFAULT_OUTPUT),
            mode=None if obj.get("mode") is None else _enum(obj, "mode", MODES, None),
            voice=_enum(obj, "voice", VOICES, "clone"),
            sdp=sdp,
        )
        self.start = start
        if not self.webrtc:
            self._input = StreamResampler(start.input_audio.sample_rate, SESSION_RATE)
        return [start]

    def _decode_input_end(self, obj: dict) -> list[object]:
        _check_keys(obj, "input.end", ("type",))
        tail = self._input.flush() if self._input is not None else ()  # the resampler's held-back audio
        return [AudioIn(tail), InputEnd()] if len(tail) else [InputEnd()]

    def _decode_voice(self, obj: dict) -> list[object]:
        _check_keys(obj, "voice.reference", ("type", "audio", "transcript"))
        transcript = obj.get("transcript")
        if not isinstance(transcript, str) or not transcript.strip():
            raise ProtocolError(
                "invalid_field",
                "voice.reference.transcript must be a non-empty string; send the words spoken in the clip.",
            )
        encoded = obj.get("audio")
        if not isinstance(encoded, str):
            raise ProtocolError(
                "invalid_field", "voice.reference.audio must be a string; send a WAV file encoded as base64."
            )
        try:
            audio, rate = sf.read(io.BytesIO(base64.b64decode(encoded, validate=True)), dtype="float32", always_2d=True)
        except (binascii.Error, sf.LibsndfileError) as exc:
            raise ProtocolError(
                "invalid_audio",
                f"voice.reference.audio is not a base64 WAV file ({exc.__class__.__name__}); send a WAV file "
                "encoded as standard base64.",
            ) from None
        if audio.shape[0] == 0:
            raise ProtocolError(
                "invalid_audio", "voice.reference.audio holds no samples; send a clip of the speaker talking."
            )
        return [VoiceReference(to_mono(audio), rate, transcript)]

    # server -> client

    def encode(self, event: object) -> list[str | bytes]:
        """Wire messages for one server event, in sending order."""
        match event:
            case SpeechStarted() | SpeechEnded():
                kind = "speech.started" if isinstance(event, SpeechStarted) else "speech.ended"
                at_ms = round(event.audio_time * 1000)  # position in the input audio
                return [_dumps({"type": kind, "utterance_id": event.utterance_id, "at_ms": at_ms})]
            case Transcript() | Translation():
                kind = "transcript" if isinstance(event, Transcript) else "translation"
                return [
                    _dumps(
                        {
                            "type": kind,
                            "utterance_id": event.utterance_id,
                            "language": event.language,
                            "text": event.text,
                            "tentative": event.tentative,
                            "final": event.final,
                        }
                    )
                ]
            case SpeechChunk():
                return self._encode_chunk(event)
            case VoiceUpdated():
                voice = {"type": "voice.updated"}
                if event.utterance_id is not None:  # a captured voice names the utterance it was last taken from
                    voice["utterance_id"] = event.utterance_id
                voice |= {"duration_s": round(event.duration_s, 2), "transcript": event.transcript}
                return [_dumps(voice | {"source": event.source})]
            case Metrics():
                figures = {name: round(value, 1) for name, value in event.figures.items()}
                return [_dumps({"type": "metrics", "utterance_id": event.utterance_id, **figures})]
            case Error():
                return [self.error(event.code, event.message, event.fatal, event.utterance_id)]
        raise TypeError(f"NativeCodec cannot encode {type(event).__name__}; pass a server event from streaming.events.")

    def _encode_chunk(self, chunk: SpeechChunk) -> list[str | bytes]:
        messages: list[str | bytes] = []
        if chunk.utterance_id not in self._output:
            start: dict = {"type": "audio.start", "utterance_id": chunk.utterance_id}
            resampler = None
            if not self.webrtc:  # on /v1/webrtc the transport plays the PCM; the messages only frame it
                rate = self._session().output_audio.sample_rate
                start |= {"encoding": "pcm_s16le", "sample_rate": rate}
                resampler = StreamResampler(chunk.sample_rate, rate)
            self._output[chunk.utterance_id] = resampler
            messages.append(_dumps(start))
        resampler = self._output[chunk.utterance_id]
        if resampler is not None:
            parts = [resampler.push(chunk.pcm), resampler.flush() if chunk.last else None]
            messages += [pcm16_encode(part) for part in parts if part is not None and len(part)]
        if chunk.last:
            del self._output[chunk.utterance_id]
            messages.append(_dumps({"type": "audio.end", "utterance_id": chunk.utterance_id}))
        return messages

    def started(self, session_id: str) -> str:
        """session.started, echoing the effective settings so the client knows the defaults it got."""
        start = self._session()
        message = {
            "type": "session.started",
            "session_id": session_id,
            "source_language": start.source_language,
            "target_language": start.target_language,
        }
        if not self.webrtc:
            message["input_audio"] = _format_json(start.input_audio)
            message["output_audio"] = _format_json(start.output_audio)
        return _dumps(message | {"mode": start.mode, "voice": start.voice})

    def answer(self, sdp: str) -> str:
        """The server's SDP answer on /v1/webrtc, sent before session.started."""
        return _dumps({"type": "webrtc.answer", "sdp": sdp})

    def ended(self) -> str:
        return _dumps({"type": "session.ended"})

    def error(self, code: str, message: str, fatal: bool, utterance_id: int | None = None) -> str:
        error = {"type": "error", "code": code, "message": message, "fatal": fatal}
        if utterance_id is not None:
            error["utterance_id"] = utterance_id
        return _dumps(error)

    def _session(self) -> SessionStart:
        if self.start is None:
            raise RuntimeError("NativeCodec has no session yet; decode the client's session.start first.")
        return self.start


def _enum(obj: dict, key: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = obj.get(key, default)
    if value not in allowed:
        raise ProtocolError(
            "invalid_field", f"session.start.{key} {json.dumps(value)} is not supported; use {_choices(allowed)}."
        )
    return value


def _audio_format(obj: dict, key: str, encodings: dict[str, tuple[int, ...]], default: AudioFormat) -> AudioFormat:
    if key not in obj:
        return default
    value = obj[key]
    example = '{"encoding": "pcm_s16le", "sample_rate": 16000}'
    if not isinstance(value, dict):
        raise ProtocolError("invalid_field", f"session.start.{key} must be an object like {example}.")
    _check_keys(value, f"session.start.{key}", ("encoding", "sample_rate"))
    encoding, rate = value.get("encoding"), value.get("sample_rate")
    if not isinstance(encoding, str):
        raise ProtocolError(
            "invalid_field", f"session.start.{key}.encoding must be a string; use {_choices(tuple(encodings))}."
        )
    if not isinstance(rate, int) or isinstance(rate, bool):
        raise ProtocolError(
            "invalid_field", f"session.start.{key}.sample_rate must be an integer in Hz, e.g. {example}."
        )
    if encoding not in encodings:
        raise ProtocolError(
            "unsupported_audio", f"{key}.encoding {encoding!r} is not supported; use {_choices(tuple(encodings))}."
        )
    if rate not in encodings[encoding]:
        raise ProtocolError(
            "unsupported_audio",
            f"{key}.sample_rate {rate} is not supported for {encoding}; use {_choices(encodings[encoding])}.",
        )
    return AudioFormat(encoding, rate)


def _format_json(audio: AudioFormat) -> dict:
    return {"encoding": audio.encoding, "sample_rate": audio.sample_rate}
