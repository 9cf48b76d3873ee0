"""The translation stage on the scripted clock: the translator streams into the phrase splitter, phrases leave
while the translation goes on, a cancel stops the translator and the speech together, and every hop of an
utterance is a difference of scripted readings."""

import asyncio

import pytest

from agent.models import Models
from agent.outbox import Outbox
from agent.speech import Speech
from agent.timings import Heard
from agent.translating import SourceUpdate, Translating
from agent.translation import TranslationSettings
from streaming.events import Metrics, SpeechChunk, Translation, UtteranceCancelled
from tests.helpers import FakeTTS, HeldTTS, ScriptedClock, ScriptedTranslator, StreamsWhole

PIECES = ["Guten Morgen ", "an alle zusammen. ", "Wie ", "geht es euch ", "heute?"]
FIRST, SECOND = "Guten Morgen an alle zusammen.", "Wie geht es euch heute?"
SOURCE = "Good morning, everyone. How are you today?"
HEARD = Heard(started_at=1.0, ended_at=2.0, asr_ms=50.0, declared_at=2.5, final_at=2.6)
POLICIES = ["consecutive", "simultaneous"]


class Stage:
    """A translation stage and its speech stage over one outbox, fed by the test."""

    def __init__(self, clock, translator, tts, policy="consecutive", streaming=True):
        self.outbox = Outbox(clock)
        settings = TranslationSettings(policy=policy, streaming=streaming)
        models = Models(vad=None, vad_settings=None, asr=None, translator=translator, tts=tts, translation=settings)
        self.speech = Speech(models, "clone", "de", self.outbox)
        self.updates = asyncio.Queue()
        self.translating = Translating(models, policy, "de", self.updates, self.speech, self.outbox)
        self.tasks = [self.speech.start(), self.translating.start()]
        self.events = aiter(self.outbox.events())

    def final(self, uid=1, text=SOURCE):
        self.updates.put_nowait(SourceUpdate(uid, "en", text, final=True, heard=HEARD))

    async def until(self, done):
        """The events up to and including the first one for which `done` is true."""
        events = []
        async for event in self.events:
            events.append(event)
            if done(event):
                return events
        raise AssertionError(f"the events ended before the one awaited: {events}")

    async def finish(self):
        """End the input; every event left."""
        self.updates.put_nowait(None)
        events = [event async for event in self.events]
        await asyncio.gather(*self.tasks)
        return events


def _of(kind, events, uid=None):
    return [e for e in events if isinstance(e, kind) and uid in (None, e.utterance_id)]


def _heard(events, uid=None):
    """The speech that came out, as (utterance, phrase) per chunk with audio."""
    return [(e.utterance_id, e.text) for e in _of(SpeechChunk, events, uid) if len(e.pcm)]


@pytest.mark.parametrize("policy", POLICIES)
async def test_the_first_phrase_is_spoken_before_the_translation_finishes(policy):
    clock = ScriptedClock()
    translator = ScriptedTranslator(clock, PIECES, gated=True)
    stage = Stage(clock, translator, FakeTTS(), policy)
    stage.final()
    translator.release(3)  # "Wie" settles the sentence end after "zusammen."
    before = await stage.until(lambda e: isinstance(e, SpeechChunk))
    assert _heard(before) == [(1, FIRST)]
    assert translator.pulled == 3 and not any(e.final for e in _of(Translation, before))
    translator.release(2)
    events = before + await stage.finish()
    assert _heard(events) == [(1, FIRST), (1, SECOND)]  # each phrase once, in order: the flush adds only the rest
    captions = _of(Translation, events)
    assert captions[-1].final and captions[-1].text == f"{FIRST} {SECOND}"
    for earlier, later in zip(captions, captions[1:], strict=False):
        assert later.text.startswith(earlier.text)
    assert translator.calls == [(SOURCE, "")]


async def test_captions_grow_word_by_word_with_the_word_still_growing_as_tentative():
    clock = ScriptedClock()
    stage = Stage(clock, ScriptedTranslator(clock, ["Gu", "ten Mor", "gen an", " alle", " zusammen."]), FakeTTS())
    stage.final()
    captions = [(e.text, e.tentative, e.final) for e in _of(Translation, await stage.finish())]
    assert captions == [
        ("", "Gu", False),
        ("Guten", "Mor", False),
        ("Guten Morgen", "an", False),
        ("Guten Morgen an", "alle", False),
        ("Guten Morgen an alle", "zusammen.", False),
        ("Guten Morgen an alle zusammen.", "", True),
    ]


async def test_the_old_path_says_nothing_before_the_translation_ends():
    clock = ScriptedClock()
    translator = ScriptedTranslator(clock, PIECES)
    stage = Stage(clock, translator, FakeTTS(), streaming=False)
    stage.final()
    events = await stage.finish()
    (caption,) = _of(Translation, events)
    assert caption.final and caption.text == f"{FIRST} {SECOND}" and caption.at == pytest.approx(0.5)
    assert _heard(events) == [(1, FIRST), (1, SECOND)]
    (metrics,) = _of(Metrics, events)
    # the first piece still came at 0.1 s, but the first phrase left only with the whole translation
    assert metrics.figures["first_token_ms"] == pytest.approx((0.1 - 2.0) * 1000)
    assert metrics.figures["first_phrase_ms"] == pytest.approx((0.5 - 2.0) * 1000)


async def test_every_hop_is_the_difference_of_its_scripted_readings():
    clock = ScriptedClock()
    translator = ScriptedTranslator(clock, PIECES, gated=True)
    tts = HeldTTS(clock, delay=0.2)
    tts.resume.set()
    stage = Stage(clock, translator, tts)
    clock.advance(3.0)  # the session clock reads 3.0 s when the final transcript is handed over
    stage.final()
    translator.release(3)  # pieces at 3.1, 3.2, 3.3: the first phrase goes to the TTS at 3.3
    await stage.until(lambda e: isinstance(e, SpeechChunk))  # its first PCM at 3.5
    translator.release(2)  # pieces at 3.6 and 3.7, the end of the translation; the second phrase sounds at 3.9
    (metrics,) = _of(Metrics, await stage.finish())
    assert metrics.figures == pytest.approx(
        {
            "ttfa_ms": 1500.0,
            "start_offset_ms": 2500.0,
            "end_offset_ms": 2500.0,  # two phrases of 0.5 s played from 3.5 on
            "tts_first_chunk_ms": 200.0,
            "asr_ms": 50.0,
            "translate_ms": 700.0,
            "tts_rtf": 0.6,  # from 3.3 to the last chunk at 3.9, for 1 s of speech
            "vad_end_ms": 500.0,
            "asr_final_ms": 600.0,
            "first_token_ms": 1100.0,
            "first_phrase_ms": 1300.0,
            "first_pcm_ms": 1500.0,
        }
    )


@pytest.mark.parametrize("policy", POLICIES)
async def test_cancel_stops_the_translator_and_the_speech_together_and_the_next_utterance_goes_on(policy):
    clock = ScriptedClock()
    translator = ScriptedTranslator(clock, PIECES, gated=True, replies={"Next.": ["Weiter ", "geht es mit dem Satz."]})
    tts = HeldTTS(clock)
    stage = Stage(clock, translator, tts, policy)
    stage.final()
    translator.release(3)
    before = await stage.until(lambda e: isinstance(e, SpeechChunk))  # the first half of the first phrase sounds
    stage.translating.cancel()  # barge-in: whatever is in flight
    tts.resume.set()
    cancelled = await stage.until(lambda e: isinstance(e, UtteranceCancelled))
    assert cancelled[-1].utterance_id == 1
    (end,) = _of(SpeechChunk, cancelled)
    assert end.last and len(end.pcm) == 0  # its audio ends at once
    assert tts.cancels == 1  # the TTS stream was cancelled with the translation
    stage.final(2, "Next.")
    translator.release(2)
    after = await stage.finish()
    assert translator.stopped and translator.closed and translator.pulled == 3 + 2
    events = before + cancelled + after
    assert _heard(events, 1) == [(1, FIRST)]  # half of it, never again
    assert not _of(Translation, cancelled + after, 1) and not _of(Metrics, events, 1)
    assert _heard(events, 2) == [(2, "Weiter geht es mit dem Satz.")] * 2  # its two halves
    assert [e.utterance_id for e in _of(Metrics, events)] == [2]
    assert _of(UtteranceCancelled, events) == cancelled[-1:]


async def test_cancelling_a_later_utterance_lets_the_one_sounding_finish_and_drops_the_rest():
    clock = ScriptedClock()
    replies = {"one": ["Erstens sagen wir etwas Langes."], "two": ["Zweitens sagen wir etwas Anderes."]}
    tts = HeldTTS(clock)
    stage = Stage(clock, ScriptedTranslator(clock, replies=replies), tts)
    stage.final(1, "one")
    stage.final(2, "two")
    before = await stage.until(lambda e: isinstance(e, SpeechChunk))  # utterance 1 sounds
    if not any(e.final for e in _of(Translation, before, 2)):  # and the phrase of 2 waits behind it
        before += await stage.until(lambda e: isinstance(e, Translation) and e.utterance_id == 2 and e.final)
    assert stage.speech.in_flight() == {1, 2}
    stage.translating.cancel(2)
    tts.resume.set()
    events = before + await stage.finish()
    assert _heard(events) == [(1, "Erstens sagen wir etwas Langes.")] * 2  # both halves; nothing of 2
    assert [e.utterance_id for e in _of(Metrics, events)] == [1]
    assert [e.utterance_id for e in _of(UtteranceCancelled, events)] == [2]


class WholeTranslator(StreamsWhole):
    def translate(self, text, source, target, *, context=(), prefix=""):
        return f"Übersetzt: {text}"


async def test_a_translator_that_answers_in_one_piece_is_spoken_once():
    stage = Stage(ScriptedClock(), WholeTranslator(), FakeTTS())
    stage.final(1, "Hallo.")
    events = await stage.finish()
    assert _heard(events) == [(1, "Übersetzt: Hallo.")]
    assert [(e.text, e.final) for e in _of(Translation, events)] == [
        ("Übersetzt:", False),
        ("Übersetzt: Hallo.", True),
    ]
