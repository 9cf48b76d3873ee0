"""The TTS benchmark's bookkeeping: what a listener hears from chunk arrival times, and the realtime verdicts."""

import pytest

from bench.tts import LANGUAGES, PHRASES, Spoken, realtime_streams, summarize, underruns


def test_a_chunk_in_time_plays_on_and_a_late_one_is_a_gap_played_from_its_arrival():
    # 1 s chunks: the second comes while the first plays, the third 0.5 s after the second has played out
    assert underruns([(0.0, 1.0), (0.8, 1.0), (2.5, 1.0), (3.4, 0.5)]) == [0.5]
    assert underruns([(5.0, 2.0)]) == [] and underruns([]) == []


def test_a_level_is_realtime_only_when_no_stream_underruns():
    steady = Spoken([100.0, 300.0], busy_s=2.0, audio_s=4.0, chunks=[(0.0, 2.0), (1.0, 2.0)])
    late = Spoken([200.0], busy_s=6.0, audio_s=3.0, chunks=[(0.0, 1.0), (1.25, 2.0)])
    level = summarize([steady, late], wall_s=7.0, cpu_s=14.0)
    assert level["first_pcm_ms"]["p50"] == 200.0
    assert (level["rtf"], level["rtf_mean"]) == (2.0, 1.25)
    assert (level["audio_s_per_s"], level["cpu_cores_busy"]) == (1.0, 2.0)
    assert (level["underruns"], level["realtime"]) == (1, False) and level["underrun_ms"] == pytest.approx(250)
    assert summarize([steady], wall_s=2.0, cpu_s=1.0)["realtime"]


def test_the_ramp_holds_the_last_realtime_level_before_the_first_that_is_not():
    runs = [{"streams": n, "realtime": ok} for n, ok in ((1, True), (2, True), (3, False))]
    assert realtime_streams(runs) == 2
    assert realtime_streams(runs[:2]) == 2 and realtime_streams(runs[2:]) == 0


def test_every_language_both_backends_speak_has_phrases_and_korean_is_left_out():
    assert LANGUAGES == tuple(PHRASES) == ("en", "de", "zh")
    assert all(len(texts) == 3 for texts in PHRASES.values())
