"""OpenTelemetry GenAI spans and metrics of pitstop's operations (see `pitstop.otel`).

`pitstop.otel.instrument` puts an `Instrumentation` on `Monitor.otel`; the stages of a run
(`pitstop._run`) and the tool executor call it where each operation starts, and end the
span objects it returns where the operation ends. Needs the ``otel`` extra.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import context as _context
from opentelemetry import trace as _trace
from opentelemetry.trace import SpanKind, Status, StatusCode

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span as OTelSpan

    from pitstop._agent import HybridAgent
    from pitstop._tools.base import Tool
    from pitstop._tools.executor import PlannedCall
    from pitstop.llm._base import Message, ToolCall, ToolSpec, Usage

__all__ = ["SCHEMA_URL", "SEMCONV_VERSION", "AgentRun", "ChatSpan", "Instrumentation",
           "OperationSpan", "ToolSpan"]

SEMCONV_VERSION = "1.41.0"
"""The version of the OpenTelemetry GenAI semantic conventions the spans follow."""

SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

# The bucket boundaries the conventions recommend for the two GenAI histograms.
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                     40.96, 81.92)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                  16777216, 67108864)

# gen_ai.provider.name of pitstop's own model clients; another client may say its own
# with a `provider_name` attribute.
_PROVIDERS = {
    "OpenAIClient": "openai",
    "SimulatedLLM": "pitstop.simulated",
    "FunctionLLM": "pitstop.function",
}


class Instrumentation:
    """Turns pitstop's operations into OpenTelemetry spans and metrics.

    `pitstop.otel.instrument` puts one on `Monitor.otel`; a run's stages, the tool executor
    and `OperationTimer` call it where an operation starts.
    """

    def __init__(self, tracer: Any, meter: Any, *, capture_content: bool) -> None:
        self.tracer = tracer
        self.capture_content = capture_content
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.cache_lookups = meter.create_counter(
            "pitstop.cache.lookups", unit="{lookup}",
            description="Tool-cache lookups by outcome: hit, shared (single-flight) or miss.",
        )
        self.wait_count = meter.create_counter(
            "pitstop.limiter.waits", unit="{wait}",
            description="Times a resource limit made an operation wait.",
        )
        self.wait_duration = meter.create_histogram(
            "pitstop.limiter.wait.duration", unit="s",
            description="Seconds an operation waited for a resource limit.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )

    # -- tasks -------------------------------------------------------------------------

    def invoke_agent(
        self, agent: HybridAgent, task_id: str, task: str, session_id: str | None
    ) -> AgentRun:
        """Start the ``invoke_agent`` span of one task, under the caller's current span."""
        llm = agent.llm
        provider = provider_name(llm)
        model = model_name(llm)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": provider,
            "gen_ai.agent.name": agent.name,
            "gen_ai.agent.id": agent.agent_id,
            "gen_ai.request.model": model,
            "pitstop.task.id": task_id,
        }
        if session_id is not None:
            attrs["gen_ai.conversation.id"] = session_id
        if self.capture_content:
            attrs["gen_ai.input.messages"] = _json([_text_message("user", task)])
            attrs["gen_ai.system_instructions"] = _json(
                [{"type": "text", "content": agent.config.system_prompt}]
            )
        span = self.tracer.start_span(
            f"invoke_agent {agent.name}", kind=SpanKind.INTERNAL, attributes=attrs
        )
        return AgentRun(self, span, provider, model, llm)

    # -- tool calls --------------------------------------------------------------------

    def execute_tool(self, call: PlannedCall, tool: Tool | None) -> ToolSpan:
        """Start an ``execute_tool`` span under the current span and make it current."""
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call.tool_name,
            "gen_ai.tool.call.id": call.call_id,
            "gen_ai.tool.type": "function",
        }
        if tool is not None and tool.description:
            attrs["gen_ai.tool.description"] = tool.description
        if call.turn:
            attrs["pitstop.turn"] = call.turn
        if self.capture_content:
            attrs["gen_ai.tool.call.arguments"] = _json(_plain(call.arguments))
        span = self.tracer.start_span(
            f"execute_tool {call.tool_name}", kind=SpanKind.INTERNAL, attributes=attrs
        )
        token = _context.attach(_trace.set_span_in_context(span))
        return ToolSpan(self, span, token, call.tool_name)

    # -- spans recorded after the fact -------------------------------------------------

    def waits(self, waits: Sequence[Any], parent: Context | None) -> None:
        """One ``wait {limit}`` span per limiter wait that just ended."""
        end_ns = time.time_ns()
        for w in waits:
            waited = w.waited
            if waited <= 0:
                continue
            attrs = {"pitstop.limit": w.limit, "pitstop.wait.seconds": waited,
                     "pitstop.wait.requested": w.requested}
            span = self.tracer.start_span(
                f"wait {w.limit}", context=parent, kind=SpanKind.INTERNAL, attributes=attrs,
                start_time=end_ns - int(waited * 1e9),
            )
            span.end(end_time=end_ns)
            limit = {"pitstop.limit": w.limit}
            self.wait_count.add(1, limit)
            self.wait_duration.record(waited, limit)

    def compression(self, c: Any, parent: Context | None) -> None:
        """A ``compress {strategy}`` span, under `parent`, for a compression that just
        ended."""
        end_ns = time.time_ns()
        attrs = {
            "pitstop.compression.strategy": c.strategy,
            "pitstop.compression.messages_before": c.before,
            "pitstop.compression.messages_after": c.after,
            "pitstop.compression.tokens_before": c.tokens_before,
            "pitstop.compression.tokens_after": c.tokens_after,
        }
        span = self.tracer.start_span(
            f"compress {c.strategy}", context=parent, kind=SpanKind.INTERNAL, attributes=attrs,
            start_time=end_ns - int(c.duration * 1e9),
        )
        span.end(end_time=end_ns)

    def operation(self, name: str, attrs: Mapping[str, Any]) -> OperationSpan:
        """Start a span for a ``track_operation_time`` block and make it current."""
        attributes: dict[str, Any] = {"pitstop.operation": name}
        for k, v in attrs.items():
            if isinstance(v, (str, bool, int, float)):
                attributes[f"pitstop.{k}"] = v
        span = self.tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=attributes)
        token = _context.attach(_trace.set_span_in_context(span))
        return OperationSpan(span, token)


class AgentRun:
    """The ``invoke_agent`` span of one task and what its child spans need."""

    __slots__ = ("_tool_context", "cached_tokens", "calls", "context", "cost", "error",
                 "input_tokens", "inst", "model", "output_tokens", "provider",
                 "reasoning_tokens", "server", "span")

    def __init__(
        self, inst: Instrumentation, span: OTelSpan, provider: str, model: str, llm: Any
    ) -> None:
        self.inst = inst
        self.span = span
        self.provider = provider
        self.model = model
        self.context: Context = _trace.set_span_in_context(span)
        """The OpenTelemetry context whose current span is this task's ``invoke_agent``."""
        self._tool_context: contextvars.Context | None = None
        self.error: BaseException | None = None
        """What made the task fail, when it did."""
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_tokens = 0
        self.reasoning_tokens = 0
        self.cost: float | None = 0.0
        """Dollars of the task's model calls; None once one had no known price."""
        self.calls = 0
        """Model calls that finished."""
        self.server = server_attributes(llm)
        """``server.address`` and ``server.port`` of a remote model, else empty."""

    def tool_context(self) -> contextvars.Context:
        """A fresh `contextvars.Context` for one tool task, with ``invoke_agent`` current.

        Tool tasks run in it (``loop.create_task(..., context=...)``), so their
        ``execute_tool`` spans nest under this task while the consumer's own context is
        left alone.
        """
        base = self._tool_context
        if base is None:
            base = self._tool_context = contextvars.copy_context()
            base.run(_context.attach, self.context)
        return base.copy()

    def compression(self, c: Any) -> None:
        """A ``compress`` span under this task for a compression that just ended."""
        self.inst.compression(c, self.context)

    def chat(
        self, messages: Sequence[Message], max_tokens: int | None,
        tools: Sequence[ToolSpec] = (), *, turn: int = 0,
    ) -> ChatSpan:
        """Start a ``chat {model}`` span under this task's span."""
        inst = self.inst
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": self.provider,
            "gen_ai.request.model": self.model,
            "gen_ai.request.stream": True,
        }
        if max_tokens is not None:
            attrs["gen_ai.request.max_tokens"] = max_tokens
        if turn:
            attrs["pitstop.turn"] = turn
        attrs.update(self.server)
        if inst.capture_content:
            attrs["gen_ai.input.messages"] = _json([_message(m) for m in messages])
            if tools:
                attrs["gen_ai.tool.definitions"] = _json([
                    {"type": "function", "name": t.name, "description": t.description,
                     "parameters": dict(t.parameters)} for t in tools
                ])
        span = inst.tracer.start_span(
            f"chat {self.model}", context=self.context,
            kind=SpanKind.CLIENT if self.server else SpanKind.INTERNAL, attributes=attrs,
        )
        return ChatSpan(self, span, max_tokens)

    def end(
        self, status: str, output: str | None = None, *, iterations: int = 0,
        tool_calls: int = 0,
    ) -> None:
        """End the task's span: ``status`` is ``ok``, ``error`` (the reason in `error`) or
        ``cancelled``."""
        span = self.span
        attrs: dict[str, Any] = {
            "gen_ai.usage.input_tokens": self.input_tokens,
            "gen_ai.usage.output_tokens": self.output_tokens,
            "pitstop.iterations": iterations,
            "pitstop.tool_calls": tool_calls,
        }
        if self.cached_tokens:
            attrs["gen_ai.usage.cache_read.input_tokens"] = self.cached_tokens
        if self.reasoning_tokens:
            attrs["gen_ai.usage.reasoning.output_tokens"] = self.reasoning_tokens
        if self.cost is not None and self.calls:
            attrs["pitstop.usage.cost"] = self.cost
        span.set_attributes(attrs)
        if status == "ok" and output is not None and self.inst.capture_content:
            span.set_attribute("gen_ai.output.messages", _json([
                {**_text_message("assistant", output), "finish_reason": "stop"}
            ]))
        _finish(span, status, self.error)


class ChatSpan:
    """One live ``chat`` span."""

    __slots__ = ("max_tokens", "run", "span", "start")

    def __init__(self, run: AgentRun, span: OTelSpan, max_tokens: int | None) -> None:
        self.run = run
        self.span = span
        self.max_tokens = max_tokens
        self.start = time.perf_counter()

    def end(
        self, status: str, usage: Usage | None, calls: Sequence[ToolCall] = (), reply: str = "",
        error: BaseException | None = None,
    ) -> None:
        """End the span with the call's usage, finish reason and (opt-in) answer."""
        duration = time.perf_counter() - self.start
        if isinstance(error, (asyncio.CancelledError, GeneratorExit)):
            status = "cancelled"
        run = self.run
        inst = run.inst
        span = self.span
        metric: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": run.provider,
            "gen_ai.request.model": run.model,
            **run.server,
        }
        if status == "ok" and usage is not None:
            attrs: dict[str, Any] = {
                "gen_ai.usage.input_tokens": usage.input_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens,
            }
            # counts a client does not report are 0 in `Usage`: exported only when seen
            if usage.cached_input_tokens:
                attrs["gen_ai.usage.cache_read.input_tokens"] = usage.cached_input_tokens
            if usage.reasoning_tokens:
                attrs["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
            if usage.cost is not None:
                attrs["pitstop.usage.cost"] = usage.cost
            if calls:
                reason = "tool_calls"
            elif self.max_tokens and usage.output_tokens >= self.max_tokens:
                reason = "length"
            else:
                reason = "stop"
            attrs["gen_ai.response.finish_reasons"] = (reason,)
            if inst.capture_content:
                parts: list[dict[str, Any]] = []
                if reply:
                    parts.append({"type": "text", "content": reply})
                parts.extend({"type": "tool_call", "id": c.id, "name": c.name,
                              "arguments": _plain(c.arguments)} for c in calls)
                attrs["gen_ai.output.messages"] = _json(
                    [{"role": "assistant", "parts": parts, "finish_reason": reason}]
                )
            span.set_attributes(attrs)
            run.calls += 1
            run.input_tokens += usage.input_tokens
            run.output_tokens += usage.output_tokens
            run.cached_tokens += usage.cached_input_tokens
            run.reasoning_tokens += usage.reasoning_tokens
            run.cost = None if usage.cost is None or run.cost is None else run.cost + usage.cost
            inst.tokens.record(usage.input_tokens, {**metric, "gen_ai.token.type": "input"})
            inst.tokens.record(usage.output_tokens, {**metric, "gen_ai.token.type": "output"})
        elif status == "error":
            metric["error.type"] = _error_type(error)
        if status != "cancelled":  # a call cut short by its consumer has no duration to report
            inst.duration.record(duration, metric)
        _finish(span, status, error)


class ToolSpan:
    """One live ``execute_tool`` span, current in the tool's context until it ends."""

    __slots__ = ("inst", "name", "span", "token")

    def __init__(self, inst: Instrumentation, span: OTelSpan, token: object, name: str) -> None:
        self.inst = inst
        self.span = span
        self.token = token
        self.name = name

    def end(
        self, status: str, *, outcome: str | None = None, result: Any = None,
        error: BaseException | str | None = None,
    ) -> None:
        """End the span. `outcome` is the cache's: ``hit``, ``shared``, ``miss`` or None
        (no cache, or the cache was bypassed)."""
        _context.detach(self.token)  # type: ignore[arg-type]
        span = self.span
        attrs: dict[str, Any] = {
            "pitstop.cache.hit": outcome == "hit" or outcome == "shared",
            "pitstop.cache.shared": outcome == "shared",
        }
        if outcome is not None:
            self.inst.cache_lookups.add(
                1, {"gen_ai.tool.name": self.name, "pitstop.cache.outcome": outcome}
            )
        if status == "ok" and self.inst.capture_content:
            attrs["gen_ai.tool.call.result"] = _json(result)
        span.set_attributes(attrs)
        _finish(span, status, error)


class OperationSpan:
    """The live span of a ``track_operation_time`` block."""

    __slots__ = ("span", "token")

    def __init__(self, span: OTelSpan, token: object) -> None:
        self.span = span
        self.token = token

    def end(self, status: str, error: BaseException | None) -> None:
        _context.detach(self.token)  # type: ignore[arg-type]
        _finish(self.span, status, error)


# -- helpers -------------------------------------------------------------------------------


def provider_name(llm: Any) -> str:
    """``gen_ai.provider.name`` of a model client."""
    name = getattr(llm, "provider_name", None)
    if isinstance(name, str) and name:
        return name
    return _PROVIDERS.get(type(llm).__name__, type(llm).__name__)


def server_attributes(llm: Any) -> dict[str, Any]:
    """``server.address`` and ``server.port`` of a client with a ``base_url``."""
    base_url = getattr(llm, "base_url", None)
    if not isinstance(base_url, str) or not base_url:
        return {}
    parts = urlsplit(base_url)
    if not parts.hostname:
        return {}
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is not a number
        return {"server.address": parts.hostname}
    return {"server.address": parts.hostname, "server.port": port}


def model_name(llm: Any) -> str:
    model = getattr(llm, "model", None)
    return model if isinstance(model, str) and model else type(llm).__name__


def _finish(span: OTelSpan, status: str, error: BaseException | str | None) -> None:
    if status == "error":
        span.set_attribute("error.type", _error_type(error))
        if isinstance(error, BaseException):
            span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, str(error) if error is not None else None))
    elif status == "cancelled":
        span.set_attribute("pitstop.status", "cancelled")
    span.end()


def _error_type(error: BaseException | str | None) -> str:
    if isinstance(error, BaseException):
        return type(error).__qualname__
    return "_OTHER"


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _plain(arguments: Any) -> Any:
    """Tool-call arguments as JSON can hold them (a read-only mapping becomes a dict)."""
    return dict(arguments) if isinstance(arguments, Mapping) else arguments


def _text_message(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


def _message(m: Message) -> dict[str, Any]:
    """A pitstop message in the conventions' input-message JSON shape."""
    if m.role == "tool":
        return {"role": "tool", "parts": [
            {"type": "tool_call_response", "id": m.tool_call_id, "result": m.content}
        ]}
    parts: list[dict[str, Any]] = []
    if m.content:
        parts.append({"type": "text", "content": m.content})
    parts.extend({"type": "tool_call", "id": c.id, "name": c.name,
                  "arguments": _plain(c.arguments)} for c in m.tool_calls)
    return {"role": m.role, "parts": parts}
