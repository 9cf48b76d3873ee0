"""Tiny random-weight stand-ins for the translator, Higgs Audio v2 and its audio tokenizer.

No machine here reaches the model hub, so tests and offline smoke runs use models built by the real classes
with random weights and real tokenizers, saved with `save_pretrained` in the same layout as the production
checkpoints: the loading code cannot tell them apart. Everything is seeded, so two builds give the same files.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    DacFeatureExtractor,
    GenerationConfig,
    HiggsAudioV2Config,
    HiggsAudioV2ForConditionalGeneration,
    HiggsAudioV2Processor,
    HiggsAudioV2TokenizerConfig,
    HiggsAudioV2TokenizerModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)
from transformers.utils import logging as hf_logging

SEED = 1234
SAMPLE_RATE = 24000
HOP_LENGTH = 960  # 24 kHz / 960 = 25 frames per second, as in bosonai/higgs-audio-v2-tokenizer
NUM_CODEBOOKS = 8
CODEBOOK_SIZE = 1024
AUDIO_STREAM_BOS_ID = 1024
AUDIO_STREAM_EOS_ID = 1025
# The Llama-style decoder shared by the tiny translator and the tiny Higgs backbone.
TINY_BACKBONE = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=4096,
)

CORPUS = (
    "Hello, how are you today?",
    "I am fine, thank you. And you?",
    "Could you please speak a little more slowly?",
    "The meeting starts at nine o'clock tomorrow morning.",
    "Where is the nearest train station?",
    "I would like to order a cup of coffee and a piece of cake.",
    "We need to finish the report before Friday.",
    "The weather is beautiful, let's go for a walk.",
    "Thank you very much for your help.",
    "Can you hear me? The connection is not very good.",
    "My name is Anna and I work as an engineer.",
    "Please send me the documents by email.",
    "Hallo, wie geht es Ihnen heute?",
    "Mir geht es gut, danke. Und Ihnen?",
    "Könnten Sie bitte etwas langsamer sprechen?",
    "Die Besprechung beginnt morgen früh um neun Uhr.",
    "Wo ist der nächste Bahnhof?",
    "Ich hätte gern eine Tasse Kaffee und ein Stück Kuchen.",
    "Wir müssen den Bericht vor Freitag fertigstellen.",
    "Das Wetter ist schön, lass uns spazieren gehen.",
    "Vielen Dank für Ihre Hilfe.",
    "Können Sie mich hören? Die Verbindung ist nicht sehr gut.",
    "Mein Name ist Anna und ich arbeite als Ingenieurin.",
    "Bitte schicken Sie mir die Unterlagen per E-Mail.",
    "你好，你今天怎么样？",
    "我很好，谢谢。你呢？",
    "请你说得慢一点，好吗？",
    "会议明天早上九点开始。",
    "最近的火车站在哪里？",
    "我想要一杯咖啡和一块蛋糕。",
    "我们需要在星期五之前完成报告。",
    "天气很好，我们去散步吧。",
    "非常感谢你的帮助。",
    "你能听到我吗？信号不太好。",
    "我叫安娜，我是一名工程师。",
    "请把文件通过电子邮件发给我。",
    "안녕하세요, 오늘 어떻게 지내세요?",
    "저는 잘 지내요, 감사합니다. 당신은요?",
    "조금만 더 천천히 말씀해 주시겠어요?",
    "회의는 내일 아침 아홉 시에 시작합니다.",
    "가장 가까운 기차역이 어디에 있어요?",
    "커피 한 잔과 케이크 한 조각 주세요.",
    "우리는 금요일 전에 보고서를 끝내야 합니다.",
    "날씨가 좋네요, 산책하러 갑시다.",
    "도와주셔서 정말 감사합니다.",
    "제 말이 들리세요? 연결이 별로 좋지 않아요.",
    "제 이름은 안나이고 엔지니어로 일하고 있어요.",
    "서류를 이메일로 보내 주세요.",
    "Translate the following text into German, Mandarin, Korean or English.",
    "Generate audio following instruction. Audio is recorded from a quiet room.",
)

# Llama-3 special tokens in Llama-3's order; Higgs renames some reserved slots for audio (ids 128011-128016
# in the real checkpoint) and keeps `<|reserved_special_token_6|>` as the audio delay token.
LLAMA3_SPECIAL_TOKENS = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|reserved_special_token_2|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
)
HIGGS_SPECIAL_TOKENS = LLAMA3_SPECIAL_TOKENS + (
    "<|audio_bos|>",
    "<|audio_eos|>",
    "<|audio_out_bos|>",
    "<|reserved_special_token_6|>",
    "<|AUDIO|>",
    "<|AUDIO_OUT|>",
    "<|scene_desc_start|>",
    "<|scene_desc_end|>",
)

TRANSLATOR_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] | trim }}"
    "{%- else %}{%- for part in message['content'] if part['type'] == 'text' %}{{- part['text'] | trim }}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)

# The chat template of the transformers-format Higgs checkpoint (transformers' convert_higgs_audio_v2_to_hf.py):
# a system message, an optional `scene` turn folded into the system prompt, user text turns, assistant
# audio turns, and a generation prompt that opens the assistant turn with `<|audio_out_bos|>`.
HIGGS_CHAT_TEMPLATE = """{{- bos_token }}
{%- if messages[0]['role'] == 'system' %}
    {%- if messages[0]['content'] is string %}
        {%- set system_message = messages[0]['content']|trim %}
    {%- elif messages[0]['content'] is iterable and messages[0]['content'][0]['type'] == 'text' %}
        {%- set system_message = messages[0]['content'][0]['text']|trim %}
    {%- else %}
        {{- raise_exception("System message content must be a string or contain text type!") }}
    {%- endif %}
    {%- set messages = messages[1:] %}
{%- else %}
    {{- raise_exception("A system message is required but not provided!") }}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{{- system_message }}
{%- if messages and messages[0]['role'] == 'scene' %}
    {{- "\\n\\n<|scene_desc_start|>\\n" }}
    {%- if messages[0]['content'] is string %}
        {{- messages[0]['content'] | trim }}
    {%- elif messages[0]['content'] is iterable %}
        {%- for content_item in messages[0]['content'] %}
            {%- if content_item['type'] == 'text' %}
                {{- content_item['text'] | trim }}
                {%- if loop.first and not loop.last %}
                    {{- "\\n\\n" }}
                {%- endif %}
                {%- if not loop.first and not loop.last and messages[0]['content'][loop.index]['type'] != 'audio' %}
                    {{- "\\n" }}
                {%- endif %}
            {%- elif content_item['type'] == 'audio' %}
                {{- ' <|audio_out_bos|><|AUDIO_OUT|><|audio_eos|>' }}
                {%- if not loop.last %}
                    {{- "\\n" }}
                {%- endif %}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
    {{- "\\n<|scene_desc_end|>" }}
    {%- set messages = messages[1:] %}
{%- endif %}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}
    {%- if message['role'] == 'assistant' %}
        {%- if message['content'] is not iterable or message['content'][0]['type'] != 'audio' %}
            {{- raise_exception("Assistant messages must contain audio content only!") }}
        {%- endif %}
        {{- '<|audio_out_bos|><|AUDIO_OUT|><|audio_eos|>' }}
    {%- else %}
        {%- if message['content'] is string %}
            {{- message['content'] | trim }}
        {%- elif message['content'] is iterable %}
            {%- for content_item in message['content'] %}
                {%- if content_item['type'] == 'text' %}
                    {{- content_item['text'] | trim }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
    {%- endif %}
    {{- '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n<|audio_out_bos|>' }}
{%- endif %}"""


def make_tiny(root: Path) -> dict[str, Path]:
    """Build the three tiny models under `root` and return their directories by name.

    The audio tokenizer is published first because the Higgs processor records its directory.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a second's work needs no "Writing model shards" bars on the console
    try:
        audio_tokenizer = _publish(root, "audio_tokenizer", _write_audio_tokenizer)
        translator = _publish(root, "translator", _write_translator)
        higgs = _publish(root, "higgs", lambda path: _write_higgs(path, audio_tokenizer))
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return {"translator": translator, "higgs": higgs, "audio_tokenizer": audio_tokenizer}


def _publish(root: Path, name: str, write: Callable[[Path], None]) -> Path:
    """Write a model into a temporary sibling and rename it into place, so a half-written one never looks done."""
    final = root / name
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        write(staging)
        staging.chmod(0o755)
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _train_bpe(special_tokens: tuple[str, ...]) -> Tokenizer:
    """A real byte-level BPE trained on the built-in corpus, special tokens appended after it as in Llama-3."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    tokenizer.add_special_tokens(list(special_tokens))
    bos = special_tokens[0]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.token_to_id(bos))]
    )
    return tokenizer


def _fast_tokenizer(special_tokens: tuple[str, ...], chat_template: str) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=_train_bpe(special_tokens),
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|end_of_text|>",
        chat_template=chat_template,
        model_max_length=4096,
    )


def _unprintable_token_ids(tokenizer: PreTrainedTokenizerFast) -> list[int]:
    """Special tokens, whitespace-only tokens, control characters and partial UTF-8 byte tokens.

    A random model that picks these as greedy argmax would produce empty or garbled text.
    """
    ids = []
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id]).strip()
        if token_id in tokenizer.all_special_ids or not text or not text.isprintable() or "\ufffd" in text:
            ids.append(token_id)
    return ids


def _write_translator(path: Path) -> None:
    tokenizer = _fast_tokenizer(LLAMA3_SPECIAL_TOKENS, TRANSLATOR_CHAT_TEMPLATE)
    eot, end_of_text = tokenizer.convert_tokens_to_ids(["<|eot_id|>", "<|end_of_text|>"])
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        **TINY_BACKBONE,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eot,
        pad_token_id=end_of_text,
        tie_word_embeddings=False,
    )
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        # A zero logit is never the argmax among a thousand random ones, so greedy decoding emits printable
        # text and runs until max_new_tokens (callers cap generation anyway).
        model.lm_head.weight[_unprintable_token_ids(tokenizer)] = 0.0
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=[eot, end_of_text], pad_token_id=end_of_text
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def _audio_tokenizer_config() -> HiggsAudioV2TokenizerConfig:
    """The real framing (24 kHz, hop 960 = 8*5*4*2*3, 8 codebooks of 1024) with tiny layer widths.

    The last target bandwidth sets the codebook count: 2 kbps / (25 frames/s * 10 bits) = 8.
    """
    ratios = [8, 5, 4, 2, 3]
    return HiggsAudioV2TokenizerConfig(
        target_bandwidths=[0.5, 1, 1.5, 2],
        sample_rate=SAMPLE_RATE,
        codebook_size=CODEBOOK_SIZE,
        codebook_dim=8,
        acoustic_model_config={
            "encoder_hidden_size": 4,
            "downsampling_ratios": ratios,
            "upsampling_ratios": ratios,
            "decoder_hidden_size": 64,
            "hidden_size": 16,
            "hop_length": HOP_LENGTH,
            "sampling_rate": SAMPLE_RATE,
        },
        semantic_model_config={
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "conv_dim": [8] * 7,
            "num_conv_pos_embeddings": 16,
            "num_conv_pos_embedding_groups": 2,
        },
    )


def _write_audio_tokenizer(path: Path) -> None:
    torch.manual_seed(SEED)
    model = HiggsAudioV2TokenizerModel(_audio_tokenizer_config()).eval()
    with torch.no_grad():
        # The class initialises codebooks to zeros (real ones are trained), which would map every frame to
        # code 0 and every code to the same sound; random codebooks make encode and decode informative.
        for quantizer in model.quantizer.quantizers:
            quantizer.codebook.embed.normal_()
            quantizer.codebook.embed_avg.copy_(quantizer.codebook.embed)
    model.save_pretrained(path)
    _feature_extractor(hop_length=HOP_LENGTH).save_pretrained(path)


def _feature_extractor(hop_length: int) -> DacFeatureExtractor:
    return DacFeatureExtractor(
        feature_size=1,
        sampling_rate=SAMPLE_RATE,
        padding_value=0.0,
        hop_length=hop_length,
        padding_side="right",
        return_attention_mask=True,
    )


def _write_higgs(path: Path, audio_tokenizer_dir: Path) -> None:
    tokenizer = _fast_tokenizer(HIGGS_SPECIAL_TOKENS, HIGGS_CHAT_TEMPLATE)
    config = _higgs_config(tokenizer, vocab_size=len(tokenizer), **TINY_BACKBONE, head_dim=16)
    torch.manual_seed(SEED)
    model = HiggsAudioV2ForConditionalGeneration(config).eval()
    _never_sample_stream_codes(model)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        ras_win_len=7,
        ras_win_max_num_repeat=2,
    )
    model.save_pretrained(path)
    processor = HiggsAudioV2Processor(
        feature_extractor=_feature_extractor(hop_length=1),
        tokenizer=tokenizer,
        audio_tokenizer=HiggsAudioV2TokenizerModel.from_pretrained(audio_tokenizer_dir),
        chat_template=HIGGS_CHAT_TEMPLATE,
        audio_stream_bos_id=AUDIO_STREAM_BOS_ID,
        audio_stream_eos_id=AUDIO_STREAM_EOS_ID,
    )
    processor.save_pretrained(path)


def full_size_higgs(tokenizer: PreTrainedTokenizerFast, *, device: str, dtype: torch.dtype):
    """Higgs Audio v2 at the size of bosonai/higgs-audio-v2-generation-3B-base, with random weights.

    For speed figures only: the Llama-3.2-3B backbone (hidden 3072, 28 layers, 24 heads, 8 KV heads, head_dim
    128, a DualFFN audio expert in every layer) costs the same whatever its weights, and the special token ids
    come from `tokenizer` so the prompts of the real code path work (the rest, such as the llama3 RoPE, are
    transformers' defaults, which are this checkpoint's). As in the tiny model, stream BOS/EOS get
    zero logits, so phrases run to their frame budget and every run does the same amount of work.
    """
    config = _higgs_config(
        tokenizer,
        vocab_size=128256,
        hidden_size=3072,
        intermediate_size=8192,
        num_hidden_layers=28,
        num_attention_heads=24,
        num_key_value_heads=8,
        head_dim=128,
    )
    torch.manual_seed(SEED)
    with torch.device(device):  # built in place, in `dtype`: no float32 copy of 5.4 B parameters on the way
        model = HiggsAudioV2ForConditionalGeneration._from_config(config, dtype=dtype).eval().requires_grad_(False)
    _never_sample_stream_codes(model)
    return model


def _higgs_config(tokenizer: PreTrainedTokenizerFast, **sizes) -> HiggsAudioV2Config:
    """A Higgs config of the given sizes whose special token ids are the tokenizer's."""
    ids = dict(zip(HIGGS_SPECIAL_TOKENS, tokenizer.convert_tokens_to_ids(list(HIGGS_SPECIAL_TOKENS)), strict=True))
    return HiggsAudioV2Config(
        **sizes,
        bos_token_id=ids["<|begin_of_text|>"],
        eos_token_id=ids["<|eot_id|>"],
        pad_token_id=ids["<|end_of_text|>"],
        num_codebooks=NUM_CODEBOOKS,
        # The transformers-format checkpoint counts the stream BOS/EOS codes in each codebook (1024 + 2).
        codebook_size=CODEBOOK_SIZE + 2,
        audio_token_id=ids["<|AUDIO_OUT|>"],
        audio_bos_token_id=ids["<|audio_out_bos|>"],
        audio_delay_token_id=ids["<|reserved_special_token_6|>"],
        audio_stream_bos_id=AUDIO_STREAM_BOS_ID,
        audio_stream_eos_id=AUDIO_STREAM_EOS_ID,
    )


def _never_sample_stream_codes(model: HiggsAudioV2ForConditionalGeneration) -> None:
    """Zero logits for stream BOS/EOS: the delay-pattern mask forces them where they belong, and a random model
    then never samples them elsewhere, so phrases run to their frame budget instead of ending after a frame."""
    with torch.no_grad():
        model.audio_lm_head.weight.view(NUM_CODEBOOKS, CODEBOOK_SIZE + 2, -1)[:, CODEBOOK_SIZE:] = 0.0
