"""Translation by any OpenAI-compatible chat-completions server (vLLM, SGLang, Ollama), streamed.

Same prompt (`build_messages`), same two methods and same cleaning as the local `Translator`, so a session can use
either. HTTP goes through the standard library's `http.client`: it reads a chunked server-sent-event stream line by
line, its socket timeouts bound every connect and every read, and it adds no dependency (the venv's only other
client, `httpx2`, comes in with huggingface_hub and is not ours to rely on). Each request opens its own connection,
so the object holds no mutable state and any number of sessions may call it from worker threads at once.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from http.client import HTTPConnection, HTTPException, HTTPResponse, HTTPSConnection
from typing import Any
from urllib.parse import urlsplit

from model.translator import (
    StopSignal,
    TranslatorSettings,
    Turn,
    build_messages,
    stopped,
    whole_translation,
    without_model,
)


class TranslatorUnavailable(RuntimeError):
    """The translation server gave no translation; the message names the server and what to do about it."""


class RemoteTranslator:
    """A chat model behind `{base_url}/chat/completions`, asked with `stream: true` and greedy decoding.

    A forced `prefix` is sent as a final assistant message with vLLM's `continue_final_message: true,
    add_generation_prompt: false`, so the server continues it. A server that ignores those fields answers from
    scratch; when its reply repeats the prefix, the repeat is dropped, so both kinds yield only what follows it
    (a continuation that itself begins with the whole prefix would be cut the same way).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None,
        api_key_env: str,
        timeout_s: float,
        deadline_s: float,
        settings: TranslatorSettings,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(
                f"translator.base_url '{base_url}' is not an http(s) URL; use one like http://127.0.0.1:8000/v1."
            )
        self.settings = settings
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key_env = api_key_env
        self._timeout_s = timeout_s  # connect, and each read: the wait for headers or for the next line
        self._deadline_s = deadline_s  # the whole reply
        self._connection = HTTPSConnection if url.scheme == "https" else HTTPConnection
        self._host, self._port = url.hostname, url.port
        self._path = url.path.rstrip("/") + "/chat/completions"
        self._headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def translate(self, text: str, source: str, target: str, *, context: Sequence[Turn] = (), prefix: str = "") -> str:
        """The whole translation of `text` (starting with `prefix`, when given), cleaned.

        Blank text and text already in the target language need no request.
        """
        return whole_translation(self.stream, text, source, target, context=context, prefix=prefix)

    def stream(
        self,
        text: str,
        source: str,
        target: str,
        *,
        context: Sequence[Turn] = (),
        prefix: str = "",
        stop: StopSignal | None = None,
    ) -> Generator[str, None, None]:
        """The translation as the server streams it, piece by piece; blocking, so iterate it in a worker thread.

        With `prefix`, the answer is forced to begin with it and only what follows is yielded. Any failure raises
        `TranslatorUnavailable`. Blank text and text already in the target language need no request. Setting
        `stop` shuts the connection (a blocked read returns at once) and ends the iteration quietly; closing the
        iterator closes the connection too.
        """
        if (known := without_model(text, source, target, prefix)) is not None:
            return (piece for piece in known)
        messages = build_messages(text, source, target, context=context, glossary=self.settings.glossary)
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "temperature": 0,
            "max_tokens": self.settings.max_new_tokens,
        }
        if prefix:
            messages.append({"role": "assistant", "content": prefix})
            request |= {"continue_final_message": True, "add_generation_prompt": False}
        pieces = self._pieces(request, stop)
        return _after_prefix(prefix, pieces) if prefix else pieces

    def _pieces(self, request: dict[str, Any], stop: StopSignal | None) -> Generator[str, None, None]:
        """The content deltas of one streamed completion; a stopped one ends quietly, whatever the shut socket did."""
        try:
            yield from self._reply(request, stop)
        except (OSError, HTTPException, TranslatorUnavailable):
            if not stopped(stop):
                raise

    def _reply(self, request: dict[str, Any], stop: StopSignal | None) -> Iterator[str]:
        deadline = time.monotonic() + self._deadline_s
        connection = self._connection(self._host, self._port, timeout=min(self._timeout_s, self._deadline_s))
        try:
            try:
                connection.request("POST", self._path, json.dumps(request).encode(), self._headers)
                sock = connection.sock  # kept: the connection lets go of it when the server will close
                if stop is not None:
                    stop.on_set(lambda: _shut(sock))
                response = connection.getresponse()
            except TimeoutError as exc:
                raise self._silent(deadline) from exc
            except ConnectionRefusedError as exc:
                raise self._unavailable(
                    "is not reachable (connection refused)", "start it, or fix translator.base_url in the profile"
                ) from exc
            except (OSError, HTTPException) as exc:
                raise self._unavailable(
                    f"is not reachable ({exc})", "check that it is running, or fix translator.base_url in the profile"
                ) from exc
            if response.status != 200:
                raise self._refused(response)
            yield from self._events(response, sock, deadline)
        finally:
            connection.close()

    def _events(self, response: HTTPResponse, sock: socket.socket, deadline: float) -> Iterator[str]:
        """Parse `data: {...}` lines up to `data: [DONE]`; other SSE lines (comments, `event:`, `id:`) are skipped."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._silent(deadline)
            sock.settimeout(min(self._timeout_s, remaining))
            try:
                line = response.readline()
            except TimeoutError as exc:
                raise self._silent(deadline) from exc
            except (OSError, HTTPException) as exc:
                raise self._unavailable(f"broke off its reply ({exc})", "see the server's log") from exc
            if not line:
                raise self._unavailable(
                    "sent a malformed stream (it ended without 'data: [DONE]')", "see the server's log"
                )
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                return
            if piece := self._content(data):
                yield piece

    def _content(self, data: bytes) -> str:
        try:
            event = json.loads(data)
            if "error" in event or event.get("object") == "error":
                raise self._unavailable(f"failed mid-reply ({_detail(data)})", "see the server's log")
            choices = event["choices"]  # empty in a closing usage-only event
            return (choices[0]["delta"].get("content") or "") if choices else ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise self._unavailable(
                f"sent a malformed stream ({data[:200].decode(errors='replace')!r})",
                "check that translator.base_url points at an OpenAI-compatible chat-completions server",
            ) from exc

    def _silent(self, deadline: float) -> TranslatorUnavailable:
        if time.monotonic() >= deadline:
            return self._unavailable(
                f"did not finish its reply within {self._deadline_s:g} s",
                "check that it is not overloaded, or raise translator.deadline_s in the profile",
            )
        return self._unavailable(
            f"did not answer within {self._timeout_s:g} s",
            "check that it is running and not overloaded, or raise translator.timeout_s in the profile",
        )

    def _refused(self, response: HTTPResponse) -> TranslatorUnavailable:
        try:
            body = response.read(4096)
        except (OSError, HTTPException):
            body = b""
        status = f"HTTP {response.status}" + (f": {detail}" if (detail := _detail(body)) else "")
        if response.status in (401, 403):
            fix = "check the API key in" if "Authorization" in self._headers else "it needs an API key: set"
            return self._unavailable(f"refused the request ({status})", f"{fix} ${self._api_key_env}")
        if response.status == 404:
            return self._unavailable(
                f"has no model '{self.model}' ({status})",
                "fix translator.model (or translator.base_url) in the profile",
            )
        return self._unavailable(f"failed ({status})", "see the server's log")

    def _unavailable(self, what: str, fix: str) -> TranslatorUnavailable:
        return TranslatorUnavailable(f"translator server {self.base_url} {what}: {fix}")


def _shut(sock: socket.socket | None) -> None:
    """Shut the reply's socket from another thread: unlike a close, a shutdown wakes a read blocked on it."""
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the reply is over and the socket closed already


def _after_prefix(prefix: str, pieces: Generator[str, None, None]) -> Generator[str, None, None]:
    """What follows `prefix`, whether the server continued it or started over and repeated it.

    Pieces are held back only while the reply so far could still be a repeat (usually not past the first piece).
    Closing this iterator closes `pieces`, and with it the connection.
    """
    with closing(pieces):
        held = ""
        for piece in pieces:
            held += piece
            reply = held.lstrip()
            if len(reply) < len(prefix) and prefix.startswith(reply):
                continue
            rest = reply[len(prefix) :] if reply.startswith(prefix) else held
            if rest:
                yield rest
            yield from pieces
            return


def _detail(body: bytes) -> str:
    """The server's own words from an error body: OpenAI's `error.message`, vLLM's `message`, FastAPI's `detail`."""
    try:
        error = json.loads(body)
    except ValueError:
        return " ".join(body.decode(errors="replace").split())[:200]
    if isinstance(error, dict):
        error = error.get("error", error)
    if isinstance(error, dict):
        error = error.get("message") or error.get("detail") or error
    return str(error)[:200]
