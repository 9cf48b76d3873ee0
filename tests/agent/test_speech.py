"""The speech stage on a fake TTS: chunks find their utterance by the phrase's tag, and figures go out once an
utterance is translated and all of it spoken."""

import pytest

from agent.models import Models
from agent.outbox import Outbox
from agent.speech import Speech, Spoken
from agent.timings import Heard, Translated
from streaming.events import Metrics, SpeechChunk
from tests.helpers import FakeTTS, ScriptedClock

HEARD = Heard(started_at=0.0, ended_at=1.0, asr_ms=10.0, declared_at=1.2, final_at=1.25)
TRANSLATED = Translated(HEARD, first_token_at=1.3, translate_ms=5.0)


def _speech(clock: ScriptedClock) -> tuple[Speech, Outbox]:
    outbox = Outbox(clock)
    models = Models(vad=None, vad_settings=None, asr=None, translator=None, tts=FakeTTS(seconds=0.5))
    return Speech(models, "clone", "de", outbox), outbox


async def _events(speech: Speech, outbox: Outbox) -> list:
    speech.end()
    return [event async for event in outbox.events()]


async def test_chunks_of_interleaved_utterances_go_to_their_own_utterance():
    clock = ScriptedClock()
    speech, outbox = _speech(clock)
    task = speech.start()
    first, second = Spoken(1), Spoken(2)
    speech.say(first, "Eins.", at=1.0)
    speech.say(second, "Zwei.", at=2.0)
    speech.say(first, "Drei.", at=3.0)
    speech.translated(first, TRANSLATED, at=3.0)
    speech.translated(second, TRANSLATED, at=3.0)
    clock.advance(4.0)  # the chunks come out at 4.0
    events = await _events(speech, outbox)
    await task
    chunks = [(e.utterance_id, e.text, e.last) for e in events if isinstance(e, SpeechChunk)]
    assert chunks == [(1, "Eins.", False), (2, "Zwei.", True), (1, "Drei.", True)]
    assert [e.utterance_id for e in events if isinstance(e, Metrics)] == [2, 1]
    metrics = {e.utterance_id: e.figures for e in events if isinstance(e, Metrics)}
    assert metrics[1]["tts_first_chunk_ms"] == pytest.approx(3000.0)  # from its first phrase on
    assert metrics[2]["tts_first_chunk_ms"] == pytest.approx(2000.0)
    assert metrics[2]["translate_ms"] == 5.0 and metrics[2]["asr_ms"] == 10.0


async def test_an_utterance_spoken_before_its_translation_was_final_gets_its_figures_with_it():
    clock = ScriptedClock()
    speech, outbox = _speech(clock)
    task = speech.start()
    spoken = Spoken(7)
    speech.say(spoken, "Guten Morgen.", at=0.0)
    events = aiter(outbox.events())
    chunk = await anext(events)
    assert isinstance(chunk, SpeechChunk) and not chunk.last  # more may come: the translation is not final yet
    clock.advance(2.0)
    speech.translated(spoken, TRANSLATED, at=outbox.now())
    metrics = await anext(events)
    assert isinstance(metrics, Metrics) and metrics.utterance_id == 7 and metrics.at == pytest.approx(2.0)
    assert metrics.figures["end_offset_ms"] == pytest.approx(1000.0)  # speech ended when the translation was in
    speech.end()
    assert [event async for event in events] == []
    await task


async def test_an_utterance_with_nothing_spoken_has_no_figures():
    speech, outbox = _speech(ScriptedClock())
    task = speech.start()
    speech.translated(Spoken(3), TRANSLATED, at=1.0)  # its translation had nothing to say
    assert await _events(speech, outbox) == []
    await task
