"""Stream an audio file to an s2st server in real time; save the translated speech and the captions.

    python -m clients.python.stream_file talk.wav --to de -o talk_de.wav --captions talk_de.json

Standalone on purpose: it needs only websockets, numpy, soundfile and soxr, so it can be copied out
of the repository and used as a reference client for the native WebSocket protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidHandshake, InvalidStatus, InvalidURI

DEFAULT_URL = "ws://127.0.0.1:8765/v1/stream"
INPUT_RATES = (8000, 16000, 24000, 48000)
OUTPUT_RATE = 24000  # the rate Higgs speaks at, so the server need not resample
FRAME_MS = 20
GAP_S = 0.3  # silence between two utterances in the laid-out WAV
SOURCE_LANGUAGES = ("auto", "en", "zh", "de", "ko")
TARGET_LANGUAGES = ("en", "zh", "de", "ko")
MODES = ("consecutive", "simultaneous")


class StreamError(Exception):
    """Why a run cannot go on (unreadable input, no connection, a protocol mismatch); the message names the fix."""


@dataclass
class StreamResult:
    """Everything one session sent back, keyed by utterance id where the protocol has one."""

    sample_rate: int = OUTPUT_RATE
    session_id: str | None = None
    messages: list[dict] = field(default_factory=list)
    transcripts: list[dict] = field(default_factory=list)
    translations: list[dict] = field(default_factory=list)
    audio: dict[int, np.ndarray] = field(default_factory=dict)
    metrics: dict[int, dict] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    # in a room: the other participant's utterances, whose translated speech this client heard, and their figures
    other_metrics: dict[int, dict] = field(default_factory=dict)

    @property
    def fatal_error(self) -> dict | None:
        return next((e for e in self.errors if e.get("fatal")), None)

    def _utterance_ids(self) -> list[int]:
        """Ids in the order the server first spoke of them, so the output follows the conversation."""
        seen: dict[int, None] = {}
        for message in self.messages:
            if message.get("type") in ("transcript", "translation", "audio.start") and "utterance_id" in message:
                seen.setdefault(message["utterance_id"], None)
        return list(seen)

    def lay_out(self) -> tuple[np.ndarray, list[dict]]:
        """One WAV's samples (utterances back to back, GAP_S apart) and a caption per utterance.

        An utterance the server never voiced keeps its caption with `audio_start_s`/`audio_end_s` null.
        """
        transcripts = {t["utterance_id"]: t for t in self.transcripts}
        translations = {t["utterance_id"]: t for t in self.translations}
        pieces: list[np.ndarray] = []
        captions: list[dict] = []
        cursor = 0
        for uid in self._utterance_ids():
            source, target = transcripts.get(uid, {}), translations.get(uid, {})
            caption = {
                "utterance_id": uid,
                "source_language": source.get("language"),
                "source_text": source.get("text", ""),
                "target_language": target.get("language"),
                "target_text": target.get("text", ""),
                "audio_start_s": None,
                "audio_end_s": None,
            }
            speech = self.audio.get(uid)
            if speech is not None and len(speech):
                if pieces:
                    gap = round(GAP_S * self.sample_rate)
                    pieces.append(np.zeros(gap, dtype=np.float32))
                    cursor += gap
                pieces.append(speech)
                caption["audio_start_s"] = round(cursor / self.sample_rate, 3)
                cursor += len(speech)
                caption["audio_end_s"] = round(cursor / self.sample_rate, 3)
            captions.append(caption)
        audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        return audio, captions


async def stream_file(
    url: str,
    audio: np.ndarray,
    sample_rate: int,
    *,
    target: str,
    source: str = "auto",
    mode: str | None = None,
    token: str | None = None,
    realtime: bool = True,
    voice_reference: tuple[bytes, str] | None = None,
    on_message: Callable[[dict], None] | None = None,
    frame_ms: int = FRAME_MS,
    room: str | None = None,
) -> StreamResult:
    """Run one session: send `audio` (float32 mono at `sample_rate`) while receiving, until the server closes.

    `voice_reference` is (WAV file bytes, its transcript) for the voice to speak in; `on_message` sees every
    JSON message as it arrives (live captions); `frame_ms` is the audio per binary message. With `room`, the
    session joins that two-party room and the audio is sent once the other participant is in; the audio then
    received is theirs, and `transcripts`, `translations` and `metrics` hold this client's own. A fatal `error`
    from the server stops the sending and ends the session; it is in `result.errors`, not raised. Raises
    StreamError when the connection fails.
    """
    if sample_rate not in INPUT_RATES:
        raise ValueError(f"sample rate {sample_rate} Hz is not one the server takes; resample to one of {INPUT_RATES}.")
    start = {
        "type": "session.start",
        "source_language": source,
        "target_language": target,
        "input_audio": {"encoding": "pcm_s16le", "sample_rate": sample_rate},
        "output_audio": {"encoding": "pcm_s16le", "sample_rate": OUTPUT_RATE},
        **({"mode": mode} if mode is not None else {}),
        "voice": "clone",
        **({"room": room} if room is not None else {}),
    }
    headers = {"Authorization": f"Bearer {token}"} if token else None
    result = StreamResult()
    try:
        async with connect(url, additional_headers=headers) as ws:
            await ws.send(json.dumps(start))
            if voice_reference is not None:
                wav, transcript = voice_reference
                reference = {"audio": base64.b64encode(wav).decode("ascii"), "transcript": transcript}
                await ws.send(json.dumps({"type": "voice.reference", **reference}))
            joined = asyncio.Event()
            if room is None:
                joined.set()
            sender = asyncio.create_task(_send_audio(ws, _pcm16(audio), sample_rate, realtime, frame_ms, joined))
            try:
                await _receive(ws, url, result, sender, on_message, joined)
            finally:
                sender.cancel()
                await asyncio.wait([sender])
            if not sender.cancelled() and sender.exception() is not None:
                raise sender.exception()
    except InvalidURI as exc:
        raise StreamError(f"{url} is not a WebSocket URL; give one like {DEFAULT_URL}.") from exc
    except InvalidStatus as exc:
        status = exc.response.status_code
        fix = (
            "wrong or missing token? Pass --token or set S2ST_TOKEN to the server's token."
            if status in (401, 403)
            else "is the path right (/v1/stream) and is it an s2st server?"
        )
        raise StreamError(f"the server at {url} rejected the WebSocket handshake (HTTP {status}): {fix}") from exc
    except InvalidHandshake as exc:
        raise StreamError(f"{url} did not answer as a WebSocket server ({exc}): is it an s2st server?") from exc
    except ConnectionClosedError as exc:
        close = f"code {exc.rcvd.code} {exc.rcvd.reason}".strip() if exc.rcvd else "no close frame"
        raise StreamError(f"the connection to {url} closed abnormally ({close}); the server's log says why.") from exc
    except TimeoutError as exc:  # before OSError, whose subclass it is
        raise StreamError(f"{url} did not finish the WebSocket handshake in time: are host and port right?") from exc
    except OSError as exc:  # refused, unreachable, unknown host
        raise StreamError(
            f"could not connect to {url} ({exc.strerror or exc}): is `s2st serve` running and listening there?"
        ) from exc
    return result


def _pcm16(audio: np.ndarray) -> bytes:
    """float32 in [-1, 1] to pcm_s16le; the 32768 scale makes 16-bit sources round-trip exactly."""
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2").tobytes()


async def _send_audio(
    ws: ClientConnection, pcm: bytes, sample_rate: int, realtime: bool, frame_ms: int, joined: asyncio.Event
) -> None:
    """Once `joined`, send frames like a live microphone would, then input.end; the last frame is padded with
    silence because servers size their buffers by whole frames."""
    await joined.wait()
    size = sample_rate * frame_ms // 1000 * 2
    if len(pcm) % size:
        pcm += bytes(size - len(pcm) % size)
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        for index, offset in enumerate(range(0, len(pcm), size)):
            delay = began + index * frame_ms / 1000 - loop.time() if realtime else 0.0
            await asyncio.sleep(max(0.0, delay))  # also yields to the receiver with --fast
            await ws.send(pcm[offset : offset + size])
        await ws.send(json.dumps({"type": "input.end"}))
    except ConnectionClosed:
        return  # the receive loop reports how the connection ended


async def _receive(
    ws: ClientConnection,
    url: str,
    result: StreamResult,
    sender: asyncio.Task,
    on_message: Callable[[dict], None] | None,
    joined: asyncio.Event,
) -> None:
    """Collect messages until the server closes; binary frames belong to the open audio.start."""
    speaking: int | None = None
    chunks: dict[int, bytearray] = {}
    rates: dict[int, int] = {}
    ended = False
    async for message in ws:
        if isinstance(message, bytes):
            if speaking is None:
                raise StreamError(
                    f"the server at {url} sent audio outside audio.start/audio.end: "
                    "client and server speak different protocol versions; update one of them."
                )
            chunks[speaking] += message
            continue
        try:
            event = json.loads(message)
        except json.JSONDecodeError as exc:
            raise StreamError(f"the server at {url} sent a message that is not JSON: is it an s2st server?") from exc
        result.messages.append(event)
        if on_message is not None:
            on_message(event)
        theirs = event.get("party") == "other"
        match event.get("type"):
            case "room.party_joined":
                joined.set()
            case "metrics" if theirs:
                figures = {k: v for k, v in event.items() if k not in ("type", "utterance_id", "party")}
                result.other_metrics.setdefault(event.get("utterance_id"), {}).update(figures)
            case "transcript" | "translation" | "metrics" if theirs:
                pass
            case "session.started":
                result.session_id = event.get("session_id")
            case "transcript" if event.get("final"):
                result.transcripts.append(event)
            case "translation" if event.get("final"):
                result.translations.append(event)
            case "audio.start":
                speaking = event["utterance_id"]
                chunks.setdefault(speaking, bytearray())
                rates[speaking] = event.get("sample_rate", OUTPUT_RATE)
            case "audio.end":
                speaking = None
            case "metrics":
                figures = {k: v for k, v in event.items() if k not in ("type", "utterance_id", "party")}
                result.metrics.setdefault(event.get("utterance_id"), {}).update(figures)
            case "error":
                result.errors.append(event)
                if event.get("fatal"):
                    sender.cancel()
                    await ws.close()
                    break
            case "session.ended":
                ended = True
    for uid, data in chunks.items():
        pcm = np.frombuffer(bytes(data[: len(data) // 2 * 2]), dtype="<i2").astype(np.float32) / 32768.0
        if rates[uid] != result.sample_rate:
            pcm = soxr.resample(pcm, rates[uid], result.sample_rate).astype(np.float32, copy=False)
        result.audio[uid] = pcm
    if not ended and result.fatal_error is None:
        raise StreamError(f"the server at {url} closed the connection before session.ended; the server's log says why.")


def read_audio(path: Path, rate: int | None = None) -> tuple[np.ndarray, int]:
    """Any file libsndfile reads, as float32 mono at `rate` (default: its own rate when the server takes it)."""
    if not path.is_file():
        raise StreamError(f"{path}: no such file.")
    try:
        audio, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, OSError) as exc:
        raise StreamError(f"cannot read {path} ({exc}); give a WAV, FLAC, OGG or MP3 file.") from exc
    if not len(audio):
        raise StreamError(f"{path} holds no audio samples; give a recording with speech in it.")
    mono = audio.mean(axis=1, dtype=np.float32)
    rate = rate or (file_rate if file_rate in INPUT_RATES else 16000)
    if rate != file_rate:
        mono = soxr.resample(mono, file_rate, rate, quality="HQ").astype(np.float32, copy=False)
    return mono, rate


def _wav_bytes(path: Path) -> bytes:
    """A voice reference as a 16-bit mono WAV file, whatever format it came in."""
    audio, rate = read_audio(path)
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _print_caption(event: dict) -> None:
    """Live captions: final texts only, so each line is written once."""
    if event.get("type") in ("transcript", "translation") and event.get("final"):
        print(f"[{event.get('utterance_id')}] {event.get('language')}: {event.get('text')}", flush=True)
    elif event.get("type") == "error" and not event.get("fatal"):  # main() reports the fatal one
        where = f" (utterance {event['utterance_id']})" if "utterance_id" in event else ""
        print(f"server error{where}: {event.get('code')}: {event.get('message')}", file=sys.stderr, flush=True)


def _summary(result: StreamResult, captions: list[dict]) -> str:
    """Per-utterance TTFA and speech length, then the median TTFA: the figures a listener feels."""
    lines = [f"session {result.session_id}: {len(captions)} utterance(s)"]
    ttfas = []
    for caption in captions:
        uid = caption["utterance_id"]
        ttfa = result.metrics.get(uid, {}).get("ttfa_ms")
        if ttfa is not None:
            ttfas.append(ttfa)
        seconds = len(result.audio.get(uid, ())) / result.sample_rate
        lines.append(f"  [{uid}] TTFA {f'{ttfa:.0f} ms' if ttfa is not None else '-'}, {seconds:.2f} s of speech")
    if ttfas:
        lines.append(f"  median TTFA {statistics.median(ttfas):.0f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Exit code 0 when the session ended normally, 1 on a fatal server error, 2 when it could not run."""
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.voice_ref is None) != (args.voice_text is None):
        parser.error("--voice-ref and --voice-text go together: give the reference clip and what it says.")
    try:
        for path in (args.output, args.captions):
            if path is not None and not path.parent.is_dir():
                raise StreamError(f"{path}: the folder {path.parent} does not exist; create it first.")
        audio, rate = read_audio(args.input, args.rate)
        reference = (_wav_bytes(args.voice_ref), args.voice_text) if args.voice_ref else None
        result = asyncio.run(
            stream_file(
                args.url,
                audio,
                rate,
                target=args.target,
                source=args.source,
                mode=args.mode,
                token=args.token,
                realtime=not args.fast,
                voice_reference=reference,
                on_message=_print_caption,
                room=args.room,
            )
        )
    except StreamError as exc:
        print(f"stream_file: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    speech, captions = result.lay_out()
    sf.write(str(args.output), np.clip(speech, -1.0, 1.0), result.sample_rate, subtype="PCM_16")
    if args.captions:
        args.captions.write_text(json.dumps(captions, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(_summary(result, captions))
    print(f"wrote {args.output} ({len(speech) / result.sample_rate:.2f} s at {result.sample_rate} Hz)")
    if (fatal := result.fatal_error) is not None:
        print(
            f"stream_file: the server ended the session: {fatal.get('code')}: {fatal.get('message')}", file=sys.stderr
        )
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clients.python.stream_file",
        description="Stream an audio file to an s2st server in real time; save the translated speech and captions.",
    )
    parser.add_argument("input", type=Path, help="audio file (any format libsndfile reads; mono or stereo)")
    parser.add_argument("--to", dest="target", required=True, choices=TARGET_LANGUAGES, help="language to speak")
    parser.add_argument("--from", dest="source", default="auto", choices=SOURCE_LANGUAGES, help="spoken language")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the server's stream route (default {DEFAULT_URL})")
    parser.add_argument(
        "--token", default=os.environ.get("S2ST_TOKEN"), help="bearer token, if the server wants one (env S2ST_TOKEN)"
    )
    parser.add_argument("--mode", choices=MODES, help="consecutive or simultaneous (default: the server's)")
    parser.add_argument(
        "--rate", type=int, choices=INPUT_RATES, help="send rate in Hz (default: the file's if allowed, else 16000)"
    )
    parser.add_argument(
        "--room", help="join this two-party room: the speech is translated for its other participant, whose you hear"
    )
    parser.add_argument("--fast", action="store_true", help="send as fast as possible instead of in real time")
    parser.add_argument("-o", "--output", type=Path, required=True, help="translated speech, 24 kHz mono WAV")
    parser.add_argument("--captions", type=Path, help="write each utterance's texts and place in the WAV as JSON")
    parser.add_argument("--voice-ref", type=Path, help="speak in this voice instead of the speaker's (audio file)")
    parser.add_argument("--voice-text", help="the transcript of --voice-ref")
    return parser


if __name__ == "__main__":
    sys.exit(main())
