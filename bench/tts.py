"""TTS benchmark: Kokoro and Higgs on the same phrases, first PCM, RTF and how many realtime streams a machine holds.

Each backend speaks the same phrases (English, German, Mandarin: Kokoro has no Korean) through its `SpeechStream`s,
N streams at once for N = 1, 2, 3, 4, 6, ... until a level is no longer realtime. A stream speaks its language's
phrases back to back (the next phrase is said as soon as the previous one's last chunk arrives, as for a speaker
who keeps talking), and a listener plays its chunks in order from the first one on, in real time. The stream is
realtime when no later chunk arrives after the playback of what came before has run dry (no underrun).

Kokoro runs its packaged int8 weights; Higgs runs the tiny random models (`--model tiny`, on the CPU) or Higgs Audio
v2 at full size with random weights (`--model full`, bf16 on a GPU), which costs the compute of the real checkpoint.

    python bench/tts.py --json bench/results/tts_cpu_tiny.json
    python bench/tts.py --backends higgs --model full --device cuda --json bench/results/tts_h100_full.json
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

LANGUAGES = ("en", "de", "zh")  # the languages both backends speak; Kokoro refuses Korean
# Session-sized phrases (64-90 characters, about 4-6 s of speech): long enough that Kokoro speaks each in pieces.
PHRASES = {
    "en": (
        "The meeting starts at nine o'clock tomorrow morning, so please do not be late.",
        "Could you please send me the documents by email before the end of the day?",
        "We have to finish the quarterly report before Friday, and the figures are still missing.",
    ),
    "de": (
        "Die Besprechung beginnt morgen früh um neun Uhr, also kommen Sie bitte pünktlich.",
        "Könnten Sie mir die Unterlagen bitte bis heute Abend per E-Mail schicken?",
        "Wir müssen den Quartalsbericht vor Freitag fertigstellen, aber die Zahlen fehlen noch.",
    ),
    "zh": (
        "会议明天早上九点开始，请大家不要迟到。",
        "你能在今天下班之前把文件发到我的邮箱吗？",
        "我们需要在星期五之前完成季度报告，但是数据还没有到。",
    ),
}
RAMP = "1,2,3,4,6,8,12,16"
CRITERION = (
    "each stream says its phrases back to back (the next as soon as the previous one's last chunk arrives); a "
    "listener plays its chunks in order from the first one on in real time; a stream is realtime when no later "
    "chunk arrives after the playback before it has run dry; realtime_streams is the largest level run at which "
    "every stream is realtime, the ramp stopping at the first level that is not"
)


@dataclass
class Backend:
    """A loaded TTS with what the benchmark says of it; Higgs streams speak in a cloned voice, Kokoro in its own."""

    tts: object
    model: str
    device: str
    voice: object = None
    extra: dict = field(default_factory=dict)
    steps: Callable[[], int] | None = None  # Higgs' decode steps so far, for its steps per second


@dataclass
class Spoken:
    """One stream's record: first-PCM latencies (ms), busy seconds, seconds of speech, chunks as (arrival, s)."""

    first_pcm_ms: list[float]
    busy_s: float
    audio_s: float
    chunks: list[tuple[float, float]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="s2st bench tts", description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="kokoro,higgs", help="comma-separated, in the order run")
    parser.add_argument("--model", choices=("tiny", "full"), default="tiny", help="the Higgs model's size")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="Higgs' device")
    parser.add_argument("--streams", default=RAMP, help="comma-separated concurrency levels, ramped in order")
    parser.add_argument("--phrases", type=int, default=3, help="phrases each stream speaks at each level")
    parser.add_argument("--voice-seconds", type=float, default=10.0, help="length of Higgs' voice reference")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    from bench import device_name, write_report

    names = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = sorted(set(names) - {"kokoro", "higgs"})
    if unknown or not names:
        parser.error(f"--backends {args.backends}: choose among kokoro and higgs, such as --backends kokoro,higgs")
    levels = [int(level) for level in args.streams.split(",")]
    # Random weights never end a phrase, so every Higgs phrase meets the babbling guard: expected here, not news.
    logging.getLogger("model.tts").setLevel(logging.ERROR)
    load_before = os.getloadavg()
    backends = {}
    for name in names:
        backend = _kokoro() if name == "kokoro" else _higgs(args.model, args.device, max(levels), args.voice_seconds)
        backends[name] = _ramp(name, backend, levels, args.phrases)
        backend.tts.close()
    report = {
        "benchmark": "tts",
        "phrases": [{"language": language, "text": text} for language in LANGUAGES for text in PHRASES[language]],
        "phrases_per_stream": args.phrases,
        "stream_languages": (
            "stream i speaks the phrases of en, de, zh for i mod 3 = 0, 1, 2, starting at the (i // 3)-th of them"
        ),
        "criterion": CRITERION,
        "backends": backends,
        "device": device_name("cpu" if names == ["kokoro"] else args.device),
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(value, 2) for value in load_before],
        "torch": torch.__version__,
    }
    write_report(args.json, report)
    return 0


def _kokoro() -> Backend:
    from model.kokoro import MODEL_FILE, KokoroTTS, packaged_weights

    tts = KokoroTTS.load(*packaged_weights())
    threads = tts.kokoro.sess.get_session_options().intra_op_num_threads
    return Backend(
        tts,
        model=f"Kokoro-82M v1.0 int8 ONNX ({MODEL_FILE}, packaged), voice {tts.voices[0]}",
        device=f"cpu (onnxruntime, intra-op threads {threads or 'default'}, one worker thread per process)",
    )


def _higgs(which: str, device: str, slots: int, voice_seconds: float) -> Backend:
    from bench import device_name
    from model.tts import HiggsTTS, TTSSettings
    from model.voice import Voice

    settings = replace(TTSSettings(), slots=slots)
    if which == "tiny":
        from model.loading import resolve

        tts = HiggsTTS.load(
            resolve("tiny:higgs", "TTS model"),
            resolve("tiny:audio_tokenizer", "audio tokenizer"),
            device=device,
            dtype=torch.float32,
            settings=settings,
        )
        name = "tiny random Higgs (hidden 64, 2 layers) + tiny codec, float32"
    else:
        tts, name = _full_higgs(device, settings)
    audio = (np.random.default_rng(0).standard_normal(int(24000 * voice_seconds)) * 0.1).astype(np.float32)
    voice = Voice(audio, "This is my voice.")
    voice.codes(tts.codec)  # a session encodes its reference before it speaks
    extra = {"voice_seconds": voice_seconds, "settings": asdict(tts.settings), "cuda_graph": tts.generator.graph}
    return Backend(
        tts, model=name, device=device_name(device), voice=voice, extra=extra, steps=lambda: tts.generator.steps
    )


def _full_higgs(device: str, settings) -> tuple[object, str]:
    from transformers import AutoTokenizer

    from model.codec import full_size_codec
    from model.loading import resolve
    from model.tiny import full_size_higgs
    from model.tts import HiggsTTS

    tokenizer = AutoTokenizer.from_pretrained(resolve("tiny:higgs", "TTS model"))
    model = full_size_higgs(tokenizer, device=device, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    codec = full_size_codec().to(device)
    name = f"full-size random Higgs Audio v2 3B ({str(model.dtype).removeprefix('torch.')}) + full-size codec (fp32)"
    return HiggsTTS(model, tokenizer, codec, settings), name


def _ramp(name: str, backend: Backend, levels: list[int], phrases: int) -> dict:
    """Every level in turn until one is not realtime; the warm-up speaks one phrase in each language first."""
    asyncio.run(_level(backend, streams=len(LANGUAGES), phrases=1))
    runs = []
    for streams in levels:
        runs.append({"streams": streams, **asyncio.run(_level(backend, streams=streams, phrases=phrases))})
        _print_row(name, backend, runs[-1], header=len(runs) == 1)
        if not runs[-1]["realtime"]:
            break
    return {
        "model": backend.model,
        "device": backend.device,
        **backend.extra,
        "runs": runs,
        "realtime_streams": realtime_streams(runs),
    }


async def _level(backend: Backend, *, streams: int, phrases: int) -> dict:
    steps = backend.steps() if backend.steps else 0
    began, cpu_began, machine_began = time.perf_counter(), time.process_time(), _machine_busy_s()
    spoken = await asyncio.gather(*(_speak(backend, index, phrases) for index in range(streams)))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    figures = {**summarize(spoken, wall, cpu), "other_cores_busy": None}
    if machine_began is not None:
        figures["other_cores_busy"] = (_machine_busy_s() - machine_began - cpu) / wall
    if backend.steps:
        figures["steps_per_s"] = (backend.steps() - steps) / wall
    return figures


def _machine_busy_s() -> float | None:
    """CPU seconds every process on the machine has spent (Linux's /proc/stat), to tell how much others took."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


async def _speak(backend: Backend, index: int, phrases: int) -> Spoken:
    """One stream, as a session whose speaker keeps talking: each phrase is said once the previous one is made."""
    language = LANGUAGES[index % len(LANGUAGES)]
    texts = PHRASES[language]
    stream = backend.tts.open(backend.voice, language)
    chunks_in = aiter(stream)
    first_pcm_ms, chunks, busy = [], [], 0.0
    for number in range(phrases):
        stream.say(texts[(index // len(LANGUAGES) + number) % len(texts)], number)
        said = time.perf_counter()
        first = True
        while True:
            chunk = await anext(chunks_in)
            arrived = time.perf_counter()
            if len(chunk.pcm):
                if first:
                    first_pcm_ms.append((arrived - said) * 1000)
                    first = False
                chunks.append((arrived, len(chunk.pcm) / chunk.sample_rate))
            if chunk.end is not None:
                if chunk.error:
                    raise RuntimeError(f"{backend.tts.name} failed to speak a phrase: {chunk.error}")
                break
        busy += time.perf_counter() - said
    await stream.aclose()
    return Spoken(first_pcm_ms, busy, sum(seconds for _, seconds in chunks), chunks)


def underruns(chunks: list[tuple[float, float]]) -> list[float]:
    """The gaps (s) a listener hears in a stream whose chunks, (arrival time, seconds of speech) in order, are
    played from the first one's arrival on in real time; a late chunk plays from its arrival."""
    gaps, dry = [], None  # dry: when the playback of the chunks so far runs out
    for arrival, seconds in chunks:
        if dry is not None and arrival > dry:
            gaps.append(arrival - dry)
        dry = (arrival if dry is None else max(dry, arrival)) + seconds
    return gaps


def summarize(spoken: list[Spoken], wall_s: float, cpu_s: float) -> dict:
    """One level's figures from its streams' records."""
    from bench import percentile

    firsts = [ms for stream in spoken for ms in stream.first_pcm_ms]
    rtfs = [stream.busy_s / stream.audio_s for stream in spoken]
    gaps = [gap for stream in spoken for gap in underruns(stream.chunks)]
    return {
        "first_pcm_ms": {"p50": percentile(firsts, 50), "p95": percentile(firsts, 95)},
        "rtf": max(rtfs),  # the slowest stream's busy seconds per second of speech
        "rtf_mean": statistics.fmean(rtfs),
        "audio_s_per_s": sum(stream.audio_s for stream in spoken) / wall_s,
        "underruns": len(gaps),
        "underrun_ms": sum(gaps) * 1000,
        "realtime": not gaps,
        "cpu_cores_busy": cpu_s / wall_s,  # process CPU seconds per wall second: how many cores the run kept busy
        "wall_s": wall_s,
    }


def realtime_streams(runs: list[dict]) -> int:
    """The largest level of the ramp below which (and at which) every level was realtime; 0 if the first was not."""
    held = 0
    for run in runs:
        if not run["realtime"]:
            break
        held = run["streams"]
    return held


def _print_row(name: str, backend: Backend, run: dict, header: bool) -> None:
    if header:
        print(f"\n{name}: {backend.model}\ndevice: {backend.device}")
        if "cuda_graph" in backend.extra:
            print(f"CUDA graph: {backend.extra['cuda_graph']}")
        print(
            f"{'streams':>7}  {'first PCM p50':>13}  {'p95':>8}  {'RTF worst':>9}  {'mean':>5}  {'speech s/s':>10}"
            f"  {'underruns':>9}  {'gaps':>7}  {'cores busy':>10}  {'others':>6}  realtime"
        )
    first = run["first_pcm_ms"]
    print(
        f"{run['streams']:>7}  {first['p50']:>10.0f} ms  {first['p95']:>5.0f} ms  {run['rtf']:>9.2f}"
        f"  {run['rtf_mean']:>5.2f}  {run['audio_s_per_s']:>10.2f}"
        f"  {run['underruns']:>9}  {run['underrun_ms']:>4.0f} ms"
        f"  {run['cpu_cores_busy']:>10.2f}  {_cores(run['other_cores_busy']):>6}  {'yes' if run['realtime'] else 'no'}"
    )


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
