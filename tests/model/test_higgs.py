"""The incremental Higgs decode loop against transformers' own `generate()`, on the tiny model.

`S2ST_TEST_DEVICE=cuda` runs the module on a GPU (`bench/gpu.sh check` does), where the decode step replays a
CUDA graph: parity there shows the graph computes what the eager model does.
"""

import os
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import AutoProcessor, AutoTokenizer, HiggsAudioV2ForConditionalGeneration, HiggsAudioV2TokenizerModel

from model.higgs import (
    CANCELLED,
    EOS,
    MAX_FRAMES,
    NON_FINITE,
    HiggsGenerator,
    Prompt,
    Request,
    Sampling,
    build_prompt,
    delayed,
)

pytestmark = pytest.mark.slow
DEVICE = os.environ.get("S2ST_TEST_DEVICE", "cpu")
# A forward hook runs when a CUDA graph is captured, not when it is replayed: tests that script the model's output
# with one hold on the CPU only.
scripted = pytest.mark.skipif(DEVICE != "cpu", reason="forward hooks do not run inside a replayed CUDA graph")

GREEDY = Sampling(temperature=0.0)
PHRASES = (
    "The meeting starts at nine tomorrow.",
    "Die Besprechung beginnt morgen um neun.",
    "会议明天九点开始。",
    "회의는 내일 아홉 시에 시작합니다.",
)
CODEBOOK_0_EOS = 1025  # flat index of codebook 0's stream EOS in the audio head's output


@pytest.fixture(scope="module")
def model(tiny: dict[str, Path]) -> HiggsAudioV2ForConditionalGeneration:
    return HiggsAudioV2ForConditionalGeneration.from_pretrained(tiny["higgs"]).to(DEVICE).eval()


@pytest.fixture(scope="module")
def tokenizer(tiny: dict[str, Path]):
    return AutoTokenizer.from_pretrained(tiny["higgs"])


@pytest.fixture(scope="module")
def processor(tiny: dict[str, Path]):
    return AutoProcessor.from_pretrained(tiny["higgs"])


@pytest.fixture(scope="module")
def codec(tiny: dict[str, Path]) -> HiggsAudioV2TokenizerModel:
    return HiggsAudioV2TokenizerModel.from_pretrained(tiny["audio_tokenizer"]).eval()


def _clip(seconds: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(24000 * seconds)) * 0.1).astype(np.float32)


def _encode(codec: HiggsAudioV2TokenizerModel, audio: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return codec.encode(torch.from_numpy(audio)[None, None]).audio_codes[0].T


def _run_alone(model, prompt: Prompt, frames: int, sampling: Sampling = GREEDY, seed: int = 0):
    generator = HiggsGenerator(model, sampling, slots=1, context_tokens=1024, seed=seed)
    got, ends = [], []
    assert generator.admit(Request(prompt, frames, got.append, ends.append))
    while generator.active:
        generator.step()
    return (torch.cat(got) if got else torch.zeros((0, 8), dtype=torch.long)), ends


def _generate_reference(model, processor, prompt: Prompt, frames: int) -> torch.Tensor:
    """What transformers' generate() and the processor's own delay revert make of the same prompt, greedily."""
    inputs = {"input_ids": prompt.input_ids[None]}
    if len(prompt.audio_ids):
        inputs["audio_input_ids"] = prompt.audio_ids[None]
        inputs["audio_input_ids_mask"] = torch.ones((1, len(prompt.audio_ids)), dtype=torch.bool)
    out = model.generate(
        **{name: value.to(DEVICE) for name, value in inputs.items()},
        max_new_tokens=frames + 8,
        do_sample=False,
        ras_win_len=None,
        return_dict_in_generate=True,
    )
    steps = out.audio_sequences[0, len(prompt.audio_ids) :].cpu()
    assert (steps[0] == 1024).all()  # the all-BOS step opens the phrase
    ended = (steps == 1025).all(dim=-1).nonzero()
    end = int(ended[0]) if len(ended) else len(steps)
    return processor.revert_delay_pattern(steps[1:end]).clip(0, 1023)


class EndAfter:
    """Forward hook on the audio head: from the `calls`-th forward on, codebook 0 strongly wants stream EOS."""

    def __init__(self, calls: int) -> None:
        self.calls, self.seen = calls, 0

    def __call__(self, module, args, output):
        self.seen += 1
        if self.seen > self.calls:
            output = output.clone()
            output[..., CODEBOOK_0_EOS] += 1e4
        return output


def test_delayed_matches_the_processor_layout(processor, model) -> None:
    codes = torch.randint(0, 1024, (12, 8), generator=torch.Generator().manual_seed(0))
    framed = torch.cat([torch.full((8, 1), 1024), codes.T, torch.full((8, 1), 1025)], dim=1)[None]
    assert torch.equal(delayed(codes, model.config), processor.build_delay_pattern(framed)[0].T)


def test_prompt_equals_the_processor_output_with_voice_and_context(processor, tokenizer, model, codec) -> None:
    voice_audio, context_audio = _clip(1.0, 1), _clip(0.6, 2)
    conversation = [
        {"role": "system", "content": [{"type": "text", "text": "Generate audio following instruction."}]},
        {"role": "scene", "content": [{"type": "text", "text": "Audio is recorded from a quiet room."}]},
        {"role": "user", "content": [{"type": "text", "text": "Hello there."}]},
        {"role": "assistant", "content": [{"type": "audio", "audio": voice_audio}]},
        {"role": "user", "content": [{"type": "text", "text": "How are you?"}]},
        {"role": "assistant", "content": [{"type": "audio", "audio": context_audio}]},
        {"role": "user", "content": [{"type": "text", "text": PHRASES[1]}]},
    ]
    expected = processor.apply_chat_template(
        conversation,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        add_generation_prompt=True,
        processor_kwargs={"sampling_rate": 24000},
    )
    prompt = build_prompt(
        tokenizer,
        model.config,
        PHRASES[1],
        voice=("Hello there.", _encode(codec, voice_audio)),
        context=[("How are you?", _encode(codec, context_audio))],
    )
    assert torch.equal(prompt.input_ids, expected["input_ids"][0])
    assert torch.equal(prompt.audio_ids, expected["audio_input_ids"][0])


@pytest.mark.parametrize("turns", ["plain", "voice", "voice+context"])
def test_greedy_parity_with_generate(model, processor, tokenizer, codec, turns: str) -> None:
    voice = ("Hello there.", _encode(codec, _clip(1.0, 1))) if turns != "plain" else None
    context = []
    if turns == "voice+context":
        context = [(PHRASES[0], _encode(codec, _clip(0.5, 3))), (PHRASES[2], _encode(codec, _clip(0.4, 4)))]
    prompt = build_prompt(tokenizer, model.config, PHRASES[1], voice=voice, context=context)
    ours, ends = _run_alone(model, prompt, 40)
    assert ends == [MAX_FRAMES] and ours.shape == (40, 8)
    assert torch.equal(ours, _generate_reference(model, processor, prompt, 40))


@scripted
def test_greedy_parity_when_the_model_ends_the_phrase(model, processor, tokenizer) -> None:
    prompt = build_prompt(tokenizer, model.config, PHRASES[0])
    hook = model.audio_lm_head.register_forward_hook(EndAfter(calls=20))
    try:
        reference = _generate_reference(model, processor, prompt, 60)
        hook.remove()
        hook = model.audio_lm_head.register_forward_hook(EndAfter(calls=20))
        ours, ends = _run_alone(model, prompt, 60)
    finally:
        hook.remove()
    assert ends == [EOS]
    # Codebook 0 ends at step 20; as transformers' processor counts them that makes 20 frames, the last one
    # holding codebook 0's stream EOS (clipped to a data code) and the other codebooks' final codes.
    assert ours.shape == (20, 8)
    assert torch.equal(ours, reference)


def test_a_phrase_in_a_batch_of_four_equals_the_phrase_alone(model, tokenizer, codec) -> None:
    voice = ("Hello there.", _encode(codec, _clip(1.0, 1)))
    prompts = [
        build_prompt(tokenizer, model.config, PHRASES[0], voice=voice),
        build_prompt(tokenizer, model.config, PHRASES[1]),
        build_prompt(tokenizer, model.config, PHRASES[2], voice=voice, context=[(PHRASES[0], voice[1][:10])]),
        build_prompt(tokenizer, model.config, PHRASES[3]),
    ]
    budgets = [30, 45, 25, 38]
    generator = HiggsGenerator(model, GREEDY, slots=4, context_tokens=1024)
    got = [[] for _ in prompts]
    for index, (prompt, budget) in enumerate(zip(prompts, budgets, strict=True)):
        assert generator.admit(Request(prompt, budget, got[index].append, lambda reason: None))
        for _ in range(3):  # join at different steps, so every slot sits at its own cache position
            generator.step()
    assert generator.active == 4
    while generator.active:
        generator.step()
    for prompt, budget, frames in zip(prompts, budgets, got, strict=True):
        alone, _ = _run_alone(model, prompt, budget)
        assert torch.equal(torch.cat(frames), alone)


@scripted
def test_babbling_guard_stops_a_model_that_never_ends(model, tokenizer) -> None:
    def never_end(module, args, output):
        output = output.clone().view(*output.shape[:-1], 8, 1026)
        output[..., 1025] = -float("inf")
        return output.flatten(-2)

    hook = model.audio_lm_head.register_forward_hook(never_end)
    try:
        frames, ends = _run_alone(model, build_prompt(tokenizer, model.config, PHRASES[0]), 70, Sampling(), seed=3)
    finally:
        hook.remove()
    assert ends == [MAX_FRAMES]
    assert frames.shape == (70, 8)
    assert int(frames.min()) >= 0 and int(frames.max()) <= 1023


def test_sampling_is_reproducible_from_its_seed_and_differs_from_greedy(model, tokenizer) -> None:
    prompt = build_prompt(tokenizer, model.config, PHRASES[3])
    first, _ = _run_alone(model, prompt, 30, Sampling(), seed=7)
    again, _ = _run_alone(model, prompt, 30, Sampling(), seed=7)
    greedy, _ = _run_alone(model, prompt, 30)
    assert torch.equal(first, again)
    assert not torch.equal(first, greedy)


def test_a_prompt_that_cannot_fit_ends_with_the_fix(model, tokenizer) -> None:
    generator = HiggsGenerator(model, GREEDY, slots=1, context_tokens=300)
    ends = []
    assert generator.admit(Request(build_prompt(tokenizer, model.config, PHRASES[0]), 400, print, ends.append))
    assert generator.active == 0
    assert len(ends) == 1 and "tts.context_tokens=300" in ends[0] and "shorter voice reference" in ends[0]


def test_cancel_frees_the_slot_within_one_step_and_the_next_phrase_starts_cleanly(model, tokenizer) -> None:
    generator = HiggsGenerator(model, GREEDY, slots=1, context_tokens=1024)
    done = threading.Event()
    cancelled: list = []
    ends: list[str] = []

    def on_frames(frame):
        cancelled.append(frame)
        if len(cancelled) == 5:
            generator.cancel(first)

    first = Request(build_prompt(tokenizer, model.config, PHRASES[0]), 60, on_frames, ends.append)
    after: list = []
    second_prompt = build_prompt(tokenizer, model.config, PHRASES[1])
    second = Request(second_prompt, 30, after.append, lambda reason: (ends.append(reason), done.set()))
    try:
        generator.submit(first)
        generator.submit(second)  # the only slot is busy: it waits
        assert done.wait(timeout=60)
    finally:
        generator.close()
    assert len(cancelled) == 5  # not one frame after the cancel
    assert ends == [CANCELLED, MAX_FRAMES]
    alone, _ = _run_alone(model, second_prompt, 30)
    assert torch.equal(torch.cat(after), alone)


def test_busy_slots_make_phrases_wait_in_order_and_none_is_dropped(model, tokenizer) -> None:
    generator = HiggsGenerator(model, GREEDY, slots=2, context_tokens=1024)
    lock = threading.Lock()
    started: list[int] = []
    frames = {index: 0 for index in range(5)}
    ends: dict[int, str] = {}
    most_active = []
    all_done = threading.Event()

    def on_frames(index):
        def take(frame):
            with lock:
                if frames[index] == 0:
                    started.append(index)
                frames[index] += 1
                most_active.append(generator.active)

        return take

    def on_end(index):
        def end(reason):
            ends[index] = reason
            if len(ends) == 5:
                all_done.set()

        return end

    try:
        for index in range(5):
            prompt = build_prompt(tokenizer, model.config, PHRASES[index % 4])
            generator.submit(Request(prompt, 12 + index, on_frames(index), on_end(index)))
        assert all_done.wait(timeout=60)
    finally:
        generator.close()
    assert ends == {index: MAX_FRAMES for index in range(5)}
    assert frames == {index: 12 + index for index in range(5)}
    assert max(most_active) == 2
    assert started == sorted(started)  # phrases start in the order they were submitted


class Dispatched(TorchDispatchMode):
    """Records every op torch dispatches (on a GPU, each one not a view is a kernel launch), and in `syncs` those
    that read a device value on the host or whose output shape depends on the data: either stops a CUDA graph
    capture, and both show on the CPU, where no graph can be captured.
    """

    NAMES = frozenset({"nonzero", "_local_scalar_dense", "masked_select", "is_nonzero", "_unique2", "unique_dim"})

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []
        self.syncs: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        self.ops.append(name)
        indices = args[1] if name in ("index", "index_put_", "index_put") else ()
        if name in self.NAMES or any(i is not None and i.dtype == torch.bool for i in indices):
            self.syncs.append(name)
        return func(*args, **(kwargs or {}))


def test_the_decode_step_can_be_captured_as_a_cuda_graph(model, tokenizer, codec) -> None:
    """Without a graph each step launches hundreds of kernels one by one from Python: on a GPU that launch time,
    not the model, would set the speed. A change here or in transformers that adds a sync must fail this."""
    generator = HiggsGenerator(model, GREEDY, slots=4, context_tokens=512)
    assert generator.graph == ("captured" if DEVICE == "cuda" else "not used on cpu")
    voice = ("This is my voice.", _encode(codec, _clip(1.0, seed=5)))
    for text in PHRASES[:2]:
        prompt = build_prompt(tokenizer, model.config, text, voice=voice)
        assert generator.admit(Request(prompt, 20, lambda frame: None, lambda reason: None))
    generator.step()
    with Dispatched() as decode:
        generator._forward()
    assert "scaled_dot_product_attention" in decode.ops and "linear" in decode.ops
    assert decode.syncs == []
    # The prefill mixes text and audio tokens and selects them with boolean masks: the detector sees that.
    with Dispatched() as prefill:
        generator._prefill(2, build_prompt(tokenizer, model.config, PHRASES[2], voice=voice))
    assert prefill.syncs


def test_a_step_runs_the_same_ops_for_one_phrase_as_for_six(model, tokenizer) -> None:
    """Sampling and the delay pattern run batched over the slots: per-slot ops on a GPU would make every step
    slower with each session. Only host-side views of the step's one copy back grow with the phrases."""
    views = {"slice", "select", "unsqueeze", "view", "alias", "lift_fresh", "detach"}
    counts = []
    for phrases in (1, 6):
        generator = HiggsGenerator(model, Sampling(ras_win_len=0), slots=8, context_tokens=512, seed=0)
        for text in (PHRASES * 2)[:phrases]:
            prompt = build_prompt(tokenizer, model.config, text)
            assert generator.admit(Request(prompt, 40, lambda frame: None, lambda reason: None))
        for _ in range(10):  # past the delay pattern's first steps: every phrase hands out a frame per step
            generator.step()
        with Dispatched() as step:
            generator.step()
        assert generator.active == phrases and step.syncs == []
        counts.append(Counter(op for op in step.ops if op not in views))
    assert counts[0] == counts[1]


def _three_phrases(model, tokenizer, generator: HiggsGenerator, on_frames=None):
    """Admit three phrases (30 frames each) into `generator`; returns their frames and end reasons."""
    prompts = [build_prompt(tokenizer, model.config, text) for text in PHRASES[:3]]
    frames: list[list] = [[], [], []]
    ends: dict[int, str] = {}
    for index, prompt in enumerate(prompts):
        give = on_frames(index, frames[index]) if on_frames else frames[index].append
        assert generator.admit(Request(prompt, 30, give, lambda reason, index=index: ends.setdefault(index, reason)))
    return prompts, frames, ends


@scripted
def test_nan_logits_end_their_own_phrase_with_the_fix_and_the_others_go_on(model, tokenizer) -> None:
    """float16 can overflow in this model; one phrase's NaN logits must not stop sampling for the whole batch."""
    generator = HiggsGenerator(model, GREEDY, slots=3, context_tokens=1024)

    def nan_in_slot_1(module, args, output):
        if output.shape[0] != 3:  # a prefill, one phrase alone
            return output
        output = output.clone()
        output[1] = float("nan")
        return output

    prompts, frames, ends = _three_phrases(model, tokenizer, generator)
    hook = model.audio_lm_head.register_forward_hook(nan_in_slot_1)
    try:
        while generator.active:
            generator.step()
    finally:
        hook.remove()
    assert ends[1] == NON_FINITE and "bfloat16" in NON_FINITE and frames[1] == []
    assert ends[0] == ends[2] == MAX_FRAMES
    for index in (0, 2):
        alone, _ = _run_alone(model, prompts[index], 30)
        assert torch.equal(torch.cat(frames[index]), alone)


def test_a_failed_step_ends_the_batch_with_the_error_and_the_generator_serves_on(model, tokenizer) -> None:
    generator = HiggsGenerator(model, Sampling(), slots=3, context_tokens=1024, seed=0)
    _, _, ends = _three_phrases(model, tokenizer, generator)
    sample = generator._warpers
    generator._warpers = lambda ids, scores: 1 / 0  # sampling breaks once, mid-phrase
    generator.step()
    generator._warpers = sample
    assert generator.active == 0
    assert ends == {index: "TTS decode step failed: division by zero" for index in range(3)}
    got, got_ends = [], []
    assert generator.admit(Request(build_prompt(tokenizer, model.config, PHRASES[3]), 12, got.append, got_ends.append))
    while generator.active:
        generator.step()
    assert got_ends == [MAX_FRAMES] and len(got) == 12


def test_a_callback_that_raises_cancels_only_its_own_phrase(model, tokenizer) -> None:
    """A session that went away mid-phrase (its event loop closed) must not take the other phrases with it."""

    def on_frames(index, frames):
        def give(frame):
            if index == 0 and len(frames) == 3:
                raise RuntimeError("Event loop is closed")
            frames.append(frame)

        return give

    generator = HiggsGenerator(model, GREEDY, slots=3, context_tokens=1024)
    prompts, frames, ends = _three_phrases(model, tokenizer, generator, on_frames)
    while generator.active:
        generator.step()
    assert ends == {0: CANCELLED, 1: MAX_FRAMES, 2: MAX_FRAMES} and len(frames[0]) == 3
    for index in (1, 2):
        alone, _ = _run_alone(model, prompts[index], 30)
        assert torch.equal(torch.cat(frames[index]), alone)
