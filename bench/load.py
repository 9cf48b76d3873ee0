"""Load benchmark: many native-API sessions streaming real speech in real time into one `s2st serve` process.

The server runs as its own process (started here with `s2st serve --port 0`), so its memory is measured alone:
VmRSS is sampled every half second and VmHWM (the kernel's peak) read at the end. Each client streams about 55 s
of real English speech (long_en_16k.wav, then four of its readings again, each followed by 1 s of silence) in
100 ms messages at microphone pace, the sessions starting a quarter second apart, and counts its final transcripts.
Reported: finals received per session against those spoken, TTFA p50/p95 over all utterances, and the server's
RSS when idle, at its peak, and after the sessions ended. With `--ramp`, one server per count runs 1, 2, 3, ...
sessions up to `--sessions` and stops after the first count that loses a final or whose TTFA p95 reaches
`--ttfa-limit-ms`: the report names the largest count that held (`largest_sessions_within_limit`). With
`--rooms N`, the clients are N two-party rooms instead (2N sessions, both sides speaking the same speech at once,
one hearing German and the other Chinese), and TTFA is reported per direction, as each listener received it.

    python bench/load.py --sessions 20 --json bench/results/load_cpu_tiny.json
    python bench/load.py --profile tiny --ramp --sessions 8 --json bench/results/load_cpu_tiny_ramp.json
    python bench/load.py --profile tiny --rooms 1 --json bench/results/load_cpu_tiny_rooms.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import missing_speech, percentile, speech_dir

SPEECH = speech_dir()
READINGS = sorted((SPEECH / "en").glob("*.wav"))[:4]
UTTERANCES = 5 + len(READINGS)  # long_en_16k.wav holds five
STAGGER_S = 0.25
PROFILE = Path(__file__).resolve().parent / "load_tiny.yaml"
FRAME_MS = 100  # audio per message: 20 clients at 20 ms would cost this 2-core machine more than the server does


@dataclass
class LoadResult:
    sessions: int
    speech_s: float
    utterances_spoken: int
    finals: list[int]  # final transcripts received, per session
    errors: list[str]
    ttfa_ms: list[float]
    idle_rss_mb: float
    peak_rss_mb: float
    end_rss_mb: float
    wall_s: float
    rss_trace_mb: list[float] = field(default_factory=list)
    ttfa_by_direction_ms: dict[str, list[float]] = field(default_factory=dict)  # in rooms: as each listener heard
    server_log: list[str] = field(default_factory=list)  # its last lines

    def to_json(self) -> dict:
        ttfa = sorted(self.ttfa_ms)
        return {
            "sessions": self.sessions,
            "speech_s_per_session": round(self.speech_s, 1),
            "utterances_spoken_per_session": self.utterances_spoken,
            "finals_per_session": self.finals,
            "all_finals": all(n == self.utterances_spoken for n in self.finals),
            "errors": self.errors,
            "ttfa_ms_p50": round(statistics.median(ttfa), 1) if ttfa else None,
            "ttfa_ms_p95": round(ttfa[int(0.95 * (len(ttfa) - 1))], 1) if ttfa else None,
            **{
                f"ttfa_ms_{direction}": {
                    "p50": percentile(v, 50, 1),
                    "p95": percentile(v, 95, 1),
                    "n": len(v),
                }
                for direction, v in self.ttfa_by_direction_ms.items()
            },
            "server_rss_mb_idle": round(self.idle_rss_mb, 1),
            "server_rss_mb_peak": round(self.peak_rss_mb, 1),
            "server_rss_mb_end": round(self.end_rss_mb, 1),
            "wall_s": round(self.wall_s, 1),
        }


def speech() -> np.ndarray:
    """About 55 s of 16 kHz speech with UTTERANCES utterances."""
    from streaming.audio import read_audio

    silence = np.zeros(16000, dtype=np.float32)
    pieces = [read_audio(SPEECH / "long_en_16k.wav")[0]]
    for path in READINGS:
        pieces += [read_audio(path)[0], silence]
    return np.concatenate(pieces)


ROOM_TARGETS = ("de", "zh")  # what the first and the second participant of a room hear


async def run(profile: str, sessions: int, *, target: str = "de", rooms: int = 0) -> LoadResult:
    """Start a server with `profile`, stream to it from `sessions` clients at once (or from the two participants
    of each of `rooms` rooms), stop it with SIGTERM."""
    from clients.python.stream_file import StreamError, stream_file

    audio = speech()
    server = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "serve", "--profile", profile, "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    trace: list[float] = []
    log: deque[str] = deque(maxlen=40)
    try:
        port = await asyncio.to_thread(_port, server, log)
        idle = _rss_mb(server.pid, "VmRSS")
        sampler = asyncio.create_task(_sample(server.pid, trace))
        began = time.monotonic()

        async def client(index: int):
            room = f"load-{index // 2}" if rooms else None
            await asyncio.sleep((index // 2 if rooms else index) * STAGGER_S)
            try:
                return await stream_file(
                    f"ws://127.0.0.1:{port}/v1/stream",
                    audio,
                    16000,
                    target=ROOM_TARGETS[index % 2] if rooms else target,
                    source="en",
                    realtime=True,
                    frame_ms=FRAME_MS,
                    room=room,
                )
            except StreamError as exc:  # one lost session is a result, not the end of the benchmark
                return exc

        results = await asyncio.gather(*(client(i) for i in range(2 * rooms if rooms else sessions)))
        wall = time.monotonic() - began
        sampler.cancel()
        end = _rss_mb(server.pid, "VmRSS")
        peak = _rss_mb(server.pid, "VmHWM")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    done = [r for r in results if not isinstance(r, StreamError)]
    directions: dict[str, list[float]] = {}
    if rooms:  # what the second participant heard went from the first to the second, and back
        for index, r in enumerate(results):
            if not isinstance(r, StreamError):
                heard = "to_" + ROOM_TARGETS[index % 2]
                directions.setdefault(heard, []).extend(
                    m["ttfa_ms"] for m in r.other_metrics.values() if "ttfa_ms" in m
                )
    return LoadResult(
        sessions=len(results),
        speech_s=len(audio) / 16000,
        utterances_spoken=UTTERANCES,
        finals=[0 if isinstance(r, StreamError) else sum(1 for t in r.transcripts if t["text"]) for r in results],
        errors=[str(r) for r in results if isinstance(r, StreamError)]
        + [f"{e['code']}: {e['message']}" for r in done for e in r.errors],
        ttfa_ms=[m["ttfa_ms"] for r in done for m in r.metrics.values() if "ttfa_ms" in m],
        server_log=list(log),
        idle_rss_mb=idle,
        peak_rss_mb=peak,
        end_rss_mb=end,
        wall_s=wall,
        rss_trace_mb=trace,
        ttfa_by_direction_ms=directions,
    )


def _port(server: subprocess.Popen, log: deque[str]) -> int:
    """The port from the server's 'serving on http://host:port/' line; the model loading comes first."""
    assert server.stderr is not None
    for line in server.stderr:
        if match := re.search(r"serving on http://[^:]+:(\d+)/", line):
            threading.Thread(target=_keep_log, args=(server, log), daemon=True).start()
            return int(match.group(1))
    raise RuntimeError(f"s2st serve exited with code {server.wait()} before it listened")


def _keep_log(server: subprocess.Popen, log: deque[str]) -> None:
    """Keep reading the server's log, so a full pipe never blocks it; its last lines go into the report."""
    assert server.stderr is not None
    for line in server.stderr:
        log.append(line.rstrip())


def _rss_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} for process {pid}")


async def _sample(pid: int, trace: list[float]) -> None:
    while True:
        trace.append(_rss_mb(pid, "VmRSS"))
        await asyncio.sleep(0.5)


def _shown(profile: str) -> str:
    """A profile inside the repository as a path from its root, so recorded results read the same anywhere."""
    root = PROFILE.parent.parent
    path = Path(profile).resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else profile


def main(argv: list[str] | None = None) -> int:
    from bench import write_report

    parser = argparse.ArgumentParser(prog="s2st bench load", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=str(PROFILE), help="the server's profile (default: bench/load_tiny.yaml)")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--to", dest="target", default="de")
    parser.add_argument("--rooms", type=int, default=0, help="N two-party rooms instead of single sessions")
    parser.add_argument("--ramp", action="store_true", help="1, 2, ... sessions up to --sessions, until one fails")
    parser.add_argument("--ttfa-limit-ms", type=float, default=2000.0, help="the TTFA p95 a ramp step must stay under")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if problem := missing_speech():
        print(f"s2st bench load: {problem}", file=sys.stderr)
        return 2
    host = platform.processor() or platform.machine()
    report = {"benchmark": "load", "profile": _shown(args.profile), "host": host, "cpus": os.cpu_count()}
    _print_header()
    if not args.ramp:
        result = asyncio.run(run(args.profile, args.sessions, target=args.target, rooms=args.rooms))
        figures = _print_row(result)
        write_report(args.json, {**report, **figures})
        return 0 if figures["all_finals"] else 1
    steps, held = [], 0
    for sessions in range(1, args.sessions + 1):
        figures = _print_row(asyncio.run(run(args.profile, sessions, target=args.target)))
        steps.append(figures)
        if not figures["all_finals"] or (figures["ttfa_ms_p95"] or 0) >= args.ttfa_limit_ms:
            break
        held = sessions
    print(f"largest session count with every final and TTFA p95 under {args.ttfa_limit_ms:.0f} ms: {held}")
    limit = {"ttfa_limit_ms": args.ttfa_limit_ms, "largest_sessions_within_limit": held}
    write_report(args.json, {**report, **limit, "steps": steps})
    return 0


def _print_header() -> None:
    print(
        f"{'sessions':>8} {'speech s':>8} {'finals':>12} {'TTFA p50/p95 ms':>16} {'RSS idle/peak/end MB':>22} "
        f"{'wall s':>7}"
    )


def _print_row(result: LoadResult) -> dict:
    figures = result.to_json()
    finals = f"{sum(result.finals)}/{result.sessions * result.utterances_spoken}"
    print(
        f"{result.sessions:>8} {figures['speech_s_per_session']:>8} {finals:>12} "
        f"{str(figures['ttfa_ms_p50']) + '/' + str(figures['ttfa_ms_p95']):>16} "
        f"{figures['server_rss_mb_idle']:>7}/{figures['server_rss_mb_peak']}/{figures['server_rss_mb_end']} "
        f"{figures['wall_s']:>7}"
    )
    for name, value in figures.items():
        if name.startswith("ttfa_ms_to_"):
            print(f"{'':>8} heard in {name.removeprefix('ttfa_ms_to_')}: TTFA p50/p95 {value['p50']}/{value['p95']} ms")
    if result.errors:
        print(f"{len(result.errors)} errors, first: {result.errors[0]}")
        print("the server's last log lines:", *result.server_log, sep="\n  ")
    return figures


if __name__ == "__main__":
    sys.exit(main())
