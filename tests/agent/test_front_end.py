"""The front end's ASR scheduling on a scripted clock: a scripted VAD, whisper fakes, the process's partial budget."""

import asyncio
import threading

import numpy as np
import pytest

import model.streaming_asr as streaming_module
from agent.front_end import FrontEnd
from agent.models import Models
from agent.outbox import Outbox
from agent.partial_budget import PartialBudget
from model.asr import ASRSettings, TimedWord, Transcription
from model.vad import VADEvent, VADSettings
from streaming.events import SpeechEnded, Transcript
from tests.helpers import FakeTTS, ScriptedClock

RATE = 16000
FRAME = 320
BLOCK = RATE // 4  # the block fake's words: one per quarter second of audio


class ScriptedVAD:
    """`SileroVAD.stream` that declares what a script says: events at input samples, pauses over sample ranges."""

    def __init__(self, events, pauses=()):
        self.events, self.pauses = events, pauses

    def stream(self, settings):
        return ScriptedVADStream(self)


class ScriptedVADStream:
    def __init__(self, vad):
        self.vad, self.position, self.sent = vad, 0, 0

    @property
    def paused(self):
        return any(start <= self.position < end for start, end in self.vad.pauses)

    def push(self, audio):
        self.position += len(audio)
        due = [event for event in self.vad.events[self.sent :] if event.sample <= self.position]
        self.sent += len(due)
        return due

    def flush(self):
        return []


class BlockWhisper:
    """Hears one word per quarter second, named by the block's sample values (`speech`), so words keep their names
    wherever a window starts. Partial decodes (timed) cost `partial_s` on the scripted clock and, once `hold` is
    cleared, wait for it; the final decode costs `final_s`."""

    multilingual = False

    settings = ASRSettings()

    def __init__(self, clock, *, partial_s=0.05, final_s=0.1):
        self.clock, self.partial_s, self.final_s = clock, partial_s, final_s
        self.hold = threading.Event()
        self.hold.set()
        self.partials_started = 0
        self.decoded: list[tuple[bool, int]] = []  # (timed, samples) of each decode

    def language_probabilities(self, audio):
        return {"en": 1.0}

    def transcribe(self, audio, language, timed=False):
        if timed:
            self.partials_started += 1
            self.hold.wait(5)
        self.decoded.append((timed, len(audio)))
        self.clock.advance(self.partial_s if timed else self.final_s)
        words = []
        for start in range(0, len(audio) - BLOCK + 1, BLOCK):
            name = f"w{round(float(audio[start + BLOCK // 2]) * 1000)}"
            words.append(TimedWord(name, start / RATE, (start + BLOCK) / RATE))
        return Transcription(" ".join(w.text for w in words), "en", words=tuple(words) if timed else ())


class SilentSpeech:
    listening = False

    def offer(self, clip, text, log_prob, utterance_id):
        pass


def speech(seconds: float) -> np.ndarray:
    """Block k (a quarter second) holds the value k/1000, which the block fake reads back as the word w{k}."""
    blocks = np.arange(round(seconds * 4), dtype=np.float32) / 1000
    return np.repeat(blocks, BLOCK)


def front_end(clock, whisper, vad, budget=None):
    models = Models(vad, VADSettings(), whisper, translator=None, tts=FakeTTS())
    if budget is not None:
        models.partials = budget
    outbox = Outbox(clock)
    updates: asyncio.Queue = asyncio.Queue()
    return FrontEnd(models, "en", simultaneous=False, speech=SilentSpeech(), updates=updates, outbox=outbox), outbox


async def until(condition):
    """Wait (in real time) for worker threads and tasks to get somewhere; the test's figures stay scripted."""
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the front end never got there")


async def settled(fe):
    """Wait until the front end has heard every frame pushed and its partial decode is back, as if decodes were
    instant next to the pace of speech."""
    await until(lambda: fe._fed == fe._history.end and (fe._partial is None or fe._partial.done()))


async def feed(fe, clock, audio, settle=False):
    for start in range(0, len(audio), FRAME):
        clock.advance(FRAME / RATE)
        fe.push(audio[start : start + FRAME])
        if settle:
            await until(lambda: fe._queued == 0)
            await settled(fe)
        else:
            await asyncio.sleep(0)


def drain(outbox) -> list:
    events = []
    while not outbox._events.empty():
        events.append(outbox._events.get_nowait())
    return [event for event in events if event is not None]


async def test_the_final_is_decoded_while_a_partial_is_still_in_flight_and_the_partial_is_dropped():
    clock = ScriptedClock()
    whisper = BlockWhisper(clock)
    audio = speech(2.0)
    vad = ScriptedVAD([VADEvent("start", 0), VADEvent("end", len(audio))])
    fe, outbox = front_end(clock, whisper, vad)
    fe.start()
    await feed(fe, clock, audio[: RATE // 2 + FRAME], settle=True)
    whisper.hold.clear()  # the next partial decode does not come back
    await feed(fe, clock, audio[RATE // 2 + FRAME : len(audio) - FRAME])
    await until(lambda: whisper.partials_started >= 2)
    await feed(fe, clock, audio[len(audio) - FRAME :])  # the VAD declares the end
    await until(lambda: any(isinstance(e, Transcript) and e.final for e in list(outbox._events._queue)))
    assert not whisper.hold.is_set() and [timed for timed, _ in whisper.decoded][-1] is False
    whisper.hold.set()
    fe.end_input()
    await fe._task
    events = drain(outbox)
    ended = next(i for i, e in enumerate(events) if isinstance(e, SpeechEnded))
    final = next(i for i, e in enumerate(events) if isinstance(e, Transcript) and e.final)
    assert events[final].text == " ".join(f"w{k}" for k in range(8))
    assert events[final].at - events[ended].at == pytest.approx(0.1)  # the final decode's own cost, no wait
    assert not [e for e in events[ended:] if isinstance(e, Transcript) and not e.final]


async def test_partials_decode_only_the_audio_after_their_committed_words(monkeypatch):
    monkeypatch.setattr(streaming_module, "CUT_MARGIN_S", 0.0)  # the fake's words start exactly at their blocks
    clock = ScriptedClock()
    whisper = BlockWhisper(clock)
    audio = speech(12.0)
    vad = ScriptedVAD([VADEvent("start", 0), VADEvent("end", len(audio))])
    fe, outbox = front_end(clock, whisper, vad)
    fe.start()

    await feed(fe, clock, audio, settle=True)
    fe.end_input()
    await fe._task
    partials = [samples for timed, samples in whisper.decoded if timed]
    assert len(partials) >= 20
    assert max(partials[-10:]) < 5 * RATE  # 12 s of speech, but only its last few seconds are decoded again
    events = drain(outbox)
    captions = [e.text for e in events if isinstance(e, Transcript)]
    assert captions[-1] == " ".join(f"w{k}" for k in range(48))
    for earlier, later in zip(captions, captions[1:], strict=False):
        assert later.startswith(earlier)


async def test_no_partial_starts_while_the_voice_pauses():
    clock = ScriptedClock()
    whisper = BlockWhisper(clock)
    audio = speech(3.0)
    vad = ScriptedVAD([VADEvent("start", 0), VADEvent("end", len(audio))], pauses=[(RATE, 3 * RATE)])
    fe, _ = front_end(clock, whisper, vad)
    fe.start()

    await feed(fe, clock, audio, settle=True)
    fe.end_input()
    await fe._task
    assert [samples for timed, samples in whisper.decoded if timed] == [RATE // 2]  # none from 1 s to the end


async def test_partials_come_further_apart_when_other_sessions_speak_and_decodes_are_slow():
    clock = ScriptedClock()
    whisper = BlockWhisper(clock, partial_s=0.3)
    budget = PartialBudget()
    for _ in range(3):
        budget.enter()  # three other sessions are speaking
    audio = speech(10.0)
    vad = ScriptedVAD([VADEvent("start", 0), VADEvent("end", len(audio))])
    fe, _ = front_end(clock, whisper, vad, budget)
    fe.start()

    await feed(fe, clock, audio, settle=True)
    fe.end_input()
    await fe._task
    polls = [samples for timed, samples in whisper.decoded if timed]
    # after the first decode, four sessions at 0.3 s a decode within half a worker: 2.4 s of speech apart
    assert polls == [RATE // 2 + k * round(2.4 * RATE) for k in range(4)]
    assert budget.speaking == 3 and budget.decoding == 0


def test_the_budget_widens_the_interval_under_load_and_narrows_it_back():
    budget = PartialBudget()
    assert budget.interval(0.5, 0.5) == 0.5
    for _ in range(4):
        budget.enter()
    assert budget.try_start(workers=2)
    budget.finished(0.2)
    assert budget.interval(0.5, 0.5) == pytest.approx(4 * 0.2 / 0.5)
    assert budget.try_start(workers=2) and not budget.try_start(workers=2)  # one worker stays free for finals
    budget.finished(0.6)
    assert budget.interval(0.5, 0.5) == pytest.approx(4 * (0.7 * 0.2 + 0.3 * 0.6) / 0.5)
    for _ in range(3):
        budget.leave()
    for _ in range(10):
        assert budget.try_start(workers=2)
        budget.finished(0.05)
    assert budget.interval(0.5, 0.5) == 0.5
