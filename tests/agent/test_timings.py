"""Timings: an utterance's latency figures as differences of its clock readings."""

import pytest

from agent.timings import Heard, Timings

HEARD = Heard(started_at=1.0, ended_at=3.0, asr_ms=100.0)


def test_figures_are_differences_of_the_readings():
    timings = Timings(HEARD, translate_ms=200.0, handed_at=3.3, first_chunk_at=3.6, audio_s=1.0, done_at=3.7)
    assert timings.figures() == pytest.approx(
        {
            "ttfa_ms": 600.0,
            "start_offset_ms": 2600.0,
            "end_offset_ms": 1600.0,  # played from the first chunk on: 3.6 + 1.0 s
            "tts_first_chunk_ms": 300.0,
            "asr_ms": 100.0,
            "translate_ms": 200.0,
            "tts_rtf": 0.4,
        }
    )
    assert list(timings.figures())[:4] == ["ttfa_ms", "start_offset_ms", "end_offset_ms", "tts_first_chunk_ms"]


def test_speech_generated_slower_than_it_plays_ends_with_its_last_chunk():
    timings = Timings(HEARD, translate_ms=200.0, handed_at=3.3, first_chunk_at=3.6, audio_s=0.5, done_at=5.0)
    figures = timings.figures()
    assert figures["end_offset_ms"] == pytest.approx(2000.0)
    assert figures["tts_rtf"] == pytest.approx(3.4)


def test_a_cut_off_phrase_is_reported_and_no_speech_has_no_rtf():
    figures = Timings(HEARD, 0.0, handed_at=3.3, first_chunk_at=3.6, audio_s=0.0, done_at=3.6, cut_off=True).figures()
    assert figures["tts_cut_off"] == 1.0 and figures["tts_rtf"] == 0.0
    assert "tts_cut_off" not in Timings(HEARD, 0.0, 3.3, 3.6, 1.0, 3.7).figures()
