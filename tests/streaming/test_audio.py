import numpy as np
import pytest
import soundfile as sf

from streaming.audio import (
    AudioError,
    StreamResampler,
    frames,
    mulaw_decode,
    mulaw_encode,
    pcm16_decode,
    pcm16_encode,
    read_audio,
    resample,
    to_mono,
    write_wav,
)
from tests.helpers import LONG_EN


@pytest.mark.speech
def test_reads_real_speech_as_float_mono():
    audio, rate = read_audio(LONG_EN)
    assert rate == 16000
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 25 < len(audio) / rate < 45
    assert 0.01 < np.abs(audio).max() <= 1.0


def test_stereo_44k_becomes_mono_and_resamples(tmp_path):
    t = np.arange(44100) / 44100
    left, right = 0.5 * np.sin(2 * np.pi * 440 * t), np.zeros_like(t)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 44100)
    audio, rate = read_audio(path)
    assert rate == 44100 and audio.shape == (44100,)
    assert np.allclose(audio, left / 2, atol=1e-3)
    down = resample(audio, 44100, 16000)
    assert abs(len(down) - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(down))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 s of audio: bin index is Hz


def test_reads_compressed_formats(tmp_path):
    path = tmp_path / "tone.ogg"
    sf.write(path, 0.3 * np.sin(np.linspace(0, 2000, 24000)), 24000, format="OGG", subtype="VORBIS")
    audio, rate = read_audio(path)
    assert rate == 24000 and abs(len(audio) - 24000) < 2000


@pytest.mark.parametrize(
    "content, message",
    [(None, "no such file"), (b"", "empty"), (b"this is not audio at all\n" * 20, "not a readable audio file")],
)
def test_bad_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "input.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioError, match=message) as info:
        read_audio(path)
    assert str(path) in str(info.value)


def test_frames_are_20ms_and_cover_everything():
    audio = np.arange(16000 + 100, dtype=np.float32)
    parts = list(frames(audio, 16000, 20))
    assert [len(p) for p in parts[:-1]] == [320] * 50 and len(parts[-1]) == 100
    assert np.array_equal(np.concatenate(parts), audio)


def test_to_mono_keeps_mono_and_write_wav_round_trips(tmp_path):
    mono = to_mono(np.array([0.5, -0.25], dtype=np.float64))
    assert mono.dtype == np.float32
    path = tmp_path / "out.wav"
    write_wav(path, np.array([0.0, 0.5, 2.0], dtype=np.float32), 24000)
    back, rate = sf.read(path, dtype="float32")
    assert rate == 24000 and np.allclose(back, [0.0, 0.5, 1.0], atol=1e-4)


def test_pcm16_round_trips_and_clips():
    data = bytes.fromhex("0000 0100 ff7f 0080 ffff".replace(" ", ""))
    pcm = pcm16_decode(data)
    assert pcm.dtype == np.float32
    assert pcm.tolist() == [0.0, 1 / 32768, 32767 / 32768, -1.0, -1 / 32768]
    assert pcm16_encode(pcm) == data
    assert pcm16_encode(np.array([1.5, -1.5, 1.0], dtype=np.float32)) == bytes.fromhex("ff7f0080ff7f")


def test_pcm16_odd_length_names_the_fix():
    with pytest.raises(AudioError, match="even number of bytes"):
        pcm16_decode(b"\x00\x01\x02")


def test_mulaw_decodes_known_g711_codes():
    # 0xFF and 0x7F are the two zeros; bit 7 clear means negative; 0x80 / 0x00 are the largest magnitudes.
    values = mulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00, 0xFE, 0x7E, 0xF0, 0xEF])) * 32768
    assert values.tolist() == [0, 0, 32124, -32124, 8, -8, 120, 132]


def test_mulaw_encodes_known_g711_codes():
    pcm = np.array([0.0, 1.0, -1.0, 8 / 32768, -8 / 32768, 0.5], dtype=np.float32)
    assert mulaw_encode(pcm) == bytes([0xFF, 0x80, 0x00, 0xFE, 0x7E, 0x8F])


def test_mulaw_every_code_round_trips_and_error_is_small():
    codes = bytes(range(256))
    decoded = mulaw_decode(codes)
    again = mulaw_encode(decoded)
    assert mulaw_decode(again).tolist() == decoded.tolist()  # 0x7F (-0) may come back as 0xFF (+0)
    x = np.linspace(-1, 1, 20001, dtype=np.float32)
    error = np.abs(mulaw_decode(mulaw_encode(x)) - x)
    assert error.max() < 0.02  # half the largest step (1024 / 32768)
    assert error[np.abs(x) < 0.01].max() < 0.0005  # small signals keep fine steps


def test_stream_resampler_matches_one_shot_and_keeps_length():
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    resampler = StreamResampler(8000, 16000)
    parts = [resampler.push(chunk) for chunk in frames(tone, 8000, 20)] + [resampler.flush()]
    out = np.concatenate(parts)
    assert out.dtype == np.float32 and len(out) == 16000
    assert np.allclose(out, resample(tone, 8000, 16000), atol=1e-3)  # no clicks at the 20 ms seams
    assert len(np.concatenate([resampler.push(tone), resampler.flush()])) == 16000  # fresh stream after flush


def test_stream_resampler_same_rate_is_identity():
    resampler = StreamResampler(16000, 16000)
    pcm = np.array([0.1, -0.2], dtype=np.float32)
    assert np.array_equal(resampler.push(pcm), pcm) and len(resampler.flush()) == 0
