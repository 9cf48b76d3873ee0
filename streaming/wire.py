"""What every wire codec shares (the native API, WebRTC signalling, Twilio Media Streams): the error a client message
is refused with, and how JSON text is read and written."""

from __future__ import annotations

import json


class ProtocolError(ValueError):
    """A client message the server cannot use; `code` is the wire error code, the message names the fix.
    Whether it ends the session is the caller's decision."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def json_object(text: str, what: str, key: str) -> dict:
    """`text` parsed as a JSON object, or the invalid_json error saying what was wrong and what to send."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(
            "invalid_json", f"{what} is not JSON ({exc.msg} at position {exc.pos}); send one JSON object."
        ) from None
    if not isinstance(obj, dict):
        kind = type(obj).__name__
        raise ProtocolError(
            "invalid_json", f'{what} is not a JSON object but a JSON {kind}; send an object with a "{key}" key.'
        )
    return obj


def dumps(message: dict) -> str:
    """Compact UTF-8 JSON, as the server sends it."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def choices(values: tuple) -> str:
    """`a, b or c`, for messages that name what to send instead."""
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def check_keys(message: dict, where: str, allowed: tuple[str, ...]) -> None:
    """Refuse a key the protocol does not know, so a misspelt setting never passes silently."""
    for key in message:
        if key not in allowed:
            raise ProtocolError(
                "invalid_field", f"{where} has unknown key {key!r}; allowed keys: {', '.join(allowed)}."
            )
