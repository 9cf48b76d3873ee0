"""The `s2st` command line."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
import time
from pathlib import Path

from agent.config import Config, ConfigError, load_config
from agent.session import SessionError
from model.loading import ModelError, download, is_hub_id
from model.speech import SpeechBackend
from streaming.audio import AudioError
from streaming.vocabulary import AUTO, LANGUAGE_NAMES, LANGUAGES, SESSION_RATE, SOURCE_LANGUAGES

TABLE_FIGURES = ("ttfa_ms", "start_offset_ms", "end_offset_ms", "tts_first_chunk_ms", "asr_ms", "translate_ms")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except (AudioError, ConfigError, ModelError, SessionError, OSError) as exc:
        print(f"s2st: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s2st", description="Speech-to-speech translation in the speaker's voice.")
    commands = parser.add_subparsers(dest="command", required=True)

    translate = commands.add_parser("translate", help="translate a recording into speech and captions")
    translate.add_argument("input", type=Path, help="audio file (WAV, FLAC, OGG, MP3, M4A; any rate, mono or stereo)")
    translate.add_argument("--to", dest="target", required=True, choices=LANGUAGES, help="language to speak")
    translate.add_argument("--from", dest="source", default=AUTO, choices=SOURCE_LANGUAGES, help="spoken language")
    translate.add_argument("--profile", default="default", help="profile name in configs/ or a YAML path")
    translate.add_argument("-o", "--output", type=Path, required=True, help="translated speech, 24 kHz mono WAV")
    translate.add_argument("--captions", type=Path, help="write the utterances with both texts as JSON")
    translate.add_argument("--realtime", action="store_true", help="pace the input like a live microphone")
    translate.add_argument(
        "--voice", type=Path, metavar="REF.wav", help="speak in the voice of this clip (1-10 s) instead of the input's"
    )
    translate.add_argument("--voice-text", metavar="TEXT", help="the words said in the --voice clip")
    translate.set_defaults(run=_translate)

    speak = commands.add_parser("speak", help="speak text through the profile's TTS into a WAV file")
    speak.add_argument("text", help="what to say, in quotes; a long text is spoken phrase by phrase")
    speak.add_argument("--lang", required=True, choices=LANGUAGES, help="the language of the text")
    speak.add_argument("--profile", default="default", help="profile name in configs/ or a YAML path")
    speak.add_argument("-o", "--output", type=Path, required=True, help="the speech, mono WAV at the TTS's rate")
    speak.add_argument("--voice", metavar="NAME", help="a stock voice of the TTS (default: the profile's tts.voice)")
    speak.set_defaults(run=_speak)

    evaluate = commands.add_parser("eval", help="measure the profile's models").add_subparsers(
        dest="what", required=True
    )
    intelligible = evaluate.add_parser(
        "intelligibility", help="speak sentences through the TTS, transcribe them with the ASR, report the WER"
    )
    intelligible.add_argument("--profile", default="tiny", help="profile name in configs/ or a YAML path")
    intelligible.add_argument("--lang", default="en", choices=LANGUAGES, help="the language of the sentences")
    intelligible.add_argument("--sentences", type=Path, metavar="FILE", help="one sentence a line (default: English)")
    intelligible.add_argument("--voice", metavar="NAME", help="a stock voice of the TTS (default: the profile's)")
    intelligible.add_argument("--json", type=Path, metavar="PATH", help="write the figures here")
    intelligible.set_defaults(run=_intelligibility)

    serve = commands.add_parser("serve", help="run the server: browser page, WebSocket API, WebRTC, Twilio")
    serve.add_argument("--profile", default="default", help="profile name in configs/ or a YAML path")
    serve.add_argument("--host", help="address to listen on (default: the profile's server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (default: the profile's server.port)")
    serve.set_defaults(run=_serve)

    models = commands.add_parser("models", help="fetch or build models").add_subparsers(dest="action", required=True)
    pull = models.add_parser("pull", help="download a profile's models from the Hugging Face hub")
    pull.add_argument("--profile", default="default")
    pull.set_defaults(run=_pull)
    tiny = models.add_parser("make-tiny", help="build tiny random-weight models for offline runs")
    tiny.add_argument("dir", type=Path)
    tiny.set_defaults(run=_make_tiny)

    bench = commands.add_parser("bench", help="run a benchmark: prints a table, --json PATH writes the figures")
    bench.add_argument(
        "name",
        choices=("asr", "codec", "load", "pipeline", "translate", "tts", "vad"),
        help="which benchmark (see bench/README.md)",
    )
    bench.add_argument("options", nargs=argparse.REMAINDER, help="the benchmark's own options; try --help")
    bench.set_defaults(run=_bench)
    return parser


def _bench(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"bench.{args.name}")
    return module.main(args.options)


def _serve(args: argparse.Namespace) -> int:
    import os

    from agent.models import load_models
    from agent.server import Server

    config = load_config(args.profile)
    token = os.environ.get(config.server.token_env) or None
    print(f"s2st: loading the models of profile '{config.name}'…", file=sys.stderr, flush=True)
    models = load_models(config)

    async def serve() -> None:
        server = Server(models, config.server, token=token)
        host = args.host or config.server.host
        try:
            await server.start(host, args.port)
        except OSError as exc:
            port = config.server.port if args.port is None else args.port
            raise OSError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); stop the program using it or pick another "
                "--port."
            ) from exc
        print(
            f"s2st: serving on http://{host}:{server.port}/ (browser page), ws://{host}:{server.port}/v1/stream, "
            f"/v1/webrtc, /v1/twilio, /healthz, /metrics; "
            + (f"clients need the token in ${config.server.token_env}" if token else "no token needed")
            + ". Stop with Ctrl-C or SIGTERM.",
            file=sys.stderr,
            flush=True,
        )
        await server.serve_until_signal()

    asyncio.run(serve())
    return 0


def _translate(args: argparse.Namespace) -> int:
    from agent.clock import MonotonicClock
    from agent.file_translation import translate_audio
    from agent.models import load_models
    from agent.voice import check_given
    from streaming.audio import read_audio, resample, write_wav
    from streaming.events import VoiceReference

    if (args.voice is None) != (args.voice_text is None):
        raise SessionError("--voice and --voice-text go together: give the reference clip and the words said in it.")
    audio, rate = read_audio(args.input)
    voice = VoiceReference(*read_audio(args.voice), args.voice_text) if args.voice is not None else None
    config = load_config(args.profile)
    if voice is not None:  # before minutes of model loading
        try:
            check_given(len(voice.audio) / voice.sample_rate, voice.transcript, config.voice.settings())
        except ValueError as exc:
            raise SessionError(f"--voice {args.voice}: {exc}") from None
    for path in (args.output, args.captions):
        if path is not None and not path.parent.is_dir():
            raise AudioError(f"{path}: the folder {path.parent} does not exist; create it first.")
    models = load_models(config)
    result = asyncio.run(
        translate_audio(
            models,
            resample(audio, rate, SESSION_RATE),
            source=args.source,
            target=args.target,
            clock=MonotonicClock(),
            realtime=args.realtime,
            voice=voice,
        )
    )
    write_wav(args.output, result.audio, result.sample_rate)
    if args.captions:
        args.captions.write_text(
            json.dumps([c.to_json() for c in result.captions], ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    print(_table(result))
    for error in result.errors:
        print(f"s2st: utterance {error.utterance_id}: {error.message}", file=sys.stderr)
    return 1 if any(e.fatal for e in result.errors) else 0


def _speak(args: argparse.Namespace) -> int:
    from agent.intelligibility import speak_text
    from streaming.audio import write_wav

    if not args.text.strip():
        raise SessionError("there is nothing to speak; give the words in quotes.")
    if not args.output.parent.is_dir():
        raise AudioError(f"{args.output}: the folder {args.output.parent} does not exist; create it first.")
    _, tts, voice = _profile_tts(args.profile, args.lang, args.voice)
    began = time.monotonic()
    audio, first_s = asyncio.run(speak_text(tts, voice, args.lang, args.text))
    took_s, seconds = time.monotonic() - began, len(audio) / tts.sample_rate
    write_wav(args.output, audio, tts.sample_rate)
    who = f"{tts.name}, voice {voice}" if isinstance(voice, str) else tts.name
    print(
        f"{args.output}: {seconds:.1f} s of {LANGUAGE_NAMES[args.lang]} ({who}), "
        f"first PCM after {first_s * 1000:.0f} ms, RTF {took_s / max(seconds, 1e-9):.2f}"
    )
    return 0


def _intelligibility(args: argparse.Namespace) -> int:
    from agent import intelligibility
    from agent.models import load_asr

    sentences = intelligibility.ENGLISH_SENTENCES
    if args.sentences is not None:
        sentences = tuple(line.strip() for line in args.sentences.read_text().splitlines() if line.strip())
        if not sentences:
            raise SessionError(f"{args.sentences}: no sentences in it; write one sentence a line.")
    elif args.lang != "en":
        raise SessionError(f"the built-in sentences are English; give {args.lang} ones with --sentences FILE.")
    config, tts, voice = _profile_tts(args.profile, args.lang, args.voice)
    asr = load_asr(config)
    if not asr.multilingual and args.lang != "en":
        raise SessionError(f"the profile's ASR is English-only and cannot check {args.lang}; use a multilingual one.")
    rows = asyncio.run(intelligibility.evaluate(tts, voice, asr, args.lang, sentences))
    figures = intelligibility.report(rows, profile=config.name, backend=tts.name, voice=voice, language=args.lang)
    print(intelligibility.table(figures))
    if args.json is not None:
        intelligibility.write(args.json, figures)
        print(f"wrote {args.json}")
    return 0


def _profile_tts(profile: str, language: str, voice_name: str | None) -> tuple[Config, SpeechBackend, object]:
    """The profile, its TTS and the voice to speak in; a language or voice the backend lacks is refused before the
    model loads where its class already says so."""
    from agent.models import TTS_BACKENDS, load_tts
    from agent.session import check_tts_language

    config = load_config(profile)
    backend = TTS_BACKENDS[config.tts.backend]
    check_tts_language(backend, language)
    if voice_name is not None and backend.can_clone:
        raise SessionError(f"--voice {voice_name}: the {backend.name} TTS has no stock voices; leave --voice out.")
    tts, voice = load_tts(config)
    if voice_name is not None and voice_name not in tts.voices:
        raise SessionError(
            f"--voice {voice_name}: the {tts.name} TTS has no stock voice of that name; "
            f"choose one of {', '.join(tts.voices)}."
        )
    return config, tts, voice_name or voice


def _table(result) -> str:
    head = ["utt", "input s", *(name.removesuffix("_ms") + " ms" for name in TABLE_FIGURES), "source → target"]
    rows = []
    for caption in result.captions:
        figures = result.metrics.get(caption.id, {})
        rows.append(
            [
                str(caption.id),
                f"{caption.start:.2f}-{caption.end:.2f}",
                *(f"{figures[name]:.0f}" if name in figures else "-" for name in TABLE_FIGURES),
                f"{_short(caption.source_text)} → {_short(caption.target_text)}",
            ]
        )
    if not rows:
        return "no speech found in the input; wrote an empty translation."
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [head, *rows])
    return "\n".join(lines)


def _short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pull(args: argparse.Namespace) -> int:
    from agent.models import locate
    from model.kokoro import download as download_kokoro

    config = load_config(args.profile)
    missing = []
    for role, source in config.sources().items():
        try:
            if role == "TTS model" and config.tts.backend == "kokoro":
                if is_hub_id(source):
                    download_kokoro(source)
                path = locate(config, role)  # a hub repo's voices are joined into one archive here, once
            else:
                path = download(source) if is_hub_id(source) else locate(config, role)
        except Exception as exc:  # noqa: BLE001 - report every model, then fail once
            missing.append(f"  {role}: {source} ({type(exc).__name__}: {str(exc).strip().splitlines()[0]})")
            continue
        print(f"{role}: {source} -> {' and '.join(map(str, path)) if isinstance(path, tuple) else path}")
    if missing:
        raise ModelError(
            "could not fetch these models:\n"
            + "\n".join(missing)
            + "\nCheck the network access to the Hugging Face hub (and HF_TOKEN for gated models), "
            "or run fully offline with `--profile tiny`."
        )
    return 0


def _make_tiny(args: argparse.Namespace) -> int:
    from model.tiny import make_tiny

    for name, path in make_tiny(args.dir).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
