"""The server's Prometheus metrics: sessions, per-stage latency histograms and errors.

One registry per server (not the library's global one), so several servers in one process, as in the tests,
never share counts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from streaming.events import Error, Event, Metrics

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
RTF_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sessions = Gauge("s2st_sessions_open", "Sessions open now.", ["route"], registry=self.registry)
        self.sessions_total = Counter("s2st_sessions", "Sessions started.", ["route"], registry=self.registry)
        self.rejected = Counter(
            "s2st_connections_rejected",
            "Connections refused before a session began.",
            ["reason"],
            registry=self.registry,
        )
        self.errors = Counter("s2st_errors", "Error events sent to clients.", ["code"], registry=self.registry)
        self.utterances = Counter("s2st_utterances", "Utterances translated and spoken.", registry=self.registry)
        self.latency = Histogram(
            "s2st_latency_seconds",
            "Per-utterance latency figures (docs/latency.md): ttfa, start_offset, end_offset, tts_first_chunk, "
            "asr, translate.",
            ["figure"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "s2st_event_loop_lag_seconds",
            "How late the server's event loop runs a timer: high values mean sockets and sessions wait for the CPU.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.tts_rtf = Histogram(
            "s2st_tts_rtf", "TTS compute seconds per second of speech.", buckets=RTF_BUCKETS, registry=self.registry
        )

    def opened(self, route: str) -> None:
        self.sessions.labels(route).inc()
        self.sessions_total.labels(route).inc()

    def closed(self, route: str) -> None:
        self.sessions.labels(route).dec()

    def refused(self, code: str) -> None:
        self.rejected.labels(code).inc()

    def error(self, code: str) -> None:
        self.errors.labels(code).inc()

    def first_byte(self, seconds: float) -> None:
        """The last hop, taken by the connection when an utterance's first speech leaves (not in every Metrics)."""
        self.latency.labels("first_byte").observe(seconds)

    def observe(self, event: Event) -> None:
        match event:
            case Error(code=code):
                self.error(code)
            case Metrics(figures=figures):
                self.utterances.inc()
                for name, value in figures.items():
                    if name.endswith("_ms") and name != "first_byte_ms":
                        self.latency.labels(name.removesuffix("_ms")).observe(value / 1000)
                if "tts_rtf" in figures:
                    self.tts_rtf.observe(figures["tts_rtf"])

    def text(self) -> bytes:
        return generate_latest(self.registry)
