"""The emulator's HTTP face: a Starlette app speaking OpenAI's chat-completions API.

Routes: ``POST /v1/chat/completions`` (streaming and not), ``GET /v1/models``, and for
the rehearsal itself ``GET /emulator/stats``, ``GET /emulator/timeline`` and
``POST /emulator/reset``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pitstop._emulator.provider import Answer, Provider, _RequestError

__all__ = ["_StreamCut", "build_app", "quiet_cuts"]


class _StreamCut(Exception):
    """Raised inside a streamed answer to drop the connection mid-answer (a fault)."""


class _DropCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, _StreamCut):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def quiet_cuts() -> None:
    """Keep the server's log free of the tracebacks of deliberately cut streams."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropCuts) for f in logger.filters):
        logger.addFilter(_DropCuts())


def _error(status: int, message: str, kind: str, code: str | None = None,
           param: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": param, "code": code}},
        status_code=status, headers=headers,
    )


def _usage(a: Answer) -> dict[str, Any]:
    return {
        "prompt_tokens": a.prompt_tokens,
        "completion_tokens": a.completion_tokens,
        "total_tokens": a.prompt_tokens + a.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": a.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def _call_json(call: Any, index: int | None = None) -> dict[str, Any]:
    args = call.arguments if isinstance(call.arguments, str) else json.dumps(
        dict(call.arguments))
    out: dict[str, Any] = {"id": call.id, "type": "function",
                           "function": {"name": call.name, "arguments": args}}
    if index is not None:
        out["index"] = index
    return out


def build_app(provider: Provider) -> Starlette:
    """The ASGI app serving `provider` (usable in-process with ``httpx.ASGITransport``)."""
    counter = iter(range(1, 1 << 62))

    async def completions(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            provider.counters["requests"] += 1
            provider.counters["bad_requests"] += 1
            return _error(400, "We could not parse the JSON body of your request.",
                          "invalid_request_error")
        try:
            admission, answer, stream = await provider.handle(body)
        except _RequestError as e:
            return _error(e.status, str(e), "invalid_request_error", param=e.param)
        if answer is None:
            return _error(429, admission.message, admission.limit or "tokens",
                          "rate_limit_exceeded", headers=admission.headers)
        if answer.fault == "error":
            return _error(500, "The server had an error while processing your request. "
                          "Sorry about that!", "server_error", headers=admission.headers)
        ident = f"chatcmpl-emu{next(counter)}"
        created = int(time.time())
        model = str(body.get("model") or provider.model)
        if not stream:
            await provider.sleep(answer.ttft + answer.per_piece * len(answer.pieces))
            if answer.fault == "cut":
                raise _StreamCut("fault injection: connection dropped before the answer")
            message: dict[str, Any] = {"role": "assistant", "content": answer.text or None,
                                       "refusal": None}
            if answer.calls:
                message["tool_calls"] = [_call_json(c) for c in answer.calls]
            provider.finished(answer)
            return JSONResponse(
                {"id": ident, "object": "chat.completion", "created": created, "model": model,
                 "choices": [{"index": 0, "message": message, "logprobs": None,
                              "finish_reason": answer.finish_reason}],
                 "usage": _usage(answer), "system_fingerprint": "fp_emulator"},
                headers=admission.headers,
            )
        options = body.get("stream_options") or {}
        include_usage = bool(options.get("include_usage")) if isinstance(options, dict) else False
        return StreamingResponse(
            _sse(provider, answer, ident, created, model, include_usage),
            media_type="text/event-stream", headers=admission.headers,
        )

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [
            {"id": provider.model, "object": "model", "created": 0, "owned_by": "emulator"}]})

    async def stats(request: Request) -> Response:
        return JSONResponse(provider.stats())

    async def timeline(request: Request) -> Response:
        return JSONResponse(provider.timeline())

    async def reset(request: Request) -> Response:
        provider.reset()
        return JSONResponse(provider.stats())

    return Starlette(routes=[
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route("/chat/completions", completions, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/emulator/stats", stats, methods=["GET"]),
        Route("/emulator/timeline", timeline, methods=["GET"]),
        Route("/emulator/reset", reset, methods=["POST"]),
    ])


async def _sse(provider: Provider, a: Answer, ident: str, created: int, model: str,
               include_usage: bool) -> AsyncIterator[bytes]:
    """The answer as server-sent ``chat.completion.chunk`` events, paced."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {"id": ident, "object": "chat.completion.chunk", "created": created,
                   "model": model, "system_fingerprint": "fp_emulator",
                   "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                "finish_reason": finish}]}
        return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"

    sleep = provider.sleep
    if a.ttft:
        await sleep(a.ttft)
    yield chunk({"role": "assistant", "content": "", "refusal": None})
    owed = 0.0  # pacing owed: sleep in steps of at least 5 ms, not once per delta
    for i, piece in enumerate(a.pieces):
        if a.fault == "cut" and i == a.cut_at:
            raise _StreamCut("fault injection: stream cut mid-answer")
        if a.per_piece:
            owed += provider.jittered(a.per_piece)
            if owed >= 0.005:
                await sleep(owed)
                owed = 0.0
        yield chunk({"content": piece})
    if a.fault == "cut":  # an answer with no text: cut before the tool calls finish
        raise _StreamCut("fault injection: stream cut mid-answer")
    for index, call in enumerate(a.calls):
        head = _call_json(call, index)
        args = head["function"]["arguments"]
        head["function"]["arguments"] = ""
        yield chunk({"tool_calls": [head]})
        yield chunk({"tool_calls": [{"index": index, "function": {"arguments": args}}]})
    yield chunk({}, a.finish_reason)
    if include_usage:
        payload = {"id": ident, "object": "chat.completion.chunk", "created": created,
                   "model": model, "choices": [], "usage": _usage(a)}
        yield b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"
    provider.finished(a)
