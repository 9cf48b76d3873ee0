"""Incremental Higgs Audio v2 generation: our own KV-cache decode loop, batched across sessions.

transformers' `generate()` hands out audio codes only when a phrase is finished, so the loop is ours: prefill a
prompt into a free slot, then one forward pass per step for every active slot at once, each slot at its own
cache position (`model.slot_cache`). The logits are masked and sampled exactly as `generate()` does: the delay
pattern (`model.delay_pattern`), then temperature, top-k, top-p and repetition-aware resampling
(`model.higgs_sampling`); the delay pattern is undone online, so each data frame goes out as soon as it is
complete. This module schedules the phrases, runs the steps (as a CUDA graph on a GPU) and hands out the frames;
it is also where the rest of the code imports the Higgs names from, prompts (`model.higgs_prompt`) included.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import DynamicCache, HiggsAudioV2Config, HiggsAudioV2ForConditionalGeneration

from model.delay_pattern import completed_frames, delayed, force_delay_pattern
from model.higgs_prompt import Prompt, build_prompt
from model.higgs_sampling import Sampling, make_warpers, sample_codes
from model.slot_cache import SlotCache
from model.speech import EOS, MAX_FRAMES  # the generator's end reasons are the chunks' own

__all__ = [
    "CANCELLED",
    "EOS",
    "MAX_FRAMES",
    "NON_FINITE",
    "HiggsGenerator",
    "Prompt",
    "Request",
    "Sampling",
    "build_prompt",
    "delayed",
]

log = logging.getLogger(__name__)

CANCELLED = "cancelled"
NON_FINITE = (
    "the TTS model's logits are NaN or infinite (float16 overflows in this model): set `dtype: bfloat16` or "
    "`dtype: float32` in the profile"
)


@dataclass(eq=False)
class Request:
    """One phrase to speak. The callbacks run on the generator's thread and must return quickly.

    `on_frames` gets each new data frame as a (1, codebooks) LongTensor on the CPU; `on_end` gets EOS, MAX_FRAMES,
    CANCELLED or an error message, exactly once. A callback that raises (its session gone, say) cancels its own
    phrase and nothing else.
    """

    prompt: Prompt
    max_frames: int
    on_frames: Callable[[torch.Tensor], None]
    on_end: Callable[[str], None]
    cancelled: bool = False

    def give(self, frame: torch.Tensor) -> None:
        try:
            self.on_frames(frame)
        except Exception:  # noqa: BLE001 - the other phrases in the batch go on
            log.exception("a TTS phrase's frame callback failed; the phrase is cancelled")
            self.cancelled = True

    def finish(self, reason: str) -> None:
        try:
            self.on_end(reason)
        except Exception:  # noqa: BLE001 - the other phrases in the batch go on
            log.exception("a TTS phrase's end callback failed")


@dataclass(eq=False)
class _Slot:
    request: Request
    step: int = 0  # index of the step whose logits come next
    eos_step: int = -1  # first step that held a stream EOS
    frames: int = 0  # data frames handed out


class HiggsGenerator:
    """Steps every active phrase of every session in one forward pass; phrases wait for a free slot in order.

    Use it either synchronously (`admit` and `step`, as the tests and benchmarks do) or through `submit`, which
    runs the same loop on a dedicated thread so model compute never blocks an event loop.
    """

    def __init__(
        self,
        model: HiggsAudioV2ForConditionalGeneration,
        sampling: Sampling,
        *,
        slots: int,
        context_tokens: int,
        seed: int | None = None,
    ) -> None:
        self.model = model
        self.config: HiggsAudioV2Config = model.config
        self.sampling = sampling
        self.slots = slots
        self.context_tokens = context_tokens
        self._device = model.device
        self._dtype = model.dtype
        self._cache = SlotCache(self.config, slots, context_tokens, self._device, self._dtype)
        # The step's inputs live in fixed buffers, updated in place, so a captured CUDA graph can replay them. Each
        # slot's codes, cache position and last delayed steps (for the delay pattern and RAS) stay on the device:
        # a step then costs a few batched ops and one copy to the host, whatever the number of slots.
        self._rows = torch.arange(slots, device=self._device)
        self._codes = torch.zeros((slots, 1, self.config.num_codebooks), dtype=torch.long, device=self._device)
        window = max(self.config.num_codebooks, sampling.ras_win_len)
        self._history = torch.full(
            (slots, window, self.config.num_codebooks), -1, dtype=torch.long, device=self._device
        )
        self._mask = torch.full(
            (slots, 1, 1, context_tokens), torch.finfo(self._dtype).min, dtype=self._dtype, device=self._device
        )
        self._mask[..., 0] = 0.0  # a free slot attends to its first column: no empty softmax anywhere
        self._graph: torch.cuda.CUDAGraph | None = None
        self._graph_logits = torch.zeros(0)
        self._active: list[_Slot | None] = [None] * slots
        self._waiting: deque[Request] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._generator = torch.Generator(device=self._device)
        self._generator.manual_seed(seed if seed is not None else torch.seed())
        self._warpers = make_warpers(sampling)
        self.steps = 0  # forward passes run, for benchmarks
        # Captured now, while no session runs: capture forbids other CUDA work, and a first phrase shouldn't wait.
        self.graph = self._capture() if self._device.type == "cuda" else f"not used on {self._device.type}"

    def fits(self, prompt: Prompt, max_frames: int) -> bool:
        """Whether the prompt plus a phrase of `max_frames` fits one cache row."""
        return len(prompt) + max_frames + self.config.num_codebooks <= self.context_tokens

    @property
    def active(self) -> int:
        return sum(slot is not None for slot in self._active)

    @property
    def waiting(self) -> int:
        with self._wake:
            return len(self._waiting)

    # The threaded loop.

    def submit(self, request: Request) -> None:
        """Queue a phrase; it starts as soon as a slot is free, in submission order, and is never dropped."""
        with self._wake:
            if self._closed:
                raise RuntimeError("the TTS generator is closed")
            self._waiting.append(request)
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="higgs-generator", daemon=True)
                self._thread.start()
            self._wake.notify()

    def cancel(self, request: Request) -> None:
        """Stop a phrase: a waiting one never starts, a running one frees its slot before the next step."""
        with self._wake:
            request.cancelled = True
            self._wake.notify()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()

    def _serve(self) -> None:
        while True:
            with self._wake:
                while not self._closed and not self._waiting and not self.active:
                    self._wake.wait()
                if self._closed:
                    waiting, self._waiting = list(self._waiting), deque()
                    break
                dropped = [request for request in self._waiting if request.cancelled]
                self._waiting = deque(request for request in self._waiting if not request.cancelled)
                admissible = []
                while self._waiting and len(admissible) < self._free():
                    admissible.append(self._waiting.popleft())
            for request in dropped:
                request.finish(CANCELLED)
            for request in admissible:
                self.admit(request)
            self.step()
        for request in waiting:
            request.finish(CANCELLED)
        for index, slot in enumerate(self._active):
            if slot is not None:
                self._end(index, CANCELLED)

    def _free(self) -> int:
        return self.slots - self.active

    # The synchronous core.

    def admit(self, request: Request) -> bool:
        """Prefill `request` into a free slot; False when none is free. A request that cannot run ends at once."""
        if request.cancelled:
            request.finish(CANCELLED)
            return True
        index = next((i for i, slot in enumerate(self._active) if slot is None), None)
        if index is None:
            return False
        if not self.fits(request.prompt, request.max_frames):
            request.finish(
                f"the TTS prompt ({len(request.prompt)} tokens) plus {request.max_frames} frames does not fit "
                f"tts.context_tokens={self.context_tokens}; use a shorter voice reference, fewer context "
                "phrases, or raise tts.context_tokens"
            )
            return True
        try:
            logits = self._prefill(index, request.prompt)
        except Exception as exc:  # noqa: BLE001 - one bad prompt must not stop the other sessions
            log.exception("TTS prefill failed")
            request.finish(f"TTS prefill failed: {exc}")
            return True
        self._mask[index] = torch.finfo(self._dtype).min
        self._mask[index, ..., : len(request.prompt)] = 0.0
        self._cache.positions[index] = len(request.prompt)  # the row's length, grown on the device each step
        self._history[index] = -1
        self._active[index] = _Slot(request)
        try:
            self._advance([index], torch.tensor([index], device=self._device), logits)
        except Exception as exc:  # noqa: BLE001 - one bad phrase must not stop the other sessions
            log.exception("TTS sampling failed")
            self._end(index, f"TTS sampling failed: {exc}")
        return True

    def step(self) -> None:
        """One forward pass for every slot; each active one gets one delayed code step, and maybe a data frame.

        Free slots are stepped too (on whatever codes and position they last had, and ignored): the batch keeps one
        shape, which costs next to nothing in a memory-bound decode step and lets the step run as a CUDA graph.
        """
        for index, slot in enumerate(self._active):
            if slot is not None and slot.request.cancelled:
                self._end(index, CANCELLED)
        rows = [i for i, slot in enumerate(self._active) if slot is not None]
        if not rows:
            return
        self._mask[self._rows, 0, 0, self._cache.positions] = 0.0  # each new token sees itself
        try:
            logits = self._decode()
            self.steps += 1
            index = torch.tensor(rows, device=self._device)
            self._cache.positions[index] += 1
            self._advance(rows, index, logits[index])
        except Exception as exc:  # noqa: BLE001 - report to every phrase in the batch, keep serving
            log.exception("TTS decode step failed")
            for index in rows:
                self._end(index, f"TTS decode step failed: {exc}")

    def _decode(self) -> torch.Tensor:
        """The step's forward pass: replayed as a CUDA graph on a GPU, else eager."""
        if self._graph is not None:
            self._graph.replay()
            return self._graph_logits
        return self._forward()

    def _forward(self) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(
                audio_input_ids=self._codes,
                attention_mask=self._mask,
                position_ids=self._cache.positions[:, None],
                past_key_values=self._cache,
                use_cache=True,
            ).logits[:, -1]

    def _capture(self) -> str:
        """Record one step into a CUDA graph, after warm-up runs on a side stream as PyTorch requires.

        No slot is active yet, so the keys these steps write (at position 0 of every row) are overwritten by the
        first prefill. Returns how the step will run, for logs and benchmark reports.
        """
        try:
            side = torch.cuda.Stream(self._device)
            side.wait_stream(torch.cuda.current_stream(self._device))
            with torch.cuda.stream(side):
                for _ in range(2):
                    self._forward()
            torch.cuda.current_stream(self._device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._graph_logits = self._forward()
        except Exception as exc:  # noqa: BLE001 - slower but correct: serve without the graph
            log.warning("the TTS decode step runs eagerly, without a CUDA graph (capture failed: %s)", exc)
            return f"capture failed: {exc}"
        self._graph = graph
        log.info("TTS decode step captured as a CUDA graph (%d slots)", self.slots)
        return "captured"

    def _prefill(self, index: int, prompt: Prompt) -> torch.Tensor:
        """Run the prompt through the model alone (as `generate()` does) and copy its cache into slot `index`."""
        prefilled = DynamicCache(config=self.config)
        inputs = {"input_ids": prompt.input_ids[None].to(self._device), "past_key_values": prefilled}
        if len(prompt.audio_ids):
            inputs["audio_input_ids"] = prompt.audio_ids[None].to(self._device)
            inputs["audio_input_ids_mask"] = torch.ones((1, len(prompt.audio_ids)), dtype=torch.bool).to(self._device)
        with torch.inference_mode():
            logits = self.model(**inputs, use_cache=True, logits_to_keep=1).logits[:, -1]
            self._cache.fill(index, prefilled)
        return logits

    def _advance(self, rows: list[int], index: torch.Tensor, logits: torch.Tensor) -> None:
        """Sample one delayed step per row from `logits` (rows, codebooks * codebook_size) and hand out frames.

        `index` holds `rows` on the device, made once per step for every indexing the step does.
        """
        config = self.config
        num_codebooks, size = config.num_codebooks, config.codebook_size
        slots = [self._active[i] for i in rows]
        # A row with NaN or +inf logits (float16 overflow, say) would stop sampling for the whole batch: it is
        # sampled from zeros instead, and its phrase ends with an error once the step's report reaches the host.
        broken = (logits.isnan() | logits.isposinf()).any(dim=-1)
        scores = torch.where(broken[:, None], 0, logits).float().reshape(len(rows), num_codebooks, size)
        steps = torch.tensor([slot.step for slot in slots], device=scores.device)
        eos_steps = torch.tensor([slot.eos_step for slot in slots], device=scores.device)
        scores = force_delay_pattern(scores, steps, eos_steps, config)
        recent = self._history[index]  # before this step; -1 where the phrase had none
        tokens = sample_codes(scores, recent, self.sampling, self._warpers, self._generator, config)
        history = torch.cat([recent[:, 1:], tokens[:, None]], dim=1)
        self._history[index] = history
        self._codes[index, 0] = tokens
        frames = completed_frames(history, num_codebooks)
        eos = config.audio_stream_eos_id
        ends = torch.stack([(tokens == eos).any(dim=-1), (frames == eos).all(dim=-1), broken], dim=-1)
        # A stray stream BOS/EOS inside the data is clipped (as the reference decoder does).
        frames = frames.clamp(0, config.audio_stream_bos_id - 1)
        report = torch.cat([frames, ends.long()], dim=-1).cpu()  # the step's one wait for the device
        for row, slot, out in zip(rows, slots, report, strict=True):
            self._take(row, slot, out[:num_codebooks], *out[num_codebooks:].tolist())

    def _take(self, index: int, slot: _Slot, frame: torch.Tensor, eos_seen: int, eos_frame: int, broken: int) -> None:
        """Book one sampled step of a slot: `frame` is the diagonal of its last steps, a data frame once complete."""
        config = self.config
        if broken:
            self._end(index, NON_FINITE)
            return
        if slot.eos_step < 0 and eos_seen:
            slot.eos_step = slot.step
        slot.step += 1
        if slot.step <= config.num_codebooks:  # the BOS step and codebook 7's delay: no frame complete yet
            return
        if eos_frame:
            self._end(index, EOS)
            return
        slot.request.give(frame[None])
        slot.frames += 1
        if slot.frames >= slot.request.max_frames:
            self._end(index, MAX_FRAMES)

    def _end(self, index: int, reason: str) -> None:
        slot = self._active[index]
        self._active[index] = None
        if slot is not None:
            slot.request.finish(reason)
