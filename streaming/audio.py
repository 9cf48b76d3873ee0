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
                out.to_ndarray().reshape(-1) for frame in container.decode(stream) for out in resampler.resample(frame)
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


def pcm16_decode(data: bytes) -> np.ndarray:
    """Little-endian signed 16-bit samples (the wire format of most clients) to float32 in [-1, 1)."""
    if len(data) % 2:
        raise AudioError(
            f"16-bit PCM needs an even number of bytes (2 per sample), got {len(data)}; send whole samples."
        )
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def pcm16_encode(pcm: np.ndarray) -> bytes:
    """float32 to little-endian int16; clipped, because TTS output can overshoot full scale."""
    scaled = np.round(np.asarray(pcm, dtype=np.float32) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


# G.711 mu-law, as in the reference implementation (16-bit linear, bias 0x84, clip 32635). numpy instead of
# audioop, which Python 3.13 removed. Decoding is a 256-entry table lookup.
_MULAW_BIAS = 0x84
_MULAW_CLIP = 32635
_MULAW_EXPONENT = np.array([0] + [i.bit_length() - 1 for i in range(1, 256)], dtype=np.int32)


def _mulaw_table() -> np.ndarray:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent, mantissa = (code >> 4) & 0x07, code & 0x0F
    magnitude = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    return (np.where(code & 0x80, -magnitude, magnitude) / 32768.0).astype(np.float32)


_MULAW_DECODE = _mulaw_table()


def mulaw_decode(data: bytes) -> np.ndarray:
    """G.711 mu-law bytes (telephony, 8 kHz) to float32 in [-1, 1)."""
    return _MULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def mulaw_encode(pcm: np.ndarray) -> bytes:
    """float32 to G.711 mu-law bytes; full scale saturates at the largest code."""
    linear = np.clip(np.round(np.asarray(pcm, dtype=np.float32) * 32768.0), -32768, 32767).astype(np.int32)
    sign = np.where(linear < 0, 0x80, 0)
    biased = np.minimum(np.abs(linear), _MULAW_CLIP) + _MULAW_BIAS
    exponent = _MULAW_EXPONENT[biased >> 7]
    mantissa = (biased >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


class StreamResampler:
    """Resample a stream that arrives in chunks. One filter state runs across the chunks, so the seams stay
    clean (resampling each chunk on its own clicks at every seam). soxr's block processing holds back some
    output (tens of ms); `flush` releases it at the end of the stream."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate, self.to_rate = from_rate, to_rate
        self._stream = None if from_rate == to_rate else soxr.ResampleStream(from_rate, to_rate, 1, quality="HQ")

    def push(self, pcm: np.ndarray) -> np.ndarray:
        pcm = np.ascontiguousarray(pcm, dtype=np.float32)
        return pcm if self._stream is None else self._stream.resample_chunk(pcm)

    def flush(self) -> np.ndarray:
        """The held-back tail; afterwards the resampler starts a fresh stream."""
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self._stream.clear()
        return tail
