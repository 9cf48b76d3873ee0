"""VAD benchmark: the shortest `min_silence_ms` that ends every utterance and never one inside a sentence.

`min_silence_ms` is pure added latency: the session hears that an utterance ended only that long after the voice
stopped. Each setting of `end_threshold` x `min_silence_ms` streams the shared speech through silero in 20 ms frames:
long_en_16k.wav (five readings, each followed by 1 s of silence) must give five utterances, each inside its own
reading; each single reading (the five real LibriVox ones in en/, and the four espeak sentences in synthetic/,
which say "Good morning." and a request with a pause between them) followed by 1 s of silence must give exactly one
utterance, so any more are false endpoints. The endpoint delay runs from the end of the last voiced window to the
push that returned the end event; on the synthetic clips, whose speech stops dead in digital silence, it is also
measured from the acoustic end (last 10 ms above -35 dB of the clip's peak), which adds silero's own lag.

A second table splits the five readings cut at their utterance boundaries and joined (23 s without a pause long
enough to end an utterance) for a grid of `max_utterance_ms` x `split_silence_ms`: the pieces, how many cuts came
from a pause or from the fallback, how many fell on a sentence boundary (between two readings) and how loud the
audio is where it was cut.

    python bench/vad.py --json bench/results/vad_cpu.json
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from bench import missing_speech, speech_dir

SPEECH = speech_dir()
RATE = 16000
FRAME = RATE * 20 // 1000
SILENCE = np.zeros(RATE, dtype=np.float32)
MIN_SILENCES = (200, 250, 300, 350, 375, 400, 450, 500, 600)
END_THRESHOLDS = (0.25, 0.35, 0.5)
MAX_UTTERANCES = (3000, 5000, 8000, 15000)
SPLIT_SILENCES = (100, 160, 250)
SENTENCE_END_S = 0.3  # a cut this close to the join of two readings falls on a sentence boundary


def main(argv: list[str] | None = None) -> int:
    import onnxruntime

    from bench import write_report
    from model.vad import SileroVAD, VADSettings
    from streaming.audio import read_audio

    parser = argparse.ArgumentParser(prog="s2st bench vad", description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if problem := missing_speech():
        print(f"s2st bench vad: {problem}", file=sys.stderr)
        return 2

    model, default = SileroVAD(), VADSettings()
    long_en, _ = read_audio(SPEECH / "long_en_16k.wav")
    readings = {path.name: read_audio(path)[0] for path in sorted((SPEECH / "en").glob("*.wav"))}
    synthetic = {path.name: read_audio(path)[0] for path in sorted((SPEECH / "synthetic").glob("*.wav"))}
    extents, offset = [], 0  # where each reading lies in long_en_16k.wav
    for audio in readings.values():
        extents.append((offset, offset + len(audio)))
        offset += len(audio) + len(SILENCE)

    pauses = {
        name: {str(t): _longest_pause_ms(model, audio, default.threshold, t) for t in END_THRESHOLDS}
        for name, audio in {**readings, **synthetic}.items()
    }
    print(f"longest pause inside each single reading, ms below end_threshold {'/'.join(map(str, END_THRESHOLDS))}:")
    for name, by_threshold in pauses.items():
        print(f"  {name:<48} " + " / ".join(f"{ms:>4}" for ms in by_threshold.values()))

    runs = []
    for end_threshold in END_THRESHOLDS:
        for min_silence in MIN_SILENCES:
            settings = replace(default, end_threshold=end_threshold, min_silence_ms=min_silence)
            runs.append(_endpointing(model, settings, long_en, extents, readings, synthetic))
            _print_endpointing(runs[-1], header=len(runs) == 1)
    fits = [
        run
        for run in runs
        if run["settings"]["end_threshold"] == default.end_threshold
        and run["long_en_ok"]
        and run["false_splits_real"] == run["false_splits_synthetic"] == 0
    ]
    chosen = fits[0]["settings"]["min_silence_ms"] if fits else None
    print(f"shortest min_silence_ms with five utterances and no false split at end_threshold {default.end_threshold}:")
    print(f"  {chosen} ms (VADSettings default: {default.min_silence_ms} ms)")

    continuous = _continuous(model, default, long_en)
    splits = []
    for max_utterance in MAX_UTTERANCES:
        for split_silence in SPLIT_SILENCES:
            settings = replace(default, max_utterance_ms=max_utterance, split_silence_ms=split_silence)
            splits.append(_splitting(model, settings, *continuous))
            _print_splitting(splits[-1], header=len(splits) == 1)

    timing = _timing(model, default, long_en)
    print(f"silero: {timing['ms_per_window']:.3f} ms per 32 ms window on one thread (RTF {timing['rtf']:.4f})")
    report = {
        "benchmark": "vad",
        "device": f"cpu ({platform.processor() or platform.machine()}), onnxruntime {onnxruntime.__version__}",
        "defaults": asdict(default),
        "longest_pause_ms": pauses,
        "endpointing": runs,
        "chosen_min_silence_ms": chosen,
        "splitting": splits,
        "continuous_speech_s": len(continuous[0]) / RATE,
        "timing": timing,
    }
    write_report(args.json, report)
    return 0


def _stream(model, settings, audio: np.ndarray) -> list[tuple[str, int, int]]:
    """(kind, sample, input samples pushed when the event came back) for `audio` pushed in 20 ms frames."""
    stream = model.stream(settings)
    events = []
    for at in range(0, len(audio), FRAME):
        chunk = audio[at : at + FRAME]
        events += [(e.kind, e.sample, at + len(chunk)) for e in stream.push(chunk)]
    return events + [(e.kind, e.sample, len(audio)) for e in stream.flush()]


def _pieces(events: list[tuple[str, int, int]]) -> list[tuple[int, int]]:
    return [(start[1], end[1]) for start, end in zip(events[::2], events[1::2], strict=True)]


def _endpointing(model, settings, long_en, extents, readings, synthetic) -> dict:
    pad = settings.speech_pad_ms * RATE // 1000
    delays, after_offset = [], []

    def heard(audio: np.ndarray) -> list[tuple[int, int]]:
        events = _stream(model, settings, np.concatenate([audio, SILENCE]))
        delays.extend((at - (sample - pad)) * 1000 / RATE for kind, sample, at in events if kind == "end")
        return _pieces(events)

    found = heard(long_en)
    inside = len(found) == len(extents) and all(
        lo <= start < end <= hi for (start, end), (lo, hi) in zip(found, extents, strict=True)
    )
    real = [len(heard(audio)) for audio in readings.values()]
    robotic = []
    for audio in synthetic.values():
        events = _stream(model, settings, np.concatenate([audio, SILENCE]))
        robotic.append(len(_pieces(events)))
        delays.extend((at - (sample - pad)) * 1000 / RATE for kind, sample, at in events if kind == "end")
        after_offset.append((events[-1][2] - _acoustic_end(audio)) * 1000 / RATE)
    return {
        "settings": {"end_threshold": settings.end_threshold, "min_silence_ms": settings.min_silence_ms},
        "silence_needed_ms": -(-settings.min_silence_ms * RATE // 1000 // 512) * 32,
        "long_en_utterances": len(found),
        "long_en_ok": inside,
        "false_splits_real": sum(max(0, n - 1) for n in real),
        "false_splits_synthetic": sum(max(0, n - 1) for n in robotic),
        "missed_readings": real.count(0) + robotic.count(0),
        "end_delay_ms_median": statistics.median(delays),
        "end_delay_ms_max": max(delays),
        "end_delay_after_acoustic_end_ms_median": statistics.median(after_offset),
    }


def _acoustic_end(audio: np.ndarray) -> int:
    frames = len(audio) // 160
    rms = np.sqrt(np.mean(audio[: frames * 160].reshape(frames, 160) ** 2, axis=1))
    return int((np.flatnonzero(rms > rms.max() * 10 ** (-35 / 20))[-1] + 1) * 160)


def _longest_pause_ms(model, audio: np.ndarray, threshold: float, end_threshold: float) -> int:
    """The longest run of windows below `end_threshold` between the first voiced window and the last."""
    from model.vad import CONTEXT, WINDOW

    state = np.zeros((2, 1, 128), dtype=np.float32)
    padded = np.concatenate([np.zeros(CONTEXT, dtype=np.float32), audio])
    probs = []
    for at in range(0, len(padded) - CONTEXT - WINDOW + 1, WINDOW):
        prob, state = model.probability(padded[at : at + CONTEXT + WINDOW], state)
        probs.append(prob)
    probs = np.array(probs)
    first, last = np.flatnonzero(probs >= threshold)[0], np.flatnonzero(probs >= end_threshold)[-1]
    longest = run = 0
    for prob in probs[first : last + 1]:
        run = run + 1 if prob < end_threshold else 0
        longest = max(longest, run)
    return longest * WINDOW * 1000 // RATE


def _continuous(model, settings, long_en: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """The five readings cut at their utterance boundaries and joined, and where they join."""
    pieces = _pieces(_stream(model, settings, long_en))
    joins = np.cumsum([end - start for start, end in pieces])[:-1].tolist()
    return np.concatenate([long_en[start:end] for start, end in pieces]), joins


def _splitting(model, settings, speech: np.ndarray, joins: list[int]) -> dict:
    events = _stream(model, settings, np.concatenate([speech, SILENCE]))
    pieces = _pieces(events)
    cuts = [end for _, end in pieces[:-1]]
    # The fallback ends a piece and starts the next in the same push; a pause split starts it only when voice returns.
    fallback = sum(
        1 for end, start in zip(events[1::2], events[2::2], strict=False) if end[1] == start[1] and end[2] == start[2]
    )
    level = float(np.sqrt(np.mean(speech**2)))
    cut_db = [float(20 * np.log10(np.sqrt(np.mean(speech[cut - 256 : cut + 256] ** 2)) / level)) for cut in cuts]
    return {
        "settings": {"max_utterance_ms": settings.max_utterance_ms, "split_silence_ms": settings.split_silence_ms},
        "pieces": len(pieces),
        "piece_s": [round((end - start) / RATE, 3) for start, end in pieces],
        "contiguous": all(end == start for (_, end), (start, _) in zip(pieces, pieces[1:], strict=False)),
        "cuts_at_pause": len(cuts) - fallback,
        "cuts_by_fallback": fallback,
        "cuts_at_sentence_end": sum(1 for cut in cuts if min(abs(cut - j) for j in joins) <= SENTENCE_END_S * RATE),
        "loudest_cut_db": max(cut_db, default=None),
    }


def _timing(model, settings, audio: np.ndarray) -> dict:
    began = time.perf_counter()
    _stream(model, settings, audio)
    seconds = time.perf_counter() - began
    windows = len(audio) // 512
    return {"ms_per_window": seconds * 1000 / windows, "rtf": seconds / (len(audio) / RATE), "threads": 1}


def _print_endpointing(run: dict, header: bool) -> None:
    if header:
        print(
            f"{'end thr':>7} {'min sil':>7} {'needs':>5} {'long_en':>7} {'inside':>6} {'false real':>10}"
            f" {'false synth':>11} {'delay p50':>9} {'max':>5} {'after offset':>12}"
        )
    s = run["settings"]
    print(
        f"{s['end_threshold']:>7} {s['min_silence_ms']:>7} {run['silence_needed_ms']:>5} {run['long_en_utterances']:>7}"
        f" {'yes' if run['long_en_ok'] else 'no':>6} {run['false_splits_real']:>10} {run['false_splits_synthetic']:>11}"
        f" {run['end_delay_ms_median']:>9.0f} {run['end_delay_ms_max']:>5.0f}"
        f" {run['end_delay_after_acoustic_end_ms_median']:>12.0f}",
        flush=True,
    )


def _print_splitting(run: dict, header: bool) -> None:
    if header:
        print(
            f"{'max ms':>6} {'split ms':>8} {'pieces':>6} {'longest s':>9} {'pause':>5} {'fallback':>8}"
            f" {'at sentence end':>15} {'loudest cut dB':>14}"
        )
    s = run["settings"]
    loudest = "-" if run["loudest_cut_db"] is None else f"{run['loudest_cut_db']:.1f}"
    print(
        f"{s['max_utterance_ms']:>6} {s['split_silence_ms']:>8} {run['pieces']:>6} {max(run['piece_s']):>9.1f}"
        f" {run['cuts_at_pause']:>5} {run['cuts_by_fallback']:>8} {run['cuts_at_sentence_end']:>15} {loudest:>14}",
        flush=True,
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
