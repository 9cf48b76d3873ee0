"""What a connection may ask of the server that accepted it. This protocol is all of it, so the connections never
import the server (agent/server.py implements it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from websockets.http11 import Request

from agent.clock import Clock
from agent.config import ServerConfig
from agent.metrics import ServerMetrics
from agent.room import Room, Seat
from agent.session import Session


@dataclass(frozen=True)
class Refusal:
    """Why a session may not start: the wire error code, a message naming the fix, and the socket's close code."""

    code: str
    message: str
    close_code: int


class Guest(Protocol):
    """A connection as its host sees it once its session is open."""

    route: str

    def drain(self, code: str, message: str) -> None:
        """End the session in order (no more input; the current utterance is finished), telling the client why."""


class Host(Protocol):
    config: ServerConfig  # the limits: message size, send queue, session length, ICE servers
    clock: Clock
    metrics: ServerMetrics

    def refusal(self, request: Request, *, token: str | None = None) -> Refusal | None:
        """Why a new session may not start now (shutting down, token, origin, busy), or None. `token` is one the
        route found in its own messages."""

    def open_session(
        self, guest: Guest, *, source_language: str, target_language: str, policy: str | None, voice: str
    ) -> Session:
        """A started Session, counted among the open sessions (their limit, the shutdown, the metrics) until
        `close_session`. Raises SessionError for settings the models cannot serve."""

    def close_session(self, guest: Guest) -> None: ...

    def join_room(
        self, guest: Guest, room_id: str, *, source_language: str, target_language: str, policy: str | None, voice: str
    ) -> tuple[Room, Seat]:
        """A seat in the two-party room `room_id` for a participant speaking `source_language` and hearing
        `target_language`, counted among the open sessions until `leave_room`; the sessions start once both are in.
        Raises SessionError for settings the models cannot serve, RoomFull for a room with two participants."""

    def leave_room(self, guest: Guest, room: Room, seat: Seat) -> None:
        """The participant is gone: the room is over for both, and the seat no longer counts."""
