"""`s2st serve`: one websockets server for the browser page, the native API, WebRTC signalling and Twilio.

Plain HTTP (the page, /healthz, /metrics) is answered during the opening handshake, so a single port and a
single library serve everything. The server owns the limits that protect sessions from each other: who may
connect, how many at once, how big a message may be, how long a session may last, and an orderly shutdown.
It is the connections' `agent.host.Host`: they reach it through that protocol only.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import signal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server as WebSocketServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from agent.browser import WebRTCConnection
from agent.clock import Clock, MonotonicClock
from agent.config import ServerConfig
from agent.connections import Connection, NativeConnection
from agent.host import Guest, Refusal
from agent.metrics import CONTENT_TYPE, ServerMetrics
from agent.models import Models
from agent.phone import TwilioConnection
from agent.room import Room, Rooms, Seat
from agent.session import Session, check_settings

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "clients" / "web"
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
LOOP_PROBE_S = 0.25
PING_TIMEOUT_S = 60  # a client silent this long after a ping is gone; generous, so a busy CPU is not taken for one
ROUTES: dict[str, type[Connection]] = {
    "/v1/stream": NativeConnection,
    "/v1/webrtc": WebRTCConnection,
    "/v1/twilio": TwilioConnection,
}


class Server:
    def __init__(self, models: Models, config: ServerConfig, *, token: str | None = None, clock: Clock | None = None):
        """`token`: the bearer token clients must present; None lets everyone in."""
        self.models = models
        self.config = config
        self.token = token
        self.clock = clock or MonotonicClock()
        self.metrics = ServerMetrics()
        self.connections: set[Guest] = set()  # those with an open session
        self._handlers: dict[Guest, asyncio.Task] = {}  # the task serving each connection
        self._ws: WebSocketServer | None = None
        self._closing = False
        self._watch: asyncio.Task | None = None
        self.rooms = Rooms(self._room_session)

    @property
    def port(self) -> int:
        assert self._ws is not None, "the server is not started"
        return self._ws.sockets[0].getsockname()[1]

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        self._ws = await serve(
            self._connect,
            host or self.config.host,
            self.config.port if port is None else port,
            process_request=self._http,
            # Headroom above the limit, so an oversize message is answered with an error instead of a closed socket.
            max_size=4 * self.config.max_message_bytes,
            compression=None,  # audio does not compress; deflate would only cost CPU
            ping_timeout=PING_TIMEOUT_S,
        )
        self._watch = asyncio.create_task(self._watch_loop())

    async def serve_until_signal(self) -> None:
        """Serve until SIGTERM or SIGINT, then shut down in order."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.warning("stopping: open sessions get %.0f s to finish", self.config.shutdown_grace_s)
        await self.shutdown()

    async def shutdown(self) -> None:
        """Take no new connections; open sessions finish their current utterance and get `session.ended`."""
        assert self._ws is not None
        if self._closing:
            return
        self._closing = True
        self._ws.close(close_connections=False)
        running = [self._handlers[c] for c in self.connections if c in self._handlers]
        for connection in list(self.connections):
            connection.drain("shutting_down", "the server is stopping; the session ends after the current utterance.")
        if running:
            await asyncio.wait(running, timeout=self.config.shutdown_grace_s)
        self._ws.close()  # whatever did not finish in time is cut off (close code 1001)
        await self._ws.wait_closed()
        if self._watch is not None:
            self._watch.cancel()

    async def _watch_loop(self) -> None:
        """Measure how late the event loop wakes up; a stalled loop is what drops connections under load."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LOOP_PROBE_S
            await asyncio.sleep(LOOP_PROBE_S)
            lag = loop.time() - due
            self.metrics.loop_lag.observe(lag)
            if lag > 1.0:
                log.warning("the event loop ran %.1f s late: the CPU is overloaded, sessions will lag", lag)

    def refusal(self, request: Request, *, token: str | None = None) -> Refusal | None:
        """Why a new session may not start, or None. `token` is one the route found in its own messages."""
        if self._closing:
            return Refusal("shutting_down", "the server is shutting down; connect again in a moment.", 1001)
        if self.token is not None and not hmac.compare_digest(token or _token(request) or "", self.token):
            return Refusal(
                "unauthorized",
                "missing or wrong token; send `Authorization: Bearer <token>` or add `?token=<token>` to the URL.",
                1008,
            )
        origin = request.headers.get("Origin")
        if origin is not None and not self._origin_allowed(origin, request):
            return Refusal(
                "origin_not_allowed",
                f"pages from {origin} may not use this server; add it to server.allowed_origins in the profile.",
                1008,
            )
        if len(self.connections) >= self.config.max_sessions:
            return Refusal(
                "server_busy",
                f"the server is at its limit of {self.config.max_sessions} sessions; try again later.",
                1013,
            )
        return None

    def open_session(
        self, guest: Guest, *, source_language: str, target_language: str, policy: str | None, voice: str
    ) -> Session:
        session = Session(
            self.models,
            source_language=source_language,
            target_language=target_language,
            clock=self.clock,
            policy=policy,
            voice=voice,
        )
        self.connections.add(guest)
        self.metrics.opened(guest.route)
        session.start()
        return session

    def close_session(self, guest: Guest) -> None:
        self.connections.discard(guest)
        self.metrics.closed(guest.route)

    def join_room(
        self, guest: Guest, room_id: str, *, source_language: str, target_language: str, policy: str | None, voice: str
    ) -> tuple[Room, Seat]:
        check_settings(self.models, source_language, target_language, policy, voice)
        seat = Seat(source_language, target_language, policy, voice)
        room = self.rooms.join(room_id, seat)
        self.connections.add(guest)
        self.metrics.opened(guest.route)
        return room, seat

    def leave_room(self, guest: Guest, room: Room, seat: Seat) -> None:
        self.rooms.leave(room, seat)
        self.close_session(guest)

    def _room_session(self, seat: Seat, other: Seat) -> Session:
        """The session of a room translating `seat`'s speech for `other`."""
        session = Session(
            self.models,
            source_language=seat.speaks,
            target_language=other.hears,
            clock=self.clock,
            policy=seat.policy,
            voice=seat.voice,
        )
        session.start()
        return session

    def _origin_allowed(self, origin: str, request: Request) -> bool:
        allowed = self.config.allowed_origins
        return "*" in allowed or origin in allowed or urlsplit(origin).netloc == request.headers.get("Host")

    async def _connect(self, ws: ServerConnection) -> None:
        route = urlsplit(ws.request.path).path
        connection = ROUTES[route](self, ws)
        self._handlers[connection] = asyncio.current_task()
        try:
            await connection.run()
        finally:
            del self._handlers[connection]

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path in ROUTES:
            return None  # the WebSocket handshake goes on (a plain GET gets websockets' own 426 answer)
        if path == "/healthz":
            return connection.respond(200, "ok\n")
        if path == "/metrics":
            if self.token is not None and not hmac.compare_digest(_token(request) or "", self.token):
                return connection.respond(401, "missing or wrong token; send `Authorization: Bearer <token>`.\n")
            return _response(200, self.metrics.text(), CONTENT_TYPE)
        if path in STATIC:
            name, kind = STATIC[path]
            return _response(200, (WEB_DIR / name).read_bytes(), kind)
        routes = ", ".join([*STATIC, *ROUTES, "/healthz", "/metrics"])
        return connection.respond(404, f"no such page: {path}; this server has {routes}.\n")


def _token(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return parse_qs(urlsplit(request.path).query).get("token", [None])[0]


def _response(status: int, body: bytes, kind: str) -> Response:
    headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
    return Response(status, "OK", headers, body)
