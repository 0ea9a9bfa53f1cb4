"""OpenTelemetry export: pitstop's spans as GenAI spans, plus GenAI and pitstop metrics.

    from pitstop import otel

    otel.instrument()                    # the global TracerProvider and MeterProvider
    otel.instrument(provider, capture_content=True)
    otel.uninstrument()

From `instrument()` on, every agent's task, model call, tool call, limiter wait and
compression is also an OpenTelemetry span, named and attributed per the OpenTelemetry
semantic conventions for generative AI, version `SEMCONV_VERSION` (1.41.0: the last
release of the GenAI conventions in open-telemetry/semantic-conventions, which later
moved to open-telemetry/semantic-conventions-genai):

- ``invoke_agent {agent name}`` (INTERNAL): ``gen_ai.operation.name``, ``gen_ai.agent.name``,
  ``gen_ai.agent.id``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
  ``gen_ai.conversation.id`` (the session), ``pitstop.task.id``, and the task's totals of
  the chat spans' usage attributes and cost.
- ``chat {model}`` (CLIENT; INTERNAL for an in-process model): ``gen_ai.provider.name``,
  ``gen_ai.request.model``, ``gen_ai.request.max_tokens``, ``gen_ai.request.stream``,
  ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``,
  ``gen_ai.usage.cache_read.input_tokens`` and ``gen_ai.usage.reasoning.output_tokens``
  (when the model reports them), ``pitstop.usage.cost`` (dollars, when the model is priced),
  ``gen_ai.response.finish_reasons``, ``server.address`` and ``server.port``.
- ``execute_tool {tool}`` (INTERNAL): ``gen_ai.tool.name``, ``gen_ai.tool.call.id``,
  ``gen_ai.tool.type``, ``gen_ai.tool.description``, ``pitstop.cache.hit`` and
  ``pitstop.cache.shared`` (answered by an identical call in flight).
- ``wait {limit}`` (INTERNAL): ``pitstop.limit``, ``pitstop.wait.seconds``,
  ``pitstop.wait.requested``.
- ``compress {strategy}`` (INTERNAL): ``pitstop.compression.*``, messages and tokens before
  and after.
- a ``track_operation_time(name)`` block: a span ``{name}`` with ``pitstop.operation``.

Spans start when the work starts, so they nest: ``chat`` and ``execute_tool`` spans are
children of their ``invoke_agent`` span, also when the tools of one turn run in
concurrent asyncio tasks, and ``invoke_agent`` is a child of the caller's current span.
Inside a tool the ``execute_tool`` span is the current span, so what the tool itself
traces (an instrumented HTTP client, say) nests under it. A failure sets the span's
status to ERROR, sets ``error.type`` and records the exception; a cancelled operation
ends with ``pitstop.status="cancelled"`` and no error.

Prompts, answers, tool arguments and tool results are exported only with
``capture_content=True`` (as JSON strings in ``gen_ai.input.messages``,
``gen_ai.output.messages``, ``gen_ai.tool.definitions``, ``gen_ai.tool.call.arguments``
and ``gen_ai.tool.call.result``).

``gen_ai.response.finish_reasons`` is inferred by pitstop, since its model clients do not
pass the provider's reason on: ``tool_calls`` when the model called tools, ``length``
when it used all of ``max_tokens``, else ``stop``.

Metrics (on the MeterProvider given, else the global one):

- ``gen_ai.client.operation.duration`` (histogram, s) of each model call that finished or
  failed (not one its consumer cut short): ``gen_ai.operation.name``,
  ``gen_ai.provider.name``, ``gen_ai.request.model``, ``server.address``, ``server.port``,
  ``error.type``.
- ``gen_ai.client.token.usage`` (histogram, {token}): the same and ``gen_ai.token.type``
  (``input`` or ``output``).
- ``pitstop.cache.lookups`` (counter, {lookup}): ``gen_ai.tool.name``,
  ``pitstop.cache.outcome`` (``hit``, ``shared`` or ``miss``).
- ``pitstop.limiter.waits`` (counter, {wait}) and ``pitstop.limiter.wait.duration``
  (histogram, s): ``pitstop.limit``.

Off (never instrumented, or after `uninstrument()`), the cost on the hot path is one
attribute read where each task, model call and tool call starts, and a None test where it
ends; `import pitstop` does not load OpenTelemetry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pitstop.errors import ConfigError, MissingExtraError

try:
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace

    from pitstop._metrics import genai as _genai
    from pitstop._metrics.genai import SEMCONV_VERSION
except ImportError as exc:  # pragma: no cover - the extra is part of dev
    raise MissingExtraError(
        "pitstop.otel needs the OpenTelemetry API and SDK: pip install 'pitstop[otel]'."
    ) from exc

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["SEMCONV_VERSION", "instrument", "is_instrumented", "uninstrument"]


def instrument(
    tracer_provider: TracerProvider | None = None,
    *,
    capture_content: bool = False,
    meter_provider: MeterProvider | None = None,
) -> None:
    """Export every agent's spans, and the GenAI metrics, to OpenTelemetry from now on.

    Calling it again replaces the earlier settings; runs already going keep theirs.

    Args:
        tracer_provider: where spans go; None uses the global one
            (`opentelemetry.trace.set_tracer_provider`).
        capture_content: also export prompts, answers, tool arguments and tool results.
            They may hold personal data: off by default, as the conventions ask.
        meter_provider: where metrics go; None uses the global one.
    """
    if tracer_provider is not None and not callable(getattr(tracer_provider, "get_tracer", None)):
        raise ConfigError(
            f"tracer_provider must be an OpenTelemetry TracerProvider (with get_tracer), got "
            f"{tracer_provider!r}; pass opentelemetry.sdk.trace.TracerProvider(...) or None "
            "for the global one."
        )
    if meter_provider is not None and not callable(getattr(meter_provider, "get_meter", None)):
        raise ConfigError(
            f"meter_provider must be an OpenTelemetry MeterProvider (with get_meter), got "
            f"{meter_provider!r}; pass opentelemetry.sdk.metrics.MeterProvider(...) or None "
            "for the global one."
        )
    if not isinstance(capture_content, bool):
        raise ConfigError(f"capture_content must be True or False, got {capture_content!r}.")
    from pitstop import __version__
    from pitstop._metrics.monitor import Monitor

    tracer = (tracer_provider or _trace.get_tracer_provider()).get_tracer(
        "pitstop", __version__, schema_url=_genai.SCHEMA_URL
    )
    meter = (meter_provider or _metrics.get_meter_provider()).get_meter(
        "pitstop", __version__, schema_url=_genai.SCHEMA_URL
    )
    Monitor.otel = _genai.Instrumentation(tracer, meter, capture_content=capture_content)


def uninstrument() -> None:
    """Stop exporting: agents record only their own Monitor spans again."""
    from pitstop._metrics.monitor import Monitor

    Monitor.otel = None


def is_instrumented() -> bool:
    """Whether `instrument` is in force."""
    from pitstop._metrics.monitor import Monitor

    return Monitor.otel is not None
