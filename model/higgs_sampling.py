"""How one decode step's codes are drawn from the masked logits, exactly as `generate()` draws them."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import (
    HiggsAudioV2Config,
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)


@dataclass(frozen=True)
class Sampling:
    """How codes are drawn; `temperature == 0` means greedy, without repetition-aware resampling.

    RAS (repetition-aware sampling, from the reference implementation) redraws a code that already occurs
    `ras_win_max_num_repeat` times among the last `ras_win_len` steps of its codebook, from the untempered
    distribution, which keeps the model from getting stuck on one sound.
    """

    temperature: float = 0.3
    top_k: int = 50
    top_p: float = 0.95
    ras_win_len: int = 7
    ras_win_max_num_repeat: int = 2


def make_warpers(sampling: Sampling) -> LogitsProcessorList:
    """transformers' own warpers, so sampling matches `generate()` (they work per codebook row here)."""
    warpers = LogitsProcessorList()
    if sampling.temperature > 0:
        warpers.append(TemperatureLogitsWarper(sampling.temperature))
        if sampling.top_k > 0:
            warpers.append(TopKLogitsWarper(sampling.top_k))
        if sampling.top_p < 1.0:
            warpers.append(TopPLogitsWarper(sampling.top_p))
    return warpers


def sample_codes(
    scores: torch.Tensor,
    recent: torch.Tensor,
    sampling: Sampling,
    warpers: LogitsProcessorList,
    generator: torch.Generator,
    config: HiggsAudioV2Config,
) -> torch.Tensor:
    """One code per row and codebook (rows, codebooks) from `scores` (rows, codebooks, codebook size).

    `recent` (rows, steps, codebooks) holds each row's last delayed steps, -1 where its phrase had none yet, for
    RAS. Every row is drawn in the same batched ops, with `generator`, whatever the number of rows.
    """
    rows, num_codebooks, size = scores.shape
    flat = scores.reshape(-1, size)
    if sampling.temperature <= 0:
        return flat.argmax(dim=-1).view(rows, num_codebooks)
    probabilities = warpers(None, flat.clone()).softmax(dim=-1)
    codes = torch.multinomial(probabilities, 1, generator=generator).view(rows, num_codebooks)
    if sampling.ras_win_len <= 0:
        return codes
    windows = recent[:, -sampling.ras_win_len :]
    special = (windows == config.audio_stream_bos_id) | (windows == config.audio_stream_eos_id)
    repeats = ((windows == codes[:, None]) & ~special).sum(dim=1)
    redraw = (repeats >= sampling.ras_win_max_num_repeat).view(-1)
    if redraw.any():
        drawn = codes.view(-1).clone()
        drawn[redraw] = torch.multinomial(flat[redraw].softmax(dim=-1), 1, generator=generator).view(-1)
        codes = drawn.view_as(codes)
    return codes
