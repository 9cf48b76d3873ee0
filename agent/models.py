"""The models of one process, loaded once from a profile and shared by every session."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from agent.config import Config, ConfigError
from agent.language import LanguageSettings
from agent.partial_budget import PartialBudget
from agent.translation import TranslationSettings
from agent.voice import VoiceSettings, given_voice
from model.asr import WhisperASR
from model.kokoro import KokoroTTS, hub_weights, is_hub_layout, packaged_weights
from model.loading import PULL_HINT, ModelError, NotDownloaded, resolve
from model.remote_translator import RemoteTranslator
from model.speech import SpeechBackend
from model.translator import Translator
from model.tts import HiggsTTS
from model.vad import SileroVAD, VADSettings
from model.voice import Voice
from streaming.audio import read_audio
from streaming.vocabulary import LANGUAGES

TTS_BACKENDS: dict[str, type[SpeechBackend]] = {"higgs": HiggsTTS, "kokoro": KokoroTTS}  # by profile key tts.backend
KOKORO_PACKAGED = "package:kokoro"  # tts.model: the int8 Kokoro v1.0 and its five voices that pip packages ship
KOKORO_VOICES = ("*.npz", "voices*.bin")  # kokoro-onnx's voices archive, by the names it comes under


@dataclass
class Models:
    vad: SileroVAD
    vad_settings: VADSettings
    asr: WhisperASR
    translator: Translator | RemoteTranslator
    tts: SpeechBackend
    language_settings: LanguageSettings = field(default_factory=LanguageSettings)
    translation: TranslationSettings = field(default_factory=TranslationSettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    default_voice: Voice | None = None  # the stock clip of `voice: default` sessions; None: the model's own voice
    stock_voice: str | None = None  # with a TTS that cannot clone: the stock voice sessions start in (tts.voice)
    partials: PartialBudget = field(default_factory=PartialBudget)  # every session's partial ASR decodes


def pick_device(config: Config) -> str:
    if config.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"profile '{config.name}' asks for device cuda, but no GPU is visible; set device: auto.")
    return config.device


def pick_dtype(config: Config, device: str) -> torch.dtype:
    if config.dtype == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    return getattr(torch, config.dtype)


def _translator(config: Config, paths: dict, device: str, dtype: torch.dtype) -> Translator | RemoteTranslator:
    settings = config.translator
    if settings.backend == "remote":
        return RemoteTranslator(
            settings.base_url,
            settings.model,
            api_key=os.environ.get(settings.api_key_env) or None,
            api_key_env=settings.api_key_env,
            timeout_s=settings.timeout_s,
            deadline_s=settings.deadline_s,
            settings=settings.settings(),
        )
    return Translator.load(paths["translator model"], device=device, dtype=dtype, settings=settings.settings())


def locate(config: Config, role: str) -> Path | tuple[Path, Path]:
    """Where one of the profile's models is on this machine, or ModelError (NotDownloaded for a hub model not
    fetched yet) saying what to do. A Kokoro model is two files: its ONNX export and its voices archive."""
    source = config.sources()[role]
    if role != "TTS model" or config.tts.backend != "kokoro":
        return resolve(source, role)
    if source == KOKORO_PACKAGED:
        return packaged_weights()
    folder = resolve(source, role)
    if is_hub_layout(folder):  # onnx-community/Kokoro-82M-v1.0-ONNX: onnx/ and a file per voice
        return hub_weights(folder)
    models = sorted(folder.glob("*.onnx"))
    voices = sorted(path for pattern in KOKORO_VOICES for path in folder.glob(pattern))
    if len(models) != 1 or len(voices) != 1:
        raise ModelError(
            f"TTS model: {folder} holds {len(models)} ONNX files and {len(voices)} voices archives; a Kokoro folder "
            "needs one of each, such as kokoro-onnx's kokoro-v1.0.onnx and voices-v1.0.bin."
        )
    return models[0], voices[0]


def load_models(config: Config) -> Models:
    """Resolve every source first, so missing models are all reported before minutes of loading."""
    paths = _locate_all(config, tuple(config.sources()))
    device = pick_device(config)
    dtype = pick_dtype(config, device)
    asr = _asr(config, paths, device)
    translator = _translator(config, paths, device, dtype)
    tts = _tts(config, paths, device, dtype)
    return Models(
        vad=SileroVAD(),
        vad_settings=config.vad.settings(),
        asr=asr,
        translator=translator,
        tts=tts,
        language_settings=config.asr.language_settings(),
        translation=config.translator.translation_settings(),
        voice=config.voice.settings(),
        default_voice=_default_voice(config, tts.sample_rate),
        stock_voice=_stock_voice(config, tts),
    )


def load_tts(config: Config) -> tuple[SpeechBackend, Voice | str | None]:
    """The profile's TTS alone, and the voice it speaks in unless told otherwise (its stock voice or clip), for
    speaking text (`s2st speak`): no ASR or translator is loaded."""
    paths = _locate_all(config, tuple(role for role in config.sources() if role in ("TTS model", "audio tokenizer")))
    device = pick_device(config)
    tts = _tts(config, paths, device, pick_dtype(config, device))
    return tts, _stock_voice(config, tts) or _default_voice(config, tts.sample_rate)


def load_asr(config: Config) -> WhisperASR:
    """The profile's ASR alone, for checking what a TTS said (`s2st eval intelligibility`)."""
    return _asr(config, _locate_all(config, ("ASR model",)), pick_device(config))


def _asr(config: Config, paths: dict, device: str) -> WhisperASR:
    return WhisperASR(paths["ASR model"], device=device, settings=config.asr.settings(), languages=LANGUAGES)


def _locate_all(config: Config, roles: tuple[str, ...]) -> dict[str, Path | tuple[Path, Path]]:
    """Every model of `roles`, the missing ones reported all at once."""
    paths, missing = {}, []
    for role in roles:
        try:
            paths[role] = locate(config, role)
        except NotDownloaded as exc:
            missing.append(f"{exc.what} '{exc.repo_id}'")
    if missing:
        raise ModelError(
            f"profile '{config.name}' needs models that are not downloaded yet: {', '.join(missing)}. "
            + PULL_HINT.format(profile=config.name)
        )
    return paths


def _tts(config: Config, paths: dict, device: str, dtype: torch.dtype) -> SpeechBackend:
    if config.tts.backend == "kokoro":
        return KokoroTTS.load(*paths["TTS model"])
    return HiggsTTS.load(
        paths["TTS model"], paths["audio tokenizer"], device=device, dtype=dtype, settings=config.tts.settings()
    )


def _stock_voice(config: Config, tts: SpeechBackend) -> str | None:
    """The profile's stock voice (`tts.voice`, else the model's first), checked against the model's voices."""
    if tts.can_clone:
        return None
    voice = config.tts.voice or tts.voices[0]
    if voice not in tts.voices:
        raise ConfigError(
            f"profile '{config.name}': tts.voice '{voice}' is not a voice of the {tts.name} model; "
            f"choose one of {', '.join(tts.voices)}."
        )
    return voice


def _default_voice(config: Config, rate: int) -> Voice | None:
    """The profile's stock voice clip, checked like a client's reference; None when the profile has none."""
    clip = config.voice.default_clip
    if not clip:
        return None
    try:
        audio, clip_rate = read_audio(clip)
        return given_voice(audio, clip_rate, config.voice.default_transcript, config.voice.settings(), rate)
    except ValueError as exc:  # an unreadable file (AudioError) or a clip that cannot serve
        raise ConfigError(f"profile '{config.name}': voice.default_clip {clip}: {exc}") from exc
