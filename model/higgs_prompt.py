"""The prompt a Higgs Audio v2 phrase is generated from, laid out exactly as the transformers processor lays it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import HiggsAudioV2Config, PreTrainedTokenizerBase

from model.delay_pattern import delayed

SYSTEM_PROMPT = "Generate audio following instruction."
SCENE = "Audio is recorded from a quiet room."


@dataclass(frozen=True)
class Prompt:
    """Token ids of the whole prompt and the delayed audio codes its audio placeholders stand for."""

    input_ids: torch.Tensor  # (tokens,)
    audio_ids: torch.Tensor  # (audio tokens, codebooks), BOS/EOS framed and delayed, possibly empty

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


def build_prompt(
    tokenizer: PreTrainedTokenizerBase,
    config: HiggsAudioV2Config,
    text: str,
    *,
    voice: tuple[str, torch.Tensor] | None = None,
    context: Sequence[tuple[str, torch.Tensor]] = (),
) -> Prompt:
    """System and scene, then the voice reference and the context phrases as (text, codes) turns, then `text`.

    Each audio turn is one `<|AUDIO_OUT|>` in the chat template, expanded here to one placeholder per delayed
    step (the last num_codebooks - 1 of them as delay tokens), exactly as the transformers processor does.
    """
    turns = ([voice] if voice is not None else []) + list(context)
    messages: list[dict] = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "scene", "content": SCENE}]
    for said, _ in turns:
        messages += [{"role": "user", "content": said}, {"role": "assistant", "content": [{"type": "audio"}]}]
    messages.append({"role": "user", "content": text})
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
    if not isinstance(ids, list):  # some tokenizers return a BatchEncoding even without return_dict
        ids = ids["input_ids"]
    audio = [delayed(codes, config) for _, codes in turns]
    expanded: list[int] = []
    pending = iter(audio)
    for token in ids:
        if token != config.audio_token_id:
            expanded.append(token)
            continue
        steps = len(next(pending))
        delay = config.num_codebooks - 1
        expanded += [config.audio_token_id] * (steps - delay) + [config.audio_delay_token_id] * delay
    empty = torch.zeros((0, config.num_codebooks), dtype=torch.long)
    return Prompt(torch.tensor(expanded, dtype=torch.long), torch.cat(audio) if audio else empty)
