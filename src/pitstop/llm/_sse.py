"""The lean stream: server-sent events of chat completion chunks, decoded with msgspec.

The ``openai`` SDK turns every streamed chunk into pydantic models, about 75 µs of CPU
per chunk; reading the raw SSE bytes of the same response and decoding each ``data:``
line into the typed `msgspec` structs below costs a few µs (``bench/bench_provider.py``
has the figures). The structs name only the fields pitstop reads; others are skipped
by the decoder without being built.

`sse_chunks` splits the bytes into events (``data:`` lines, ``:`` keep-alive comments,
blank-line separators, ``\\r\\n`` or ``\\n``), stops at ``[DONE]``, and raises
`_BadChunk` with the offending bytes for a line that is not JSON or not a chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from pitstop.llm._stream_errors import _BadChunk

__all__ = ["Chunk", "sse_chunks"]


class Function(msgspec.Struct, gc=False):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(msgspec.Struct, gc=False):
    index: int | None = None
    id: str | None = None
    function: Function | None = None


class Delta(msgspec.Struct, gc=False):
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class Choice(msgspec.Struct, gc=False):
    delta: Delta | None = None
    finish_reason: str | None = None


class PromptDetails(msgspec.Struct, gc=False):
    cached_tokens: int | None = None


class CompletionDetails(msgspec.Struct, gc=False):
    reasoning_tokens: int | None = None


class ChunkUsage(msgspec.Struct, gc=False):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: PromptDetails | None = None
    completion_tokens_details: CompletionDetails | None = None


class Chunk(msgspec.Struct, gc=False):
    """One ``chat.completion.chunk`` (only the fields pitstop reads)."""

    choices: list[Choice] | None = None
    usage: ChunkUsage | None = None
    error: Any = None
    """An error object some servers send inside the stream instead of a chunk."""


_decode = msgspec.json.Decoder(Chunk).decode
_DONE = b"[DONE]"


async def sse_chunks(body: AsyncIterator[bytes]) -> AsyncIterator[Chunk]:
    """The chunks of an SSE body, decoded, until ``data: [DONE]`` or the body ends.

    Raises:
        _BadChunk: a ``data:`` payload that is not JSON or not shaped like a chunk.
    """
    rest = b""
    data: list[bytes] = []
    async for raw in body:
        if rest:
            raw = rest + raw
        lines = raw.split(b"\n")
        rest = lines.pop()  # an incomplete line (or b"" after a final newline)
        for line in lines:
            if line and line[-1] == 13:  # b"\r"
                line = line[:-1]
            if not line:  # end of an event
                if data:
                    payload = data[0] if len(data) == 1 else b"\n".join(data)
                    data = []
                    if payload == _DONE:
                        return
                    yield _decoded(payload)
            elif line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            # ":" comments (keep-alives), "event:", "id:" and "retry:" lines carry nothing
            # a chat completion needs.
    if rest.startswith(b"data:"):
        data.append(rest[6:] if rest[5:6] == b" " else rest[5:])
    if data:  # a last event without its blank line
        payload = b"\n".join(data)
        if payload != _DONE:
            yield _decoded(payload)


def _decoded(payload: bytes) -> Chunk:
    try:
        return _decode(payload)
    except msgspec.ValidationError as e:
        raise _BadChunk(payload, f"a chunk of the wrong shape ({e})") from None
    except msgspec.DecodeError as e:
        raise _BadChunk(payload, f"not JSON ({e})") from None
