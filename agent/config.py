"""YAML profiles validated by pydantic into the stages' own settings.

A section's keys for a stage are read off that stage's settings dataclass (`_keys`): names, types and defaults
live only there, and this module adds what a profile must obey on top (pydantic constraints, choices, rules
across keys). Every error names the file, the key and what the key must be.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from agent.language import LanguageSettings
from agent.translation import TranslationSettings
from agent.voice import VoiceSettings
from model.asr import ASRSettings
from model.codec import CodecSettings
from model.higgs import Sampling
from model.translator import TranslatorSettings
from model.tts import FRAMES_PER_SECOND, TTSSettings
from model.vad import VADSettings
from streaming.vocabulary import POLICIES

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"
_Settings = TypeVar("_Settings")


class ConfigError(ValueError):
    """A profile that cannot be used; the message names the file, the key and the fix."""


def _rule(words: str, key: str = "") -> PydanticCustomError:
    """A profile rule broken, in words; `key` names the offending key when a check across keys raises it."""
    return PydanticCustomError("rule", "{rule}", {"rule": words, "key": key})


def _check(ok: Callable[[Any], bool], words: str) -> AfterValidator:
    """A rule on a value of the right type, in the words a broken one is reported in."""

    def validate(value: Any) -> Any:
        if not ok(value):
            raise _rule(words)
        return value

    return AfterValidator(validate)


def _as_text_map(value: Any, handler: Callable[[Any], Any]) -> Any:
    try:
        return handler(value)
    except ValidationError:  # one sentence for the whole mapping rather than pydantic's item by item
        raise _rule(f"must map text to text, got {value!r}") from None


_TextMap = Annotated[dict[str, str], WrapValidator(_as_text_map)]


class _Section(BaseModel):
    """A mapping of profile keys: each of its own type (no silent conversion), an unknown key an error."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def _build(self, settings: type[_Settings], prefix: str = "", **given: Any) -> _Settings:
        """A stage's settings from the keys named `prefix` + its fields; `given` sets the fields that are not keys."""
        keys = type(self).model_fields
        fields = (f.name for f in dataclasses.fields(settings))
        return settings(**{name: getattr(self, prefix + name) for name in fields if prefix + name in keys} | given)


def _keys(settings: type, *, prefix: str = "", skip: tuple[str, ...] = (), **checks: Any) -> type[_Section]:
    """The keys `prefix` + field name of a stage's settings dataclass, typed and defaulted by the dataclass, with
    `checks` by field name: a `Field` of constraints, or a type narrowing the field's (a `Literal` of choices)."""
    hints = typing.get_type_hints(settings)
    keys = {}
    for f in dataclasses.fields(settings):
        if f.name in skip:
            continue
        check = checks.pop(f.name, hints[f.name])
        kind = Annotated[hints[f.name], check] if isinstance(check, FieldInfo) else check
        default = Field(default_factory=f.default_factory) if f.default is dataclasses.MISSING else f.default
        keys[prefix + f.name] = (kind, default)
    if checks:
        raise TypeError(f"{settings.__name__} has no field {', '.join(checks)}")
    return create_model(f"{settings.__name__}Keys", __base__=_Section, **keys)


class VADConfig(
    _keys(
        VADSettings,
        threshold=Field(gt=0, lt=1),
        min_silence_ms=Field(gt=0),
        min_speech_ms=Field(gt=0),
        speech_pad_ms=Field(ge=0),
        max_utterance_ms=Field(gt=0),
    )
):
    """`vad:` endpointing."""

    @model_validator(mode="after")
    def _ordered(self) -> VADConfig:
        if not 0 < self.end_threshold <= self.threshold:
            raise _rule("must lie between 0 and vad.threshold", "end_threshold")
        if not 0 < self.split_silence_ms < self.min_silence_ms:
            raise _rule("must be positive and less than vad.min_silence_ms", "split_silence_ms")
        return self

    def settings(self) -> VADSettings:
        return self._build(VADSettings)


class ASRConfig(
    _keys(LanguageSettings, prefix="language_", min_speech_ms=Field(gt=0), switch_probability=Field(gt=0.5, le=1)),
    _keys(
        ASRSettings,
        beam_size=Field(ge=1),
        partial_interval_ms=Field(ge=100),
        partial_share=Field(gt=0, le=1),
        num_workers=Field(ge=1),
        cpu_threads=Field(ge=0, description="0: CTranslate2 picks"),
        no_speech_threshold=Field(gt=0, le=1),
        log_prob_threshold=Field(le=0),
    ),
):
    """`asr:` the whisper model, how it decodes, and (`language_*`) how `--from auto` settles on a language."""

    model: str

    def settings(self) -> ASRSettings:
        return self._build(ASRSettings)

    def language_settings(self) -> LanguageSettings:
        return self._build(LanguageSettings, "language_")


class TranslatorConfig(
    _keys(TranslationSettings, policy=Literal[POLICIES], context_turns=Field(ge=0, description="0 turns context off")),
    _keys(
        TranslatorSettings,
        max_new_tokens=Field(ge=1),
        glossary=_TextMap,  # source term -> the translation it must get
    ),
):
    """`translator:` the model, the policy and, for `backend: remote`, the OpenAI-compatible server."""

    model: str
    # local: transformers in this process; remote: an OpenAI-compatible server at base_url
    backend: Annotated[str, _check(lambda name: name in ("local", "remote"), "must be local or remote")] = "local"
    base_url: Annotated[
        str,
        _check(
            lambda url: url.startswith(("http://", "https://")),
            "must start with http:// or https:// (for example http://127.0.0.1:8000/v1)",
        ),
    ] = "http://127.0.0.1:8000/v1"  # remote only, like every key below
    api_key_env: str = "S2ST_TRANSLATOR_API_KEY"  # environment variable holding the server's API key
    timeout_s: float = Field(10.0, gt=0)  # connect and each wait for the next streamed piece
    deadline_s: float = 30.0  # one whole reply

    @model_validator(mode="after")
    def _deadline_after_timeout(self) -> TranslatorConfig:
        if self.deadline_s < self.timeout_s:
            raise _rule("must be at least timeout_s", "deadline_s")
        return self

    def settings(self) -> TranslatorSettings:
        return self._build(TranslatorSettings)

    def translation_settings(self) -> TranslationSettings:
        return self._build(TranslationSettings)


class CodecConfig(_keys(CodecSettings)):
    """`tts.codec:` chunked decoding; `CodecSettings` checks its own values."""

    @model_validator(mode="after")
    def _valid(self) -> CodecConfig:
        self.settings()
        return self

    def settings(self) -> CodecSettings:
        return self._build(CodecSettings)


_TTS_BACKENDS = ("higgs", "kokoro")
_KOKORO_KEYS = ("backend", "model", "voice")


class TTSConfig(
    _keys(
        TTSSettings,
        skip=("sampling", "codec"),
        context_phrases=Field(ge=0, description="0 turns context off"),
        slots=Field(ge=1),
        context_tokens=Field(ge=256),
    ),
    _keys(
        Sampling,
        skip=("ras_win_len", "ras_win_max_num_repeat"),
        temperature=Field(ge=0),
        top_k=Field(ge=0, description="0 turns top-k off"),
        top_p=Field(gt=0, le=1),
    ),
):
    """`tts:` which backend speaks and its model. Higgs clones the speaker's voice and has an audio tokenizer,
    sampling, batching and chunked decoding; Kokoro speaks in a stock voice and has only `voice`, the one a session
    starts in (empty: the model's first)."""

    backend: Literal[_TTS_BACKENDS] = "higgs"
    model: str  # kokoro: package:kokoro, or a folder (or hub id) with one ONNX export and one voices archive
    audio_tokenizer: str = ""
    voice: str = ""
    codec: CodecConfig = CodecConfig()

    @model_validator(mode="after")
    def _keys_of_the_backend(self) -> TTSConfig:
        if self.backend == "kokoro":
            if higgs_keys := sorted(self.model_fields_set - set(_KOKORO_KEYS)):
                words = f"is a key of the higgs backend; backend kokoro takes only {', '.join(_KOKORO_KEYS)}"
                raise _rule(words, higgs_keys[0])
        elif not self.audio_tokenizer:
            raise _rule("is missing; add it to the profile (the higgs backend needs it)", "audio_tokenizer")
        elif self.voice:
            raise _rule("is a key of the kokoro backend; higgs speaks in the speaker's own voice", "voice")
        return self

    def settings(self) -> TTSSettings:
        return self._build(TTSSettings, sampling=self._build(Sampling), codec=self.codec.settings())


class VoiceConfig(
    _keys(
        VoiceSettings,
        min_reference_s=Field(gt=0),
        total_reference_s=Field(ge=0, description="0 pins the first clip"),
        max_clipped_fraction=Field(ge=0, le=1),
        min_log_prob=Field(le=0),
    )
):
    """`voice:` how a session's voice reference is chosen (docs/voice.md). `default_clip` is the stock voice of
    `voice: default` sessions, a path relative to the profile's folder; empty: the model's own voice."""

    default_clip: str = ""
    default_transcript: str = ""

    @field_validator("default_clip")
    @classmethod
    def _beside_the_profile(cls, clip: str, info: ValidationInfo) -> str:
        if not clip:
            return clip
        path = Path((info.context or {}).get("folder", "")) / Path(clip).expanduser()
        if not path.is_file():
            raise _rule(
                "must be an audio file (a path relative to the profile's folder), or empty for the model's own voice"
            )
        return str(path)

    @model_validator(mode="after")
    def _transcript_with_clip(self) -> VoiceConfig:
        if bool(self.default_clip) != bool(self.default_transcript.strip()):
            raise _rule(
                "must be set with voice.default_clip, and only with it: the words said in the clip",
                "default_transcript",
            )
        return self

    def settings(self) -> VoiceSettings:
        return self._build(VoiceSettings)


class ServerConfig(_Section):
    """`server:` (`s2st serve`): where it listens and the limits that keep one client from hurting the others."""

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535, description="0: any free port")
    token_env: str = "S2ST_TOKEN"  # environment variable holding the bearer token; unset: no token needed
    allowed_origins: list[str] = []  # browser origins besides the server's own; "*": any
    max_sessions: int = Field(32, ge=1)
    max_message_bytes: int = Field(1_048_576, ge=4096)  # a 10 s voice reference as base64 WAV is about 430 kB
    max_session_s: float = Field(3600.0, gt=0)
    send_queue_messages: int = Field(512, ge=16)  # messages waiting for a client before it counts as not reading
    shutdown_grace_s: float = Field(30.0, ge=0)  # on SIGTERM, how long open sessions get to finish their utterance
    ice_servers: Annotated[  # WebRTC STUN/TURN servers
        list[_TextMap],
        _check(
            lambda servers: all("urls" in s and set(s) <= {"urls", "username", "credential"} for s in servers),
            "entries need `urls` (stun:… or turn:…) and may have `username` and `credential`",
        ),
    ] = []


class Config(_Section):
    """A whole profile; `name` is the file's, unless the profile gives one."""

    asr: ASRConfig
    translator: TranslatorConfig
    tts: TTSConfig
    vad: VADConfig = VADConfig()
    voice: VoiceConfig = VoiceConfig()
    server: ServerConfig = ServerConfig()
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: cuda when a GPU is visible
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # auto: bfloat16 on a GPU, float32 on the CPU
    name: str = "custom"

    @model_validator(mode="after")
    def _reference_fits_the_context(self) -> Config:
        limit = self.tts.context_tokens / 2 / FRAMES_PER_SECOND
        if not self.voice.min_reference_s <= self.voice.max_reference_s <= limit:
            raise _rule(
                f"must lie between voice.min_reference_s and {limit:g} s (half of tts.context_tokens at "
                f"{FRAMES_PER_SECOND} codec frames a second, so the phrase still fits)",
                "voice.max_reference_s",
            )
        return self

    @model_validator(mode="after")
    def _stock_clip_for_a_clone(self) -> Config:
        if self.tts.backend == "kokoro" and self.voice.default_clip:
            raise _rule("is for the higgs backend; kokoro's default voice is tts.voice", "voice.default_clip")
        return self

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
        if self.tts.backend == "kokoro":
            del sources["audio tokenizer"]
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
    try:
        return Config.model_validate({"name": path.stem, **data}, context={"folder": path.parent})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_problem(exc.errors()[0])}.") from exc


_TYPES = {"int_type": "int", "float_type": "float", "string_type": "str", "bool_type": "bool", "list_type": "list"}
_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _problem(error: ErrorDetails) -> str:
    """A pydantic error as the profile key and what is wrong with it."""
    kind, loc, ctx = error["type"], error["loc"], error.get("ctx", {})
    if kind == "rule" and ctx["key"]:
        loc += tuple(ctx["key"].split("."))
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).removeprefix(".")
    if kind == "rule":
        return f"{key} {ctx['rule']}"
    if kind == "missing":
        return f"{key} is missing; add it to the profile"
    if kind == "extra_forbidden":
        return f"unknown key '{key}'; allowed keys here: {', '.join(_section(loc[:-1]).model_fields)}"
    if kind in _TYPES:
        return f"{key} must be a {_TYPES[kind]}, got {error['input']!r}"
    if kind == "model_type":
        return f"{key} must be a mapping of settings"
    if kind == "value_error":  # a settings dataclass that checks its own values says what is wrong
        return f"{key}: {ctx['error']}"
    if kind == "literal_error":
        choices = typing.get_args(_section(loc[:-1]).model_fields[loc[-1]].annotation)
        return f"{key} must be one of {', '.join(choices)}"
    if kind in _BOUNDS:
        return f"{key} {_bounds(_section(loc[:-1]).model_fields[loc[-1]], error['msg'])}"
    return f"{key}: {error['msg']}"


def _section(loc: tuple[str | int, ...]) -> type[BaseModel]:
    """The section of a profile at `loc`."""
    model: type[BaseModel] = Config
    for part in loc:
        model = model.model_fields[part].annotation
    return model


def _bounds(field: FieldInfo, said: str) -> str:
    """A key's range in words (else pydantic's own, `said`); the field's description says what an edge value means."""
    bounds = {op: getattr(m, op) for m in field.metadata for op in ("gt", "ge", "lt", "le") if hasattr(m, op)}
    match bounds:
        case {"gt": low, "lt": high} | {"ge": low, "le": high}:
            words = f"must lie between {low:g} and {high:g}"
        case {"gt": low, "le": high}:
            words = f"must lie in ({low:g}, {high:g}]"
        case {"gt": 0}:
            words = "must be positive"
        case {"ge": 0}:
            words = "must not be negative"
        case {"le": 0}:
            words = "must not be positive"
        case {"ge": low}:
            words = f"must be at least {low:g}"
        case _:
            words = said
    return f"{words} ({field.description})" if field.description else words
