from streaming.messages import AudioFormat
from streaming.signalling import SignallingCodec
from tests.streaming.test_native import reject, speech


def started(message: str) -> SignallingCodec:
    codec = SignallingCodec()
    codec.decode(message)
    return codec


def test_webrtc_session_start_needs_sdp_and_answers():
    codec = SignallingCodec()
    [start] = codec.decode('{"type":"session.start","target_language":"ko","sdp":"v=0\\r\\n"}')
    assert start.sdp == "v=0\r\n" and start.input_audio == AudioFormat("pcm_s16le", 16000)
    assert codec.answer("v=0\r\na=answer\r\n") == '{"type":"webrtc.answer","sdp":"v=0\\r\\na=answer\\r\\n"}'
    assert codec.started("w") == (
        '{"type":"session.started","session_id":"w","source_language":"auto","target_language":"ko",'
        '"mode":null,"voice":"clone"}'
    )


def test_webrtc_audio_messages_frame_the_track_without_binary():
    codec = started('{"type":"session.start","target_language":"en","sdp":"v=0"}')
    assert codec.encode(speech(1, 0.1)) == ['{"type":"audio.start","utterance_id":1}']
    assert codec.encode(speech(1, 0.1, last=True)) == ['{"type":"audio.end","utterance_id":1}']


def test_webrtc_rejections():
    reject(SignallingCodec(), '{"type":"session.start","target_language":"en"}', "invalid_field", "sdp")
    reject(
        SignallingCodec(),
        '{"type":"session.start","target_language":"en","sdp":"v=0","input_audio":{}}',
        "invalid_field",
        "input_audio is not allowed on /v1/webrtc",
    )
    codec = started('{"type":"session.start","target_language":"en","sdp":"v=0"}')
    reject(codec, b"\x00\x00", "unexpected_binary", "peer connection")
