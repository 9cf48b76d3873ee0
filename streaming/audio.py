"""Audio files, sample formats, resampling and framing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr


class AudioError(ValueError):
    """Input audio that cannot be used; the message names the file or format and the fix."""


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode any common audio file into float32 mono; libsndfile first, FFmpeg (PyAV) for the rest."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file.")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes); give a recording with audio in it.")
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except sf.LibsndfileError:
        audio, rate = _read_with_ffmpeg(path)
    if audio.shape[0] == 0:
        raise AudioError(f"{path}: the file holds no audio samples; give a recording with audio in it.")
    return to_mono(audio), rate


def _read_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(f"{path}: the file has no audio stream.")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono")
            parts = [
                out.to_ndarray().reshape(-1)
                for frame in container.decode(stream)
                for out in resampler.resample(frame)
            ]
            rate = stream.rate
    except av.FFmpegError as exc:
        raise AudioError(
            f"{path}: not a readable audio file ({exc.__class__.__name__}); give a WAV, FLAC, OGG, MP3 or M4A file."
        ) from exc
    audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return audio[:, None], rate


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average channels; (samples,) or (samples, channels) in, (samples,) float32 out."""
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    return np.ascontiguousarray(audio, dtype=np.float32)


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return audio
    return soxr.resample(audio, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


def frames(audio: np.ndarray, sample_rate: int, frame_ms: int = 20) -> Iterator[np.ndarray]:
    """Cut audio into the fixed-size frames a live transport would deliver (the last may be short)."""
    size = sample_rate * frame_ms // 1000
    for start in range(0, len(audio), size):
        yield audio[start : start + size]


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    sf.write(str(path), np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16")
