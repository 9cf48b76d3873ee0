"""The socket of a WebRTC call (`/v1/webrtc`): the JSON of streaming.messages, with the browser's SDP offer in
session.start and the server's answer back. The audio travels in the peer connection (streaming.webrtc), so a
binary message is refused and audio.start and audio.end only mark where each utterance's speech begins and ends."""

from __future__ import annotations

from streaming.messages import DEFAULT_INPUT, DEFAULT_OUTPUT, JSONCodec, SessionStart, session_settings
from streaming.wire import ProtocolError, dumps


class SignallingCodec(JSONCodec):
    def _session_start(self, obj: dict) -> SessionStart:
        for key in ("input_audio", "output_audio"):
            if key in obj:
                raise ProtocolError(
                    "invalid_field",
                    f"session.start.{key} is not allowed on /v1/webrtc: the audio travels in the peer connection; "
                    "remove it.",
                )
        settings = session_settings(obj, ("sdp",))
        sdp = obj.get("sdp")
        if not isinstance(sdp, str) or not sdp.strip():
            raise ProtocolError(
                "invalid_field",
                "session.start.sdp must be the browser's SDP offer (a non-empty string); send the offer's "
                "sdp after ICE gathering completes.",
            )
        return SessionStart(**settings, input_audio=DEFAULT_INPUT, output_audio=DEFAULT_OUTPUT, sdp=sdp)

    def _decode_audio(self, data: bytes) -> list[object]:
        raise ProtocolError(
            "unexpected_binary",
            "binary message on /v1/webrtc; send audio over the peer connection (or use /v1/stream for binary).",
        )

    def answer(self, sdp: str) -> str:
        """The server's SDP answer, sent before session.started."""
        return dumps({"type": "webrtc.answer", "sdp": sdp})
