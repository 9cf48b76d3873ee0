"""RemoteTranslator against a tiny OpenAI-compatible chat-completions server run by the test on 127.0.0.1."""

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from model.remote_translator import RemoteTranslator, TranslatorUnavailable
from model.translator import StopSignal, TranslatorSettings, Turn, build_messages

KEY_ENV = "S2ST_TRANSLATOR_API_KEY"


def sse(*script, done=True):
    """A vLLM-like stream: a role delta, one delta per piece (a float stalls that long), a stop event, [DONE]."""
    lines = [b": keep-alive", _event({"role": "assistant", "content": ""})]
    lines += [item if isinstance(item, float) else _event({"content": item}) for item in script]
    lines.append(_event({}, finish="stop"))
    return lines + [b"data: [DONE]"] if done else lines


def _event(delta, finish=None):
    chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk).encode()


class ChatHandler(BaseHTTPRequestHandler):
    """Answers with `server.reply(body)`: (status, error body), or SSE lines sent chunked, floats being stalls."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        answer = self.server.reply(body)
        self.close_connection = True
        if isinstance(answer, tuple):
            status, error = answer
            payload = json.dumps(error).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        try:
            started = False
            for item in answer:
                if isinstance(item, float):
                    self.server.release.wait(item)
                    continue
                if not started:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    started = True
                data = item + b"\n\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client gave up waiting

    def log_message(self, *args):
        pass


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # socketserver's 5 drops simultaneous connects, which then wait a 1 s SYN retry

    def __init__(self, reply):
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.reply = reply
        self.requests = []
        self.release = threading.Event()  # ends every stall at teardown
        self.url = f"http://127.0.0.1:{self.server_port}/v1"


@pytest.fixture
def serve():
    servers = []

    def start(reply):
        server = ChatServer(reply)
        threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


def remote(url, *, api_key=None, timeout_s=1.0, deadline_s=5.0, glossary=None):
    return RemoteTranslator(
        url,
        "qwen",
        api_key=api_key,
        api_key_env=KEY_ENV,
        timeout_s=timeout_s,
        deadline_s=deadline_s,
        settings=TranslatorSettings(max_new_tokens=64, glossary=glossary or {}),
    )


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_pieces_stream_in_order_and_translate_joins_and_cleans_them(serve):
    server = serve(lambda body: sse("„Wo", " ist der", " Bahnhof?“", "\n\nNote: formal register."))
    translator = remote(server.url)
    assert list(translator.stream("Where is the station?", "English", "German")) == [
        "„Wo",
        " ist der",
        " Bahnhof?“",
        "\n\nNote: formal register.",
    ]
    assert translator.translate("Where is the station?", "English", "German") == "Wo ist der Bahnhof?"


def test_the_request_carries_prompt_context_glossary_and_streaming(serve):
    server = serve(lambda body: sse("Ja."))
    context = [Turn("Guten Tag.", "Good afternoon."), Turn("Haben Sie ein Zimmer?", "Do you have a room?")]
    glossary = {"Zimmer": "room"}
    remote(server.url, glossary=glossary).translate(" Für zwei Nächte. ", "German", "English", context=context)
    [request] = server.requests
    body = request["body"]
    assert request["path"] == "/v1/chat/completions"
    assert body["model"] == "qwen" and body["stream"] is True and body["temperature"] == 0
    assert body["max_tokens"] == 64
    assert "continue_final_message" not in body and "add_generation_prompt" not in body
    assert body["messages"] == build_messages(
        "Für zwei Nächte.", "German", "English", context=context, glossary=glossary
    )
    system, *turns, last = body["messages"]
    assert "German" in system["content"] and "English" in system["content"] and "Zimmer -> room" in system["content"]
    assert turns == [
        {"role": "user", "content": "Guten Tag."},
        {"role": "assistant", "content": "Good afternoon."},
        {"role": "user", "content": "Haben Sie ein Zimmer?"},
        {"role": "assistant", "content": "Do you have a room?"},
    ]
    assert last == {"role": "user", "content": "Für zwei Nächte."}


@pytest.mark.parametrize(
    "reply",
    [
        lambda body: sse(" einen", " Hund.") if body.get("continue_final_message") else sse("Mein Hund."),  # vLLM
        lambda body: sse("Ich habe", " einen", " Hund."),  # ignores the flags and starts over
        lambda body: sse(" Ich ha", "be ein", "en Hund."),  # the same, the repeat cut across pieces
    ],
    ids=["server continues the prefix", "server repeats the prefix", "repeat split across pieces"],
)
def test_only_what_follows_a_forced_prefix_is_streamed(serve, reply):
    server = serve(reply)
    translator = remote(server.url)
    assert "".join(translator.stream("I have a dog.", "English", "German", prefix="Ich habe")) == " einen Hund."
    assert translator.translate("I have a dog.", "English", "German", prefix="Ich habe") == "Ich habe einen Hund."
    body = server.requests[0]["body"]
    assert body["messages"][-1] == {"role": "assistant", "content": "Ich habe"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


def test_a_reply_that_does_not_repeat_the_prefix_passes_whole(serve):
    server = serve(lambda body: sse(" Hund", "."))
    pieces = remote(server.url).stream("I have a dog.", "English", "German", prefix="Ich habe einen")
    assert list(pieces) == [" Hund", "."]


def test_a_stop_shuts_a_reply_blocked_mid_stream_and_the_stream_ends_quietly(serve):
    server = serve(lambda body: sse("Hallo", 30.0, " Welt."))
    stop = StopSignal()
    pieces = remote(server.url, timeout_s=20.0, deadline_s=60.0).stream("Hello world.", "English", "German", stop=stop)
    assert next(pieces) == "Hallo"
    threading.Timer(0.1, stop.set).start()  # from another thread, while the read waits for the stalled server
    assert list(pieces) == []  # no " Welt.", and no error: the 20 s timeout was not waited out


def test_a_stream_stopped_before_it_began_yields_nothing(serve):
    server = serve(lambda body: sse("Hallo."))
    stop = StopSignal()
    stop.set()
    assert list(remote(server.url).stream("Hello.", "English", "German", stop=stop, prefix="Ha")) == []


def test_the_api_key_goes_in_a_bearer_header_only_when_given(serve):
    server = serve(lambda body: sse("Hallo."))
    remote(server.url, api_key="sk-local").translate("Hello.", "English", "German")
    remote(server.url).translate("Hello.", "English", "German")
    with_key, without_key = (request["headers"] for request in server.requests)
    assert with_key["Authorization"] == "Bearer sk-local"
    assert "Authorization" not in without_key


def test_a_dead_server_is_reported_at_once_naming_the_url():
    url = closed_port_url()
    began = time.monotonic()
    with pytest.raises(TranslatorUnavailable) as failure:
        remote(url, timeout_s=5.0).translate("Hello.", "English", "German")
    assert time.monotonic() - began < 1.0  # a refused connection is not waited out
    assert str(failure.value) == (
        f"translator server {url} is not reachable (connection refused): "
        "start it, or fix translator.base_url in the profile"
    )


@pytest.mark.parametrize(
    "script", [[5.0, *sse("Hallo.")], sse("Hallo", 5.0, " Welt.")], ids=["before the headers", "between pieces"]
)
def test_a_stalling_server_times_out_with_the_timeout_named(serve, script):
    server = serve(lambda body: script)
    began = time.monotonic()
    with pytest.raises(TranslatorUnavailable, match=r"did not answer within 0.3 s: .*translator.timeout_s") as failure:
        remote(server.url, timeout_s=0.3).translate("Hello world.", "English", "German")
    assert time.monotonic() - began < 3.0
    assert server.url in str(failure.value)


def test_a_reply_that_never_ends_is_cut_at_the_deadline(serve):
    server = serve(lambda body: sse(*[item for _ in range(50) for item in (0.1, " und")]))
    with pytest.raises(TranslatorUnavailable, match=r"did not finish its reply within 0.5 s: .*translator.deadline_s"):
        remote(server.url, timeout_s=1.0, deadline_s=0.5).translate("And so on.", "English", "German")


@pytest.mark.parametrize(
    "status, error, api_key, message",
    [
        (401, {"error": {"message": "Invalid API key"}}, "sk-old", f"refused the request (HTTP 401: Invalid API key): "
         f"check the API key in ${KEY_ENV}"),
        (401, {"error": {"message": "Unauthorized"}}, None, f"(HTTP 401: Unauthorized): it needs an API key: set "
         f"${KEY_ENV}"),
        (404, {"object": "error", "message": "The model `qwen` does not exist.", "code": 404}, None,
         "has no model 'qwen' (HTTP 404: The model `qwen` does not exist.): fix translator.model"),
        (500, {"detail": "CUDA out of memory"}, None, "failed (HTTP 500: CUDA out of memory): see the server's log"),
    ],
    ids=["wrong key", "no key", "unknown model", "server error"],
)  # fmt: skip
def test_http_errors_say_what_went_wrong_and_what_to_do(serve, status, error, api_key, message):
    server = serve(lambda body: (status, error))
    with pytest.raises(TranslatorUnavailable) as failure:
        remote(server.url, api_key=api_key).translate("Hello.", "English", "German")
    assert str(failure.value).startswith(f"translator server {server.url} ")
    assert message in str(failure.value)


@pytest.mark.parametrize(
    "script, message",
    [
        ([b"data: {not json", b"data: [DONE]"], "sent a malformed stream ('{not json')"),
        ([b'data: {"choices": [{"text": "Hallo"}]}', b"data: [DONE]"], "sent a malformed stream"),
        (sse("Hallo", done=False), "sent a malformed stream (it ended without 'data: [DONE]')"),
        ([*sse("Hallo")[:3], b'data: {"error": {"message": "out of memory"}}'], "failed mid-reply (out of memory)"),
    ],
    ids=["not json", "no delta", "no [DONE]", "error event"],
)
def test_a_broken_stream_is_reported_as_such(serve, script, message):
    server = serve(lambda body: script)
    with pytest.raises(TranslatorUnavailable) as failure:
        remote(server.url).translate("Hello.", "English", "German")
    assert f"translator server {server.url} {message}" in str(failure.value)


def test_blank_text_and_the_same_language_need_no_request(serve):
    server = serve(lambda body: sse("never"))
    translator = remote(server.url)
    assert translator.translate("   ", "English", "German") == ""
    assert translator.translate(" Hello there ", "English", "English") == "Hello there"
    assert list(translator.stream(" Hello there ", "English", "English", prefix="Hello")) == [" there"]
    assert list(translator.stream("  ", "English", "German")) == []
    assert server.requests == []


def test_many_threads_share_one_translator(serve):
    def reply(body):
        text = body["messages"][-1]["content"]
        return sse("de:", 0.02, f" {text}")

    translator = remote(serve(reply).url)
    texts = [f"sentence {i}" for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda text: translator.translate(text, "English", "German"), texts))
    assert results == [f"de: {text}" for text in texts]


def test_a_base_url_that_is_not_http_is_refused():
    with pytest.raises(ValueError, match="translator.base_url '127.0.0.1:8000' is not an http"):
        remote("127.0.0.1:8000")
