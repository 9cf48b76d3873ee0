"""YAML profiles loaded into typed, validated settings."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.language import LanguageSettings
from agent.translation import POLICIES, TranslationSettings
from agent.voice import VoiceSettings
from model.asr import ASRSettings
from model.codec import CodecSettings
from model.higgs import Sampling
from model.translator import TranslatorSettings
from model.tts import FRAMES_PER_SECOND, TTSSettings
from model.vad import VADSettings

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")


class ConfigError(ValueError):
    """A profile that cannot be used; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class ASRConfig:
    model: str
    beam_size: int = 1
    compute_type: str = "auto"  # CTranslate2 type; auto: float16 on GPU, int8 on CPU
    cpu_threads: int = 0
    partial_interval_ms: int = ASRSettings.partial_interval_ms
    no_speech_threshold: float = ASRSettings.no_speech_threshold
    log_prob_threshold: float = ASRSettings.log_prob_threshold
    language_min_speech_ms: int = LanguageSettings.min_speech_ms
    language_switch_probability: float = LanguageSettings.switch_probability

    def settings(self, device: str) -> ASRSettings:
        compute_type = self.compute_type
        if compute_type == "auto":
            compute_type = "float16" if device == "cuda" else "int8"
        return ASRSettings(
            beam_size=self.beam_size,
            compute_type=compute_type,
            cpu_threads=self.cpu_threads,
            partial_interval_ms=self.partial_interval_ms,
            no_speech_threshold=self.no_speech_threshold,
            log_prob_threshold=self.log_prob_threshold,
        )

    def language_settings(self) -> LanguageSettings:
        return LanguageSettings(self.language_min_speech_ms, self.language_switch_probability)


@dataclass(frozen=True)
class TranslatorConfig:
    model: str
    max_new_tokens: int = 256
    policy: str = TranslationSettings.policy
    context_turns: int = TranslationSettings.context_turns
    glossary: dict[str, str] = field(default_factory=dict)  # source term -> the translation it must get
    backend: str = "local"  # local: transformers in this process; remote: an OpenAI-compatible server
    base_url: str = "http://127.0.0.1:8000/v1"  # remote only, like every key below
    api_key_env: str = "S2ST_TRANSLATOR_API_KEY"  # environment variable holding the server's API key
    timeout_s: float = 10.0  # connect and each wait for the next streamed piece
    deadline_s: float = 30.0  # one whole reply

    def settings(self) -> TranslatorSettings:
        return TranslatorSettings(max_new_tokens=self.max_new_tokens, glossary=self.glossary)


@dataclass(frozen=True)
class TTSConfig:
    model: str
    audio_tokenizer: str
    temperature: float = Sampling.temperature
    top_k: int = Sampling.top_k
    top_p: float = Sampling.top_p
    context_phrases: int = TTSSettings.context_phrases
    slots: int = TTSSettings.slots
    context_tokens: int = TTSSettings.context_tokens
    codec: CodecSettings = field(default_factory=CodecSettings)

    def settings(self) -> TTSSettings:
        return TTSSettings(
            sampling=Sampling(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p),
            codec=self.codec,
            context_phrases=self.context_phrases,
            slots=self.slots,
            context_tokens=self.context_tokens,
        )


@dataclass(frozen=True)
class VoiceConfig:
    """How a session's voice reference is chosen (docs/voice.md). `default_clip` is the stock voice of
    `voice: default` sessions, a path relative to the profile's folder; empty: the model's own voice."""

    max_reference_s: float = VoiceSettings.max_reference_s
    total_reference_s: float = VoiceSettings.total_reference_s
    min_reference_s: float = VoiceSettings.min_reference_s
    max_clipped_fraction: float = VoiceSettings.max_clipped_fraction
    min_snr_db: float = VoiceSettings.min_snr_db
    min_log_prob: float = VoiceSettings.min_log_prob
    default_clip: str = ""
    default_transcript: str = ""

    def settings(self) -> VoiceSettings:
        return VoiceSettings(
            max_reference_s=self.max_reference_s,
            total_reference_s=self.total_reference_s,
            min_reference_s=self.min_reference_s,
            max_clipped_fraction=self.max_clipped_fraction,
            min_snr_db=self.min_snr_db,
            min_log_prob=self.min_log_prob,
        )


@dataclass(frozen=True)
class ServerConfig:
    """`s2st serve`: where it listens and the limits that keep one client from hurting the others."""

    host: str = "127.0.0.1"
    port: int = 8765
    token_env: str = "S2ST_TOKEN"  # environment variable holding the bearer token; unset: no token needed
    allowed_origins: list[str] = field(default_factory=list)  # browser origins besides the server's own; "*": any
    max_sessions: int = 32
    max_message_bytes: int = 1_048_576  # a 10 s voice reference as base64 WAV is about 430 kB
    max_session_s: float = 3600.0
    send_queue_messages: int = 512  # messages waiting for a client before it counts as not reading
    shutdown_grace_s: float = 30.0  # on SIGTERM, how long open sessions get to finish their utterance
    ice_servers: list[dict[str, str]] = field(default_factory=list)  # WebRTC STUN/TURN: urls, username, credential


@dataclass(frozen=True)
class Config:
    asr: ASRConfig
    translator: TranslatorConfig
    tts: TTSConfig
    vad: VADSettings = field(default_factory=VADSettings)
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    device: str = "auto"
    dtype: str = "auto"
    name: str = "custom"

    def sources(self) -> dict[str, str]:
        """Every model the profile needs, by role."""
        sources = {
            "ASR model": self.asr.model,
            "translator model": self.translator.model,
            "TTS model": self.tts.model,
            "audio tokenizer": self.tts.audio_tokenizer,
        }
        if self.translator.backend == "remote":  # the server has the weights, and names the model itself
            del sources["translator model"]
        return sources


def profile_path(profile: str) -> Path:
    """A profile is a name in configs/ (`tiny`, `default`) or a path to a YAML file."""
    if profile.endswith((".yaml", ".yml")) or "/" in profile:
        return Path(profile).expanduser()
    return CONFIGS_DIR / f"{profile}.yaml"


def load_config(profile: str) -> Config:
    path = profile_path(profile)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml")))
        raise ConfigError(f"profile '{profile}': no file {path}; choose one of: {known}, or give a YAML path.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}).") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level.")
    data.setdefault("name", path.stem)
    config = _build(Config, data, path, "")
    if config.voice.default_clip:  # a clip shipped with a profile sits next to it
        clip = str(path.parent / Path(config.voice.default_clip).expanduser())
        config = dataclasses.replace(config, voice=dataclasses.replace(config.voice, default_clip=clip))
    for key, ok, rule in _rules(config):
        if not ok:
            raise ConfigError(f"{path}: {key} {rule}.")
    return config


def _rules(c: Config) -> list[tuple[str, bool, str]]:
    reference_limit = c.tts.context_tokens / 2 / FRAMES_PER_SECOND
    return [
        ("device", c.device in DEVICES, f"must be one of {', '.join(DEVICES)}"),
        ("dtype", c.dtype in DTYPES, f"must be one of {', '.join(DTYPES)}"),
        ("vad.threshold", 0.0 < c.vad.threshold < 1.0, "must lie between 0 and 1"),
        ("vad.end_threshold", 0.0 < c.vad.end_threshold <= c.vad.threshold, "must lie between 0 and vad.threshold"),
        ("vad.min_silence_ms", c.vad.min_silence_ms > 0, "must be positive"),
        ("vad.min_speech_ms", c.vad.min_speech_ms > 0, "must be positive"),
        ("vad.speech_pad_ms", c.vad.speech_pad_ms >= 0, "must not be negative"),
        ("vad.max_utterance_ms", c.vad.max_utterance_ms > 0, "must be positive"),
        (
            "vad.split_silence_ms",
            0 < c.vad.split_silence_ms < c.vad.min_silence_ms,
            "must be positive and less than vad.min_silence_ms",
        ),
        ("asr.beam_size", c.asr.beam_size >= 1, "must be at least 1"),
        ("asr.partial_interval_ms", c.asr.partial_interval_ms >= 100, "must be at least 100"),
        ("asr.no_speech_threshold", 0.0 < c.asr.no_speech_threshold <= 1.0, "must lie in (0, 1]"),
        ("asr.log_prob_threshold", c.asr.log_prob_threshold <= 0.0, "must not be positive"),
        ("asr.language_min_speech_ms", c.asr.language_min_speech_ms > 0, "must be positive"),
        (
            "asr.language_switch_probability",
            0.5 < c.asr.language_switch_probability <= 1.0,
            "must lie in (0.5, 1]",
        ),
        ("translator.max_new_tokens", c.translator.max_new_tokens >= 1, "must be at least 1"),
        ("translator.policy", c.translator.policy in POLICIES, f"must be one of {', '.join(POLICIES)}"),
        ("translator.context_turns", c.translator.context_turns >= 0, "must not be negative (0 turns context off)"),
        ("translator.backend", c.translator.backend in ("local", "remote"), "must be local or remote"),
        (
            "translator.base_url",
            c.translator.base_url.startswith(("http://", "https://")),
            "must start with http:// or https:// (for example http://127.0.0.1:8000/v1)",
        ),
        ("translator.timeout_s", c.translator.timeout_s > 0, "must be positive"),
        ("translator.deadline_s", c.translator.deadline_s >= c.translator.timeout_s, "must be at least timeout_s"),
        ("tts.temperature", c.tts.temperature >= 0.0, "must not be negative"),
        ("tts.top_k", c.tts.top_k >= 0, "must not be negative (0 turns top-k off)"),
        ("tts.top_p", 0.0 < c.tts.top_p <= 1.0, "must lie in (0, 1]"),
        ("tts.context_phrases", c.tts.context_phrases >= 0, "must not be negative (0 turns context off)"),
        ("tts.slots", c.tts.slots >= 1, "must be at least 1"),
        ("tts.context_tokens", c.tts.context_tokens >= 256, "must be at least 256"),
        ("voice.min_reference_s", c.voice.min_reference_s > 0, "must be positive"),
        (
            "voice.max_reference_s",
            c.voice.min_reference_s <= c.voice.max_reference_s <= reference_limit,
            f"must lie between voice.min_reference_s and {reference_limit:g} s (half of tts.context_tokens at "
            f"{FRAMES_PER_SECOND} codec frames a second, so the phrase still fits)",
        ),
        ("voice.total_reference_s", c.voice.total_reference_s >= 0, "must not be negative (0 pins the first clip)"),
        ("voice.max_clipped_fraction", 0.0 <= c.voice.max_clipped_fraction <= 1.0, "must lie between 0 and 1"),
        ("voice.min_log_prob", c.voice.min_log_prob <= 0.0, "must not be positive"),
        (
            "voice.default_clip",
            not c.voice.default_clip or Path(c.voice.default_clip).is_file(),
            "must be an audio file (a path relative to the profile's folder), or empty for the model's own voice",
        ),
        (
            "voice.default_transcript",
            bool(c.voice.default_clip) == bool(c.voice.default_transcript.strip()),
            "must be set with voice.default_clip, and only with it: the words said in the clip",
        ),
        ("server.port", 0 <= c.server.port <= 65535, "must lie between 0 and 65535 (0: any free port)"),
        ("server.max_sessions", c.server.max_sessions >= 1, "must be at least 1"),
        ("server.max_message_bytes", c.server.max_message_bytes >= 4096, "must be at least 4096"),
        ("server.max_session_s", c.server.max_session_s > 0, "must be positive"),
        ("server.send_queue_messages", c.server.send_queue_messages >= 16, "must be at least 16"),
        ("server.shutdown_grace_s", c.server.shutdown_grace_s >= 0, "must not be negative"),
        (
            "server.ice_servers",
            all("urls" in s and set(s) <= {"urls", "username", "credential"} for s in c.server.ice_servers),
            "entries need `urls` (stun:… or turn:…) and may have `username` and `credential`",
        ),
    ]


def _build(cls: type, data: Any, path: Path, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {prefix.rstrip('.') or 'the profile'} must be a mapping of settings.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{path}: unknown key '{prefix}{unknown[0]}'; allowed keys here: {', '.join(fields)}.")
    values = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{path}: {prefix}{name} is missing; add it to the profile.")
            continue
        values[name] = _value(hints[name], data[name], path, f"{prefix}{name}")
    try:
        return cls(**values)
    except ValueError as exc:  # a settings class that checks its own values says what is wrong
        raise ConfigError(f"{path}: {prefix.rstrip('.') or 'the profile'}: {exc}") from exc


def _value(kind: Any, value: Any, path: Path, key: str) -> Any:
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, path, f"{key}.")
    if typing.get_origin(kind) is dict:  # dict[str, str]: the glossary, an ICE server
        if not isinstance(value, dict) or not all(isinstance(v, str) for item in value.items() for v in item):
            raise ConfigError(f"{path}: {key} must map text to text, got {value!r}.")
        return dict(value)
    if typing.get_origin(kind) is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: {key} must be a list, got {value!r}.")
        (item,) = typing.get_args(kind)
        return [_value(item, v, path, f"{key}[{i}]") for i, v in enumerate(value)]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{path}: {key} must be a {kind.__name__}, got {value!r}.")
    return value
