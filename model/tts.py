"""Higgs Audio v2 text-to-speech, one phrase at a time through transformers' own `generate()`.

This is the simple, correct baseline: the streaming stage will replace it with an incremental decode loop
and chunked codec decoding, and can be checked against it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoTokenizer,
    HiggsAudioV2ForConditionalGeneration,
    HiggsAudioV2TokenizerModel,
    PreTrainedTokenizerBase,
)

from model.loading import load

SYSTEM_PROMPT = "Generate audio following instruction."
SCENE = "Audio is recorded from a quiet room."
FRAMES_PER_SECOND = 25


@dataclass(frozen=True)
class TTSSettings:
    """Sampling settings; the defaults are those of the reference README (boson-ai/higgs-audio).

    RAS (repetition-aware sampling) resamples a code that already occurs `ras_win_max_num_repeat` times in the
    last `ras_win_len` frames, which keeps the model from getting stuck on one sound.
    """

    temperature: float = 0.3
    top_k: int = 50
    top_p: float = 0.95
    ras_win_len: int = 7
    ras_win_max_num_repeat: int = 2


def max_frames(text: str) -> int:
    """The frame budget for a phrase: a babbling model is cut off instead of talking forever.

    Generous on purpose (about twice a slow speaker): 2 s of slack plus 0.16 s per character, and three times
    that for a Han, kana or Hangul character, since one of those carries a whole syllable.
    """
    units = sum(3 if _is_syllabic(char) else 1 for char in text.strip())
    return 2 * FRAMES_PER_SECOND + 4 * units


def _is_syllabic(char: str) -> bool:
    name = unicodedata.name(char, "")
    return name.startswith(("CJK", "HANGUL", "HIRAGANA", "KATAKANA"))


class HiggsTTS:
    """Higgs Audio v2 and its audio tokenizer, loaded once and shared."""

    def __init__(
        self,
        model: HiggsAudioV2ForConditionalGeneration,
        tokenizer: PreTrainedTokenizerBase,
        codec: HiggsAudioV2TokenizerModel,
        settings: TTSSettings,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.codec = codec
        self.settings = settings
        self.sample_rate: int = codec.config.sample_rate
        self.hop_length: int = codec.config.hop_length

    @classmethod
    def load(
        cls,
        model_dir: Path,
        audio_tokenizer_dir: Path,
        *,
        device: str,
        dtype: torch.dtype,
        settings: TTSSettings,
    ) -> HiggsTTS:
        """Load from local directories only; a missing or broken one raises `ModelError` naming it.

        The codec stays in float32 whatever `dtype` says: it is a small share of the compute, and its long
        convolution stack is where reduced precision would be audible.
        """
        model_dir, audio_tokenizer_dir = Path(model_dir), Path(audio_tokenizer_dir)
        tokenizer = load("TTS model", model_dir, lambda path: AutoTokenizer.from_pretrained(_existing(path)))
        model = load(
            "TTS model",
            model_dir,
            lambda path: HiggsAudioV2ForConditionalGeneration.from_pretrained(_existing(path), dtype=dtype),
        )
        codec = load(
            "audio tokenizer",
            audio_tokenizer_dir,
            lambda path: HiggsAudioV2TokenizerModel.from_pretrained(_existing(path), dtype=torch.float32),
        )
        model.to(device).eval().requires_grad_(False)
        codec.to(device).eval().requires_grad_(False)
        return cls(model, tokenizer, codec, settings)

    def synthesize(self, text: str, language: str) -> np.ndarray:
        """Speak one phrase: float32 mono PCM at `sample_rate` in [-1, 1], a whole number of frames long.

        `language` (en/zh/de/ko) is the caller's target language; the Higgs prompt does not need it.
        """
        if not text.strip():
            return np.zeros(0, dtype=np.float32)
        with torch.inference_mode():
            codes = self._generate_codes(text.strip())
            if codes.shape[0] == 0:
                return np.zeros(0, dtype=np.float32)
            audio = self.codec.decode(codes.T.unsqueeze(0)).audio_values
        return audio[0, 0].float().clamp(-1.0, 1.0).cpu().numpy()

    def _generate_codes(self, text: str) -> torch.Tensor:
        """Sample the delayed code stream for `text` and return the aligned codes, shape (frames, codebooks)."""
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "scene", "content": SCENE},
            {"role": "user", "content": text},
        ]
        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.model.device)
        num_codebooks = self.model.config.num_codebooks
        settings = self.settings
        output = self.model.generate(
            **inputs,
            # One leading stream-BOS frame and num_codebooks - 1 delay frames carry no complete data frame.
            max_new_tokens=max_frames(text) + num_codebooks,
            do_sample=True,
            temperature=settings.temperature,
            top_k=settings.top_k,
            top_p=settings.top_p,
            ras_win_len=settings.ras_win_len,
            ras_win_max_num_repeat=settings.ras_win_max_num_repeat,
            return_dict_in_generate=True,
        )
        return self._aligned_codes(output.audio_sequences[0])

    def _aligned_codes(self, delayed: torch.Tensor) -> torch.Tensor:
        """Undo the delay pattern of one generated stream, shape (steps, codebooks) -> (frames, codebooks).

        Step 0 is the all-BOS frame; codebook k then starts k steps late, so data frame t sits at step 1 + t + k
        of codebook k. The stream ends at the first frame holding a stream EOS in any codebook (normally
        codebook 0 ends first and the others follow one step apart), or wherever the frame budget cut it.
        """
        config = self.model.config
        num_codebooks = config.num_codebooks
        is_bos = (delayed == config.audio_stream_bos_id).all(dim=-1)
        start = int(is_bos.nonzero()[-1]) + 1 if is_bos.any() else 0
        steps = delayed[start:]
        frames = steps.shape[0] - (num_codebooks - 1)
        if frames <= 0:
            return steps.new_zeros((0, num_codebooks))
        aligned = torch.stack([steps[k : k + frames, k] for k in range(num_codebooks)], dim=1)
        ended = (aligned == config.audio_stream_eos_id).any(dim=-1)
        if ended.any():
            aligned = aligned[: int(ended.nonzero()[0])]
        # A stream BOS inside the data can only come from RAS resampling, which ignores the delay-pattern
        # mask; the transformers processor clips it to a data code the same way.
        return aligned.clamp(0, config.audio_stream_bos_id - 1)


def _existing(path: Path) -> Path:
    """Refuse a missing directory up front, so from_pretrained never mistakes it for a hub id."""
    if not path.is_dir():
        raise FileNotFoundError(f"no such directory: {path}")
    return path
