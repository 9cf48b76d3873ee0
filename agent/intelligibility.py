"""`s2st eval intelligibility`: does the profile's TTS say what it is given? It speaks each sentence, the profile's
own ASR writes down what it heard, and the word error rate between the two says how intelligible the speech is.

The same speaking path serves `s2st speak`: phrases cut by the splitter, said through one stream of the backend.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from agent.text import PhraseSplitter
from agent.wer import word_error_rate
from model.asr import WhisperASR
from model.loading import ModelError
from model.speech import FAILED, SpeechBackend
from streaming.audio import resample
from streaming.vocabulary import SESSION_RATE

# Everyday sentences of the kind a call centre hears, with numbers, times and names the normaliser must spell out.
ENGLISH_SENTENCES = (
    "Good morning, thank you for calling. How can I help you today?",
    "I would like to change my flight to Friday afternoon.",
    "The meeting starts at half past nine in the small room on the second floor.",
    "Could you please spell your last name for me?",
    "Your order has been shipped and should arrive within three days.",
    "We are open every day from eight in the morning until six in the evening.",
    "Please hold the line while I check the details of your account.",
    "The train to the airport leaves from platform four every twenty minutes.",
    "My daughter has a doctor's appointment next Tuesday at eleven.",
    "Thank you very much for your patience, and have a wonderful weekend.",
)


@dataclass(frozen=True)
class Spoken:
    """One sentence: what was said, what the ASR heard, and how the speech was made."""

    text: str
    heard: str
    seconds: float  # of speech
    first_pcm_ms: float  # from handing the text over to its first PCM
    rtf: float  # compute seconds per second of speech
    wer: float


async def speak_text(tts: SpeechBackend, voice: object, language: str, text: str) -> tuple[np.ndarray, float]:
    """The text's speech, phrase by phrase through one stream, and how many seconds its first PCM took."""
    began = time.monotonic()
    stream = tts.open(voice, language)
    splitter = PhraseSplitter(language)
    for phrase in [*splitter.push(text), *splitter.flush()]:
        stream.say(phrase, None)
    stream.close()
    pcm, first_s = [], None
    async for chunk in stream:
        if chunk.end == FAILED:
            await stream.aclose()
            raise ModelError(f"the {tts.name} TTS could not speak {chunk.text!r}: {chunk.error}")
        if len(chunk.pcm) and first_s is None:
            first_s = time.monotonic() - began
        pcm.append(chunk.pcm)
    return np.concatenate(pcm) if pcm else np.zeros(0, np.float32), first_s or 0.0


async def evaluate(
    tts: SpeechBackend, voice: object, asr: WhisperASR, language: str, sentences: tuple[str, ...]
) -> list[Spoken]:
    """Speak and transcribe each sentence in turn (one at a time, so the timings are the TTS's alone)."""
    rows = []
    for text in sentences:
        began = time.monotonic()
        audio, first_s = await speak_text(tts, voice, language, text)
        took_s, seconds = time.monotonic() - began, len(audio) / tts.sample_rate
        heard = asr.transcribe(resample(audio, tts.sample_rate, SESSION_RATE), language).text
        rtf = took_s / seconds if seconds else 0.0
        rows.append(Spoken(text, heard, seconds, first_s * 1000, rtf, word_error_rate([text], [heard])))
    return rows


def report(rows: list[Spoken], *, profile: str, backend: str, voice: object, language: str) -> dict:
    """The figures as JSON: per sentence, and overall (WER over all words; medians of the timings)."""
    return {
        "profile": profile,
        "backend": backend,
        "voice": voice if isinstance(voice, str) else None,
        "language": language,
        "wer": word_error_rate([row.text for row in rows], [row.heard for row in rows]),
        "first_pcm_ms_p50": statistics.median(row.first_pcm_ms for row in rows),
        "rtf_p50": statistics.median(row.rtf for row in rows),
        "sentences": [asdict(row) for row in rows],
    }


def table(figures: dict) -> str:
    lines = [f"{'#':>2} {'speech s':>8} {'first PCM ms':>12} {'RTF':>5} {'WER %':>6}  heard"]
    for index, row in enumerate(figures["sentences"], 1):
        lines.append(
            f"{index:>2} {row['seconds']:>8.1f} {row['first_pcm_ms']:>12.0f} {row['rtf']:>5.2f} "
            f"{row['wer'] * 100:>6.1f}  {row['heard']}"
        )
    lines.append(
        f"overall WER {figures['wer'] * 100:.1f} %, first PCM p50 {figures['first_pcm_ms_p50']:.0f} ms, "
        f"RTF p50 {figures['rtf_p50']:.2f} ({figures['backend']}, voice {figures['voice']}, {figures['language']})"
    )
    return "\n".join(lines)


def write(path: Path, figures: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
