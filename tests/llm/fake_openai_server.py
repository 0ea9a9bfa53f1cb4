"""A small OpenAI-compatible chat server on loopback, scripted per request.

Each request takes the next `Reply` from the script (the last one repeats): a stream of
SSE ``chat.completion.chunk`` frames, an error status with headers, or a stream that
drops part-way. Gates (`threading.Event`) hold a chunk back until the test releases it,
so tests can see a delta arrive before the server has sent the rest, with no timing.
Every request is recorded (path, headers, JSON body) for assertions on the payload.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

GATE_TIMEOUT_S = 10.0
"""How long a gated chunk waits for the test before the server gives up on it."""
REPEAT_LIMIT_S = 30.0
"""The longest a `Reply.repeat` stream goes on, so a failing test cannot hang the server."""


@dataclass
class Reply:
    """What the server does with one request."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    chunks: Sequence[Mapping[str, Any]] = ()
    """SSE payloads of a 200 answer, followed by ``data: [DONE]``."""
    error: str = "something went wrong"
    """The error message of a non-200 answer."""
    drop_after: int | None = None
    """Stop after this many chunks instead of finishing the stream."""
    drop: Literal["reset", "eof"] = "reset"
    """``reset``: close the socket mid-body; ``eof``: end the body cleanly but early."""
    gates: Mapping[int, threading.Event] = field(default_factory=dict)
    """Chunk index -> event the server waits for before sending that chunk."""
    frames: Sequence[bytes] = ()
    """Raw SSE bytes sent after `chunks` (malformed events, comments), as given."""
    repeat: bytes | None = None
    """After the chunks and frames, send these bytes every `repeat_interval` seconds
    until the client goes away (or `REPEAT_LIMIT_S` passes): a server that never ends."""
    repeat_interval: float = 0.01


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _chunk(delta: Mapping[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish}],
    }


def usage_chunk(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def text_chunks(
    parts: Sequence[str], *, usage: tuple[int, int] | None = (11, 7), finish: str = "stop"
) -> list[dict[str, Any]]:
    """A streamed text answer: one chunk per part, a finish chunk, then usage."""
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [_chunk({"content": p}) for p in parts]
    chunks.append(_chunk({}, finish))
    if usage is not None:
        chunks.append(usage_chunk(*usage))
    return chunks


def tool_call_chunks(
    calls: Sequence[tuple[str, str, str]],
    *,
    pieces: int = 3,
    usage: tuple[int, int] | None = (20, 9),
) -> list[dict[str, Any]]:
    """A streamed tool-call answer; each call's JSON arguments split over `pieces` chunks.

    `calls` are ``(id, name, arguments_json)``. The id and name come in the first delta
    of each call, as OpenAI sends them; the arguments follow in fragments.
    """
    chunks = [_chunk({"role": "assistant", "content": None})]
    for index, (call_id, name, args) in enumerate(calls):
        head = {"index": index, "id": call_id, "type": "function"}
        chunks.append(
            _chunk({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
        )
        step = max(1, -(-len(args) // pieces))
        for start in range(0, len(args), step):
            fragment = {"index": index, "function": {"arguments": args[start : start + step]}}
            chunks.append(_chunk({"tool_calls": [fragment]}))
    chunks.append(_chunk({}, "tool_calls"))
    if usage is not None:
        chunks.append(usage_chunk(*usage))
    return chunks


class FakeOpenAIServer:
    """An OpenAI-compatible chat server on 127.0.0.1, run in a thread."""

    def __init__(self, script: Sequence[Reply] = ()) -> None:
        self.script: list[Reply] = list(script) or [Reply(chunks=text_chunks(["Hello"]))]
        self.requests: list[Request] = []
        self.completed = 0
        """Streams the server sent to the end (all chunks and ``[DONE]``)."""
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def next_reply(self) -> Reply:
        with self._lock:
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                body = json.dumps({"object": "list", "data": [{"id": "fake-model"}]}).encode()
                self._send(200, {"Content-Type": "application/json"}, body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(
                        Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                reply = server.next_reply()
                if reply.status != 200:
                    payload = {"error": {"message": reply.error, "type": "fake", "code": None}}
                    headers = {"Content-Type": "application/json", **reply.headers}
                    self._send(reply.status, headers, json.dumps(payload).encode())
                    return
                try:
                    self._stream(reply)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client went away first: fine

            def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _write_chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _stream(self, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.flush()
                for i, chunk in enumerate(reply.chunks):
                    if reply.drop_after is not None and i >= reply.drop_after:
                        self._drop(reply.drop)
                        return
                    gate = reply.gates.get(i)
                    if gate is not None and not gate.wait(GATE_TIMEOUT_S):
                        self._drop("reset")
                        return
                    self._write_chunk(f"data: {json.dumps(chunk)}\n\n".encode())
                for frame in reply.frames:
                    self._write_chunk(frame)
                if reply.repeat is not None:
                    deadline = time.monotonic() + REPEAT_LIMIT_S
                    while time.monotonic() < deadline:
                        self._write_chunk(reply.repeat)
                        time.sleep(reply.repeat_interval)
                    self._drop("reset")
                    return
                if reply.drop_after is not None:
                    self._drop(reply.drop)
                    return
                self._write_chunk(b"data: [DONE]\n\n")
                self._write_chunk(b"")
                with server._lock:
                    server.completed += 1

            def _drop(self, how: str) -> None:
                if how == "eof":
                    self._write_chunk(b"")  # a complete, but truncated, body
                else:
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

        return Handler


@contextmanager
def fake_openai_server(*script: Reply) -> Iterator[FakeOpenAIServer]:
    """Run a `FakeOpenAIServer` for the duration of a ``with`` block."""
    server = FakeOpenAIServer(script).start()
    try:
        yield server
    finally:
        server.stop()
