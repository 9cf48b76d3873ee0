"""Text translation with an instruction-tuned chat LLM through transformers.

The prompt (`build_messages`) is shared with any other backend: it names both languages, carries the last turns of
the conversation as context and a glossary of fixed terms, and asks for the translation only. Languages are given
by their names as the prompt says them ("English", "Mandarin Chinese"): which languages exist is the agent's word.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from model.loading import load


class StopSignal:
    """Ends a translation stream early, from any thread (a cancelled utterance): the local model stops at its next
    token, a remote reply's connection is shut, and the stream's iterator ends without an error."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._callbacks: list[Callable[[], None]] = []

    def set(self) -> None:
        with self._lock:
            callbacks, self._callbacks = self._callbacks, []
            self._set = True
        for callback in callbacks:
            callback()

    def is_set(self) -> bool:
        return self._set

    def on_set(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the signal is set (at once when it already is), on the thread that sets it."""
        with self._lock:
            if not self._set:
                self._callbacks.append(callback)
                return
        callback()


def stopped(stop: StopSignal | None) -> bool:
    return stop is not None and stop.is_set()


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
        self,
        text: str,
        source: str,
        target: str,
        *,
        context: Sequence[Turn] = (),
        prefix: str = "",
        stop: StopSignal | None = None,
    ) -> Generator[str, None, None]:
        """The translation as it is generated, piece by piece; blocking, so iterate it in a worker thread.

        With `prefix`, the answer is forced to begin with it and only what follows is generated and yielded.
        Setting `stop`, or closing the iterator, ends the generation at its next token.
        """
        if (known := without_model(text, source, target, prefix)) is not None:
            yield from known
            return
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        messages = build_messages(text, source, target, context=context, glossary=self.settings.glossary)
        prompt = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) + prefix
        inputs = self._tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self._device)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        failure: list[BaseException] = []
        halt = threading.Event()
        if stop is not None:
            stop.on_set(halt.set)

        def generate() -> None:
            try:
                with self._lock, torch.inference_mode():
                    if halt.is_set():  # stopped while another stream had the model
                        streamer.end()
                        return
                    self._model.generate(
                        **inputs,
                        max_new_tokens=self._budget(text),
                        do_sample=False,
                        pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_Halt(halt)]),
                    )
            except BaseException as exc:  # noqa: BLE001 - handed to the iterating thread below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=generate, name="translator", daemon=True)
        worker.start()
        try:
            for piece in streamer:
                if halt.is_set():
                    break
                if piece:
                    yield piece
        finally:
            halt.set()  # a closed iterator (the caller has what it needs) stops the generation too
            worker.join()
        if failure and not stopped(stop):
            raise failure[0]

    def _budget(self, text: str) -> int:
        """Enough tokens for any faithful translation, and a bound on a model that never stops."""
        source_tokens = len(self._tokenizer(text)["input_ids"])
        return min(self.settings.max_new_tokens, 16 + 3 * source_tokens)


class _Halt:
    """A stopping criterion that ends the generation once `event` is set (every sequence at once)."""

    def __init__(self, event: threading.Event) -> None:
        self._event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        done = self._event.is_set()
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


def without_model(text: str, source: str, target: str, prefix: str) -> list[str] | None:
    """The pieces of a translation that needs no model: none for blank text, and in the text's own language the text
    itself (what follows `prefix`); None when the model must translate."""
    if not text.strip():
        return []
    if source == target:
        same = text.strip()
        return [same[len(prefix) :] if same.startswith(prefix) else same]
    return None


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
