"""Text translation with an instruction-tuned chat LLM through transformers."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from model.loading import load

LANGUAGE_NAMES = {"en": "English", "zh": "Mandarin Chinese", "de": "German", "ko": "Korean"}


@dataclass(frozen=True)
class TranslatorSettings:
    max_new_tokens: int = 256


class Translator:
    """Shared chat model; generation is serialised with a lock because HF models are not re-entrant."""

    def __init__(self, model_dir: Path, *, device: str, dtype: torch.dtype, settings: TranslatorSettings) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._settings = settings
        self._device = device
        self._tokenizer = load("translator tokenizer", model_dir, AutoTokenizer.from_pretrained)
        self._model = load(
            "translator model", model_dir, lambda p: AutoModelForCausalLM.from_pretrained(p, dtype=dtype)
        )
        self._model.to(device).eval()
        self._lock = threading.Lock()

    def translate(self, text: str, source: str, target: str) -> str:
        """Translate one finished utterance; returns the target text only."""
        if not text.strip():
            return ""
        if source == target:
            return text.strip()
        messages = [
            {
                "role": "system",
                "content": (
                    f"You are a simultaneous interpreter. Translate the user's {LANGUAGE_NAMES[source]} speech "
                    f"into {LANGUAGE_NAMES[target]}. Reply with the translation only: no quotes, no notes."
                ),
            },
            {"role": "user", "content": text.strip()},
        ]
        inputs = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self._device)
        prompt_length = inputs["input_ids"].shape[1]
        with self._lock, torch.inference_mode():
            output = self._model.generate(
                **inputs,
                max_new_tokens=self._budget(text),
                do_sample=False,
                pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
            )
        reply = self._tokenizer.decode(output[0, prompt_length:], skip_special_tokens=True)
        return clean(reply)

    def _budget(self, text: str) -> int:
        """Enough tokens for any faithful translation, and a bound on a model that never stops."""
        source_tokens = len(self._tokenizer(text)["input_ids"])
        return min(self._settings.max_new_tokens, 16 + 3 * source_tokens)


_WRAPPERS = re.compile(r'^\s*["“”„«»「」『』\']+|["“”„«»「」『』\']+\s*$')


def clean(reply: str) -> str:
    """Keep the first paragraph without wrapping quotes: chat models like to append notes after a blank line."""
    first = reply.strip().split("\n\n")[0]
    return _WRAPPERS.sub("", " ".join(first.split())).strip()
