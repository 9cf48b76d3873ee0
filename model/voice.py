"""A voice to clone: a reference clip of the speaker and what they say in it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import HiggsAudioV2TokenizerModel


@dataclass(eq=False)
class Voice:
    """Mono float32 `audio` at `sample_rate` (the codec's rate, 24 kHz) and its `transcript`, in the language
    spoken in the clip whatever language the phrases are in (Higgs' cross-lingual prompt, see agent/voice.py).

    Higgs clones a voice from the reference's codes placed in the prompt; they are encoded once, on first use,
    and kept here for every later phrase of the session.
    """

    audio: np.ndarray
    transcript: str
    sample_rate: int = 24000
    _codes: torch.Tensor | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def codes(self, codec: HiggsAudioV2TokenizerModel) -> torch.Tensor:
        """The reference as (frames, codebooks) codes on the CPU; runs the audio tokenizer only the first time."""
        with self._lock:
            if self._codes is None:
                self._codes = self._encode(codec)
            return self._codes

    def _encode(self, codec: HiggsAudioV2TokenizerModel) -> torch.Tensor:
        rate = codec.config.sample_rate
        if self.sample_rate != rate:
            raise ValueError(f"the voice reference is at {self.sample_rate} Hz; resample it to {rate} Hz first")
        audio = np.asarray(self.audio, dtype=np.float32)
        if audio.ndim != 1 or len(audio) < codec.config.hop_length:
            raise ValueError("the voice reference must be mono audio at least one codec frame (40 ms) long")
        with torch.inference_mode():
            values = torch.from_numpy(audio)[None, None].to(codec.device, codec.dtype)
            codes = codec.encode(values).audio_codes
        return codes[0].T.cpu()
