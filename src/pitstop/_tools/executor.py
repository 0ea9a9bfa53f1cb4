"""The tool executor: runs tool calls concurrently, bounded, through cache and limits.

One call travels, and `ToolExecutor.run_one` reads, in this order: ``tool_call`` event ->
resolve and validate -> `ToolCache.lookup` (a fresh entry or an identical call in
flight: done) -> the Governor's tool-call limits -> the tool, with its timeout ->
`ToolCache.fill` (or `fail`) -> ``tool_result`` event. Each call
records one Monitor span and produces one result dict. Calls of one batch run at most
`bound` at a time; a finished call starts the next waiting one, so a batch of a
thousand calls never holds more than `bound` tasks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from pitstop import _events
from pitstop._cache.cache import Hit
from pitstop._cache.keys import make_key
from pitstop._limits.waits import report_waits
from pitstop._metrics.monitor import Monitor
from pitstop._tools.base import Tool, _exit_message
from pitstop.errors import ToolNotFoundError
from pitstop.events import RateLimitWaitEvent, ToolCallEvent, ToolResultEvent

if TYPE_CHECKING:

    from pitstop._cache.cache import Miss, ToolCache
    from pitstop._limits.governor import Governor
    from pitstop._metrics.genai import AgentRun

__all__ = ["PlannedCall", "ToolBatch", "ToolEvent", "ToolExecutor", "result_text"]

ToolEvent = ToolCallEvent | ToolResultEvent | RateLimitWaitEvent
"""The events one tool call can produce."""
Emit = Callable[[ToolEvent], None]


class PlannedCall(NamedTuple):
    """One tool call to run: its id, the tool's name and the raw arguments.

    A named tuple: built for every call on the hot path, and cheaper than a dataclass.
    """

    call_id: str
    tool_name: str
    arguments: Any
    turn: int = 0


def result_text(result: ToolResultEvent) -> str:
    """A tool result as the text the model reads.

    A valid result that cannot be written as text (an integer past Python's 4,300-digit
    limit, an object whose ``repr`` raises) becomes a readable placeholder: the task
    goes on, and the result itself is still in the ``tool_result`` event.
    """
    if not result["success"]:
        return f"Error: {result['error']}"
    value = result["result"]
    kind = value.__class__
    if kind is str:
        return value  # type: ignore[no-any-return]
    try:
        if kind is int or kind is float:
            return repr(value)
        return json.dumps(value, ensure_ascii=False, default=str)
    except Exception:  # any failure of a user's __str__ ends here
        pass
    try:
        return repr(value)
    except Exception as exc:
        return _placeholder(value, exc)


def _placeholder(value: Any, exc: Exception) -> str:
    """What the model reads for a result that cannot be shown."""
    try:
        why = f"{type(exc).__name__}: {exc}"
    except Exception:  # even the error's text may fail
        why = type(exc).__name__
    if isinstance(value, int):
        what = f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    else:
        what = f"a {type(value).__qualname__}"
    return f"[the tool returned {what}, which cannot be shown as text ({why[:200]})]"


def _describe_error(tool_name: str, exc: Exception) -> str:
    from pitstop.errors import PitstopError

    if isinstance(exc, PitstopError):
        return str(exc)
    return f"Tool {tool_name!r} raised {type(exc).__name__}: {exc}"


class ToolExecutor:
    """Runs tool calls for an agent.

    Args:
        tools: the agent's tools by name.
        monitor: where each call's span goes.
        cache: the agent's tool cache, or None.
        governor: the agent's resource governor, or None.
        tool_timeout: the timeout for tools that have none of their own.
    """

    def __init__(
        self,
        tools: Mapping[str, Tool],
        *,
        monitor: Monitor,
        cache: ToolCache | None = None,
        governor: Governor | None = None,
        tool_timeout: float | None = None,
    ) -> None:
        self.tools = tools
        self.monitor = monitor
        self.cache = cache
        self.governor = governor
        self.tool_timeout = tool_timeout

    async def run_one(
        self, call: PlannedCall, task_id: str | None, emit: Emit | None
    ) -> ToolResultEvent:
        """Run one call and return its ``tool_result`` event (never raises but for
        cancellation), in the order a call travels: announce, resolve and validate, the
        cache, the limits, the tool, the result."""
        monitor = self.monitor
        start = monitor.clock()
        name = call.tool_name
        tid = task_id or ""
        if emit is not None:
            emit(_events.tool_call(tid, call.call_id, name, call.arguments))
        cached = False
        status = "ok"
        result: ToolResultEvent
        key: str | None = None
        failure: BaseException | None = None
        otel = monitor.otel
        ospan = None
        outcome: str | None = None
        if otel is not None:  # the one check the export costs while it is off
            ospan = otel.execute_tool(call, self.tools.get(name))
        try:
            t = self.tools.get(name)
            if t is None:
                raise ToolNotFoundError(name, self.tools)
            args = t.validate(call.arguments)
            cache = self.cache
            if cache is None:
                key = make_key(name, args)  # lets hints() spot repeats an agent could cache
                value = await self._limited(t, args, task_id, emit)
            else:
                found = await cache.lookup(t, args)  # the TTL in force now; single-flight
                if found.__class__ is Hit:
                    value, cached = found.value, True
                    if ospan is not None:
                        outcome = "shared" if found.shared else "hit"
                else:
                    miss = cast("Miss", found)
                    if ospan is not None and miss.flight is not None:
                        outcome = "miss"
                    try:
                        value = await self._limited(t, args, task_id, emit)
                    except BaseException as exc:
                        cache.fail(miss, exc)
                        raise
                    await cache.fill(miss, value)
        except asyncio.CancelledError as exc:
            current = asyncio.current_task()
            if current is None or current.cancelling():  # this task is being cancelled
                monitor.record("tool", name, start, monitor.clock(), status="cancelled",
                               task_id=task_id,
                               attrs={"call_id": call.call_id, "turn": call.turn})
                if ospan is not None:
                    ospan.end("cancelled", outcome=outcome)
                raise
            # the tool raised CancelledError itself (a library inside it can): its error
            status = "error"
            failure = exc
            end = monitor.clock()
            result = self._failed(call, tid, exc, end - start)
        except (SystemExit, GeneratorExit) as exc:  # a tool's own: never the process's end
            status = "error"
            failure = exc
            end = monitor.clock()
            result = self._failed(call, tid, exc, end - start)
        except Exception as exc:
            status = "error"
            failure = exc
            end = monitor.clock()
            result = {
                "type": "tool_result", "timestamp": time.time(), "task_id": tid,
                "call_id": call.call_id, "tool_name": name, "success": False,
                "error": _describe_error(name, exc), "cached": False, "duration": end - start}
        else:
            end = monitor.clock()
            result = {
                "type": "tool_result", "timestamp": time.time(), "task_id": tid,
                "call_id": call.call_id, "tool_name": name, "success": True,
                "result": value, "cached": cached, "duration": end - start}
        attrs: dict[str, Any] = {"call_id": call.call_id, "turn": call.turn, "cached": cached}
        trace = _events.user_traceback(failure) if failure is not None else None
        if trace is not None:
            attrs["traceback"] = trace  # shown folded by the notebook views
        if key is not None:
            attrs["key"] = key
        monitor.record("tool", name, start, end, status=status, task_id=task_id, attrs=attrs)
        if ospan is not None:
            ospan.end(status, outcome=outcome, result=result.get("result"), error=failure)
        if emit is not None:
            emit(result)
        return result

    @staticmethod
    def _failed(
        call: PlannedCall, tid: str, exc: BaseException, duration: float
    ) -> ToolResultEvent:
        """The error result of a call whose tool raised a BaseException of its own."""
        error = _exit_message(call.tool_name, exc, "inside the tool")
        return {
            "type": "tool_result", "timestamp": time.time(), "task_id": tid,
            "call_id": call.call_id, "tool_name": call.tool_name, "success": False,
            "error": error, "cached": False, "duration": duration}

    async def _limited(
        self, t: Tool, args: dict[str, Any], task_id: str | None, emit: Emit | None
    ) -> Any:
        """The tool-call limits (waiting as configured), then the tool with its timeout."""
        governor = self.governor
        if governor is None:
            return await t.invoke(args, default_timeout=self.tool_timeout)
        on_wait = None
        if emit is not None:
            def on_wait(limit: str, expected: float | None) -> None:
                emit(_events.rate_limit_wait_start(task_id or "", limit, expected))
        waits = await governor.acquire_tool_call(on_wait=on_wait)
        if waits:
            report_waits(self.monitor, waits, task_id, emit)
        try:
            return await t.invoke(args, default_timeout=self.tool_timeout)
        finally:
            governor.release_tool_call()

    async def stream(
        self, calls: Sequence[PlannedCall], *, bound: int, task_id: str | None,
        otel_run: AgentRun | None = None,
    ) -> AsyncGenerator[ToolEvent, None]:
        """Run calls at most `bound` at a time; yield every event the moment it happens.

        Yields ``tool_call``, ``rate_limit_wait`` and ``tool_result`` events, results in
        completion order. Closing or cancelling the iterator cancels the calls still running.
        With `otel_run` (OpenTelemetry on), each call's task runs in a context whose current
        span is the task's ``invoke_agent``, so the ``execute_tool`` spans nest under it.
        """
        batch = ToolBatch(self, bound=bound, task_id=task_id, otel_run=otel_run)
        for call in calls:
            batch.add(call)
        batch.close()
        async with aclosing(batch.events()) as events:
            async for event in events:
                yield event

    async def run_all(
        self, calls: Sequence[PlannedCall], *, bound: int, task_id: str | None = None
    ) -> list[ToolResultEvent]:
        """Run calls at most `bound` at a time; results in the order of `calls`."""
        if len(calls) == 1:  # no task, no gather: one call runs in the caller's task
            return [await self.run_one(calls[0], task_id, None)]
        if bound >= len(calls):
            done = await asyncio.gather(*(self.run_one(c, task_id, None) for c in calls))
            return list(done)
        results: list[ToolResultEvent | None] = [None] * len(calls)
        sem = asyncio.Semaphore(bound)

        async def guarded(i: int, c: PlannedCall) -> None:
            async with sem:
                results[i] = await self.run_one(c, task_id, None)

        # run_one returns an error result for a failing tool, so only a cancellation of
        # the caller ends the group early; the group then cancels the calls still running
        async with asyncio.TaskGroup() as group:
            for i, c in enumerate(calls):
                group.create_task(guarded(i, c))
        return [r for r in results if r is not None]


class ToolBatch:
    """Tool calls that may arrive one by one (as a model streams them) and run at most
    `bound` at a time; their events are read with `events` (or `drain` without waiting).

    `add` starts a call at once when the bound allows, so a call can run while the model
    is still writing the next one; `close` says no more will come. Closing the `events`
    iterator early (or `cancel`) cancels the calls still running or waiting.
    """

    __slots__ = ("_closed", "_events", "_executor", "_loop", "_otel_run", "_pending",
                 "_running", "_waiter", "bound", "remaining", "started", "task_id")

    def __init__(
        self, executor: ToolExecutor, *, bound: int, task_id: str | None,
        otel_run: AgentRun | None = None,
    ) -> None:
        self._executor = executor
        self._otel_run = otel_run
        """With OpenTelemetry on: each call's task runs in a context whose current span is
        the task's ``invoke_agent``, so the ``execute_tool`` spans nest under it."""
        self.bound = bound
        self.task_id = task_id
        self._loop = asyncio.get_running_loop()
        self._events: deque[ToolEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._pending: deque[PlannedCall] = deque()
        self._running: set[asyncio.Task[ToolResultEvent]] = set()
        self._closed = False
        self.remaining = 0
        """Calls added and not yet finished."""
        self.started: set[str] = set()
        """Ids of the calls added so far."""

    @property
    def ready(self) -> bool:
        """True when events are waiting to be read."""
        return bool(self._events)

    def add(self, call: PlannedCall) -> None:
        """Start `call` now if fewer than `bound` run, else when one ends."""
        self.remaining += 1
        self.started.add(call.call_id)
        if len(self._running) < self.bound:
            self._launch(call)
        else:
            self._pending.append(call)

    def close(self) -> None:
        """No more calls will be added."""
        self._closed = True
        self._wake()

    def drain(self) -> list[ToolEvent]:
        """The events that happened so far, without waiting."""
        out = list(self._events)
        self._events.clear()
        return out

    def _emit(self, event: ToolEvent) -> None:
        self._events.append(event)
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _launch(self, call: PlannedCall) -> None:
        coro = self._executor.run_one(call, self.task_id, self._emit)
        otel_run = self._otel_run
        task = (self._loop.create_task(coro) if otel_run is None
                else self._loop.create_task(coro, context=otel_run.tool_context()))
        self._running.add(task)
        task.add_done_callback(self._on_done)

    def _on_done(self, task: asyncio.Task[ToolResultEvent]) -> None:
        self._running.discard(task)
        self.remaining -= 1
        if not task.cancelled() and self._pending:
            self._launch(self._pending.popleft())
        self._wake()

    async def events(self) -> AsyncGenerator[ToolEvent, None]:
        """Every event until the batch is closed and its calls have all ended."""
        events = self._events
        try:
            while True:
                while events:
                    yield events.popleft()
                if self._closed and self.remaining == 0:
                    break
                wake = self._waiter = self._loop.create_future()
                await wake
                self._waiter = None
            while events:
                yield events.popleft()
        finally:
            await self.cancel()

    async def cancel(self) -> None:
        """Cancel the calls still running or waiting (a failed or abandoned turn)."""
        self._pending.clear()
        running = self._running
        if running:
            for task in list(running):
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
