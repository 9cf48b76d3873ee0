import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from model.loading import ModelError
from model.tts import HiggsTTS, TTSSettings, max_frames

PHRASES = {
    "en": "The meeting starts at nine tomorrow.",
    "de": "Die Besprechung beginnt morgen um neun.",
    "zh": "会议明天九点开始。",
    "ko": "회의는 내일 아홉 시에 시작합니다.",
}


@pytest.fixture(scope="module")
def tts(tiny: dict[str, Path]) -> HiggsTTS:
    return HiggsTTS.load(
        tiny["higgs"], tiny["audio_tokenizer"], device="cpu", dtype=torch.float32, settings=TTSSettings()
    )


def _load(model_dir: Path, audio_tokenizer_dir: Path) -> HiggsTTS:
    return HiggsTTS.load(model_dir, audio_tokenizer_dir, device="cpu", dtype=torch.float32, settings=TTSSettings())


def test_max_frames_is_finite_and_grows_with_text() -> None:
    assert max_frames("Hi.") >= 2 * 25
    assert max_frames("Hello there.") < max_frames("Hello there, how was your trip to Berlin last week?")
    assert max_frames("你好") > max_frames("ab")
    assert max_frames("  Hi.  ") == max_frames("Hi.")
    long_text = "word " * 200
    assert max_frames(long_text) < 25 * len(long_text)


@pytest.mark.slow
@pytest.mark.parametrize("language", sorted(PHRASES))
def test_synthesize_gives_whole_frames_of_pcm(tts: HiggsTTS, language: str) -> None:
    text = PHRASES[language]
    torch.manual_seed(0)
    pcm = tts.synthesize(text, language)
    assert tts.sample_rate == 24000
    assert pcm.dtype == np.float32
    assert pcm.ndim == 1
    assert 0 < len(pcm) <= max_frames(text) * 960
    assert len(pcm) % 960 == 0
    assert np.isfinite(pcm).all()
    assert np.abs(pcm).max() <= 1.0
    assert np.abs(pcm).max() > 0.0


@pytest.mark.slow
@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_blank_text_is_silent_without_running_the_model(
    tts: HiggsTTS, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model must not run for blank text")

    monkeypatch.setattr(tts.model, "generate", refuse)
    pcm = tts.synthesize(text, "en")
    assert pcm.dtype == np.float32
    assert pcm.shape == (0,)


@pytest.mark.slow
def test_delay_pattern_is_reverted_like_transformers_builds_it(tts: HiggsTTS, tiny: dict[str, Path]) -> None:
    processor = AutoProcessor.from_pretrained(tiny["higgs"])
    frames = torch.randint(0, 1024, (1, 8, 30), generator=torch.Generator().manual_seed(0))
    framed = torch.cat([torch.full((1, 8, 1), 1024), frames, torch.full((1, 8, 1), 1025)], dim=2)
    delayed = processor.build_delay_pattern(framed)[0].T  # (steps, codebooks), as generate() returns it
    assert torch.equal(tts._aligned_codes(delayed), frames[0].T)
    cut = delayed[: 1 + 12 + 7]  # the frame budget ran out after 12 complete frames
    assert torch.equal(tts._aligned_codes(cut), frames[0, :, :12].T)
    ragged = delayed.clone()
    ragged[1 + 20 + 3 :, 3] = 1025  # codebook 3 ended its stream at frame 20
    assert torch.equal(tts._aligned_codes(ragged), frames[0, :, :20].T)
    assert tts._aligned_codes(delayed[:5]).shape == (0, 8)


@pytest.mark.slow
def test_missing_directories_raise_model_error_naming_them(tiny: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelError, match=str(missing)):
        _load(missing, tiny["audio_tokenizer"])
    with pytest.raises(ModelError, match=str(missing)):
        _load(tiny["higgs"], missing)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["higgs", "audio_tokenizer"])
def test_corrupt_directories_raise_model_error_naming_them(tiny: dict[str, Path], tmp_path: Path, which: str) -> None:
    corrupt = tmp_path / which
    shutil.copytree(tiny[which], corrupt)
    (corrupt / "config.json").write_text("{ this is not json")
    dirs = dict(tiny) | {which: corrupt}
    with pytest.raises(ModelError, match=str(corrupt)):
        _load(dirs["higgs"], dirs["audio_tokenizer"])
