import numpy as np

from model.vad import SileroVAD, VADSettings
from streaming.audio import frames, read_audio
from tests.helpers import LONG_EN


def _run(audio):
    stream = SileroVAD().stream(VADSettings())
    events = [e for frame in frames(audio, 16000) for e in stream.push(frame)]
    return events + stream.flush()


def test_long_file_gives_five_utterances_with_ordered_boundaries():
    audio, _ = read_audio(LONG_EN)
    events = _run(audio)
    assert [e.kind for e in events] == ["start", "end"] * 5
    samples = [e.sample for e in events]
    assert samples == sorted(samples)
    for start, end in zip(samples[::2], samples[1::2], strict=True):
        assert end - start > 16000  # every reading lasts well over a second
        segment = audio[start:end]
        assert np.sqrt(np.mean(segment**2)) > 0.01


def test_gaps_between_utterances_are_quiet():
    audio, _ = read_audio(LONG_EN)
    samples = [e.sample for e in _run(audio)]
    for end, start in zip(samples[1:-1:2], samples[2::2], strict=True):
        gap = audio[end:start]
        assert np.sqrt(np.mean(gap**2)) < 0.01


def test_silence_and_noise_floor_give_no_events():
    rng = np.random.default_rng(0)
    assert _run(np.zeros(16000 * 5, dtype=np.float32)) == []
    assert _run((0.001 * rng.standard_normal(16000 * 5)).astype(np.float32)) == []


def test_an_utterance_open_at_the_end_is_closed_by_flush():
    audio, _ = read_audio(LONG_EN)
    events = _run(audio[: 16000 * 3])
    assert [e.kind for e in events] == ["start", "end"]
    assert events[-1].sample == 16000 * 3 // 512 * 512


def test_reset_forgets_an_open_utterance():
    audio, _ = read_audio(LONG_EN)
    stream = SileroVAD().stream(VADSettings())
    assert [e.kind for e in stream.push(audio[: 16000 * 2])] == ["start"]
    stream.reset()
    assert not stream.speaking and stream.flush() == []
