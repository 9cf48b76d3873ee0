"""TTS benchmark: first-chunk latency, real-time factor and decode steps per second at 1, 4 and 16 streams.

Every stream is a `TTSStream` with a voice reference in its prompt, speaking phrases one after another through
the shared `HiggsGenerator`, exactly as sessions do. `--model tiny` runs the tiny random models on the CPU;
`--model full` builds Higgs Audio v2 and its codec at full size with random weights (bf16 on a GPU), which
costs the same compute as the real checkpoints.

    python bench/tts.py --model tiny --json bench/results/tts_cpu_tiny.json
    python bench/tts.py --model full --device cuda --json bench/results/tts_h100_full.json
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

PHRASES = (
    "The meeting starts at nine o'clock tomorrow morning.",
    "Could you please send me the documents by email?",
    "Die Besprechung beginnt morgen früh um neun Uhr.",
    "我们需要在星期五之前完成报告。",
    "회의는 내일 아침 아홉 시에 시작합니다.",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="s2st bench tts", description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--streams", default="1,4,16", help="comma-separated concurrency levels")
    parser.add_argument("--phrases", type=int, default=3, help="timed phrases per stream")
    parser.add_argument("--voice-seconds", type=float, default=10.0, help="length of the voice reference")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    from bench import device_name, write_report

    # Random weights never end a phrase, so every phrase meets the babbling guard: expected here, not news.
    logging.getLogger("model.tts").setLevel(logging.ERROR)
    levels = [int(level) for level in args.streams.split(",")]
    tts, model_name = _load(args.model, args.device, max(levels))
    voice_audio = (np.random.default_rng(0).standard_normal(int(24000 * args.voice_seconds)) * 0.1).astype(np.float32)
    asyncio.run(_run(tts, voice_audio, streams=1, phrases=1))  # warm-up: allocations, kernels, first encodes
    runs = []
    for streams in levels:
        result = asyncio.run(_run(tts, voice_audio, streams=streams, phrases=args.phrases))
        where = {"device": device_name(args.device), "model": model_name, "cuda_graph": tts.generator.graph}
        runs.append({"streams": streams, **result, **where})
        _print_row(runs[-1], header=len(runs) == 1)
    tts.close()
    report = {
        "benchmark": "tts",
        "voice_seconds": args.voice_seconds,
        "phrases_per_stream": args.phrases,
        "settings": asdict(tts.settings),
        "torch": torch.__version__,
        "runs": runs,
    }
    write_report(args.json, report)
    return 0


def _load(which: str, device: str, slots: int):
    from transformers import AutoTokenizer

    from model.loading import resolve
    from model.tts import HiggsTTS, TTSSettings

    settings = replace(TTSSettings(), slots=slots)
    if which == "tiny":
        tts = HiggsTTS.load(
            resolve("tiny:higgs", "TTS model"),
            resolve("tiny:audio_tokenizer", "audio tokenizer"),
            device=device,
            dtype=torch.float32,
            settings=settings,
        )
        return tts, "tiny random Higgs (hidden 64, 2 layers) + tiny codec, float32"
    from model.codec import full_size_codec
    from model.tiny import full_size_higgs

    tokenizer = AutoTokenizer.from_pretrained(resolve("tiny:higgs", "TTS model"))
    model = full_size_higgs(tokenizer, device=device, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    codec = full_size_codec().to(device)
    name = f"full-size random Higgs Audio v2 3B ({str(model.dtype).removeprefix('torch.')}) + full-size codec (fp32)"
    return HiggsTTS(model, tokenizer, codec, settings), name


async def _run(tts, voice_audio: np.ndarray, *, streams: int, phrases: int) -> dict:
    from model.voice import Voice

    steps_before = tts.generator.steps
    began = time.perf_counter()
    results = await asyncio.gather(
        *(_speak(tts, Voice(voice_audio, "This is my voice."), index, phrases) for index in range(streams))
    )
    wall = time.perf_counter() - began
    first_chunks = [ms for firsts, _, _ in results for ms in firsts]
    rtfs = [busy / audio_s for _, busy, audio_s in results]
    audio_s = sum(audio_s for _, _, audio_s in results)
    steps = tts.generator.steps - steps_before
    return {
        "first_chunk_ms_p50": statistics.median(first_chunks),
        "first_chunk_ms_p95": _percentile(first_chunks, 95),
        "rtf": max(rtfs),  # the slowest stream; below 1 means every stream is faster than real time
        "rtf_mean": statistics.fmean(rtfs),
        "steps_per_s": steps / wall,
        "audio_s_per_s": audio_s / wall,
        "wall_s": wall,
    }


async def _speak(tts, voice, index: int, phrases: int) -> tuple[list[float], float, float]:
    """One stream: each phrase is said once the previous one finished, as a talking person's would be."""
    stream = tts.open(voice, "en")
    await asyncio.to_thread(voice.codes, tts.codec)  # the session encodes its reference before it speaks
    chunks = aiter(stream)
    first_chunks, busy, audio = [], 0.0, 0
    for number in range(phrases):
        stream.say(PHRASES[(index + number) % len(PHRASES)], number)
        said = time.perf_counter()
        first = None
        while True:
            chunk = await anext(chunks)
            if first is None and len(chunk.pcm):
                first = time.perf_counter()
                first_chunks.append((first - said) * 1000)
            audio += len(chunk.pcm)
            if chunk.end is not None:
                break
        busy += time.perf_counter() - said
    stream.close()
    return first_chunks, busy, audio / tts.sample_rate


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _print_row(run: dict, header: bool) -> None:
    if header:
        print(f"model:  {run['model']}\ndevice: {run['device']}\nCUDA graph: {run['cuda_graph']}")
        print(f"{'streams':>7}  {'first chunk p50':>15}  {'p95':>8}  {'RTF (worst)':>11}  {'steps/s':>8}")
    print(
        f"{run['streams']:>7}  {run['first_chunk_ms_p50']:>12.0f} ms  {run['first_chunk_ms_p95']:>5.0f} ms"
        f"  {run['rtf']:>11.3f}  {run['steps_per_s']:>8.1f}"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
