"""The native WebSocket API (`/v1/stream`): the JSON of streaming.messages, and audio as binary messages both ways,
in formats the client chooses in session.start. The codec keeps the negotiated formats and their resamplers."""

from __future__ import annotations

from streaming.audio import StreamResampler, mulaw_decode, pcm16_decode, pcm16_encode
from streaming.events import AudioIn, SpeechChunk
from streaming.messages import DEFAULT_INPUT, DEFAULT_OUTPUT, AudioFormat, JSONCodec, SessionStart, session_settings
from streaming.vocabulary import SESSION_RATE
from streaming.wire import ProtocolError, check_keys, choices

RATES = (8000, 16000, 24000, 48000)
INPUT_ENCODINGS = {"pcm_s16le": RATES, "mulaw": (8000,)}
OUTPUT_ENCODINGS = {"pcm_s16le": RATES}


class NativeCodec(JSONCodec):
    def __init__(self) -> None:
        super().__init__()
        self._input: StreamResampler | None = None
        self._output: dict[int, StreamResampler] = {}  # utterances whose audio is open, by id

    def _session_start(self, obj: dict) -> SessionStart:
        settings = session_settings(obj, ("input_audio", "output_audio"))
        start = SessionStart(
            **settings,
            input_audio=_audio_format(obj, "input_audio", INPUT_ENCODINGS, DEFAULT_INPUT),
            output_audio=_audio_format(obj, "output_audio", OUTPUT_ENCODINGS, DEFAULT_OUTPUT),
            sdp=None,
        )
        self._input = StreamResampler(start.input_audio.sample_rate, SESSION_RATE)
        return start

    def _decode_audio(self, data: bytes) -> list[object]:
        if self.start is None or self._input is None:
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

    def _input_tail(self) -> list[object]:
        tail = self._input.flush() if self._input is not None else ()  # the resampler's held-back audio
        return [AudioIn(tail)] if len(tail) else []

    def _audio_formats(self) -> dict:
        start = self._session()
        return {"input_audio": _format_json(start.input_audio), "output_audio": _format_json(start.output_audio)}

    def _audio_start(self, chunk: SpeechChunk) -> dict:
        output = self._session().output_audio
        self._output[chunk.utterance_id] = StreamResampler(chunk.sample_rate, output.sample_rate)
        return _format_json(output)

    def _speech(self, chunk: SpeechChunk) -> list[bytes]:
        resampler = self._output[chunk.utterance_id]
        parts = [resampler.push(chunk.pcm)]
        if chunk.last:
            parts.append(self._output.pop(chunk.utterance_id).flush())
        return [pcm16_encode(part) for part in parts if len(part)]


def _audio_format(obj: dict, key: str, encodings: dict[str, tuple[int, ...]], default: AudioFormat) -> AudioFormat:
    if key not in obj:
        return default
    value = obj[key]
    example = '{"encoding": "pcm_s16le", "sample_rate": 16000}'
    if not isinstance(value, dict):
        raise ProtocolError("invalid_field", f"session.start.{key} must be an object like {example}.")
    check_keys(value, f"session.start.{key}", ("encoding", "sample_rate"))
    encoding, rate = value.get("encoding"), value.get("sample_rate")
    if not isinstance(encoding, str):
        raise ProtocolError(
            "invalid_field", f"session.start.{key}.encoding must be a string; use {choices(tuple(encodings))}."
        )
    if not isinstance(rate, int) or isinstance(rate, bool):
        raise ProtocolError(
            "invalid_field", f"session.start.{key}.sample_rate must be an integer in Hz, e.g. {example}."
        )
    if encoding not in encodings:
        raise ProtocolError(
            "unsupported_audio", f"{key}.encoding {encoding!r} is not supported; use {choices(tuple(encodings))}."
        )
    if rate not in encodings[encoding]:
        raise ProtocolError(
            "unsupported_audio",
            f"{key}.sample_rate {rate} is not supported for {encoding}; use {choices(encodings[encoding])}.",
        )
    return AudioFormat(encoding, rate)


def _format_json(audio: AudioFormat) -> dict:
    return {"encoding": audio.encoding, "sample_rate": audio.sample_rate}
