"""Translation benchmark: first-token latency and tokens per second of the local translator, in all 12 directions.

Runs the translator through the real streaming path: each direction translates the same sentence with two earlier
turns as context. `--model tiny` is the tiny random translator (plumbing speed, not quality); `--model full` a
7B-class model (Qwen2.5-7B-Instruct sizes) with random weights, bf16 on a GPU.

    python bench/translate.py --json bench/results/translate_cpu_tiny.json
    python bench/translate.py --model full --device cuda --json bench/results/translate_h100_full.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

SENTENCES = {
    "en": "Could you please send me the documents by email before Friday?",
    "de": "Könnten Sie mir die Unterlagen bitte vor Freitag per E-Mail schicken?",
    "zh": "你能在星期五之前把文件通过电子邮件发给我吗？",
    "ko": "금요일 전에 서류를 이메일로 보내 주시겠어요?",
}
CONTEXT = {
    "en": ("Hello, how are you today?", "I am fine, thank you."),
    "de": ("Hallo, wie geht es Ihnen heute?", "Mir geht es gut, danke."),
    "zh": ("你好，你今天怎么样？", "我很好，谢谢。"),
    "ko": ("안녕하세요, 오늘 어떻게 지내세요?", "저는 잘 지내요, 감사합니다."),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="s2st bench translate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("tiny", "full"), default="tiny", help="full: 7B-class, for a GPU")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3, help="timed translations per direction")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    from bench import device_name, write_report

    translator, model_name = _load(args.model, args.device)
    _time(translator, "en", "de")  # warm-up
    rows = []
    for source in SENTENCES:
        for target in SENTENCES:
            if source != target:
                runs = [_time(translator, source, target) for _ in range(args.repeats)]
                rows.append(
                    {
                        "direction": f"{source}->{target}",
                        "first_token_ms": statistics.median(run[0] for run in runs),
                        "tokens_per_s": statistics.median(run[1] for run in runs),
                        "tokens": runs[0][2],
                    }
                )
                _print_row(rows[-1], header=len(rows) == 1)
    firsts = [row["first_token_ms"] for row in rows]
    summary = {
        "first_token_ms_p50": float(np.percentile(firsts, 50)),
        "first_token_ms_p95": float(np.percentile(firsts, 95)),
        "tokens_per_s_median": statistics.median(row["tokens_per_s"] for row in rows),
        "device": device_name(args.device),
        "model": model_name,
    }
    print(
        f"all directions: first token p50 {summary['first_token_ms_p50']:.0f} ms, "
        f"p95 {summary['first_token_ms_p95']:.0f} ms, {summary['tokens_per_s_median']:.0f} tokens/s"
    )
    write_report(args.json, {"benchmark": "translate", "summary": summary, "runs": rows})
    return 0


def _load(which: str, device: str):
    from model.loading import resolve
    from model.translator import Translator, TranslatorSettings

    settings = TranslatorSettings(max_new_tokens=64)
    tokenizer_dir = resolve("tiny:translator", "translator model")
    if which == "tiny":
        translator = Translator.load(tokenizer_dir, device=device, dtype=torch.float32, settings=settings)
        return translator, "tiny random Llama-style translator (hidden 64, 2 layers), float32"
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = Qwen2Config(  # the published sizes of Qwen2.5-7B-Instruct; random weights cost the same compute
        vocab_size=152064,
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        eos_token_id=tokenizer.eos_token_id,
    )
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):  # built in place, in `dtype`: no float32 copy on the way
        model = Qwen2ForCausalLM._from_config(config, dtype=dtype).eval()
    name = f"7B-class Qwen2 (Qwen2.5-7B-Instruct sizes) with random weights, {str(dtype).removeprefix('torch.')}"
    return Translator(model, tokenizer, settings=settings), name


def _time(translator, source: str, target: str) -> tuple[float, float, int]:
    """(ms to the first streamed piece, tokens per second after it, tokens) for one translation."""
    from model.translator import Turn
    from streaming.vocabulary import LANGUAGE_NAMES

    context = [Turn(*CONTEXT[source][:1], CONTEXT[target][1]), Turn(CONTEXT[source][1], CONTEXT[target][0])]
    began = time.perf_counter()
    first, pieces = None, []
    for piece in translator.stream(SENTENCES[source], LANGUAGE_NAMES[source], LANGUAGE_NAMES[target], context=context):
        pieces.append(piece)
        if first is None:
            first = time.perf_counter()
    ended = time.perf_counter()
    first = first or ended
    tokens = translator.count_tokens("".join(pieces))
    rate = (tokens - 1) / (ended - first) if tokens > 1 and ended > first else 0.0
    return (first - began) * 1000, rate, tokens


def _print_row(row: dict, header: bool) -> None:
    if header:
        print(f"{'direction':>9}  {'first token':>11}  {'tokens/s':>8}  {'tokens':>6}")
    print(f"{row['direction']:>9}  {row['first_token_ms']:>8.0f} ms  {row['tokens_per_s']:>8.0f}  {row['tokens']:>6}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
