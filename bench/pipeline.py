"""Pipeline benchmark: time to first audio (TTFA) and each hop of it, with the translator streaming its pieces into
the phrase splitter (`translator.streaming: true`) and without (phrases only after the whole translation).

(a) real: in-process Sessions of the tiny profile (Kokoro int8, tiny random translator, whisper tiny.en) on this
machine, fed the held speech at microphone pace in 20 ms frames, 1 and 8 sessions at once.
(b) simulated: the same Session code on a virtual clock, the model stages replaced by fakes whose costs are
calibrated to published H100 figures (bench/simulation.py, `CALIBRATION`), 1, 16 and 32 sessions, for the
translator behind a continuous-batching server (`remote`) or generate() behind a lock (`local`), and with the ASR
decodes batched across sessions, finals first (`asr_batched`). Every simulated figure is a projection, not a
measurement.

Hops are the `Metrics` event's figures, all ms from the end of speech except the per-stage ones (docs/latency.md);
a figure missing from the events shows as "-".

    python bench/pipeline.py --json bench/results/pipeline.json
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench import missing_speech, percentile, speech_dir

RATE = 16000
FRAME = RATE * 20 // 1000  # 20 ms, as a live transport delivers it
HOPS = (
    "vad_end_ms",
    "asr_final_ms",
    "first_token_ms",
    "first_phrase_ms",
    "first_pcm_ms",
    "asr_ms",
    "translate_ms",
    "tts_first_chunk_ms",
)
SIMULATED_SESSIONS = (1, 16, 32)
REAL_SESSIONS = (1, 8)
SPREAD_S = 6.0  # sessions start evenly over about one utterance, so their utterances end at different moments
REAL_STAGGER_S = 0.25
VARIANTS = {  # name: changes to simulation.Costs; the first is the one the top-level figures show
    "remote": {},
    "local": {"llm_engine": "local"},
    "remote_asr_batched": {"asr_batching": True},
    "remote_openings_first": {"tts_openings_first": True},
}
GOAL = {"sessions": 16, "p50": 600.0, "p95": 900.0}


def held_speech(readings: int | None = None) -> tuple[np.ndarray, list[str]]:
    """The held speech and its transcripts in order: long_en_16k.wav (its five readings) then four of the readings
    again, each followed by 1 s of silence (about 55 s, as bench/load.py streams); or only the first `readings`."""
    from streaming.audio import read_audio

    speech = speech_dir()
    transcripts = json.loads((speech / "en" / "transcripts.json").read_text())
    names = sorted(transcripts)
    silence = np.zeros(RATE, np.float32)
    if readings is not None:
        pieces = [p for name in names[:readings] for p in (read_audio(speech / "en" / name)[0], silence)]
        return np.concatenate(pieces), [transcripts[name] for name in names[:readings]]
    pieces = [read_audio(speech / "long_en_16k.wav")[0]]
    for name in names[:4]:
        pieces += [read_audio(speech / "en" / name)[0], silence]
    return np.concatenate(pieces), [transcripts[name] for name in names + names[:4]]


async def run_sessions(
    models_for: Callable[[int], object],
    audio: np.ndarray,
    sessions: int,
    clock,
    *,
    stagger_s: float,  # noqa: ANN001
) -> tuple[list[dict[str, float]], list[str]]:
    """Stream `audio` into `sessions` Sessions at once, each at the pace of speech from its own start; every
    utterance's Metrics figures and every error message."""
    from agent.session import Session
    from streaming.events import Error, Metrics

    async def one(index: int) -> tuple[list[dict[str, float]], list[str]]:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(index * stagger_s)
        session = Session(models_for(index), source_language="en", target_language="de", clock=clock)
        session.start()
        figures, errors = [], []

        async def collect() -> None:
            async for event in session.events():
                if isinstance(event, Metrics):
                    figures.append(event.figures)
                elif isinstance(event, Error):
                    errors.append(f"{event.code}: {event.message}")

        collector = asyncio.create_task(collect())
        began = loop.time()
        for number, start in enumerate(range(0, len(audio), FRAME)):
            delay = began + (number + 1) * FRAME / RATE - loop.time()  # a microphone hands a frame over once spoken
            if delay > 0:
                await asyncio.sleep(delay)
            session.push(audio[start : start + FRAME])
        session.end_input()
        await collector
        await session.close()
        return figures, errors

    results = await asyncio.gather(*(one(index) for index in range(sessions)))
    return [f for figures, _ in results for f in figures], [e for _, errors in results for e in errors]


def summary(figures: list[dict[str, float]]) -> dict:
    """TTFA and each hop's p50/p95 over the utterances; None for a figure no event carried."""

    def pair(key: str) -> dict[str, float] | None:
        values = [f[key] for f in figures if key in f]
        return {"p50": percentile(values, 50, 1), "p95": percentile(values, 95, 1)} if values else None

    return {"utterances": len(figures), "ttfa_ms": pair("ttfa_ms"), "hops": {hop: pair(hop) for hop in HOPS}}


def both_paths(run: Callable[[object], dict], base) -> dict:  # noqa: ANN001 - TranslationSettings
    """`run` with streaming on (the top level) and off (`before`)."""
    result = run(dataclasses.replace(base, streaming=True))
    result["before"] = run(dataclasses.replace(base, streaming=False))
    return result


def simulated(sessions_list: tuple[int, ...], audio: np.ndarray, texts: list[str]) -> dict:
    from agent.translation import TranslationSettings
    from bench.calibration import CALIBRATION, Costs
    from bench.replay import ReplayVAD
    from model.vad import SileroVAD, VADSettings

    replay = ReplayVAD.record(SileroVAD(), VADSettings(), audio, FRAME)
    utterances = replay.utterances(texts)
    report: dict = {"speech_s": round(len(audio) / RATE, 1), "utterances_per_session": len(utterances)}
    for sessions in sessions_list:
        entry: dict = {}
        for name, changes in VARIANTS.items():
            costs = Costs(**changes)

            def run(settings, costs=costs, sessions=sessions) -> dict:  # noqa: ANN001
                return _simulate(sessions, settings, costs, replay, utterances, audio)

            entry[name] = both_paths(run, TranslationSettings())
        report[str(sessions)] = {**entry[next(iter(VARIANTS))], "variants": entry}
    report["calibration"] = CALIBRATION
    report["costs"] = dataclasses.asdict(Costs())
    return report


def _simulate(sessions: int, settings, costs, replay, utterances, audio: np.ndarray) -> dict:  # noqa: ANN001
    from agent.models import Models
    from bench.simulation import (
        BatchQueue,
        HiggsModel,
        LLMEngine,
        SimASR,
        SimTranslator,
        SimTTS,
        VirtualClock,
        VirtualLoop,
    )
    from model.vad import VADSettings

    loop = VirtualLoop()

    async def main() -> dict:
        asr = BatchQueue(loop, costs.asr_batch, costs.asr_batching, costs.asr_workers)
        engine, higgs = LLMEngine(loop, costs), HiggsModel(loop, costs)
        shared = {f.name: f.default_factory() for f in dataclasses.fields(Models) if f.name == "partials"}

        def models_for(index: int) -> Models:
            return Models(
                vad=replay,
                vad_settings=VADSettings(),
                asr=SimASR(asr, index, utterances, audio),
                translator=SimTranslator(engine, index),
                tts=SimTTS(higgs, costs, index),
                translation=settings,
                **shared,  # what every session of a process shares (the partial ASR budget, where there is one)
            )

        figures, errors = await run_sessions(
            models_for, audio, sessions, VirtualClock(loop), stagger_s=SPREAD_S / sessions
        )
        result = summary(figures)
        result["errors"] = errors[:3]
        result["asr_batch_mean"] = round(float(np.mean(asr.batches)), 2) if asr.batches else None
        result["translator_batch_mean"] = round(float(np.mean(engine.steps)), 2) if engine.steps else None
        result["tts_active_mean"] = round(float(np.mean(higgs.steps)), 2) if higgs.steps else None
        return result

    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        return runner.run(main())


def real(profile: str, sessions_list: tuple[int, ...]) -> dict:
    from agent.clock import MonotonicClock
    from agent.config import load_config
    from agent.models import load_models

    models = load_models(load_config(profile))
    _warm_up(models)
    report: dict = {}
    for sessions in sessions_list:
        readings = None if sessions == 1 else 2  # many sessions on two cores fall far behind: a shorter stream
        audio, _ = held_speech(readings)

        def run(settings, sessions=sessions, audio=audio) -> dict:  # noqa: ANN001
            shared = dataclasses.replace(models, translation=settings)
            began = time.monotonic()
            figures, errors = asyncio.run(
                run_sessions(lambda _: shared, audio, sessions, MonotonicClock(), stagger_s=REAL_STAGGER_S)
            )
            result = summary(figures)
            result["errors"] = errors[:3]
            result["wall_s"] = round(time.monotonic() - began, 1)
            return result

        streamed = "long_en_16k.wav + 4 readings" if readings is None else f"the first {readings} readings"
        report[str(sessions)] = {"speech": streamed, "speech_s": round(len(audio) / RATE, 1)}
        report[str(sessions)] |= both_paths(run, models.translation)
    return report


def _warm_up(models) -> None:  # noqa: ANN001 - Models
    """The first call of each model allocates; keep that out of the first utterance's figures."""
    models.asr.transcribe(np.zeros(RATE, np.float32), "en")
    models.translator.translate("Hello there.", "English", "German")
    tts = models.tts
    if hasattr(tts, "synthesize"):
        tts.synthesize(tts.pieces("Hallo.", "de")[0], tts.voices[0])


def print_table(title: str, part: dict, keys: list[str]) -> None:
    print(f"\n{title}")
    hops = [hop.removesuffix("_ms") for hop in HOPS]
    print(f"{'sessions':>8} {'path':<34} {'utts':>4} {'TTFA p50/p95':>13} " + " ".join(f"{h:>14}" for h in hops))

    def pair(figure: dict | None) -> str:
        return "-" if figure is None else f"{figure['p50']:.0f}/{figure['p95']:.0f}"

    for key in keys:
        for label, row in _rows(part[key]):
            cells = " ".join(f"{pair(row['hops'][hop]):>14}" for hop in HOPS)
            print(f"{key:>8} {label:<34} {row['utterances']:>4} {pair(row['ttfa_ms']):>13} {cells}")


def _rows(entry: dict) -> list[tuple[str, dict]]:
    variants = entry.get("variants") or {"": entry}
    rows = []
    for name, row in variants.items():
        rows += [(f"{name} streaming".strip(), row), (f"{name} whole".strip(), row["before"])]
    return rows


def main(argv: list[str] | None = None) -> int:
    from bench import device_name, write_report

    parser = argparse.ArgumentParser(prog="s2st bench pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("real", "simulated", "both"), default="both")
    parser.add_argument("--profile", default="tiny", help="profile of the real part (default: tiny)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if problem := missing_speech():
        print(f"s2st bench pipeline: {problem}", file=sys.stderr)
        return 2
    report: dict = {"benchmark": "pipeline", "profile": args.profile, "device": device_name("cpu")}
    if args.part in ("simulated", "both"):
        audio, texts = held_speech()
        began = time.monotonic()
        report["simulated"] = simulated(SIMULATED_SESSIONS, audio, texts)
        report["simulated"]["device"] = "simulated H100 SXM (figures are projections, see calibration)"
        report["simulated"]["wall_s"] = round(time.monotonic() - began, 1)
        print_table(
            "SIMULATED on a virtual H100 (projections)", report["simulated"], list(map(str, SIMULATED_SESSIONS))
        )
        _print_goal(report["simulated"])
    if args.part in ("real", "both"):
        report["real"] = real(args.profile, REAL_SESSIONS)
        print_table(f"REAL: profile {args.profile}, {report['device']}", report["real"], list(map(str, REAL_SESSIONS)))
        for key, entry in report["real"].items():
            print(f"{key} sessions: streamed {entry['speech']} ({entry['speech_s']} s), wall {entry['wall_s']} s")
    write_report(args.json, report)
    return 0


def _print_goal(part: dict) -> None:
    entry = part.get(str(GOAL["sessions"]))
    if entry and entry["ttfa_ms"]:
        ttfa = entry["ttfa_ms"]
        met = ttfa["p50"] <= GOAL["p50"] and ttfa["p95"] <= GOAL["p95"]
        print(
            f"goal at {GOAL['sessions']} sessions (TTFA p50 <= {GOAL['p50']:.0f}, p95 <= {GOAL['p95']:.0f} ms): "
            f"{'met' if met else 'missed'} ({ttfa['p50']:.0f}/{ttfa['p95']:.0f} ms, {next(iter(VARIANTS))})"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
