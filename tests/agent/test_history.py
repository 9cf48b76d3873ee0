"""InputHistory: the recent input samples and when they arrived, on synthetic pushes."""

import numpy as np
import pytest

from agent.history import InputHistory


def _pushed(*lengths: int) -> tuple[InputHistory, np.ndarray]:
    """A history of pushes of these lengths, counting up sample by sample, the n-th arriving at n seconds."""
    history, audio = InputHistory(), np.arange(sum(lengths), dtype=np.float32)
    start = 0
    for n, length in enumerate(lengths, 1):
        history.push(audio[start : start + length], float(n))
        start += length
    return history, audio


def test_a_slice_is_the_samples_asked_for_across_pieces():
    history, audio = _pushed(320, 320, 640)
    assert (history.start, history.end) == (0, 1280)
    for start, end in [(0, 1280), (100, 200), (300, 700), (640, 1280), (1279, 1280), (500, 500)]:
        assert np.array_equal(history.slice(start, end), audio[start:end])
    assert history.slice(1280, 1600).dtype == np.float32 and len(history.slice(1280, 1600)) == 0


def test_forgotten_samples_are_gone_and_the_rest_still_slices():
    history, audio = _pushed(320, 320, 640)
    history.forget_before(500)
    assert (history.start, history.end) == (500, 1280)
    assert np.array_equal(history.slice(0, 800), audio[500:800])  # only what is still kept
    history.push(np.full(160, -1.0, np.float32), 4.0)
    assert np.array_equal(history.slice(1200, 1440), np.concatenate([audio[1200:], np.full(160, -1.0)]))
    history.forget_before(100)  # already forgotten: nothing changes
    assert history.start == 500
    history.forget_before(10_000)  # never past what was heard
    assert (history.start, history.end) == (1440, 1440) and len(history.slice(0, 1440)) == 0


def test_a_sample_arrived_with_the_push_that_held_it():
    history, _ = _pushed(320, 320, 640)
    assert [history.arrival(s) for s in (0, 319, 320, 639, 640, 1279)] == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    assert history.arrival(5000) == 3.0  # not heard yet: the latest arrival
    history.forget_before(1000)
    assert history.arrival(10) == 1.0  # forgetting samples keeps their arrivals


def test_only_the_latest_arrivals_are_remembered():
    history = InputHistory(arrivals=2)
    for n in range(1, 5):
        history.push(np.zeros(10, np.float32), float(n))
    assert history.arrival(5) == 3.0  # the oldest remembered push stands in for older samples
    assert history.arrival(35) == 4.0


def test_arrival_needs_a_push_first():
    with pytest.raises(IndexError):
        InputHistory().arrival(0)
