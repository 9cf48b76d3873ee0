import hashlib
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForCausalLM,
    AutoProcessor,
    AutoTokenizer,
    HiggsAudioV2ForConditionalGeneration,
    HiggsAudioV2TokenizerModel,
)

from model.tiny import HIGGS_SPECIAL_TOKENS, make_tiny

pytestmark = pytest.mark.slow

PROMPTS = {
    "en": "Good morning, could you tell me where the station is?",
    "de": "Guten Morgen, können Sie mir sagen, wo der Bahnhof ist?",
    "zh": "早上好，你能告诉我火车站在哪里吗？",
    "ko": "좋은 아침입니다, 기차역이 어디에 있는지 알려 주시겠어요?",
}


def _digest(directory: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.iterdir())
        if path.name != "processor_config.json"  # records the absolute audio tokenizer path
    }


def test_layout_is_complete_and_small(tiny: dict[str, Path]) -> None:
    root = tiny["higgs"].parent
    assert sorted(path.name for path in root.iterdir()) == ["audio_tokenizer", "higgs", "translator"]
    for name, path in tiny.items():
        assert path == root / name
        assert (path / "config.json").is_file()
        assert (path / "model.safetensors").is_file()
        assert sum(file.stat().st_size for file in path.iterdir()) < 8_000_000
    assert (tiny["audio_tokenizer"] / "preprocessor_config.json").is_file()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
        assert (tiny["translator"] / name).is_file()
        assert (tiny["higgs"] / name).is_file()
    assert (tiny["higgs"] / "processor_config.json").is_file()


def test_rebuild_is_identical(tiny: dict[str, Path], tmp_path: Path) -> None:
    again = make_tiny(tmp_path)
    for name, path in tiny.items():
        assert _digest(again[name]) == _digest(path), name


def test_translator_tokenizer_is_a_trained_multilingual_bpe(tiny: dict[str, Path]) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny["translator"])
    for text in PROMPTS.values():
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert tokenizer.decode(ids) == text
        assert len(ids) < len(text.encode())
    assert tokenizer.bos_token == "<|begin_of_text|>"
    assert tokenizer.eos_token == "<|eot_id|>"
    assert tokenizer.pad_token is not None


@pytest.mark.parametrize("language", sorted(PROMPTS))
def test_translator_chat_greedy_generation_gives_text(tiny: dict[str, Path], language: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny["translator"])
    model = AutoModelForCausalLM.from_pretrained(tiny["translator"])
    messages = [
        {"role": "system", "content": "Translate what the user says into English."},
        {"role": "user", "content": PROMPTS[language]},
    ]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    prompt = tokenizer.decode(inputs["input_ids"][0])
    assert prompt.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>")
    assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    text = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert text.strip()
    assert "\ufffd" not in text
    assert model.generation_config.eos_token_id[0] == tokenizer.eos_token_id


def test_higgs_tokenizer_and_config_agree(tiny: dict[str, Path]) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny["higgs"])
    model = HiggsAudioV2ForConditionalGeneration.from_pretrained(tiny["higgs"])
    config = model.config
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in HIGGS_SPECIAL_TOKENS}
    assert len(set(ids.values())) == len(HIGGS_SPECIAL_TOKENS)
    assert all(isinstance(token_id, int) and token_id < len(tokenizer) for token_id in ids.values())
    assert all(tokenizer.decode([token_id]) == token for token, token_id in ids.items())
    assert config.vocab_size == len(tokenizer)
    assert config.audio_token_id == ids["<|AUDIO_OUT|>"]
    assert config.audio_bos_token_id == ids["<|audio_out_bos|>"]
    assert config.audio_delay_token_id == ids["<|reserved_special_token_6|>"]
    assert config.bos_token_id == tokenizer.bos_token_id == ids["<|begin_of_text|>"]
    assert config.eos_token_id == tokenizer.eos_token_id == ids["<|eot_id|>"]
    assert config.pad_token_id == tokenizer.pad_token_id == ids["<|end_of_text|>"]
    assert model.generation_config.eos_token_id == config.eos_token_id
    assert (config.num_codebooks, config.codebook_size) == (8, 1026)
    assert (config.audio_stream_bos_id, config.audio_stream_eos_id) == (1024, 1025)


def test_higgs_processor_and_chat_template(tiny: dict[str, Path]) -> None:
    processor = AutoProcessor.from_pretrained(tiny["higgs"])
    config = HiggsAudioV2ForConditionalGeneration.from_pretrained(tiny["higgs"]).config
    assert processor.audio_token_id == config.audio_token_id
    assert processor.audio_bos_token_id == config.audio_bos_token_id
    assert processor.audio_delay_token_id == config.audio_delay_token_id
    messages = [
        {"role": "system", "content": "Generate audio following instruction."},
        {"role": "scene", "content": "Audio is recorded from a quiet room."},
        {"role": "user", "content": "Hello."},
    ]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Generate audio following instruction.\n\n<|scene_desc_start|>\nAudio is recorded from a quiet room.\n"
        "<|scene_desc_end|><|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello.<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n<|audio_out_bos|>"
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny["higgs"])
    assert tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) == prompt


def test_audio_tokenizer_framing(tiny: dict[str, Path]) -> None:
    codec = AutoModel.from_pretrained(tiny["audio_tokenizer"])
    assert isinstance(codec, HiggsAudioV2TokenizerModel)
    assert codec.config.sample_rate == 24000
    assert codec.config.hop_length == 960
    assert codec.config.num_quantizers == 8
    assert codec.config.codebook_size == 1024
    extractor = AutoFeatureExtractor.from_pretrained(tiny["audio_tokenizer"])
    assert extractor.sampling_rate == 24000
    generator = torch.Generator().manual_seed(0)
    one_second = 0.1 * torch.randn(24000, generator=generator)
    inputs = extractor(one_second.numpy(), sampling_rate=24000, return_tensors="pt")
    with torch.no_grad():
        codes = codec.encode(inputs["input_values"]).audio_codes
        audio = codec.decode(codes).audio_values
    assert codes.shape == (1, 8, 25)
    assert int(codes.min()) >= 0 and int(codes.max()) < 1024
    assert len(codes.unique()) > 8
    assert audio.shape == (1, 1, 24000)
    assert torch.isfinite(audio).all()
