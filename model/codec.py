"""Streaming decode of Higgs Audio v2 code frames into PCM, chunk by chunk.

The audio tokenizer's decoder is non-causal: a frame's samples depend on about ten frames either side. Decoding
each chunk alone would click at every seam, so each chunk is decoded inside a window with `left_frames` of
already emitted context and `lookahead_frames` of future frames, and only the chunk's own samples are kept.
The decoder maps n frames to exactly n * hop samples (its transposed convolutions use output_padding =
stride % 2), so a chunk's samples are found by frame index alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from transformers import HiggsAudioV2TokenizerConfig, HiggsAudioV2TokenizerModel


@dataclass(frozen=True)
class CodecSettings:
    """How code frames are cut into decode windows; `bench/codec.py` measured the defaults.

    The decoder's receptive field is exactly 10 frames each side, and the lookahead dominates the seam error:
    7 frames keep the chunked output >= 40 dB SNR from a one-shot decode with margin (>= 54 dB; >= 45 dB even
    against only the code-dependent part of a random-weight decoder's output), 6 would not against the latter.
    Left context of 10 frames covers the whole receptive field, so more buys nothing. The first chunk is short
    because it sets when the listener hears anything; the next one arrives chunk_frames generated frames later,
    so playback runs without a gap from the start when generation makes 25 * chunk_frames / first_chunk_frames
    frames per second (50 with the defaults).
    """

    first_chunk_frames: int = 5
    chunk_frames: int = 10
    left_frames: int = 10
    lookahead_frames: int = 7

    def __post_init__(self) -> None:
        if self.first_chunk_frames < 1 or self.chunk_frames < 1:
            raise ValueError("first_chunk_frames and chunk_frames must be at least 1")
        if self.left_frames < 0 or self.lookahead_frames < 0:
            raise ValueError("left_frames and lookahead_frames must not be negative")


class ChunkedCodecDecoder:
    """Turns the code frames of one phrase, pushed as they are generated, into PCM chunks.

    Chunk boundaries depend only on frame indices, so the output is the same however the frames are batched.
    """

    def __init__(self, codec: HiggsAudioV2TokenizerModel, settings: CodecSettings) -> None:
        self.codec = codec
        self.settings = settings
        self._device = codec.device
        self._codebooks = codec.config.num_quantizers
        self.reset()

    @property
    def sample_rate(self) -> int:
        return self.codec.config.sample_rate

    @property
    def hop_length(self) -> int:
        return self.codec.config.hop_length

    def reset(self) -> None:
        """Forget the current phrase."""
        self._codes = torch.zeros(0, self._codebooks, dtype=torch.long, device=self._device)
        self._base = 0  # phrase frame index of self._codes[0]; older frames are beyond any window
        self._emitted = 0  # phrase frames whose samples were returned

    def push(self, frames: torch.Tensor | np.ndarray) -> np.ndarray:
        """Add frames of shape (n, codebooks) and return the PCM of every chunk that has its lookahead now."""
        frames = torch.as_tensor(frames, dtype=torch.long, device=self._device)
        if frames.ndim != 2 or frames.shape[1] != self._codebooks:
            raise ValueError(f"expected frames of shape (n, {self._codebooks}), got {tuple(frames.shape)}")
        self._codes = torch.cat([self._codes, frames])
        total = self._base + self._codes.shape[0]
        chunks = []
        while True:
            stop = self._emitted + (self.settings.chunk_frames if self._emitted else self.settings.first_chunk_frames)
            if stop + self.settings.lookahead_frames > total:
                break
            chunks.append(self._decode(stop, stop + self.settings.lookahead_frames))
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)

    def finish(self) -> np.ndarray:
        """Return the samples of every frame not yet emitted (the phrase ended, so no lookahead exists) and reset."""
        total = self._base + self._codes.shape[0]
        pcm = self._decode(total, total) if total > self._emitted else np.zeros(0, dtype=np.float32)
        self.reset()
        return pcm

    def _decode(self, stop: int, window_stop: int) -> np.ndarray:
        """Decode frames [emitted - left, window_stop) and keep the samples of frames [emitted, stop)."""
        start = self._emitted
        window_start = max(self._base, start - self.settings.left_frames)
        window = self._codes[window_start - self._base : window_stop - self._base]
        with torch.inference_mode():
            audio = self.codec.decode(window.T.unsqueeze(0)).audio_values[0, 0]
        keep = audio[(start - window_start) * self.hop_length : (stop - window_start) * self.hop_length]
        self._emitted = stop
        drop = max(0, stop - self.settings.left_frames - self._base)
        self._codes = self._codes[drop:]
        self._base += drop
        return keep.float().clamp(-1.0, 1.0).cpu().numpy()


def full_size_codec_config() -> HiggsAudioV2TokenizerConfig:
    """The configuration of bosonai/higgs-audio-v2-tokenizer, for true speed and seam figures without its weights.

    From the original config.json (D=256, codebook_dim 64, ratios [8, 5, 4, 2, 3], 24 kHz, 8 codebooks of
    1024, HuBERT-base semantic teacher) and transformers' conversion script (encoder width 64, decoder width
    1024). transformers' own defaults describe another codec (hop 320, 5 codebooks). The HuBERT-base teacher
    (transformers' default HubertConfig, 94M parameters, about 2 s to build) only serves `encode`, but its width
    (768) sets the quantizer's and it costs nothing to decode, so it is built as it is.
    """
    ratios = [8, 5, 4, 2, 3]
    return HiggsAudioV2TokenizerConfig(
        target_bandwidths=[0.5, 1, 1.5, 2],  # 2 kbps / (25 frames/s * 10 bits) = 8 codebooks
        sample_rate=24000,
        codebook_size=1024,
        codebook_dim=64,
        acoustic_model_config={
            "encoder_hidden_size": 64,
            "downsampling_ratios": ratios,
            "upsampling_ratios": ratios,
            "decoder_hidden_size": 1024,
            "hidden_size": 256,
            "hop_length": 960,
            "sampling_rate": 24000,
        },
    )


def full_size_codec(seed: int = 0) -> HiggsAudioV2TokenizerModel:
    """The full-size audio tokenizer with random float32 weights, in eval mode on the CPU.

    The class initialises codebooks to zeros (real ones are trained), which would give every code the same
    sound; random codebooks make the decoded audio depend on the codes, as in model/tiny.py.
    """
    torch.manual_seed(seed)
    codec = HiggsAudioV2TokenizerModel(full_size_codec_config()).eval().requires_grad_(False)
    with torch.no_grad():
        for quantizer in codec.quantizer.quantizers:
            quantizer.codebook.embed.normal_()
            quantizer.codebook.embed_avg.copy_(quantizer.codebook.embed)
    return codec
