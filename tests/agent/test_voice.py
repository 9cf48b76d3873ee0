"""Voice capture: the policy on synthetic clips and a scripted timeline, the Session with real silero VAD on real
speech and scripted fakes, the profile's `voice:` keys, and the tiny models on long_en_16k.wav."""

import asyncio
import base64
import gc
import io
import json
import time
import weakref

import numpy as np
import pytest
import soundfile as sf
import torch
from websockets.datastructures import Headers
from websockets.http11 import Request

import model.tts
from agent.cli import main
from agent.config import ConfigError, ServerConfig, load_config
from agent.connections import NativeConnection
from agent.file_translation import translate_audio
from agent.models import Models, _default_voice
from agent.server import Server
from agent.session import Session, SessionError
from agent.voice import (
    JOIN_GAP_S,
    STOCK_PITCH_HZ,
    Clip,
    VoicePolicy,
    VoiceSettings,
    check_given,
    closest_stock_voice,
    given_voice,
    measure,
    voiced_pitch,
)
from model.asr import ASRSettings, Transcription
from model.vad import SileroVAD, VADSettings
from model.voice import Voice
from streaming.audio import frames, pcm16_encode, read_audio, resample, write_wav
from streaming.events import SpeechChunk, SpeechEnded, SpeechStarted, Transcript, VoiceReference, VoiceUpdated
from tests.helpers import LONG_EN, SPEECH, TTS_RATE, FakeTTS, ScriptedClock, StreamsWhole, run_session

RATE = 16000
PAD = 4800  # 0.3 s, a whole number of 20 ms frames


def _tone_speech(seconds: float, level: float = 0.3) -> np.ndarray:
    """Voiced-speech-like: a 150 Hz harmonic series under a 2 Hz syllable envelope."""
    t = np.arange(round(RATE * seconds)) / RATE
    voiced = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * np.abs(np.sin(2 * np.pi * 2 * t))
    return (level * voiced / np.max(np.abs(voiced)) * envelope).astype(np.float32)


def _utterance(speech: np.ndarray, noise: float = 0.001, seed: int = 0) -> np.ndarray:
    """`speech` with PAD of silence either side, all under white noise of standard deviation `noise`."""
    audio = np.concatenate([np.zeros(PAD, np.float32), speech, np.zeros(PAD, np.float32)])
    return (audio + noise * np.random.default_rng(seed).standard_normal(len(audio))).astype(np.float32)


# measure: trimming and the quality figures


def test_measure_trims_the_silence_around_the_voiced_span_and_resamples_it():
    speech = _tone_speech(2.0)
    clip = measure(_utterance(speech), 1000, RATE, TTS_RATE)
    edge = 2 * 320  # two 20 ms frames kept either side
    assert clip.span == (1000 + PAD - edge, 1000 + PAD + len(speech) + edge)
    assert clip.duration_s == pytest.approx(2.08)
    assert clip.sample_rate == TTS_RATE and len(clip.audio) == round(2.08 * TTS_RATE)
    assert clip.clipped_fraction == 0.0 and clip.snr_db > 40


def test_measure_finds_clipping_and_noise():
    clipped = measure(_utterance(np.clip(20 * _tone_speech(2.0), -1, 1)), 0, RATE, TTS_RATE)
    assert clipped.clipped_fraction > 0.1
    noisy = measure(_utterance(_tone_speech(2.0), noise=0.1), 0, RATE, TTS_RATE)
    assert noisy.snr_db < 10
    silence = measure(np.zeros(RATE, np.float32), 0, RATE, TTS_RATE)
    assert silence.duration_s == 0.0 and len(silence.audio) == 0


@pytest.mark.speech
def test_real_speech_measures_clean_and_its_noisy_or_clipped_copies_do_not():
    speech, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0880.wav")
    policy = VoicePolicy(VoiceSettings(), "clone")
    clean = measure(speech, 0, RATE, TTS_RATE)
    assert policy.refusal(clean, log_prob=-0.2) is None
    noisy = speech + 0.03 * np.random.default_rng(1).standard_normal(len(speech)).astype(np.float32)
    assert "SNR" in policy.refusal(measure(noisy, 0, RATE, TTS_RATE), log_prob=-0.2)
    clipped = np.clip(20 * speech, -1, 1)
    assert "clipped" in policy.refusal(measure(clipped, 0, RATE, TTS_RATE), log_prob=-0.2)
    assert "unsure" in policy.refusal(clean, log_prob=-0.9)


# the policy on a scripted timeline


def _clip(seconds: float, start: int, *, clipped: float = 0.0, snr_db: float = 30.0) -> Clip:
    samples = round(seconds * TTS_RATE)
    audio = np.full(samples, start / 1e6, dtype=np.float32)  # each clip recognisable by its value
    return Clip((start, start + round(seconds * RATE)), audio, TTS_RATE, seconds, clipped, snr_db)


def test_scripted_timeline_captures_joins_replaces_then_pins():
    policy = VoicePolicy(VoiceSettings(max_reference_s=10, total_reference_s=15, min_reference_s=1), "clone")
    timeline = [  # (clip, log-prob, what happens)
        (_clip(2.0, 100), -0.1, "captured"),
        (_clip(0.5, 200), -0.1, "too short"),
        (_clip(3.0, 300, clipped=0.05), -0.1, "clipped"),
        (_clip(3.0, 400), -0.1, "joined"),
        (_clip(4.0, 500, snr_db=9.0), -0.1, "noisy"),
        (_clip(3.0, 600), -1.2, "unsure (overlapping voices)"),
        (_clip(4.0, 700), -0.1, "joined"),
        (_clip(3.0, 800), -0.1, "no better: 12.9 s joined is too long, 3 s alone is shorter"),
        (_clip(12.0, 900), -0.1, "replaces, whole, and reaches the total: pinned"),
        (_clip(9.0, 1000), -0.1, "pinned"),
    ]
    changes = []
    for index, (clip, log_prob, _) in enumerate(timeline, 1):
        reference = policy.offer(clip, f"words {index}", log_prob, utterance_id=index)
        if reference is not None:
            changes.append(reference)
    assert [(r.utterance_id, round(r.duration_s, 2)) for r in changes] == [(1, 2.0), (4, 5.3), (7, 9.6), (9, 12.0)]
    assert [r.voice.transcript for r in changes] == ["words 1", "words 1 words 4", "words 1 words 4 words 7", "words 9"]
    assert changes[2].spans == ((100, 32100), (400, 48400), (700, 64700))
    joined = changes[2].voice.audio
    gap = round(JOIN_GAP_S * TTS_RATE)
    assert len(joined) == round(9.6 * TTS_RATE) and np.all(joined[2 * TTS_RATE : 2 * TTS_RATE + gap] == 0)
    assert changes[-1].voice.audio is timeline[8][0].audio
    assert all(r.source == "captured" for r in changes) and policy.pinned and policy.current is changes[-1]
    assert policy.heard_s == pytest.approx(2 + 3 + 4 + 3 + 12)  # only usable speech counts towards the total


def test_an_explicit_reference_is_never_replaced():
    policy = VoicePolicy(VoiceSettings(), "clone")
    policy.offer(_clip(2.0, 100), "captured words", -0.1, utterance_id=1)
    explicit = Voice(np.zeros(3 * TTS_RATE, np.float32), "given words")
    reference = policy.use(explicit)
    assert reference.source == "explicit" and reference.duration_s == 3.0 and reference.utterance_id is None
    for index in range(2, 6):
        assert policy.offer(_clip(9.0, 100 * index), "longer and clean", -0.1, utterance_id=index) is None
    assert policy.current is reference and not policy.listening


def test_default_mode_uses_the_stock_voice_or_none_and_never_captures():
    stock = Voice(np.zeros(2 * TTS_RATE, np.float32), "stock words")
    policy = VoicePolicy(VoiceSettings(), "default", stock)
    assert policy.current.source == "default" and policy.current.voice is stock and policy.current.duration_s == 2.0
    assert policy.offer(_clip(5.0, 100), "words", -0.1, utterance_id=1) is None
    bare = VoicePolicy(VoiceSettings(), "default", None)
    assert bare.current is None and not bare.listening


def test_given_clips_are_checked_for_length_and_transcript():
    settings = VoiceSettings()
    voice = given_voice(np.zeros(2 * RATE, np.float32), RATE, " Hallo. ", settings, TTS_RATE)
    assert voice.sample_rate == TTS_RATE and len(voice.audio) == 2 * TTS_RATE and voice.transcript == "Hallo."
    with pytest.raises(ValueError, match=r"0\.5 s long; use 1 to 10 s of the speaker talking"):
        check_given(0.5, "Hallo.", settings)
    with pytest.raises(ValueError, match=r"12\.0 s long"):
        check_given(12.0, "Hallo.", settings)
    with pytest.raises(ValueError, match="give the words said in the clip"):
        check_given(3.0, "  ", settings)


# the Session, with real VAD on real speech and scripted fakes


class FakeASR:
    multilingual = False
    settings = ASRSettings()

    def __init__(self, log_probs=None):
        self.log_probs, self.heard = log_probs or {}, 0

    def language_probabilities(self, audio):
        return {"en": 1.0}

    def transcribe(self, audio, language, timed=False):
        self.heard += 1
        return Transcription(f"sentence {self.heard}", "en", log_prob=self.log_probs.get(self.heard, -0.1))


class FakeTranslator(StreamsWhole):
    def translate(self, text, source, target, *, context=(), prefix=""):
        return f"{target}: {text}"


def _models(log_probs=None, default_voice=None):
    return Models(
        vad=SileroVAD(),
        vad_settings=VADSettings(),
        asr=FakeASR(log_probs),
        translator=FakeTranslator(),
        tts=FakeTTS(seconds=0.1),
        default_voice=default_voice,
    )


def _voice_of_phrases(models):
    return [voice for _, voice, _ in models.tts.spoken]


@pytest.mark.speech
async def test_the_first_utterance_is_spoken_in_its_own_trimmed_voice():
    speech, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0880.wav")
    audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(RATE, np.float32)])
    models = _models()
    events = await run_session(
        Session(models, source_language="en", target_language="de", clock=ScriptedClock()), audio
    )
    started = next(e for e in events if isinstance(e, SpeechStarted))
    ended = next(e for e in events if isinstance(e, SpeechEnded))
    (update,) = [e for e in events if isinstance(e, VoiceUpdated)]
    start, end = round(started.audio_time * RATE), round(ended.audio_time * RATE)
    expected = measure(audio[start:end], start, RATE, TTS_RATE)
    assert start < expected.span[0] and expected.span[1] < end  # the VAD padding's silence is trimmed off
    assert update.utterance_id == 1 and update.source == "captured" and update.transcript == "sentence 1"
    assert update.duration_s == pytest.approx(expected.duration_s) and 2.0 < update.duration_s < 2.9
    ((phrase, voice, _),) = models.tts.spoken
    assert voice.transcript == "sentence 1" and np.array_equal(voice.audio, expected.audio)
    assert events.index(update) < next(i for i, e in enumerate(events) if isinstance(e, SpeechChunk))


def _with_gaps(*utterances):
    gap = np.zeros(RATE, np.float32)
    return np.concatenate([piece for utterance in utterances for piece in (gap, utterance)] + [gap])


@pytest.mark.speech
async def test_clipped_noisy_or_unsure_utterances_are_not_taken_and_a_clean_one_is():
    names = ["0880", "0890", "0930", "0920"]
    clean = [read_audio(SPEECH / "en" / f"sense_and_sensibility_01_austen_64kb-{n}.wav")[0] for n in names]
    noise = 0.03 * np.random.default_rng(2).standard_normal(len(clean[1])).astype(np.float32)
    audio = _with_gaps(np.clip(20 * clean[0], -1, 1), clean[1] + noise, clean[2], clean[3])
    models = _models(log_probs={3: -0.9})  # the ASR unsure of utterance 3's words, as over a second voice
    events = await run_session(
        Session(models, source_language="en", target_language="de", clock=ScriptedClock()), audio
    )
    assert len([e for e in events if isinstance(e, SpeechEnded)]) == 4
    (update,) = [e for e in events if isinstance(e, VoiceUpdated)]
    assert update.utterance_id == 4 and update.transcript == "sentence 4"
    voices = _voice_of_phrases(models)
    assert voices[:3] == [None, None, None] and voices[3].transcript == "sentence 4"


@pytest.mark.speech
async def test_an_explicit_reference_is_used_from_the_start_and_never_replaced():
    audio, _ = read_audio(LONG_EN)
    given, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0930.wav")
    models = _models()
    session = Session(models, source_language="en", target_language="de", clock=ScriptedClock())
    await session.use_reference(resample(given, RATE, 48000), 48000, "He might even have been made amiable himself.")
    with pytest.raises(SessionError, match="0.2 s long; use 1 to 10 s"):
        await session.use_reference(given[:3200], RATE, "He")
    events = await run_session(session, audio)
    (update,) = [e for e in events if isinstance(e, VoiceUpdated)]
    assert update.source == "explicit" and update.utterance_id is None
    assert update.duration_s == pytest.approx(len(given) / RATE, abs=1e-3)
    voices = _voice_of_phrases(models)
    assert len(voices) == 5 and all(v is voices[0] for v in voices) and voices[0].sample_rate == TTS_RATE
    assert voices[0].transcript == "He might even have been made amiable himself."


@pytest.mark.speech
async def test_default_voice_speaks_the_stock_clip_or_the_models_own():
    audio, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0880.wav")
    audio = _with_gaps(audio)
    stock = Voice(np.zeros(2 * TTS_RATE, np.float32), "stock words")
    models = _models(default_voice=stock)
    events = await run_session(
        Session(models, source_language="en", target_language="de", clock=ScriptedClock(), voice="default"), audio
    )
    assert events[0] == VoiceUpdated(2.0, "stock words", "default", at=0.0)
    assert [e for e in events if isinstance(e, VoiceUpdated)] == [events[0]]
    assert _voice_of_phrases(models) == [stock]
    models = _models()  # no stock clip in the profile: the model's own voice
    events = await run_session(
        Session(models, source_language="en", target_language="de", clock=ScriptedClock(), voice="default"), audio
    )
    assert not [e for e in events if isinstance(e, VoiceUpdated)] and _voice_of_phrases(models) == [None]
    with pytest.raises(SessionError, match="voice 'robot' is not supported; use clone"):
        Session(models, source_language="en", target_language="de", clock=ScriptedClock(), voice="robot")


@pytest.mark.speech
async def test_translate_audio_speaks_in_the_given_voice():
    audio, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0880.wav")
    models = _models()
    reference = VoiceReference(np.zeros(3 * RATE, np.float32), RATE, "Hallo, ich bin Anna.")
    result = await translate_audio(
        models, _with_gaps(audio), source="en", target="de", clock=ScriptedClock(), voice=reference
    )
    assert len(result.captions) == 1
    ((_, voice, _),) = models.tts.spoken
    assert voice.transcript == "Hallo, ich bin Anna." and len(voice.audio) == 3 * TTS_RATE


def test_cli_needs_both_voice_options_and_checks_the_clip_before_loading_models(tmp_path, capsys):
    speech = tmp_path / "in.wav"
    write_wav(speech, np.zeros(RATE, np.float32), RATE)
    out = ["translate", str(speech), "--to", "de", "--profile", "tiny", "-o", str(tmp_path / "out.wav")]
    assert main([*out, "--voice", str(speech)]) == 2
    assert "--voice and --voice-text go together" in capsys.readouterr().err
    assert main([*out, "--voice-text", "Hallo."]) == 2
    assert "--voice and --voice-text go together" in capsys.readouterr().err
    short = tmp_path / "short.wav"
    write_wav(short, np.zeros(RATE // 2, np.float32), RATE)
    began = time.monotonic()
    assert main([*out, "--voice", str(short), "--voice-text", "Hallo."]) == 2
    assert f"--voice {short}: the voice reference is 0.5 s long" in capsys.readouterr().err
    assert time.monotonic() - began < 5  # refused before the models load


class ScriptedSocket:
    """A client that sends its messages, then keeps the socket open and reads everything the server sends."""

    def __init__(self, messages):
        self.request = Request("/v1/stream", Headers())
        self.messages, self.received, self.closed = iter(messages), [], None

    async def __aiter__(self):
        for message in self.messages:  # one iterator: the server reads the socket twice (start, then the rest)
            yield message
        await asyncio.Event().wait()

    async def send(self, message):
        self.received.append(message)

    async def close(self, code=1000, reason=""):
        self.closed = (code, reason)


def _wav(audio: np.ndarray) -> str:
    data = io.BytesIO()
    sf.write(data, audio, RATE, format="WAV", subtype="PCM_16")
    return base64.b64encode(data.getvalue()).decode()


@pytest.mark.speech
async def test_the_native_api_takes_a_voice_reference_and_refuses_a_short_one_with_the_fix():
    speech, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0880.wav")
    models = _models()
    start = {"type": "session.start", "source_language": "en", "target_language": "de"}
    reference = {
        "type": "voice.reference",
        "audio": _wav(speech),
        "transcript": "He was not an ill disposed young man.",
    }
    short = {"type": "voice.reference", "audio": _wav(speech[:4000]), "transcript": "He"}
    audio = [pcm16_encode(frame) for frame in frames(_with_gaps(speech), RATE, 100)]
    messages = [json.dumps(m) for m in (start, reference, short)] + audio + [json.dumps({"type": "input.end"})]
    ws = ScriptedSocket(messages)
    async with asyncio.timeout(30):
        await NativeConnection(Server(models, ServerConfig(port=0)), ws).run()
    received = [json.loads(m) for m in ws.received if isinstance(m, str)]
    updates = [m for m in received if m["type"] == "voice.updated"]
    assert updates == [
        {
            "type": "voice.updated",
            "duration_s": round(len(speech) / RATE, 2),
            "transcript": "He was not an ill disposed young man.",
            "source": "explicit",
        }
    ]
    (error,) = [m for m in received if m["type"] == "error"]
    assert error["code"] == "invalid_audio" and not error["fatal"] and "0.2 s long; use 1 to 10 s" in error["message"]
    ((_, voice, _),) = models.tts.spoken  # the one utterance is spoken in the given voice, not its own
    assert voice.transcript == "He was not an ill disposed young man."
    assert received[-1]["type"] == "session.ended"


# a TTS that cannot clone: the stock voice nearest the speaker's pitch


class StockTTS(FakeTTS):
    """`model.kokoro.KokoroTTS` as the session sees it: the packaged stock voices by name, no cloning."""

    name = "kokoro"
    languages = ("en", "de", "zh")
    can_clone = False
    voices = tuple(STOCK_PITCH_HZ)


def _stock_models():
    models = _models()
    models.tts, models.stock_voice = StockTTS(seconds=0.1), "jf_alpha"
    return models


def _harmonics(f0: float, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(round(RATE * seconds)) / RATE
    return (0.1 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))).astype(np.float32)


def _octave_up(speech: np.ndarray) -> np.ndarray:
    """The speech played twice as fast: every frequency, F0 included, an octave higher."""
    return resample(speech, RATE, RATE // 2)


def test_the_pitch_of_a_voiced_tone_is_found_and_silence_or_noise_has_none():
    for f0 in (90.0, 150.0, 240.0):
        pitch = voiced_pitch(_harmonics(f0), RATE)
        assert len(pitch) > 190 and np.median(pitch) == pytest.approx(f0, rel=0.03)
    assert len(voiced_pitch(np.zeros(RATE, np.float32), RATE)) == 0
    noise = 0.1 * np.random.default_rng(3).standard_normal(RATE).astype(np.float32)
    assert len(voiced_pitch(noise, RATE)) < 10  # of 97 frames
    assert len(voiced_pitch(np.zeros(100, np.float32), RATE)) == 0  # shorter than a frame


def test_stock_voices_are_placed_by_their_measured_pitch_or_their_names_gender():
    assert closest_stock_voice(100.0, StockTTS.voices) == "jm_kumo"
    assert closest_stock_voice(230.0, StockTTS.voices) == "jf_gongitsune"
    assert closest_stock_voice(330.0, StockTTS.voices) == "jf_tebukuro"
    hub = ("af_bella", "am_adam", "bm_george")
    assert closest_stock_voice(110.0, hub) in ("am_adam", "bm_george") and closest_stock_voice(200.0, hub) == "af_bella"
    assert closest_stock_voice(200.0, ("narrator",)) is None


@pytest.mark.speech
def test_the_held_male_reader_is_low_and_his_copy_an_octave_up_is_high():
    speech, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0870.wav")
    low, high = (float(np.median(voiced_pitch(audio, RATE))) for audio in (speech, _octave_up(speech)))
    assert 85 < low < 130 and high == pytest.approx(2 * low, rel=0.1)
    assert closest_stock_voice(low, StockTTS.voices) == "jm_kumo"
    assert closest_stock_voice(high, StockTTS.voices).startswith("jf_")


@pytest.mark.speech
async def test_a_low_and_a_high_speaker_are_spoken_in_different_stock_voices_picked_from_their_captured_speech():
    speech, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0870.wav")
    spoken = {}
    for name, audio in (("low", speech), ("high", _octave_up(speech))):
        models = _stock_models()
        session = Session(models, source_language="en", target_language="de", clock=ScriptedClock())
        assert session._speech.stock_voice == "jf_alpha"  # the profile's, until the speaker is heard
        events = await run_session(session, _with_gaps(audio))
        (update,) = [e for e in events if isinstance(e, VoiceUpdated)]
        assert update.source == "captured" and update.utterance_id == 1
        ((_, spoken[name], _),) = models.tts.spoken
    assert spoken["low"] == "jm_kumo" and spoken["high"].startswith("jf_") and spoken["high"] != "jf_alpha"


@pytest.mark.speech
async def test_a_named_stock_voice_stays_and_a_given_clip_picks_one_by_its_pitch():
    speech, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0870.wav")
    models = _stock_models()
    session = Session(models, source_language="en", target_language="de", clock=ScriptedClock(), voice="jf_nezumi")
    await run_session(session, _with_gaps(speech))
    assert _voice_of_phrases(models) == ["jf_nezumi"]
    models = _stock_models()
    session = Session(models, source_language="en", target_language="de", clock=ScriptedClock())
    await session.use_reference(_octave_up(speech)[: 4 * RATE], RATE, "And Mr. John Dashwood had then leisure")
    await session.use_reference(speech[: 4 * RATE], RATE, "And Mr. John Dashwood had then leisure")
    await run_session(session, _with_gaps(_octave_up(speech)))
    assert _voice_of_phrases(models) == ["jm_kumo"]  # the last given clip's, not the captured speech's


@pytest.mark.speech
async def test_the_wire_names_the_stock_voice_a_session_starts_in_and_the_one_its_speaker_picks():
    speech, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0870.wav")
    start = {"type": "session.start", "source_language": "en", "target_language": "de"}
    audio = [pcm16_encode(frame) for frame in frames(_with_gaps(speech), RATE, 100)]
    ws = ScriptedSocket([json.dumps(start), *audio, json.dumps({"type": "input.end"})])
    async with asyncio.timeout(30):
        await NativeConnection(Server(_stock_models(), ServerConfig(port=0)), ws).run()
    received = [json.loads(m) for m in ws.received if isinstance(m, str)]
    assert received[0]["type"] == "session.started" and received[0]["stock_voice"] == "jf_alpha"
    (update,) = [m for m in received if m["type"] == "voice.updated"]
    assert update["source"] == "captured" and update["stock_voice"] == "jm_kumo"


def test_a_voice_name_must_be_one_of_the_tts_stock_voices():
    refusal = "is not supported; use clone (the speaker's own voice) or default (the server's)"
    with pytest.raises(SessionError) as info:
        Session(_stock_models(), source_language="en", target_language="de", clock=ScriptedClock(), voice="af_bella")
    voices = ", ".join(STOCK_PITCH_HZ)
    assert str(info.value) == f"voice 'af_bella' {refusal}, or one of the kokoro TTS's stock voices: {voices}."
    with pytest.raises(SessionError) as info:
        Session(_models(), source_language="en", target_language="de", clock=ScriptedClock(), voice="jm_kumo")
    assert str(info.value) == f"voice 'jm_kumo' {refusal}."


# the profile's voice: keys

MINIMAL = """
asr: {model: a/b}
translator: {model: c/d}
tts: {model: e/f, audio_tokenizer: g/h}
"""


def _profile(tmp_path, extra=""):
    path = tmp_path / "profile.yaml"
    path.write_text(MINIMAL + extra)
    return str(path)


def test_shipped_profiles_have_the_voice_defaults():
    for name in ("tiny", "tiny-higgs", "cpu", "default"):
        voice = load_config(name).voice
        assert voice.settings() == VoiceSettings() and voice.default_clip == ""


@pytest.mark.parametrize(
    "extra, message",
    [
        ("voice: {min_reference_s: 0}\n", "voice.min_reference_s must be positive"),
        ("voice: {max_reference_s: 0.5}\n", "voice.max_reference_s must lie between voice.min_reference_s and 40.96 s"),
        ("voice: {max_reference_s: 60}\n", "half of tts.context_tokens"),
        ("voice: {total_reference_s: -1}\n", "voice.total_reference_s must not be negative"),
        ("voice: {max_clipped_fraction: 2}\n", "voice.max_clipped_fraction must lie between 0 and 1"),
        ("voice: {min_log_prob: 0.5}\n", "voice.min_log_prob must not be positive"),
        ("voice: {default_clip: nowhere.wav, default_transcript: Hi}\n", "voice.default_clip must be an audio file"),
        ("voice: {default_transcript: Hi}\n", "voice.default_transcript must be set with voice.default_clip"),
        ("voice: {snr: 3}\n", "unknown key 'voice.snr'"),
    ],
)
def test_bad_voice_settings_name_the_key_and_the_fix(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_profile(tmp_path, extra))


def test_a_stock_clip_next_to_the_profile_becomes_the_default_voice(tmp_path):
    write_wav(tmp_path / "anna.wav", 0.1 * np.ones(2 * RATE, np.float32), RATE)
    config = load_config(
        _profile(tmp_path, 'voice: {default_clip: anna.wav, default_transcript: "Hallo, ich bin Anna."}\n')
    )
    assert config.voice.default_clip == str(tmp_path / "anna.wav")
    stock = _default_voice(config, TTS_RATE)
    assert stock.transcript == "Hallo, ich bin Anna." and len(stock.audio) == 2 * TTS_RATE
    write_wav(tmp_path / "anna.wav", np.ones(RATE // 4, np.float32), RATE)
    with pytest.raises(ConfigError, match=r"voice.default_clip .*anna.wav: the voice reference is 0.2 s long"):
        _default_voice(config, TTS_RATE)


# the tiny models on real speech


@pytest.mark.speech
@pytest.mark.slow
def test_a_second_voice_at_the_same_level_leaves_the_asr_unsure_so_the_clip_is_refused(tiny_models):
    one, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0870.wav")
    other, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0890.wav")
    both = one.copy()
    both[1600 : 1600 + len(other)] += other  # another sentence spoken over the middle of this one
    policy = VoicePolicy(VoiceSettings(), "clone")
    for audio, refused in ((one, False), (other, False), (both, True)):
        heard = tiny_models.asr.transcribe(audio, "en")
        reason = policy.refusal(measure(audio, 0, RATE, TTS_RATE), heard.log_prob)
        assert (reason is not None and "unsure" in reason) == refused, (heard, reason)


class ShortTranslator(StreamsWhole):
    """One short phrase per utterance, so the tiny TTS (which never ends a phrase itself) speaks briefly."""

    def __init__(self):
        self.phrases = iter(["Eins.", "Zwei.", "Drei.", "Vier.", "Fünf."])

    def translate(self, text, source, target, *, context=(), prefix=""):
        return next(self.phrases)


@pytest.mark.speech
@pytest.mark.slow
async def test_long_english_is_spoken_in_its_own_voice_from_the_first_sentence_and_pins(tiny_higgs_models, monkeypatch):
    """long_en_16k.wav: utterance 1 (6.5 s) is the reference of its own translation; utterance 2 is joined onto
    it (9.3 s) and brings the usable speech to the 8 s total, so the reference is pinned for utterances 3-5.
    Each change is encoded once, and nothing of the reference outlives the session."""
    tts = tiny_higgs_models.tts
    prompts, encoded, kept = [], [], []
    build_prompt, codes = model.tts.build_prompt, Voice.codes

    def recording_build_prompt(tokenizer, config, text, *, voice=None, context=()):
        prompts.append((text, voice[0], voice[1].clone()))
        return build_prompt(tokenizer, config, text, voice=voice, context=context)

    def recording_codes(voice, codec):
        result = codes(voice, codec)
        if not any(ref() is voice for ref, _ in kept):
            kept.append((weakref.ref(voice), weakref.ref(result)))
            encoded.append((voice.transcript, voice.audio.copy(), result.clone()))
        return result

    encode = tts.codec.encode
    encodes = []
    monkeypatch.setattr(model.tts, "build_prompt", recording_build_prompt)
    monkeypatch.setattr(Voice, "codes", recording_codes)
    monkeypatch.setattr(tts.codec, "encode", lambda *args, **kwargs: encodes.append(1) or encode(*args, **kwargs))
    models = Models(
        vad=tiny_higgs_models.vad,
        vad_settings=VADSettings(),
        asr=tiny_higgs_models.asr,
        translator=ShortTranslator(),
        tts=tts,
        voice=VoiceSettings(total_reference_s=8.0),
    )
    audio, _ = read_audio(LONG_EN)
    session = Session(models, source_language="en", target_language="de", clock=ScriptedClock())
    events = await run_session(session, audio)

    finals = [e.text for e in events if isinstance(e, Transcript) and e.final]
    starts = [round(e.audio_time * RATE) for e in events if isinstance(e, SpeechStarted)]
    ends = [round(e.audio_time * RATE) for e in events if isinstance(e, SpeechEnded)]
    assert len(finals) == len(starts) == len(ends) == 5
    first, second = (measure(audio[s:e], s, RATE, TTS_RATE) for s, e in zip(starts[:2], ends[:2], strict=True))
    assert 6.0 < first.duration_s < 6.8 and starts[0] <= first.span[0] and first.span[1] < ends[0]
    assert starts[1] < second.span[0] and second.span[1] < ends[1]  # the VAD padding's silence is trimmed off
    updates = [e for e in events if isinstance(e, VoiceUpdated)]
    assert [(u.utterance_id, u.source, u.transcript) for u in updates] == [
        (1, "captured", finals[0]),
        (2, "captured", f"{finals[0]} {finals[1]}"),
    ]
    assert updates[0].duration_s == pytest.approx(first.duration_s)
    assert updates[1].duration_s == pytest.approx(first.duration_s + JOIN_GAP_S + second.duration_s)
    # what the TTS received: utterance 1's own trimmed audio and words for its translation, the joined pair after
    assert len(encodes) == len(encoded) == 2  # one encoding per change
    (said, reference, reference_codes), (joined_said, joined, joined_codes) = encoded
    assert said == finals[0] and np.array_equal(reference, first.audio)
    gap = np.zeros(round(JOIN_GAP_S * TTS_RATE), np.float32)
    assert joined_said == updates[1].transcript and np.array_equal(
        joined, np.concatenate([first.audio, gap, second.audio])
    )
    spoken = {}
    for text, transcript, voice_codes in prompts:
        spoken.setdefault(text, (transcript, voice_codes))
    assert list(spoken) == ["Eins.", "Zwei.", "Drei.", "Vier.", "Fünf."]
    assert spoken["Eins."][0] == finals[0] and torch.equal(spoken["Eins."][1], reference_codes)
    for text in ["Zwei.", "Drei.", "Vier.", "Fünf."]:
        assert spoken[text][0] == joined_said and torch.equal(spoken[text][1], joined_codes)
    # the session is closed (but still referenced here): its references and their codes are gone
    gc.collect()
    assert all(voice() is None and voice_codes() is None for voice, voice_codes in kept)
