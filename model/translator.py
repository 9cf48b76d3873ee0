"""Text translation with an instruction-tuned chat LLM through transformers.

The prompt (`build_messages`) is shared with any other backend: it names both languages, carries the last turns of
the conversation as context and a glossary of fixed terms, and asks for the translation only. Languages are given
by their names as the prompt says them ("English", "Mandarin Chinese"): which languages exist is the agent's word.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from model.loading import load


@dataclass(frozen=True)
class TranslatorSettings:
    max_new_tokens: int = 256
    glossary: Mapping[str, str] = field(default_factory=dict)  # source term -> how it must be translated


@dataclass(frozen=True)
class Turn:
    """One earlier utterance of the session and its translation, given to the model as context."""

    source: str
    target: str


def build_messages(
    text: str, source: str, target: str, *, context: Sequence[Turn] = (), glossary: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """Chat messages asking for the translation of `text` only, with earlier turns as worked examples."""
    system = (
        f"You are a simultaneous interpreter. Translate the user's {source} speech "
        f"into {target}. Reply with the translation only: no quotes, no notes."
    )
    if glossary:
        terms = "; ".join(f"{term} -> {translation}" for term, translation in glossary.items())
        system += f" Always translate these terms exactly as given: {terms}."
    messages = [{"role": "system", "content": system}]
    for turn in context:
        messages += [{"role": "user", "content": turn.source}, {"role": "assistant", "content": turn.target}]
    messages.append({"role": "user", "content": text.strip()})
    return messages


class Translator:
    """Shared chat model; generation is serialised with a lock because HF models are not re-entrant."""

    def __init__(self, model, tokenizer, *, settings: TranslatorSettings) -> None:
        self.settings = settings
        self._model = model
        self._tokenizer = tokenizer
        self._device = model.device
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_dir: Path, *, device: str, dtype: torch.dtype, settings: TranslatorSettings) -> Translator:
        """Load from a local directory; a missing or broken one raises `ModelError` naming it."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = load("translator tokenizer", model_dir, AutoTokenizer.from_pretrained)
        model = load("translator model", model_dir, lambda p: AutoModelForCausalLM.from_pretrained(p, dtype=dtype))
        return cls(model.to(device).eval(), tokenizer, settings=settings)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def translate(self, text: str, source: str, target: str, *, context: Sequence[Turn] = (), prefix: str = "") -> str:
        """The whole translation of `text` (starting with `prefix`, when given), cleaned."""
        return whole_translation(self.stream, text, source, target, context=context, prefix=prefix)

    def stream(
        self, text: str, source: str, target: str, *, context: Sequence[Turn] = (), prefix: str = ""
    ) -> Iterator[str]:
        """The translation as it is generated, piece by piece; blocking, so iterate it in a worker thread.

        With `prefix`, the answer is forced to begin with it and only what follows is generated and yielded.
        """
        from transformers import TextIteratorStreamer

        messages = build_messages(text, source, target, context=context, glossary=self.settings.glossary)
        prompt = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) + prefix
        inputs = self._tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self._device)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                with self._lock, torch.inference_mode():
                    self._model.generate(
                        **inputs,
                        max_new_tokens=self._budget(text),
                        do_sample=False,
                        pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
                        streamer=streamer,
                    )
            except BaseException as exc:  # noqa: BLE001 - handed to the iterating thread below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=generate, name="translator", daemon=True)
        worker.start()
        for piece in streamer:
            if piece:
                yield piece
        worker.join()
        if failure:
            raise failure[0]

    def _budget(self, text: str) -> int:
        """Enough tokens for any faithful translation, and a bound on a model that never stops."""
        source_tokens = len(self._tokenizer(text)["input_ids"])
        return min(self.settings.max_new_tokens, 16 + 3 * source_tokens)


def whole_translation(
    stream: Callable[..., Iterator[str]],
    text: str,
    source: str,
    target: str,
    *,
    context: Sequence[Turn],
    prefix: str,
) -> str:
    """Join a backend's streamed translation and clean it; blank text and the same language need no model."""
    if not text.strip():
        return ""
    if source == target:
        return text.strip()
    return clean(prefix + "".join(stream(text, source, target, context=context, prefix=prefix)))


_WRAPPERS = re.compile(r'^\s*["“”„«»「」『』\']+|["“”„«»「」『』\']+\s*$')


def clean(reply: str) -> str:
    """Keep the first paragraph without wrapping quotes: chat models like to append notes after a blank line."""
    first = reply.strip().split("\n\n")[0]
    return _WRAPPERS.sub("", " ".join(first.split())).strip()
