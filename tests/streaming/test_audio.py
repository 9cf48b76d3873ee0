import numpy as np
import pytest
import soundfile as sf

from streaming.audio import AudioError, frames, read_audio, resample, to_mono, write_wav
from tests.helpers import LONG_EN


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
