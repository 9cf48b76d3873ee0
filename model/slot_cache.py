"""The decode loop's key/value cache: one row per slot, each row at its own length."""

from __future__ import annotations

import torch
from transformers import DynamicCache, HiggsAudioV2Config


class SlotCache:
    """Key/value cache with one row per slot, each row at its own length.

    transformers' caches keep one length for the whole batch; here slots join and leave between steps, so each
    step writes every row's new key at that row's own position (`positions`, updated in place by the generator)
    and the attention mask hides the rest. Shapes never change, so a whole step can be captured as a CUDA graph.
    """

    def __init__(
        self, config: HiggsAudioV2Config, slots: int, length: int, device: torch.device, dtype: torch.dtype
    ) -> None:
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        shape = (slots, config.num_key_value_heads, length, head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.num_hidden_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.num_hidden_layers)]
        self.positions = torch.zeros(slots, dtype=torch.long, device=device)
        self._rows = torch.arange(slots, device=device)

    def fill(self, slot: int, prefilled: DynamicCache) -> None:
        """Copy a prefilled one-row cache into `slot`."""
        for layer, (keys, values) in enumerate(zip(self.keys, self.values, strict=True)):
            written = prefilled.layers[layer]
            tokens = written.keys.shape[2]
            keys[slot, :, :tokens] = written.keys[0]
            values[slot, :, :tokens] = written.values[0]

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The attention layers' cache hook: write this step's key and value at each row's own position."""
        keys, values = self.keys[layer_idx], self.values[layer_idx]
        keys[self._rows, :, self.positions] = key_states[:, :, 0]
        values[self._rows, :, self.positions] = value_states[:, :, 0]
        return keys, values
