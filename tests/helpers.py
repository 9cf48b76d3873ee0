"""Test helpers: the shared real speech, a scripted clock, and word error rate."""

from __future__ import annotations

import json
import re
from pathlib import Path

SPEECH = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech"
LONG_EN = SPEECH / "long_en_16k.wav"


def english_references() -> list[str]:
    """The five reference transcripts, in the order they are spoken in long_en_16k.wav."""
    transcripts = json.loads((SPEECH / "en" / "transcripts.json").read_text())
    return [transcripts[name] for name in sorted(transcripts)]


class ScriptedClock:
    """Time moves only when a test (or a fake stage) says so."""

    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


_NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen".split()


def normalise(text: str) -> list[str]:
    """Lower case, no punctuation, small numbers as words: the usual WER normalisation."""
    text = re.sub(r"\d+", lambda m: _NUMBERS[int(m.group())] if int(m.group()) < len(_NUMBERS) else m.group(), text)
    return re.sub(r"[^\w\s']|'(?!\w)", " ", text.lower()).replace("-", " ").split()


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    errors = words = 0
    for ref, hyp in zip(references, hypotheses, strict=True):
        r, h = normalise(ref), normalise(hyp)
        row = list(range(len(h) + 1))
        for i, rw in enumerate(r, 1):
            prev, row[0] = row[0], i
            for j, hw in enumerate(h, 1):
                prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (rw != hw))
        errors += row[-1]
        words += len(r)
    return errors / words


async def speak(tts, *phrases: str, language: str = "de", voice=None) -> list:
    """Speak `phrases` through one TTS stream and return every `model.tts.SpeechChunk` it produced."""
    stream = tts.open(voice, language)
    for phrase in phrases:
        stream.push_text(phrase)
        stream.flush()
    stream.close()
    return [chunk async for chunk in stream]
