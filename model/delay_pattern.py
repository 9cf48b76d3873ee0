"""Higgs Audio v2's delay pattern: codebook k runs k steps behind codebook 0.

Prompts are laid out in it (`delayed`), generation is held to it (`force_delay_pattern`) and the data frames are
read back out of it as the steps arrive (`completed_frames`). With 8 codebooks, data frame t is complete one step
after codebook 7 wrote it, at step t + 8 (step 0 is the all-BOS frame).
"""

from __future__ import annotations

import torch
from transformers import HiggsAudioV2Config


def delayed(codes: torch.Tensor, config: HiggsAudioV2Config) -> torch.Tensor:
    """Frame `codes` (frames, codebooks) with stream BOS/EOS and shift codebook k down by k steps.

    This is the layout the model reads audio in (and the one the transformers processor builds).
    """
    frames, num_codebooks = codes.shape
    steps = frames + 1 + num_codebooks
    out = codes.new_full((steps, num_codebooks), config.audio_stream_eos_id)
    for k in range(num_codebooks):
        out[: k + 1, k] = config.audio_stream_bos_id
        out[k + 1 : k + 1 + frames, k] = codes[:, k]
    return out


def force_delay_pattern(
    scores: torch.Tensor, steps: torch.Tensor, eos_steps: torch.Tensor, config: HiggsAudioV2Config
) -> torch.Tensor:
    """Mask `scores` (rows, codebooks, codebook size) as `generate()` does, at each row's step.

    Until step k, codebook k has not started: it is forced to stream BOS. From one step after the first stream EOS
    (`eos_steps`, -1 while there is none), one more codebook each step is forced to stream EOS, so every codebook
    ends on the same data frame.
    """
    codebook = torch.arange(config.num_codebooks, device=scores.device)
    force_bos = codebook[None] >= steps[:, None]
    force_eos = (eos_steps[:, None] >= 0) & (codebook[None] <= steps[:, None] - eos_steps[:, None] - 1)
    scores = _force(scores, force_bos, config.audio_stream_bos_id)
    return _force(scores, force_eos, config.audio_stream_eos_id)


def completed_frames(history: torch.Tensor, num_codebooks: int) -> torch.Tensor:
    """The diagonal of each row's last `num_codebooks` steps (rows, steps, codebooks).

    Codebook k of a data frame was written k steps ago, so once a phrase is past its first `num_codebooks` steps
    this is the data frame its last step completed.
    """
    return history[:, -num_codebooks:].diagonal(dim1=1, dim2=2)


def _force(scores: torch.Tensor, where: torch.Tensor, code: int) -> torch.Tensor:
    """Leave only `code` possible in the codebooks marked by `where` (rows, codebooks), without a host sync."""
    forced = torch.full_like(scores, -float("inf"))
    forced[..., code] = scores[..., code]
    return torch.where(where[..., None], forced, scores)
