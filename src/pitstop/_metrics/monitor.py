"""The Monitor: one span per task, model call, tool call, limiter wait and compression.

Recording a span is an append to two bounded deques, cheap enough to stay on always.
Percentiles are computed when asked for, never on the hot path.
"""

from __future__ import annotations

import asyncio
import math
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple, TypedDict

if TYPE_CHECKING:
    from pitstop._metrics.genai import Instrumentation, OperationSpan

__all__ = [
    "OTHER",
    "Monitor",
    "OperationMetrics",
    "OperationTimer",
    "Span",
    "SpanKind",
    "percentile",
]

SpanKind = Literal["task", "llm", "tool", "wait", "compression", "operation"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class OperationMetrics(TypedDict):
    """Timings of one operation (``task``, ``llm``, a tool's name, a tracked block)."""

    count: int
    """Times it ran (all of them; percentiles cover the last ``max_samples``)."""
    avg_time: float
    """Mean seconds."""
    p50_time: float
    """Median seconds."""
    p95_time: float
    """95th percentile, seconds."""
    p99_time: float
    """99th percentile, seconds."""
    min_time: float
    """Fastest, seconds."""
    max_time: float
    """Slowest, seconds."""
    error_count: int
    """Runs that ended in an error."""


class Span(NamedTuple):
    """One timed piece of work. Times are seconds on the Monitor's clock.

    A named tuple: immutable and cheap to create, so recording stays on the hot path.
    """

    kind: SpanKind
    """``task``, ``llm``, ``tool``, ``wait``, ``compression`` or ``operation``."""
    name: str
    """The task id, model name, tool name, limit name or operation name."""
    start: float
    end: float
    status: str = "ok"
    """``ok``, ``error`` or ``cancelled``."""
    task_id: str | None = None
    """The task this span belongs to (None for spans outside a task)."""
    attrs: Mapping[str, Any] = _EMPTY
    """Extra facts: ``cached``, ``turn``, ``call_id``, ``tokens``..."""

    @property
    def duration(self) -> float:
        return self.end - self.start


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, by linear interpolation."""
    if not sorted_values:
        return 0.0
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = rank - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def _key_shown(kind: str, name: str, cached: bool = False) -> str:
    return repr(_operation_key(kind, name, cached)[:60])


def _operation_key(kind: str, name: str, cached: bool = False) -> str:
    if kind == "operation":
        return name
    if kind == "task":
        return "task"
    if kind == "llm":
        return "llm_call"
    if cached:  # a cache hit is not a run of the tool: its latency is kept apart
        return f"cache_hit:{name}"
    return f"{kind}:{name}"


class _OpStats:
    __slots__ = ("count", "durations", "errors")

    def __init__(self, max_samples: int) -> None:
        self.count = 0
        self.errors = 0
        self.durations: deque[float] = deque(maxlen=max_samples)


OTHER = "(other)"
"""The operation that counts the names past `Monitor`'s ``max_operations``."""


class Monitor:
    """Records spans and per-operation durations, in bounded memory.

    Every structure has a bound, whatever runs through it: the timeline keeps the last
    `max_spans` spans, each operation its last `max_samples` durations, and at most
    `max_operations` distinct operations are kept apart (tool names a model made up,
    f-string operation names); the ones after that are counted together as
    ``"(other)"``, with one warning. Task spans are named by their task id but all
    count as the one operation ``task``. `sizes` reports the sizes.

    Args:
        clock: the time source, in seconds; injected so tests can use a fake clock.
        max_spans: how many spans the timeline keeps (the oldest are dropped).
        max_samples: how many durations each operation keeps for its percentiles.
        max_operations: how many distinct operations are timed apart.
    """

    otel: ClassVar[Instrumentation | None] = None
    """The OpenTelemetry export in force (`pitstop.otel.instrument`), else None.

    Where an operation starts, the agent and the tool executor read this once; while it
    is None that one attribute check is all the export costs.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.perf_counter,
        max_spans: int = 20_000,
        max_samples: int = 10_000,
        max_operations: int = 1_000,
    ) -> None:
        self.clock = clock
        self._spans: deque[Span] = deque(maxlen=max_spans)
        self._ops: dict[str, _OpStats] = {}
        # (kind, name, cache hit) -> its stats, so the hot path skips building the key;
        # never holds task ids (one per task) and stops growing at 2 * max_operations
        self._by_kind_name: dict[tuple[str, str, bool], _OpStats] = {}
        self._max_samples = max_samples
        self._max_operations = max_operations
        self._warned = False

    def record(
        self,
        kind: SpanKind,
        name: str,
        start: float,
        end: float,
        *,
        status: str = "ok",
        task_id: str | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> Span:
        """Record a finished span and return it."""
        span = Span(kind, name, start, end, status, task_id, attrs or _EMPTY)
        self._spans.append(span)
        cached = kind == "tool" and bool(span.attrs.get("cached"))
        op = self._by_kind_name.get((kind, name, cached))
        if op is None:
            op = self._op(kind, name, cached)
        op.count += 1
        op.durations.append(end - start)
        if status != "ok":
            op.errors += 1
        return span

    def _op(self, kind: str, name: str, cached: bool = False) -> _OpStats:
        """The stats of (kind, name): found, made, or ``(other)`` past the bound."""
        key = _operation_key(kind, name, cached)
        op = self._ops.get(key)
        if op is None:
            if len(self._ops) >= self._max_operations:
                key = OTHER
                op = self._ops.get(key)
                if not self._warned:
                    self._warned = True
                    warnings.warn(
                        f"Monitor: more than max_operations={self._max_operations} distinct "
                        f"operations (the latest: {_key_shown(kind, name, cached)}); the ones "
                        "after it "
                        f"are timed together as {OTHER!r}. Use fewer distinct names (no ids "
                        "in tracked names), or raise Monitor(max_operations=...).",
                        RuntimeWarning,
                        stacklevel=4,
                    )
            if op is None:
                op = self._ops[key] = _OpStats(self._max_samples)
        if kind != "task" and len(self._by_kind_name) < 2 * self._max_operations:
            self._by_kind_name[(kind, name, cached)] = op
        return op

    def sizes(self) -> dict[str, int]:
        """How big each structure is now: ``spans``, ``operations``, ``index`` (the
        (kind, name) lookup) and ``samples`` (durations kept, over all operations)."""
        return {
            "spans": len(self._spans),
            "operations": len(self._ops),
            "index": len(self._by_kind_name),
            "samples": sum(len(op.durations) for op in self._ops.values()),
        }

    def track(self, name: str, **attrs: Any) -> OperationTimer:
        """Time a block as the operation `name` (``with`` or ``async with``)."""
        return OperationTimer(self, name, attrs)

    # -- reading --------------------------------------------------------------

    def spans(self, *, task_id: str | None = None, kind: str | None = None) -> list[Span]:
        """The recorded spans, oldest first, optionally of one task and/or one kind."""
        return [
            s
            for s in self._spans
            if (task_id is None or s.task_id == task_id) and (kind is None or s.kind == kind)
        ]

    def iter_spans(self) -> Iterator[Span]:
        return iter(list(self._spans))

    def last_task_id(self) -> str | None:
        """The id of the most recently finished task, or None."""
        span: Span  # mypy reads reversed(deque) as Any
        for span in reversed(self._spans):
            if span.kind == "task":
                return span.task_id
        return None

    def operation_names(self) -> list[str]:
        return sorted(self._ops)

    def operation_metrics(self, name: str) -> OperationMetrics:
        """``count``, ``avg_time``, ``p50_time``, ``p95_time``, ``p99_time``, ``min_time``,
        ``max_time`` and ``error_count`` of one operation (all zero if never seen).

        Percentiles cover the last `max_samples` durations; ``count`` covers all.
        """
        op = self._ops.get(name)
        if op is None or not op.durations:
            return {
                "count": 0,
                "avg_time": 0.0,
                "p50_time": 0.0,
                "p95_time": 0.0,
                "p99_time": 0.0,
                "min_time": 0.0,
                "max_time": 0.0,
                "error_count": 0,
            }
        values = sorted(op.durations)
        return {
            "count": op.count,
            "avg_time": sum(values) / len(values),
            "p50_time": percentile(values, 50),
            "p95_time": percentile(values, 95),
            "p99_time": percentile(values, 99),
            "min_time": values[0],
            "max_time": values[-1],
            "error_count": op.errors,
        }

    def reset(self) -> None:
        """Forget every span and operation."""
        self._spans.clear()
        self._ops.clear()
        self._by_kind_name.clear()
        self._warned = False


class OperationTimer:
    """Times one block as an ``operation`` span; works with ``with`` and ``async with``.

    A block that raises is recorded with status ``error`` and the exception goes on.
    """

    __slots__ = ("_attrs", "_monitor", "_name", "_otel", "_start", "duration")

    def __init__(self, monitor: Monitor, name: str, attrs: Mapping[str, Any]) -> None:
        self._monitor = monitor
        self._name = name
        self._attrs = attrs
        self._start = 0.0
        self._otel: OperationSpan | None = None
        self.duration: float | None = None
        """Seconds the block took, once it has ended."""

    def __enter__(self) -> OperationTimer:
        otel = self._monitor.otel
        if otel is not None:
            self._otel = otel.operation(self._name, self._attrs)
        self._start = self._monitor.clock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        end = self._monitor.clock()
        self.duration = end - self._start
        if exc_type is None:
            status = "ok"
        elif issubclass(exc_type, asyncio.CancelledError):
            status = "cancelled"
        else:
            status = "error"
        self._monitor.record(
            "operation", self._name, self._start, end, status=status, attrs=dict(self._attrs)
        )
        if self._otel is not None:
            self._otel.end(status, exc)
            self._otel = None

    async def __aenter__(self) -> OperationTimer:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
