"""The Session with real silero VAD on real speech and scripted fakes for ASR, translation and TTS."""

import asyncio
import time

import numpy as np
import pytest

from agent.models import Models
from agent.session import Session, SessionError
from agent.translation import TranslationSettings
from model.asr import ASRSettings, Transcription
from model.higgs import HiggsGenerator
from model.speech import EOS
from model.speech import SpeechChunk as PhraseChunk
from model.vad import SileroVAD, VADSettings
from streaming.audio import frames, read_audio, resample
from streaming.events import (
    Error,
    Metrics,
    SpeechChunk,
    SpeechEnded,
    SpeechStarted,
    Transcript,
    Translation,
    VoiceUpdated,
)
from streaming.vocabulary import LANGUAGE_NAMES
from tests.helpers import (
    LONG_EN,
    SPEECH,
    TTS_RATE,
    FakeTTS,
    ScriptedClock,
    StreamsWhole,
    english_references,
    run_session,
    word_error_rate,
)


class FakeASR:
    multilingual = False
    settings = ASRSettings()

    def __init__(self, clock):
        self.clock, self.heard = clock, []

    def language_probabilities(self, audio):
        return {"en": 1.0}

    def transcribe(self, audio, language, timed=False):
        self.clock.advance(0.1)
        self.heard.append(len(audio))
        return Transcription(text=f"sentence {len(self.heard)}", language="en")


class FakeTranslator(StreamsWhole):
    """Answers with the code of the language it was asked for (backends are told languages by name)."""

    CODES = {name: code for code, name in LANGUAGE_NAMES.items()}

    def __init__(self, clock, fail_on=None):
        self.clock, self.fail_on, self.contexts = clock, fail_on, []

    def translate(self, text, source, target, *, context=(), prefix=""):
        self.clock.advance(0.2)
        self.contexts.append(list(context))
        if text == self.fail_on:
            raise RuntimeError("scripted failure")
        return f"{self.CODES[target]}: {text}"


class ClockedTTS(FakeTTS):
    """Each phrase: half a second of speech 0.3 s after the text arrives, the other half 0.1 s later."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def speak(self, text, tag):
        half = np.full(TTS_RATE // 2, 0.1, dtype=np.float32)
        self.clock.advance(0.3)
        yield PhraseChunk(half, TTS_RATE, tag, text, first_frame=0)
        self.clock.advance(0.1)
        yield PhraseChunk(half, TTS_RATE, tag, text, first_frame=12, end=EOS)


def _models(clock, **translator):
    return Models(
        vad=SileroVAD(),
        vad_settings=VADSettings(),
        asr=FakeASR(clock),
        translator=FakeTranslator(clock, **translator),
        tts=ClockedTTS(clock),
    )


async def _run(models, audio, clock, target="de"):
    return await run_session(Session(models, source_language="auto", target_language=target, clock=clock), audio, clock)


@pytest.mark.speech
async def test_one_utterance_metrics_are_differences_of_scripted_clock_readings():
    clock = ScriptedClock()
    speech, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0880.wav")
    audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(16000, np.float32)])
    models = _models(clock)
    events = await _run(models, audio, clock)
    kinds = [SpeechStarted, SpeechEnded, Transcript, VoiceUpdated, Translation, Translation, SpeechChunk, SpeechChunk]
    assert [type(e) for e in events] == [*kinds, Metrics]  # the utterance became the voice reference first
    started, ended, transcript, voice, streamed, translation, chunk, last, metrics = events

    pushed = len(list(frames(audio, 16000))) * 0.02
    assert started.at == pytest.approx((int(started.audio_time * 16000) // 320 + 1) * 0.02)
    assert ended.at == pytest.approx((int(ended.audio_time * 16000) // 320 + 1) * 0.02)
    speech_end = 0.5 + len(speech) / 16000
    assert 0.4 <= started.audio_time < ended.audio_time - 1.0 and ended.audio_time <= speech_end + 0.1
    assert transcript.text == "sentence 1" and transcript.final and transcript.language == "en"
    assert voice.source == "captured" and voice.transcript == "sentence 1" and voice.utterance_id == 1
    assert (streamed.text, streamed.tentative, streamed.final) == ("de: sentence", "1", False)  # as it streamed
    assert translation.text == "de: sentence 1" and translation.language == "de" and translation.final
    ((phrase, _, language),) = models.tts.spoken
    assert phrase == "de: sentence eins" and language == "de"  # phrases reach the TTS speakable
    assert chunk.sample_rate == TTS_RATE and len(chunk.pcm) == TTS_RATE // 2 and chunk.at == pytest.approx(pushed + 0.6)
    assert not chunk.last and chunk.first_frame == 0
    assert last.last and last.first_frame == 12 and last.at == pytest.approx(pushed + 0.7)
    assert chunk.text == last.text == "de: sentence eins" and chunk.utterance_id == last.utterance_id == 1

    f = metrics.figures
    assert f["asr_ms"] == pytest.approx(100)
    assert f["translate_ms"] == pytest.approx(200)
    assert f["tts_first_chunk_ms"] == pytest.approx(300)
    assert f["tts_rtf"] == pytest.approx(0.4)
    assert f["ttfa_ms"] == pytest.approx((pushed + 0.6 - ended.at) * 1000)
    assert f["start_offset_ms"] == pytest.approx((pushed + 0.6 - started.at) * 1000)
    assert f["end_offset_ms"] == pytest.approx(f["ttfa_ms"] + 1000)
    # the ASR got the utterance from its pre-roll to its end, not the surrounding silence
    assert models.asr.heard == [round((ended.audio_time - started.audio_time) * 16000)]


@pytest.mark.speech
async def test_five_utterances_each_flow_through_every_stage_in_order():
    clock = ScriptedClock()
    audio, _ = read_audio(LONG_EN)
    models = _models(clock)
    events = await _run(models, audio, clock, target="ko")
    by_utterance = {}
    for event in events:
        if not isinstance(event, VoiceUpdated):  # tests/agent/test_voice.py follows those
            by_utterance.setdefault(event.utterance_id, []).append(type(event))
    assert sorted(by_utterance) == [1, 2, 3, 4, 5]
    for kinds in by_utterance.values():
        assert kinds == [SpeechStarted, SpeechEnded, Transcript, *[Translation] * 2, SpeechChunk, SpeechChunk, Metrics]
    translations = [e.text for e in events if isinstance(e, Translation) and e.final]
    assert translations == [f"ko: sentence {i}" for i in range(1, 6)]
    # each translation sees the last three earlier turns of the conversation
    assert [len(context) for context in models.translator.contexts] == [0, 1, 2, 3, 3]
    assert models.translator.contexts[4][-1].source == "sentence 4"
    assert models.translator.contexts[4][-1].target == "ko: sentence 4"


@pytest.mark.speech
async def test_a_failing_utterance_reports_an_error_and_the_session_goes_on():
    clock = ScriptedClock()
    audio, _ = read_audio(LONG_EN)
    events = await _run(_models(clock, fail_on="sentence 2"), audio, clock)
    errors = [e for e in events if isinstance(e, Error)]
    assert len(errors) == 1 and errors[0].utterance_id == 2 and not errors[0].fatal
    assert "scripted failure" in errors[0].message
    assert [e.utterance_id for e in events if isinstance(e, Metrics)] == [1, 3, 4, 5]


async def test_silence_gives_no_events():
    clock = ScriptedClock()
    assert await _run(_models(clock), np.zeros(16000 * 3, np.float32), clock) == []


@pytest.mark.speech
async def test_close_mid_utterance_stops_without_waiting():
    clock = ScriptedClock()
    audio, _ = read_audio(LONG_EN)
    session = Session(_models(clock), source_language="en", target_language="zh", clock=clock)
    session.start()
    session.push(audio[: 16000 * 3])
    await asyncio.sleep(0.2)
    await asyncio.wait_for(session.close(), timeout=5)


@pytest.mark.parametrize(
    "source, target, message",
    [
        ("fr", "de", "source language 'fr' is not supported"),
        ("en", "auto", "target language 'auto' is not supported"),
        ("de", "en", "English-only and cannot hear 'de'"),
    ],
)
def test_unsupported_languages_are_refused_with_the_fix(source, target, message):
    clock = ScriptedClock()
    with pytest.raises(SessionError, match=message):
        Session(_models(clock), source_language=source, target_language=target, clock=clock)


class KoreanlessTTS(FakeTTS):
    name = "kokoro"
    languages = ("en", "de", "zh")
    can_clone = False
    voices = ("jf_alpha",)


KOREAN_REFUSAL = (
    "the kokoro TTS cannot speak 'ko'; it speaks en, de, zh. Use a profile with the higgs backend (such as default) "
    "for Korean."
)


def test_a_target_the_tts_cannot_speak_is_refused_naming_the_backend_and_its_languages():
    clock = ScriptedClock()
    models = _models(clock)
    models.tts, models.stock_voice = KoreanlessTTS(), "jf_alpha"
    with pytest.raises(SessionError) as info:
        Session(models, source_language="en", target_language="ko", clock=clock)
    assert str(info.value) == KOREAN_REFUSAL
    Session(models, source_language="en", target_language="zh", clock=clock)


class EnglishTranslator(StreamsWhole):
    def translate(self, text, source, target, *, context=(), prefix=""):
        return "Good morning. I would like to book a table for two people at seven o'clock tonight."


@pytest.mark.speech
@pytest.mark.slow
async def test_the_tiny_profile_speaks_real_english_that_whisper_understands_and_refuses_korean(tiny_models):
    """Kokoro's real weights through the whole session: the male reader is answered in the male stock voice, and
    whisper tiny.en hears the sentence it said."""
    with pytest.raises(SessionError) as info:
        Session(tiny_models, source_language="en", target_language="ko", clock=ScriptedClock())
    assert str(info.value) == KOREAN_REFUSAL
    speech, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0870.wav")
    audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(16000, np.float32)])
    models = Models(
        vad=tiny_models.vad,
        vad_settings=VADSettings(),
        asr=tiny_models.asr,
        translator=EnglishTranslator(),
        tts=tiny_models.tts,
        stock_voice=tiny_models.stock_voice,
    )
    session = Session(models, source_language="en", target_language="en", clock=ScriptedClock())
    events = await run_session(session, audio)
    chunks = [e for e in events if isinstance(e, SpeechChunk)]
    assert chunks and chunks[-1].last and {chunk.sample_rate for chunk in chunks} == {24000}
    assert session._speech.stock_voice == "jm_kumo"
    spoken = resample(np.concatenate([chunk.pcm for chunk in chunks]), 24000, 16000)
    heard = tiny_models.asr.transcribe(spoken, "en").text
    assert word_error_rate([EnglishTranslator().translate("", "en", "en")], [heard]) <= 0.1, heard


class FirstReadingClock:
    """The real monotonic clock, remembering its first reading: the session's origin, so `at`s can be compared."""

    def __init__(self):
        self.first = None

    def now(self):
        now = time.monotonic()
        self.first = now if self.first is None else self.first
        return now


@pytest.mark.speech
@pytest.mark.slow
async def test_tiny_higgs_streams_the_first_chunk_before_the_last_frame_exists(tiny_higgs_models, monkeypatch):
    clock = FirstReadingClock()
    frame_times = []
    submit = HiggsGenerator.submit

    def timing_submit(generator, request):
        on_frames = request.on_frames
        request.on_frames = lambda frame: (frame_times.append(clock.now() - clock.first), on_frames(frame))
        submit(generator, request)

    monkeypatch.setattr(HiggsGenerator, "submit", timing_submit)
    speech, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0880.wav")
    audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(16000, np.float32)])
    session = Session(tiny_higgs_models, source_language="en", target_language="de", clock=clock)
    events = await run_session(session, audio)
    chunks = [e for e in events if isinstance(e, SpeechChunk)]
    assert {chunk.utterance_id for chunk in chunks} == {1}
    assert len(chunks) > 2 and chunks[-1].last and not any(chunk.last for chunk in chunks[:-1])
    hop = tiny_higgs_models.tts.hop_length
    assert sum(len(chunk.pcm) for chunk in chunks) == len(frame_times) * hop
    for previous, chunk in zip(chunks, chunks[1:], strict=False):  # frames count on within a phrase
        assert chunk.first_frame in (0, previous.first_frame + len(previous.pcm) // hop)
    # The listener gets speech while the phrase is still being generated.
    assert chunks[0].at < frame_times[-1]
    assert [chunk.at for chunk in chunks] == sorted(chunk.at for chunk in chunks)
    metrics = next(e for e in events if isinstance(e, Metrics))
    assert metrics.figures["tts_cut_off"] == 1.0  # the tiny model never ends a phrase: the guard reports it
    figures = metrics.figures
    assert figures["tts_first_chunk_ms"] == pytest.approx(figures["first_pcm_ms"] - figures["first_phrase_ms"])
    # the first phrase went to the TTS with the final translation, or before it while the translation streamed
    assert figures["tts_first_chunk_ms"] >= (chunks[0].at - _translation(events).at) * 1000 - 1e-6


def _translation(events):
    return next(e for e in events if isinstance(e, Translation) and e.final)


class MultilingualASR(FakeASR):
    """A fake multilingual model whose language detector answers from a script, one answer per call."""

    multilingual = True

    def __init__(self, clock, answers):
        super().__init__(clock)
        self.answers = list(answers)

    def language_probabilities(self, audio):
        return self.answers.pop(0)


@pytest.mark.speech
async def test_auto_language_is_kept_unless_a_later_utterance_is_confidently_another():
    clock = ScriptedClock()
    audio, _ = read_audio(LONG_EN)
    models = _models(clock)
    models.asr = MultilingualASR(
        clock,
        [{"de": 0.9, "en": 0.1}, {"en": 0.7, "de": 0.3}, {"zh": 0.95}, {"ko": 0.5, "zh": 0.5}, {"en": 0.85}],
    )
    events = await _run(models, audio, clock)
    finals = [e for e in events if isinstance(e, Transcript) and e.final]
    assert [e.language for e in finals] == ["de", "de", "zh", "zh", "en"]
    assert models.asr.answers == []  # detected once per utterance


class NoClock:
    """For fakes run against the real clock: their scripted time steps are not needed."""

    def advance(self, seconds):
        pass


def _real_asr_models(tiny_models):
    return Models(
        vad=tiny_models.vad,
        vad_settings=VADSettings(),
        asr=tiny_models.asr,
        translator=FakeTranslator(NoClock()),
        tts=ClockedTTS(NoClock()),
    )


@pytest.mark.speech
@pytest.mark.slow
async def test_live_speech_gets_partial_captions_before_it_ends_and_they_only_grow(tiny_models):
    """long_en_16k.wav at microphone pace: every utterance over 3 s has captions before its end."""
    clock = FirstReadingClock()
    audio, _ = read_audio(LONG_EN)
    session = Session(_real_asr_models(tiny_models), source_language="auto", target_language="de", clock=clock)
    session.start()
    began = time.monotonic()
    for index, frame in enumerate(frames(audio, 16000)):
        await asyncio.sleep(max(0.0, began + index * 0.02 - time.monotonic()))
        session.push(frame)
    session.end_input()
    events = [event async for event in session.events()]
    await session.close()
    started = {e.utterance_id: e for e in events if isinstance(e, SpeechStarted)}
    ended = {e.utterance_id: e for e in events if isinstance(e, SpeechEnded)}
    assert len(ended) == 5
    for uid, end in ended.items():
        partials = [e for e in events if isinstance(e, Transcript) and not e.final and e.utterance_id == uid]
        final = next(e for e in events if isinstance(e, Transcript) and e.final and e.utterance_id == uid)
        if end.audio_time - started[uid].audio_time > 3.0:
            assert [e for e in partials if e.at < end.at], f"utterance {uid}: no caption before it ended"
            assert any(e.tentative for e in partials)
        committed = [e.text for e in partials]  # none for a short utterance whose end came before its first partial
        for earlier, later in zip(committed, [*committed[1:], final.text][: len(committed)], strict=True):
            assert later.startswith(earlier)
        assert final.language == "en"


@pytest.mark.slow
async def test_thirty_seconds_of_silence_or_white_noise_give_no_transcript(tiny_models):
    rng = np.random.default_rng(1)
    for audio in (np.zeros(16000 * 30), 0.05 * rng.standard_normal(16000 * 30), 0.3 * rng.standard_normal(16000 * 30)):
        clock = ScriptedClock()
        events = await _run(_real_asr_models(tiny_models), np.clip(audio, -1, 1).astype(np.float32), clock)
        assert not [e for e in events if isinstance(e, Transcript)]


@pytest.mark.speech
@pytest.mark.slow
async def test_long_english_streams_into_five_utterances_cut_in_the_silences(tiny_models):
    clock = ScriptedClock()
    audio, _ = read_audio(LONG_EN)
    events = await _run(_real_asr_models(tiny_models), audio, clock)
    starts = [e.audio_time for e in events if isinstance(e, SpeechStarted)]
    ends = [e.audio_time for e in events if isinstance(e, SpeechEnded)]
    finals = [e.text for e in events if isinstance(e, Transcript) and e.final]
    assert len(starts) == len(ends) == len(finals) == 5
    for end, start in zip(ends[:-1], starts[1:], strict=True):
        between = audio[round(end * 16000) : round(start * 16000)]
        assert start - end > 0.3 and np.sqrt(np.mean(between**2)) < 0.01  # both cuts lie in the same silence
    assert word_error_rate(english_references(), finals) <= 0.2


NATO = "alfa bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa".split()


class GrowingASR(FakeASR):
    """Hears one more word per half second of audio, so partial captions grow; a comma after every third."""

    def transcribe(self, audio, language, timed=False):
        words = NATO[: len(audio) // 8000]
        return Transcription(" ".join(w + ("," if i % 3 == 2 else "") for i, w in enumerate(words)), "en")


class WordTranslator(StreamsWhole):
    """Consistent word by word, honouring a forced prefix: the simultaneous policy can commit early."""

    def __init__(self):
        self.calls = []

    def translate(self, text, source, target, *, context=(), prefix=""):
        self.calls.append(text)
        full = " ".join("x" + word for word in text.split())
        return full if full.startswith(prefix) else prefix + full[len(prefix) :]


@pytest.mark.speech
async def test_simultaneous_policy_speaks_committed_words_before_the_utterance_ends():
    clock = ScriptedClock()
    speech, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0870.wav")
    audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(16000, np.float32)])
    models = _models(clock)
    models.asr, models.translator = GrowingASR(clock), WordTranslator()
    models.translation = TranslationSettings(policy="simultaneous")
    session = Session(models, source_language="en", target_language="de", clock=clock)
    session.start()
    for frame in frames(audio, 16000):
        clock.advance(0.02)
        session.push(frame)
        await asyncio.sleep(0.005)  # let the session hear it as it comes, as from a microphone
    session.end_input()
    events = [event async for event in session.events()]
    await session.close()
    end = next(i for i, e in enumerate(events) if isinstance(e, SpeechEnded))
    early = [e for e in events[:end] if isinstance(e, Translation) and e.text]
    assert early and not any(e.final for e in early), "committed translation before the speaker stopped"
    assert any(isinstance(e, SpeechChunk) for e in events[:end]), "speech before the speaker stopped"
    translations = [e for e in events if isinstance(e, Translation)]
    for earlier, later in zip(translations, translations[1:], strict=False):
        assert later.text.startswith(earlier.text)
    final = translations[-1]
    transcript = next(e for e in events if isinstance(e, Transcript) and e.final)
    assert final.final and final.text == " ".join("x" + word for word in transcript.text.split())
    spoken = " ".join(text for text, _, _ in models.tts.spoken)
    assert spoken.split() == final.text.split()  # every committed word spoken once, in order
    assert len(models.tts.spoken) > 1
