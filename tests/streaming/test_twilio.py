import base64
import json

import numpy as np
import pytest

from streaming.audio import mulaw_decode, mulaw_encode
from streaming.events import AudioIn, InputEnd
from streaming.twilio import MarkPlayed, TwilioCodec, TwilioStart
from streaming.wire import ProtocolError

SID = "MZ18ad3ab5a668481ce02b83e7395059f0"

# Messages as Twilio sends them on a bidirectional stream (shapes from the Media Streams reference).
CONNECTED = '{"event": "connected", "protocol": "Call", "version": "1.0.0"}'
START = json.dumps(
    {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": "AC0123456789abcdef0123456789abcdef",
            "streamSid": SID,
            "callSid": "CA0123456789abcdef0123456789abcdef",
            "tracks": ["inbound"],
            "customParameters": {"target_language": "de", "source_language": "en"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
        "streamSid": SID,
    }
)
MARK = json.dumps({"event": "mark", "sequenceNumber": "4", "streamSid": SID, "mark": {"name": "utterance-1"}})
DTMF = json.dumps(
    {"event": "dtmf", "streamSid": SID, "sequenceNumber": "5", "dtmf": {"track": "inbound_track", "digit": "1"}}
)
STOP = json.dumps(
    {
        "event": "stop",
        "sequenceNumber": "6",
        "stop": {"accountSid": "AC0123456789abcdef0123456789abcdef", "callSid": "CA0123456789abcdef0123456789abcdef"},
        "streamSid": SID,
    }
)


def media(payload: bytes, track: str = "inbound", sequence: int = 2) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(sequence),
            "media": {
                "track": track,
                "chunk": str(sequence - 1),
                "timestamp": str(20 * (sequence - 2)),
                "payload": base64.b64encode(payload).decode(),
            },
            "streamSid": SID,
        }
    )


def started() -> TwilioCodec:
    codec = TwilioCodec()
    codec.decode(CONNECTED)
    codec.decode(START)
    return codec


def reject(codec: TwilioCodec, message: str, code: str, match: str) -> None:
    with pytest.raises(ProtocolError, match=match) as info:
        codec.decode(message)
    assert info.value.code == code


def test_inbound_events():
    codec = TwilioCodec()
    assert codec.decode(CONNECTED) == []
    start = TwilioStart(SID, "CA0123456789abcdef0123456789abcdef", {"target_language": "de", "source_language": "en"})
    assert codec.decode(START) == [start] and codec.start == start
    assert codec.decode(DTMF) == []
    assert codec.decode(MARK) == [MarkPlayed("utterance-1")]
    assert codec.decode(media(b"\xff" * 160, track="outbound")) == []  # our own audio, not the caller's
    assert codec.decode(STOP)[-1] == InputEnd()


def test_start_without_custom_parameters():
    message = json.loads(START)
    del message["start"]["customParameters"]
    codec = TwilioCodec()
    assert codec.decode(json.dumps(message))[0].parameters == {}


def test_inbound_media_becomes_16k_audio():
    codec = started()
    t = np.arange(8000) / 8000
    tone = mulaw_encode(0.5 * np.sin(2 * np.pi * 300 * t))
    events = [e for i in range(50) for e in codec.decode(media(tone[160 * i : 160 * (i + 1)], sequence=i + 2))]
    events += codec.decode(STOP)
    assert events[-1] == InputEnd()
    pcm = np.concatenate([e.pcm for e in events[:-1]])
    assert all(isinstance(e, AudioIn) for e in events[:-1])
    assert len(pcm) == 16000 and pcm.dtype == np.float32
    assert np.allclose(pcm[1000:-1000], 0.5 * np.sin(2 * np.pi * 300 * np.arange(16000) / 16000)[1000:-1000], atol=0.03)


def payloads(messages: list[str]) -> list[bytes]:
    out = []
    for message in messages:
        parsed = json.loads(message)
        assert (
            parsed["event"] == "media"
            and parsed["streamSid"] == SID
            and list(parsed) == ["event", "streamSid", "media"]
        )
        out.append(base64.b64decode(parsed["media"]["payload"]))
    return out


def test_outbound_media_is_cut_into_20ms_frames():
    codec = started()
    silence = np.zeros(250, dtype=np.float32)
    assert codec.media(silence, 8000) == [
        f'{{"event":"media","streamSid":"{SID}","media":{{"payload":"{"/" * 213}w=="}}}}'
    ]
    frames = payloads(codec.media(silence, 8000))  # 90 held + 250 = 2 frames, 20 held
    assert [len(f) for f in frames] == [160, 160]
    [last] = payloads(codec.flush_media())
    assert last == b"\xff" * 160  # the 20 held bytes padded with mu-law silence
    assert codec.flush_media() == []


def test_outbound_media_resamples_24k_to_8k():
    codec = started()
    t = np.arange(24000) / 24000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    messages = [m for i in range(0, 24000, 960) for m in codec.media(tone[i : i + 960], 24000)]
    messages += codec.flush_media()
    frames = payloads(messages)
    assert all(len(f) == 160 for f in frames) and len(frames) == 50  # 1 s = 50 frames of 20 ms
    pcm = mulaw_decode(b"".join(frames))
    expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    assert np.allclose(pcm[400:-400], expected[400:-400], atol=0.03)


def test_mark_and_clear():
    codec = started()
    assert codec.mark("utterance-3") == f'{{"event":"mark","streamSid":"{SID}","mark":{{"name":"utterance-3"}}}}'
    codec.media(np.zeros(100, dtype=np.float32), 24000)
    codec.media(np.zeros(100, dtype=np.float32), 8000)
    assert codec.clear() == f'{{"event":"clear","streamSid":"{SID}"}}'
    assert codec.flush_media() == []  # the held audio went with the clear


def test_sending_before_start_is_a_programming_error():
    with pytest.raises(RuntimeError, match="decode Twilio's start message"):
        TwilioCodec().mark("x")


def with_start(**changes) -> str:
    message = json.loads(START)
    message["start"].update(changes)
    return json.dumps(message)


@pytest.mark.parametrize(
    "message, code, match",
    [
        ("not json", "invalid_json", "not JSON"),
        ('"media"', "invalid_json", "not a JSON object"),
        ('{"event": "hangup"}', "unknown_type", 'unknown event "hangup"; expected one of: connected, start, media'),
        ('{"sequenceNumber": "1"}', "unknown_type", "unknown event null"),
        (media(b"\xff" * 160), "not_started", "media message came before start"),
        (STOP, "not_started", "stop message came before start"),
        (
            with_start(mediaFormat={"encoding": "audio/x-l16", "sampleRate": 16000, "channels": 1}),
            "unsupported_audio",
            "audio/x-l16 at 16000 Hz with 1 channel.s.; only audio/x-mulaw at 8000 Hz mono",
        ),
        (with_start(mediaFormat=None), "invalid_field", "no start.mediaFormat of type dict"),
        (with_start(streamSid=5), "invalid_field", "no start.streamSid of type str"),
        (with_start(customParameters={"voice": 1}), "invalid_field", "customParameters must map names to strings"),
    ],
)
def test_protocol_errors_before_start(message, code, match):
    reject(TwilioCodec(), message, code, match)


@pytest.mark.parametrize(
    "message, code, match",
    [
        (START, "already_started", "start message came twice"),
        ('{"event": "media", "media": {"track": "inbound"}}', "invalid_field", "no media.payload of type str"),
        ('{"event": "media", "media": {"payload": "@@@"}}', "invalid_audio", "not valid base64"),
        ('{"event": "mark", "mark": {}}', "invalid_field", "no mark.name"),
    ],
)
def test_protocol_errors_after_start(message, code, match):
    reject(started(), message, code, match)
