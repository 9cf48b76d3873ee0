"""The models of one process, loaded once from a profile and shared by every session."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch

from agent.config import Config, ConfigError
from agent.language import LanguageSettings
from agent.translation import TranslationSettings
from agent.voice import VoiceSettings, given_voice
from model.asr import WhisperASR
from model.loading import PULL_HINT, ModelError, NotDownloaded, resolve
from model.remote_translator import RemoteTranslator
from model.translator import Translator
from model.tts import HiggsTTS
from model.vad import SileroVAD, VADSettings
from model.voice import Voice
from streaming.audio import read_audio
from streaming.vocabulary import LANGUAGES


@dataclass
class Models:
    vad: SileroVAD
    vad_settings: VADSettings
    asr: WhisperASR
    translator: Translator | RemoteTranslator
    tts: HiggsTTS
    language_settings: LanguageSettings = field(default_factory=LanguageSettings)
    translation: TranslationSettings = field(default_factory=TranslationSettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    default_voice: Voice | None = None  # the stock voice of `voice: default` sessions; None: the model's own


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


def load_models(config: Config) -> Models:
    """Resolve every source first, so missing models are all reported before minutes of loading."""
    paths, missing = {}, []
    for role, source in config.sources().items():
        try:
            paths[role] = resolve(source, role)
        except NotDownloaded as exc:
            missing.append(f"{exc.what} '{exc.repo_id}'")
    if missing:
        raise ModelError(
            f"profile '{config.name}' needs models that are not downloaded yet: {', '.join(missing)}. "
            + PULL_HINT.format(profile=config.name)
        )
    device = pick_device(config)
    dtype = pick_dtype(config, device)
    asr = WhisperASR(paths["ASR model"], device=device, settings=config.asr.settings(), languages=LANGUAGES)
    translator = _translator(config, paths, device, dtype)
    tts = HiggsTTS.load(
        paths["TTS model"], paths["audio tokenizer"], device=device, dtype=dtype, settings=config.tts.settings()
    )
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
    )


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
