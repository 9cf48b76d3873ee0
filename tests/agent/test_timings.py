"""Timings: an utterance's latency figures as differences of its clock readings."""

import pytest

from agent.timings import Heard, Timings, Translated

HEARD = Heard(started_at=1.0, ended_at=3.0, asr_ms=100.0, declared_at=3.25, final_at=3.35)
TRANSLATED = Translated(HEARD, first_token_at=3.45, translate_ms=200.0)


def test_figures_are_differences_of_the_readings():
    timings = Timings(TRANSLATED, handed_at=3.5, first_chunk_at=3.6, audio_s=1.0, done_at=3.7)
    assert timings.figures() == pytest.approx(
        {
            "ttfa_ms": 600.0,
            "start_offset_ms": 2600.0,
            "end_offset_ms": 1600.0,  # played from the first chunk on: 3.6 + 1.0 s
            "tts_first_chunk_ms": 100.0,
            "asr_ms": 100.0,
            "translate_ms": 200.0,
            "tts_rtf": 0.2,
            "vad_end_ms": 250.0,
            "asr_final_ms": 350.0,
            "first_token_ms": 450.0,
            "first_phrase_ms": 500.0,
            "first_pcm_ms": 600.0,
        }
    )
    assert list(timings.figures())[:4] == ["ttfa_ms", "start_offset_ms", "end_offset_ms", "tts_first_chunk_ms"]


def test_the_hops_count_from_the_end_of_speech_and_grow_along_the_path():
    figures = Timings(TRANSLATED, handed_at=3.5, first_chunk_at=3.6, audio_s=1.0, done_at=3.7).figures()
    hops = ["vad_end_ms", "asr_final_ms", "first_token_ms", "first_phrase_ms", "first_pcm_ms"]
    assert [figures[hop] for hop in hops] == sorted(figures[hop] for hop in hops)
    assert figures["first_pcm_ms"] == figures["ttfa_ms"]


def test_speech_generated_slower_than_it_plays_ends_with_its_last_chunk():
    timings = Timings(TRANSLATED, handed_at=3.3, first_chunk_at=3.6, audio_s=0.5, done_at=5.0)
    figures = timings.figures()
    assert figures["end_offset_ms"] == pytest.approx(2000.0)
    assert figures["tts_rtf"] == pytest.approx(3.4)


def test_a_cut_off_phrase_is_reported_and_no_speech_has_no_rtf():
    figures = Timings(TRANSLATED, 3.3, first_chunk_at=3.6, audio_s=0.0, done_at=3.6, cut_off=True).figures()
    assert figures["tts_cut_off"] == 1.0 and figures["tts_rtf"] == 0.0
    assert "tts_cut_off" not in Timings(TRANSLATED, 3.3, 3.6, 1.0, 3.7).figures()
