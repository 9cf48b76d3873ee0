import pytest

from streaming.pacing import Pacer


class ScriptedClock:
    """A clock that only moves when the code under test sleeps or the test says so."""

    def __init__(self) -> None:
        self.t = 100.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


async def send_times(pacer: Pacer, clock: ScriptedClock, pieces: int, duration_s: float) -> list[float]:
    times = []
    for _ in range(pieces):
        await pacer.wait(duration_s)
        times.append(round(clock.t - 100.0, 6))
    return times


async def test_pieces_leave_in_real_time_after_the_lead():
    clock = ScriptedClock()
    pacer = Pacer(clock, lead_s=0.1, sleep=clock.sleep)
    times = await send_times(pacer, clock, 10, 0.02)
    # 0.1 s of lead goes at once (pieces at 0, 20, ..., 100 ms of audio), then one piece per 20 ms.
    assert times == [0.0] * 6 + [0.02, 0.04, 0.06, 0.08]


async def test_receiver_is_never_more_than_the_lead_ahead():
    clock = ScriptedClock()
    pacer = Pacer(clock, lead_s=0.06, sleep=clock.sleep)
    sent = 0.0
    for duration in [0.05, 0.02, 0.2, 0.01, 0.04, 0.1, 0.02]:
        await pacer.wait(duration)
        assert sent - (clock.t - 100.0) <= 0.06 + 1e-9
        sent += duration


async def test_no_lead_sends_each_piece_when_the_previous_one_ends():
    clock = ScriptedClock()
    pacer = Pacer(clock, lead_s=0.0, sleep=clock.sleep)
    assert await send_times(pacer, clock, 4, 0.5) == [0.0, 0.5, 1.0, 1.5]


async def test_a_gap_restarts_the_schedule_instead_of_bursting():
    clock = ScriptedClock()
    pacer = Pacer(clock, lead_s=0.0, sleep=clock.sleep)
    await send_times(pacer, clock, 3, 0.1)  # audio until 0.3 s; the last piece left at 0.2 s
    clock.t += 1.0  # a pause between utterances: the receiver ran dry at 0.3 s
    assert await send_times(pacer, clock, 3, 0.1) == [1.2, 1.3, 1.4]


async def test_a_sender_slower_than_real_time_never_waits():
    clock = ScriptedClock()
    pacer = Pacer(clock, lead_s=0.0, sleep=clock.sleep)
    for _ in range(5):
        await pacer.wait(0.02)
        clock.t += 0.03  # producing 20 ms of audio takes 30 ms
    assert clock.sleeps == []


async def test_default_sleep_is_asyncio():
    clock = ScriptedClock()
    pacer = Pacer(clock, lead_s=0.0)
    await pacer.wait(0.001)
    clock.t += 0.0005
    await pacer.wait(0.001)  # sleeps 0.5 ms for real; the scripted clock does not move
    assert clock.t == pytest.approx(100.0005)
