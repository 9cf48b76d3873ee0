import base64
import io
import json

import numpy as np
import pytest
import soundfile as sf

from streaming.audio import mulaw_encode, pcm16_decode, pcm16_encode
from streaming.events import (
    AudioIn,
    CancelUtterance,
    Error,
    InputEnd,
    Metrics,
    SpeechChunk,
    SpeechEnded,
    SpeechStarted,
    Transcript,
    Translation,
    UtteranceCancelled,
    VoiceReference,
    VoiceUpdated,
)
from streaming.messages import AudioFormat, JSONCodec, SessionStart
from streaming.native import NativeCodec
from streaming.wire import ProtocolError

START_DE = '{"type":"session.start","target_language":"de"}'


def started(message: str = START_DE) -> NativeCodec:
    codec = NativeCodec()
    codec.decode(message)
    return codec


def wav_base64(audio: np.ndarray, rate: int) -> str:
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="WAV", subtype="PCM_16")
    return base64.b64encode(buffer.getvalue()).decode()


def reject(codec: JSONCodec, message: str | bytes, code: str, match: str) -> ProtocolError:
    with pytest.raises(ProtocolError, match=match) as info:
        codec.decode(message)
    assert info.value.code == code
    return info.value


# client -> server


def test_session_start_defaults():
    codec = NativeCodec()
    assert codec.decode(START_DE) == [
        SessionStart(
            source_language="auto",
            target_language="de",
            input_audio=AudioFormat("pcm_s16le", 16000),
            output_audio=AudioFormat("pcm_s16le", 24000),
            mode=None,
            voice="clone",
            sdp=None,
        )
    ]
    assert codec.start is not None and codec.start.target_language == "de"
    assert codec.started("s-1") == (
        '{"type":"session.started","session_id":"s-1","source_language":"auto","target_language":"de",'
        '"input_audio":{"encoding":"pcm_s16le","sample_rate":16000},'
        '"output_audio":{"encoding":"pcm_s16le","sample_rate":24000},"mode":null,"voice":"clone"}'
    )


def test_session_start_every_field():
    message = {
        "type": "session.start",
        "source_language": "ko",
        "target_language": "zh",
        "input_audio": {"encoding": "mulaw", "sample_rate": 8000},
        "output_audio": {"encoding": "pcm_s16le", "sample_rate": 48000},
        "mode": "simultaneous",
        "voice": "default",
    }
    codec = NativeCodec()
    [start] = codec.decode(json.dumps(message))
    assert start == SessionStart(
        "ko", "zh", AudioFormat("mulaw", 8000), AudioFormat("pcm_s16le", 48000), "simultaneous", "default", None
    )
    assert json.loads(codec.started("abc")) == {
        "type": "session.started",
        "session_id": "abc",
        **{key: value for key, value in message.items() if key != "type"},
    }


def test_explicit_null_mode_is_the_server_default():
    [start] = NativeCodec().decode('{"type":"session.start","target_language":"en","mode":null}')
    assert start.mode is None


def test_pcm16_audio_decodes_at_16k():
    codec = started()
    samples = np.array([0, 16384, -16384, 32767], dtype="<i2")
    [event] = codec.decode(samples.tobytes())
    assert isinstance(event, AudioIn)
    assert event.pcm.dtype == np.float32 and event.pcm.tolist() == [0.0, 0.5, -0.5, 32767 / 32768]
    assert codec.decode('{"type":"input.end"}') == [InputEnd()]


@pytest.mark.parametrize(
    "encoding, rate, encode",
    [("mulaw", 8000, mulaw_encode), ("pcm_s16le", 48000, pcm16_encode), ("pcm_s16le", 8000, pcm16_encode)],
)
def test_other_input_formats_become_16k(encoding, rate, encode):
    codec = started(
        json.dumps(
            {
                "type": "session.start",
                "target_language": "en",
                "input_audio": {"encoding": encoding, "sample_rate": rate},
            }
        )
    )
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 300 * t)
    events = [event for i in range(0, rate, rate // 50) for event in codec.decode(encode(tone[i : i + rate // 50]))]
    *tail, end = codec.decode('{"type":"input.end"}')
    assert end == InputEnd()
    pcm = np.concatenate([event.pcm for event in events + tail])
    assert len(pcm) == 16000 and pcm.dtype == np.float32  # one second, nothing lost at the end
    assert abs(np.argmax(np.abs(np.fft.rfft(pcm))) - 300) <= 1
    assert np.allclose(pcm[1000:-1000], 0.5 * np.sin(2 * np.pi * 300 * np.arange(16000) / 16000)[1000:-1000], atol=0.03)


def test_voice_reference_decodes_wav():
    codec = started()
    stereo = np.stack([np.full(2400, 0.5), np.zeros(2400)], axis=1)
    message = {"type": "voice.reference", "audio": wav_base64(stereo, 24000), "transcript": "Hallo zusammen."}
    [voice] = codec.decode(json.dumps(message))
    assert isinstance(voice, VoiceReference)
    assert voice.sample_rate == 24000 and voice.transcript == "Hallo zusammen."
    assert voice.audio.dtype == np.float32 and voice.audio.shape == (2400,)
    assert np.allclose(voice.audio, 0.25, atol=1e-3)


def test_utterance_cancel_names_an_utterance_or_whatever_is_in_flight():
    codec = started()
    assert codec.decode('{"type":"utterance.cancel","utterance_id":3}') == [CancelUtterance(3)]
    assert codec.decode('{"type":"utterance.cancel"}') == [CancelUtterance(None)]
    assert codec.decode('{"type":"utterance.cancel","utterance_id":null}') == [CancelUtterance(None)]


# server -> client


def test_speech_boundaries_use_input_audio_position():
    codec = started()
    assert codec.encode(SpeechStarted(1, audio_time=1.2344, at=9.0)) == [
        '{"type":"speech.started","utterance_id":1,"at_ms":1234}'
    ]
    assert codec.encode(SpeechEnded(1, audio_time=2.5, at=9.5)) == [
        '{"type":"speech.ended","utterance_id":1,"at_ms":2500}'
    ]


def test_captions():
    codec = started()
    assert codec.encode(Transcript(3, "en", "Good morning", False, 1.0, tentative="every")) == [
        '{"type":"transcript","utterance_id":3,"language":"en","text":"Good morning","tentative":"every","final":false}'
    ]
    assert codec.encode(Translation(3, "zh", "早上好", True, 2.0)) == [
        '{"type":"translation","utterance_id":3,"language":"zh","text":"早上好","tentative":"","final":true}'
    ]


def test_metrics_round_to_a_tenth():
    codec = started()
    figures = {"ttfa_ms": 812.345, "tts_rtf": 0.4321, "tts_cut_off": 1.0}
    assert codec.encode(Metrics(2, figures, at=3.0)) == [
        '{"type":"metrics","utterance_id":2,"ttfa_ms":812.3,"tts_rtf":0.4,"tts_cut_off":1.0}'
    ]


def test_voice_updates_name_their_utterance_when_captured():
    codec = started()
    captured = VoiceUpdated(6.4567, "And Mr. John Dashwood had then leisure", "captured", at=8.0, utterance_id=1)
    assert codec.encode(captured) == [
        '{"type":"voice.updated","utterance_id":1,"duration_s":6.46,"transcript":"And Mr. John Dashwood had then '
        'leisure","source":"captured"}'
    ]
    assert codec.encode(VoiceUpdated(3.0, "你好，我是安娜。", "explicit", at=0.5)) == [
        '{"type":"voice.updated","duration_s":3.0,"transcript":"你好，我是安娜。","source":"explicit"}'
    ]


def test_a_cancelled_utterance_is_named_and_its_audio_ends_at_once():
    codec = started()
    codec.encode(speech(5, 0.1))
    assert codec.encode(SpeechChunk(5, np.zeros(0, np.float32), 24000, "", at=2.0, last=True)) == [
        '{"type":"audio.end","utterance_id":5}'
    ]
    assert codec.encode(UtteranceCancelled(5, at=2.0)) == ['{"type":"utterance.cancelled","utterance_id":5}']


def test_errors_and_session_end():
    codec = NativeCodec()
    assert codec.encode(Error("tts_failed", "speech synthesis failed; the utterance was skipped.", False, 1.0, 4)) == [
        '{"type":"error","code":"tts_failed","message":"speech synthesis failed; the utterance was skipped.",'
        '"fatal":false,"utterance_id":4}'
    ]
    assert codec.error("server_busy", "all sessions in use; retry later.", True) == (
        '{"type":"error","code":"server_busy","message":"all sessions in use; retry later.","fatal":true}'
    )
    assert codec.ended() == '{"type":"session.ended"}'


def speech(utterance_id: int, seconds: float, last: bool = False) -> SpeechChunk:
    pcm = np.full(int(24000 * seconds), 0.25, dtype=np.float32)
    return SpeechChunk(utterance_id, pcm, 24000, "Guten Morgen", at=1.0, last=last)


def test_audio_at_24k_is_framed_by_start_and_end():
    codec = started()
    first = codec.encode(speech(7, 0.1))
    assert first[0] == '{"type":"audio.start","utterance_id":7,"encoding":"pcm_s16le","sample_rate":24000}'
    assert first[1] == pcm16_encode(np.full(2400, 0.25)) and len(first) == 2
    assert codec.encode(speech(7, 0.05, last=True)) == [
        pcm16_encode(np.full(1200, 0.25)),
        '{"type":"audio.end","utterance_id":7}',
    ]
    assert codec.encode(speech(8, 0.0, last=True)) == [  # an utterance with no audio still opens and closes
        '{"type":"audio.start","utterance_id":8,"encoding":"pcm_s16le","sample_rate":24000}',
        '{"type":"audio.end","utterance_id":8}',
    ]


@pytest.mark.parametrize("rate", [16000, 48000])
def test_audio_is_resampled_to_the_output_rate(rate):
    codec = started(
        json.dumps(
            {
                "type": "session.start",
                "target_language": "de",
                "output_audio": {"encoding": "pcm_s16le", "sample_rate": rate},
            }
        )
    )
    messages = [m for chunk in [speech(1, 0.3), speech(1, 0.3), speech(1, 0.4, last=True)] for m in codec.encode(chunk)]
    assert messages[0] == f'{{"type":"audio.start","utterance_id":1,"encoding":"pcm_s16le","sample_rate":{rate}}}'
    assert messages[-1] == '{"type":"audio.end","utterance_id":1}'
    binary = messages[1:-1]
    assert binary and all(isinstance(m, bytes) and m for m in binary)  # no empty binary messages
    pcm = pcm16_decode(b"".join(binary))
    assert len(pcm) == rate  # one second, the resampler's tail included
    assert np.allclose(pcm[rate // 10 : -rate // 10], 0.25, atol=1e-3)


def test_utterances_interleave_with_their_own_framing():
    codec = started()
    assert codec.encode(speech(1, 0.01))[0].startswith('{"type":"audio.start","utterance_id":1')
    assert codec.encode(speech(2, 0.01))[0].startswith('{"type":"audio.start","utterance_id":2')
    assert codec.encode(speech(1, 0.01, last=True))[-1] == '{"type":"audio.end","utterance_id":1}'
    assert len(codec.encode(speech(2, 0.01))) == 1  # utterance 2 is still open: binary only


def test_encoding_audio_before_session_start_is_a_programming_error():
    with pytest.raises(RuntimeError, match="decode the client's session.start first"):
        NativeCodec().encode(speech(1, 0.1))
    with pytest.raises(TypeError, match="cannot encode AudioIn"):
        NativeCodec().encode(AudioIn(np.zeros(1, dtype=np.float32)))


# every ProtocolError code


@pytest.mark.parametrize(
    "message, code, match",
    [
        ("hello", "invalid_json", "not JSON"),
        ("[1, 2]", "invalid_json", "JSON list"),
        ("{}", "unknown_type", 'no "type"; use one of: session.start, input.end, voice.reference'),
        ('{"type":"audio"}', "unknown_type", 'unknown type "audio"'),
        ('{"type":["x"]}', "unknown_type", "unknown type"),
        (b"\x00\x00", "not_started", "audio came before session.start; send session.start first"),
        ('{"type":"input.end"}', "not_started", "input.end came before session.start"),
        ('{"type":"voice.reference","audio":"","transcript":"hi"}', "not_started", "voice.reference came before"),
        ('{"type":"utterance.cancel"}', "not_started", "utterance.cancel came before session.start"),
        ('{"type":"session.start"}', "invalid_field", "target_language is required; use one of en, zh, de or ko"),
        ('{"type":"session.start","target_language":7}', "invalid_field", "7 is not a string; use en, zh, de or ko"),
        ('{"type":"session.start","target_language":"en","source_language":null}', "invalid_field", "auto, en"),
        ('{"type":"session.start","target_language":"en","voice":1}', "invalid_field", "use clone or default"),
        ('{"type":"session.start","target_language":"en","mode":["fast"]}', "invalid_field", "consecutive or simul"),
        ('{"type":"session.start","target_language":"en","sdp":"v=0"}', "invalid_field", "unknown key 'sdp'"),
        ('{"type":"session.start","target_language":"en","input_audio":16000}', "invalid_field", "must be an object"),
        (
            '{"type":"session.start","target_language":"en","input_audio":{"encoding":"mulaw"}}',
            "invalid_field",
            "sample_rate must be an integer",
        ),
        (
            '{"type":"session.start","target_language":"en","input_audio":{"encoding":"mulaw","sample_rate":8000,'
            '"channels":1}}',
            "invalid_field",
            "unknown key 'channels'; allowed keys: encoding, sample_rate",
        ),
        (
            '{"type":"session.start","target_language":"en","input_audio":{"encoding":"pcm_s16le","sample_rate":44100}}',
            "unsupported_audio",
            "input_audio.sample_rate 44100 is not supported for pcm_s16le; use 8000, 16000, 24000 or 48000",
        ),
        (
            '{"type":"session.start","target_language":"en","input_audio":{"encoding":"mulaw","sample_rate":16000}}',
            "unsupported_audio",
            "not supported for mulaw; use 8000",
        ),
        (
            '{"type":"session.start","target_language":"en","input_audio":{"encoding":"opus","sample_rate":48000}}',
            "unsupported_audio",
            "input_audio.encoding 'opus' is not supported; use pcm_s16le or mulaw",
        ),
        (
            '{"type":"session.start","target_language":"en","output_audio":{"encoding":"mulaw","sample_rate":8000}}',
            "unsupported_audio",
            "output_audio.encoding 'mulaw' is not supported; use pcm_s16le",
        ),
    ],
)
def test_protocol_errors_before_start(message, code, match):
    reject(NativeCodec(), message, code, match)


def test_a_rejected_session_start_does_not_start_the_session():
    codec = NativeCodec()
    reject(codec, '{"type":"session.start","target_language":["xx"]}', "invalid_field", "xx")
    assert codec.start is None
    assert codec.decode(START_DE)[0].target_language == "de"


@pytest.mark.parametrize(
    "message, code, match",
    [
        (START_DE, "already_started", "session.start came twice"),
        (b"\x00\x00\x00", "odd_length", "has 3 bytes, an odd number; send whole 2-byte samples"),
        ('{"type":"input.end","now":true}', "invalid_field", "input.end has unknown key 'now'"),
        ('{"type":"voice.reference","audio":"AAAA"}', "invalid_field", "transcript must be a non-empty string"),
        ('{"type":"voice.reference","audio":"AAAA","transcript":" "}', "invalid_field", "transcript must be"),
        ('{"type":"voice.reference","audio":7,"transcript":"hi"}', "invalid_field", "audio must be a string"),
        ('{"type":"voice.reference","audio":"not base64!","transcript":"hi"}', "invalid_audio", "not a base64 WAV"),
        ('{"type":"voice.reference","audio":"aGVsbG8=","transcript":"hi"}', "invalid_audio", "not a base64 WAV"),
        ('{"type":"utterance.cancel","utterance_id":"3"}', "invalid_field", '"3" is not an utterance id'),
        ('{"type":"utterance.cancel","utterance_id":0}', "invalid_field", "0 is not an utterance id; send the"),
        ('{"type":"utterance.cancel","utterance_id":true}', "invalid_field", "true is not an utterance id"),
        ('{"type":"utterance.cancel","id":3}', "invalid_field", "utterance.cancel has unknown key 'id'"),
    ],
)
def test_protocol_errors_after_start(message, code, match):
    reject(started(), message, code, match)


def test_voice_reference_without_samples_is_invalid_audio():
    message = {"type": "voice.reference", "audio": wav_base64(np.zeros(0), 16000), "transcript": "hi"}
    reject(started(), json.dumps(message), "invalid_audio", "holds no samples")


def test_mulaw_input_accepts_odd_byte_counts():
    codec = started(
        '{"type":"session.start","target_language":"en","input_audio":{"encoding":"mulaw","sample_rate":8000}}'
    )
    events = codec.decode(b"\xff" * 161) + codec.decode('{"type":"input.end"}')
    assert sum(len(e.pcm) for e in events if isinstance(e, AudioIn)) == 322
