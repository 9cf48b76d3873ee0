"""The JSON messages that /v1/stream and /v1/webrtc both speak: the client's session.start, voice.reference,
utterance.cancel and input.end, and every server event as one JSON object (`event_message`, the one serializer
of streaming.events).

The two routes differ only in how audio travels: binary messages on the socket (streaming.native) or a WebRTC
track (streaming.signalling). `JSONCodec` holds the rest and leaves that difference to its two subclasses. A codec
does no I/O, so every message can be tested as a golden string. The wire format is documented in docs/protocol.md.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from dataclasses import dataclass

import soundfile as sf

from streaming.audio import to_mono
from streaming.events import (
    CancelUtterance,
    Error,
    Event,
    InputEnd,
    Metrics,
    PartyJoined,
    PartyLeft,
    SpeechChunk,
    SpeechEnded,
    SpeechStarted,
    Transcript,
    Translation,
    UtteranceCancelled,
    VoiceReference,
    VoiceUpdated,
)
from streaming.vocabulary import AUTO, LANGUAGES, POLICIES, SESSION_RATE, SOURCE_LANGUAGES, VOICE_MODES
from streaming.wire import ProtocolError, check_keys, choices, dumps, json_object

START_KEYS = ("type", "source_language", "target_language", "mode", "voice", "room")
ROOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


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
    room: str | None = None  # join this two-party room (docs/protocol.md#rooms)


def session_settings(obj: dict, route_keys: tuple[str, ...]) -> dict[str, str | None]:
    """The settings of a session.start as the wire sees them: known keys, the required target, strings where
    strings belong. Whether the languages, mode and voice can be served is the session's to say (SessionError)."""
    check_keys(obj, "session.start", START_KEYS + route_keys)
    if "target_language" not in obj:
        raise ProtocolError(
            "invalid_field", f"session.start.target_language is required; use one of {choices(LANGUAGES)}."
        )
    return {
        "source_language": _string(obj, "source_language", AUTO, SOURCE_LANGUAGES),
        "target_language": _string(obj, "target_language", None, LANGUAGES),
        "mode": None if obj.get("mode") is None else _string(obj, "mode", None, POLICIES),
        "voice": _string(obj, "voice", "clone", VOICE_MODES),
        "room": room_id(obj.get("room")),
    }


def room_id(value: object) -> str | None:
    """A room id as the client gave it, or None; anything but 1-64 letters, digits, '-' and '_' is refused."""
    if value is None or (isinstance(value, str) and ROOM_ID.fullmatch(value)):
        return value
    raise ProtocolError(
        "invalid_field",
        f"room {json.dumps(value)} is not a room id; use 1 to 64 letters, digits, '-' or '_', the same for both "
        "participants.",
    )


def _string(obj: dict, key: str, default: str | None, examples: tuple[str, ...]) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        raise ProtocolError(
            "invalid_field", f"session.start.{key} {json.dumps(value)} is not a string; use {choices(examples)}."
        )
    return value


def event_message(event: Event) -> dict:
    """The JSON object a server event is sent as. Speech is not one: each route frames it its own way."""
    match event:
        case SpeechStarted() | SpeechEnded():
            kind = "speech.started" if isinstance(event, SpeechStarted) else "speech.ended"
            at_ms = round(event.audio_time * 1000)  # position in the input audio
            return {"type": kind, "utterance_id": event.utterance_id, "at_ms": at_ms}
        case Transcript() | Translation():
            return {
                "type": "transcript" if isinstance(event, Transcript) else "translation",
                "utterance_id": event.utterance_id,
                "language": event.language,
                "text": event.text,
                "tentative": event.tentative,
                "final": event.final,
            }
        case VoiceUpdated():
            voice: dict = {"type": "voice.updated"}
            if event.utterance_id is not None:  # a captured voice names the utterance it was last taken from
                voice["utterance_id"] = event.utterance_id
            voice |= {"duration_s": round(event.duration_s, 2), "transcript": event.transcript}
            voice["source"] = event.source
            if event.stock_voice is not None:  # a TTS that cannot clone speaks in the stock voice the reference picked
                voice["stock_voice"] = event.stock_voice
            return voice
        case PartyJoined():
            languages = {"source_language": event.source_language, "target_language": event.target_language}
            return {"type": "room.party_joined", **languages}
        case PartyLeft():
            return {"type": "room.party_left"}
        case UtteranceCancelled():
            return {"type": "utterance.cancelled", "utterance_id": event.utterance_id}
        case Metrics():
            figures = {name: round(value, 1) for name, value in event.figures.items()}
            return {"type": "metrics", "utterance_id": event.utterance_id, **figures}
        case Error():
            return error_message(event.code, event.message, event.fatal, event.utterance_id)
    raise TypeError(f"cannot encode {type(event).__name__} as JSON; pass a server event from streaming.events.")


def error_message(code: str, message: str, fatal: bool, utterance_id: int | None = None) -> dict:
    error = {"type": "error", "code": code, "message": message, "fatal": fatal}
    if utterance_id is not None:
        error["utterance_id"] = utterance_id
    return error


class JSONCodec:
    """One connection's codec; it keeps the session's settings. Subclasses say how audio travels: the binary
    messages they decode, the session.start keys of their route, and what frames the speech of an utterance."""

    def __init__(self) -> None:
        self.start: SessionStart | None = None
        self._speaking: set[int] = set()  # utterances whose audio.start went out and audio.end did not

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
            "utterance.cancel": self._decode_cancel,
        }
        if not isinstance(kind, str) or kind not in handlers:
            problem = 'has no "type"' if kind is None else f"has unknown type {json.dumps(kind, ensure_ascii=False)}"
            raise ProtocolError("unknown_type", f"message {problem}; use one of: {', '.join(handlers)}.")
        if kind != "session.start" and self.start is None:
            raise ProtocolError("not_started", f"{kind} came before session.start; send session.start first.")
        return handlers[kind](obj)

    def _decode_audio(self, data: bytes) -> list[object]:
        raise NotImplementedError

    def _session_start(self, obj: dict) -> SessionStart:
        """The route's session.start; build it on `session_settings`."""
        raise NotImplementedError

    def _input_tail(self) -> list[object]:
        """Input the codec still holds when the input ends."""
        return []

    def _decode_start(self, obj: dict) -> list[object]:
        if self.start is not None:
            raise ProtocolError("already_started", "session.start came twice; send it once per connection.")
        self.start = self._session_start(obj)
        return [self.start]

    def _decode_input_end(self, obj: dict) -> list[object]:
        check_keys(obj, "input.end", ("type",))
        return [*self._input_tail(), InputEnd()]

    def _decode_cancel(self, obj: dict) -> list[object]:
        check_keys(obj, "utterance.cancel", ("type", "utterance_id"))
        uid = obj.get("utterance_id")
        if uid is not None and (not isinstance(uid, int) or isinstance(uid, bool) or uid < 1):
            raise ProtocolError(
                "invalid_field",
                f"utterance.cancel.utterance_id {json.dumps(uid)} is not an utterance id; send the utterance_id of "
                "the server's messages (1, 2, 3, ...), or leave it out to cancel whatever is in flight.",
            )
        return [CancelUtterance(uid)]

    def _decode_voice(self, obj: dict) -> list[object]:
        check_keys(obj, "voice.reference", ("type", "audio", "transcript"))
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

    def encode(self, event: Event, party: str | None = None) -> list[str | bytes]:
        """Wire messages for one server event, in sending order; in a room, `party` says whose it is (self, other)."""
        if isinstance(event, SpeechChunk):
            return self._encode_chunk(event)
        message = event_message(event)
        return [dumps(message if party is None else message | {"party": party})]

    def _audio_formats(self) -> dict:
        """What session.started says of the audio formats, if the socket carries audio."""
        return {}

    def _audio_start(self, chunk: SpeechChunk) -> dict:
        """What audio.start says of the audio that follows, if the socket carries it."""
        return {}

    def _speech(self, chunk: SpeechChunk) -> list[bytes]:
        """The binary messages of a chunk of speech, if the socket carries them."""
        return []

    def _encode_chunk(self, chunk: SpeechChunk) -> list[str | bytes]:
        messages: list[str | bytes] = []
        if chunk.utterance_id not in self._speaking:
            start = {"type": "audio.start", "utterance_id": chunk.utterance_id, **self._audio_start(chunk)}
            self._speaking.add(chunk.utterance_id)
            messages.append(dumps(start))
        messages += self._speech(chunk)
        if chunk.last:
            self._speaking.discard(chunk.utterance_id)
            messages.append(dumps({"type": "audio.end", "utterance_id": chunk.utterance_id}))
        return messages

    def started(self, session_id: str, stock_voice: str | None = None) -> str:
        """session.started, echoing the effective settings so the client knows the defaults it got; `stock_voice`
        is the one the session starts in, with a TTS that cannot clone."""
        start = self._session()
        message = {
            "type": "session.started",
            "session_id": session_id,
            "source_language": start.source_language,
            "target_language": start.target_language,
        }
        voice = {"mode": start.mode, "voice": start.voice} | ({"stock_voice": stock_voice} if stock_voice else {})
        room = {"room": start.room} if start.room is not None else {}
        return dumps(message | self._audio_formats() | voice | room)

    def ended(self) -> str:
        return dumps({"type": "session.ended"})

    def error(self, code: str, message: str, fatal: bool) -> str:
        return dumps(error_message(code, message, fatal))

    def _session(self) -> SessionStart:
        if self.start is None:
            raise RuntimeError(f"{type(self).__name__} has no session yet; decode the client's session.start first.")
        return self.start
