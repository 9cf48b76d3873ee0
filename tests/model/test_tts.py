"""TTSStream on the tiny Higgs model and tiny codec: chunks, tags, order, cancel, voice and context in the prompt."""

import asyncio
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from model.codec import CodecSettings
from model.higgs import HiggsGenerator, delayed
from model.loading import ModelError
from model.speech import FAILED, MAX_FRAMES, SpeechChunk
from model.tts import HiggsTTS, TTSSettings, max_frames
from model.voice import Voice
from tests.helpers import speak

HOP = 960
CODEC = CodecSettings()


@pytest.fixture(scope="module")
def tts(tiny: dict[str, Path]) -> HiggsTTS:
    tts = _load(tiny["higgs"], tiny["audio_tokenizer"])
    yield tts
    tts.close()


def _load(model_dir: Path, audio_tokenizer_dir: Path, settings: TTSSettings | None = None) -> HiggsTTS:
    settings = settings or TTSSettings()
    return HiggsTTS.load(model_dir, audio_tokenizer_dir, device="cpu", dtype=torch.float32, settings=settings)


def _voice(seconds: float = 1.0) -> Voice:
    audio = (np.random.default_rng(5).standard_normal(int(24000 * seconds)) * 0.1).astype(np.float32)
    return Voice(audio, "Hello there, this is my voice.")


class EndsAfter:
    """Forward hook on the Higgs model: each phrase's codebook 0 wants stream EOS from its `steps`-th step on."""

    def __init__(self, steps: int) -> None:
        self.steps, self.since_prefill = steps, 0

    def __call__(self, module, args, kwargs, output):
        self.since_prefill = 0 if kwargs.get("input_ids") is not None else self.since_prefill + 1
        if self.since_prefill >= self.steps:
            output.logits[..., 1025] += 1e4
        return output


def test_max_frames_is_finite_and_grows_with_text() -> None:
    assert max_frames("Hi.") >= 2 * 25
    assert max_frames("Hello there.") < max_frames("Hello there, how was your trip to Berlin last week?")
    assert max_frames("你好") > max_frames("ab")
    assert max_frames("  Hi.  ") == max_frames("Hi.")
    long_text = "word " * 200
    assert max_frames(long_text) < 25 * len(long_text)


@pytest.mark.slow
async def test_a_phrase_streams_in_chunks_small_first_then_larger(tts: HiggsTTS) -> None:
    text = "Guten Morgen."
    chunks = await speak(tts, text)
    assert all(isinstance(chunk, SpeechChunk) and (chunk.tag, chunk.text) == (0, text) for chunk in chunks)
    sizes = [len(chunk.pcm) for chunk in chunks]
    budget = max_frames(text)  # the tiny model never ends a phrase by itself
    assert sum(sizes) == budget * HOP
    assert sizes[0] == CODEC.first_chunk_frames * HOP
    assert all(size == CODEC.chunk_frames * HOP for size in sizes[1:-1])
    assert [chunk.first_frame for chunk in chunks] == [sum(sizes[:i]) // HOP for i in range(len(chunks))]
    assert [chunk.end for chunk in chunks] == [None] * (len(chunks) - 1) + [MAX_FRAMES]
    pcm = np.concatenate([chunk.pcm for chunk in chunks])
    assert pcm.dtype == np.float32 and np.isfinite(pcm).all() and 0 < np.abs(pcm).max() <= 1.0
    assert {chunk.sample_rate for chunk in chunks} == {24000}


@pytest.mark.slow
async def test_higgs_clones_and_refuses_a_language_it_lacks_naming_what_it_speaks(tts: HiggsTTS) -> None:
    assert (tts.name, tts.languages, tts.can_clone, tts.voices) == ("higgs", ("en", "zh", "de", "ko"), True, ())
    with pytest.raises(ValueError, match=re.escape("higgs cannot speak 'fr'; it speaks en, zh, de, ko.")):
        tts.open(None, "fr")


@pytest.mark.slow
async def test_phrases_are_spoken_in_order_with_their_tags_and_text(tts: HiggsTTS) -> None:
    stream = tts.open(None, "en")
    stream.say("Hello there.", 1)
    with pytest.raises(ValueError, match="blank"):
        stream.say("  \n", 2)
    stream.say(" How are you? ", 3)
    stream.close()
    with pytest.raises(RuntimeError, match="closed"):
        stream.say("too late", 4)
    chunks = [chunk async for chunk in stream]
    tags = [chunk.tag for chunk in chunks]
    assert tags == sorted(tags) and set(tags) == {1, 3}
    assert {(chunk.tag, chunk.text) for chunk in chunks} == {(1, "Hello there."), (3, "How are you?")}
    assert [chunk.end for chunk in chunks if chunk.end] == [MAX_FRAMES, MAX_FRAMES]


@pytest.mark.slow
async def test_cancel_mid_phrase_frees_the_slot_and_the_next_phrase_is_whole(tts: HiggsTTS) -> None:
    stream = tts.open(None, "de")
    stream.say("Die Besprechung beginnt morgen früh um neun Uhr.", "cancelled")
    stream.say("Dieser Satz wird nie gesprochen.", "dropped")
    chunks = aiter(stream)
    first = await anext(chunks)
    assert first.tag == "cancelled" and first.end is None
    stream.cancel()
    for _ in range(100):
        if tts.generator.active == 0:
            break
        await asyncio.sleep(0.05)
    assert tts.generator.active == 0 and tts.generator.waiting == 0
    stream.say("Guten Morgen.", "fresh")
    stream.close()
    rest = [chunk async for chunk in chunks]
    assert {chunk.tag for chunk in rest} == {"fresh"}
    assert sum(len(chunk.pcm) for chunk in rest) == max_frames("Guten Morgen.") * HOP
    assert rest[-1].end == MAX_FRAMES


@pytest.mark.slow
async def test_voice_and_the_last_phrases_are_the_prompt_context(tiny: dict[str, Path], monkeypatch) -> None:
    tts = _load(tiny["higgs"], tiny["audio_tokenizer"], TTSSettings(context_phrases=2))
    prompts, spoken = [], []
    submit = HiggsGenerator.submit

    def recording_submit(generator, request):
        prompts.append(request.prompt)
        frames: list[torch.Tensor] = []
        spoken.append(frames)
        on_frames = request.on_frames
        request.on_frames = lambda frame: (frames.append(frame), on_frames(frame))
        submit(generator, request)

    monkeypatch.setattr(HiggsGenerator, "submit", recording_submit)
    voice = _voice()
    encodes = []
    encode = voice._encode
    monkeypatch.setattr(voice, "_encode", lambda codec: encodes.append(1) or encode(codec))
    hook = tts.model.register_forward_hook(EndsAfter(steps=14), with_kwargs=True)
    try:
        chunks = await speak(tts, "One.", "Two.", "Three.", "Four.", language="en", voice=voice)
    finally:
        hook.remove()
        tts.close()
    assert len(encodes) == 1  # the reference is encoded once for the whole session
    assert [chunk.end for chunk in chunks if chunk.end] == ["eos"] * 4
    config = tts.model.config
    codes = [torch.cat(frames) for frames in spoken]
    reference = delayed(voice.codes(tts.codec), config)
    expected_audio = [
        [reference],
        [reference, delayed(codes[0], config)],
        [reference, delayed(codes[0], config), delayed(codes[1], config)],
        [reference, delayed(codes[1], config), delayed(codes[2], config)],  # only the last two phrases
    ]
    for prompt, turns in zip(prompts, expected_audio, strict=True):
        assert torch.equal(prompt.audio_ids, torch.cat(turns))


@pytest.mark.slow
async def test_a_new_voice_is_encoded_at_once_and_drops_the_context_of_the_old_one(
    tiny: dict[str, Path], monkeypatch
) -> None:
    tts = _load(tiny["higgs"], tiny["audio_tokenizer"], TTSSettings(context_phrases=2))
    prompts = []
    submit = HiggsGenerator.submit
    monkeypatch.setattr(
        HiggsGenerator,
        "submit",
        lambda generator, request: (prompts.append(request.prompt), submit(generator, request)),
    )
    first, second = _voice(1.0), _voice(2.0)
    hook = tts.model.register_forward_hook(EndsAfter(steps=14), with_kwargs=True)
    try:
        stream = tts.open(first, "en")
        stream.say("One.", 1)
        spoken = aiter(stream)
        chunks = [await anext(spoken)]
        while chunks[-1].end is None:
            chunks.append(await anext(spoken))
        stream.voice = second
        for _ in range(100):  # encoded in a worker thread before any phrase asks for it
            if second._codes is not None:
                break
            await asyncio.sleep(0.01)
        assert second._codes is not None
        for tag, text in enumerate(("Two.", "Three."), 2):
            stream.say(text, tag)
        stream.close()
        chunks += [chunk async for chunk in spoken]
    finally:
        hook.remove()
        tts.close()
    assert [chunk.end for chunk in chunks if chunk.end] == ["eos"] * 3
    config = tts.model.config
    reference = delayed(second.codes(tts.codec), config)
    assert torch.equal(prompts[0].audio_ids, delayed(first.codes(tts.codec), config))
    assert torch.equal(prompts[1].audio_ids, reference)  # phrase one, in the old voice, is no context
    assert len(prompts[2].audio_ids) > len(reference)  # phrase two, in the new voice, is


@pytest.mark.slow
async def test_a_voice_at_the_wrong_rate_fails_its_phrases_with_the_fix(tts: HiggsTTS) -> None:
    voice = Voice(np.zeros(16000, dtype=np.float32), "Hello.", sample_rate=16000)
    chunks = await speak(tts, "Eins.", "Zwei.", voice=voice)
    assert [chunk.end for chunk in chunks] == [FAILED, FAILED]
    assert all("resample it to 24000 Hz" in chunk.error and len(chunk.pcm) == 0 for chunk in chunks)


@pytest.mark.slow
def test_missing_directories_raise_model_error_naming_them(tiny: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelError, match=str(missing)):
        _load(missing, tiny["audio_tokenizer"])
    with pytest.raises(ModelError, match=str(missing)):
        _load(tiny["higgs"], missing)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["higgs", "audio_tokenizer"])
def test_corrupt_directories_raise_model_error_naming_them(tiny: dict[str, Path], tmp_path: Path, which: str) -> None:
    corrupt = tmp_path / which
    shutil.copytree(tiny[which], corrupt)
    (corrupt / "config.json").write_text("{ this is not json")
    dirs = dict(tiny) | {which: corrupt}
    with pytest.raises(ModelError, match=str(corrupt)):
        _load(dirs["higgs"], dirs["audio_tokenizer"])
