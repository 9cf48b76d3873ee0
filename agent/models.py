"""The models of one process, loaded once from a profile and shared by every session."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from agent.config import Config, ConfigError
from agent.language import LanguageSettings
from model.asr import WhisperASR
from model.loading import PULL_HINT, ModelError, NotDownloaded, resolve
from model.translator import Translator
from model.tts import HiggsTTS
from model.vad import SileroVAD, VADSettings


@dataclass
class Models:
    vad: SileroVAD
    vad_settings: VADSettings
    asr: WhisperASR
    translator: Translator
    tts: HiggsTTS
    language_settings: LanguageSettings = field(default_factory=LanguageSettings)


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
    return Models(
        vad=SileroVAD(),
        vad_settings=config.vad,
        asr=WhisperASR(paths["ASR model"], device=device, settings=config.asr.settings(device)),
        translator=Translator(
            paths["translator model"], device=device, dtype=dtype, settings=config.translator.settings()
        ),
        tts=HiggsTTS.load(
            paths["TTS model"], paths["audio tokenizer"], device=device, dtype=dtype, settings=config.tts.settings()
        ),
        language_settings=config.asr.language_settings(),
    )
