"""One task's way through the agent, in the stages of the design.

`execute_task_streaming` makes a `Run` and drives it::

    run.admit()            Governor: a task slot (max_concurrent_tasks)
    loop, at most config.max_iterations:
      run.prepare_memory() the session's history, auto-compression -> the turn's messages
      run.reserve_tokens() tokens per minute, and the call's estimated cost (budgets)
      model turn           open_model_turn, take, close_model_turn, end_model_turn:
                           the model's stream -> token, usage events; each tool call
                           that may start early starts the moment it is complete
      no tool calls -> run.answer(); stop
      tool turn            open_tool_turn, end_tool_turn: the turn's calls through the
                           executor -> tool_call, rate_limit_wait, tool_result events
    run.finish()           release the slot, record the task span and totals -> result

Each stage is an async generator of events (or a plain method when it yields none) and
keeps what later stages need on the `Run`, so a stage can be read and changed alone.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing, suppress
from typing import TYPE_CHECKING, Any

from pitstop import _events
from pitstop._limits.waits import report_waits
from pitstop._tools.executor import PlannedCall, ToolBatch, ToolEvent, result_text
from pitstop.errors import PitstopError
from pitstop.events import (
    Event,
    ResultEvent,
    TokenEvent,
    ToolCallRecord,
    ToolResultEvent,
)
from pitstop.llm._base import Message, StreamItem, ToolCall, Usage
from pitstop.llm._deadline import with_deadline

if TYPE_CHECKING:
    from pitstop._agent import HybridAgent
    from pitstop._context.engine import ContextEngine
    from pitstop._limits.budget import SpendReservation
    from pitstop._limits.governor import Reservation, Wait
    from pitstop._metrics.genai import AgentRun, ChatSpan

__all__ = ["Run"]


class Run:
    """The state of one task while it runs: what each stage leaves for the next.

    Args:
        agent: the agent running the task.
        task_id: the run's id.
        text: the task's text.
        session_id: the conversation to remember it in, or None.
    """

    __slots__ = (
        "agent",
        "batch",
        "cached_tokens",
        "calls",
        "chat",
        "cost",
        "deferred",
        "eager",
        "end",
        "engine",
        "error",
        "history",
        "holds_slot",
        "input_tokens",
        "iterations",
        "messages",
        "otel",
        "output",
        "output_tokens",
        "parts",
        "planned",
        "reasoning_tokens",
        "records",
        "reply",
        "reservation",
        "results",
        "session_id",
        "spend",
        "start",
        "status",
        "system",
        "task_id",
        "text",
        "traceback",
        "turn_start",
        "usage",
    )

    def __init__(self, agent: HybridAgent, task_id: str, text: str, session_id: str | None):
        self.agent = agent
        self.task_id = task_id
        self.text = text
        self.session_id = session_id
        self.engine: ContextEngine | None = agent.context_engine if session_id else None
        self.history: list[Message] = []  # the conversation when there is no session
        self.system = Message("system", agent.config.system_prompt)
        self.start = agent.monitor.clock()
        self.end = self.start
        self.iterations = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_tokens = 0
        self.reasoning_tokens = 0
        self.cost: float | None = 0.0  # None once a turn's price was unknown
        self.records: list[ToolCallRecord] = []
        self.output = ""
        self.error: str | None = None
        self.traceback: str | None = None  # of user code that made the run fail
        self.status = "ok"
        self.holds_slot = False
        # the current turn
        self.messages: list[Message] = []  # its prompt
        self.reservation: Reservation | None = None  # its tokens, when limited
        self.spend: SpendReservation | None = None  # its estimated dollars, when budgeted
        self.batch: ToolBatch | None = None  # its tool calls, started as they complete
        self.parts: list[str] = []  # its text as it arrived
        self.calls: list[ToolCall] = []  # its tool calls
        self.usage: Usage | None = None  # its usage, as the model reported it
        self.turn_start = self.start
        self.reply = ""  # its whole text
        self.planned: list[PlannedCall] = []  # its tool calls, as run
        self.deferred: list[PlannedCall] = []  # those that wait for the turn's end
        self.eager = agent.config.eager_tools
        self.results: dict[str, ToolResultEvent] = {}  # their results by call id
        # OpenTelemetry, when pitstop.otel is instrumented: the task's and the turn's spans
        self.otel: AgentRun | None = None
        self.chat: ChatSpan | None = None

    # -- stages ------------------------------------------------------------------------

    async def admit(self) -> AsyncGenerator[Event, None]:
        """Take a task slot (waiting as `ResourceLimits` says), then remember the task."""
        governor = self.agent.governor
        if governor is not None:
            waits: Any = ()
            if not governor.try_acquire_task():
                box: list[Any] = []
                async with aclosing(self._announced(
                        lambda on_wait: governor.acquire_task(on_wait=on_wait), box)) as events:
                    async for event in events:
                        yield event
                waits = box[0]
            self.holds_slot = True
            for event in self._waited(waits):
                yield event
        self._remember(Message("user", self.text))

    async def prepare_memory(self) -> AsyncGenerator[Event, None]:
        """Build this turn's prompt; compress the session's history first when it is due."""
        engine = self.engine
        if engine is None:
            self.messages = [self.system, *self.history]
            return
        assert self.session_id is not None
        c = await engine.prepare(self.session_id, llm=self.agent.llm)
        if c is not None:
            monitor = self.agent.monitor
            end = monitor.clock()
            monitor.record(
                "compression", c.strategy, end - c.duration, end, task_id=self.task_id,
                attrs={"before": c.before, "after": c.after, "tokens_before": c.tokens_before,
                       "tokens_after": c.tokens_after},
            )
            if self.otel is not None:
                self.otel.compression(c)
            yield _events.compression(self.task_id, c.strategy, c.before, c.after,
                                      c.tokens_before, c.tokens_after, c.duration)
        self.messages = [self.system, *engine.messages(self.session_id)]

    async def reserve_tokens(self) -> AsyncGenerator[Event, None]:
        """Reserve the turn's tokens (prompt estimate plus the output cap) when limited,
        and its estimated cost at the model's price under the spend budgets."""
        agent = self.agent
        governor = agent.governor
        self.reservation = None
        self.spend = None
        if governor is None:
            return
        limits = governor.limits
        model = getattr(agent.llm, "model", None)
        if governor.limits_model_calls:
            estimate = governor.estimate_tokens(
                self.messages, model=model, max_output_tokens=agent.config.max_output_tokens,
                tools=agent._specs, llm=agent.llm,
            )
            reservation = governor.try_reserve_tokens(estimate)
            if reservation is None:
                box: list[Any] = []
                async with aclosing(self._announced(
                        lambda on_wait: governor.reserve_tokens(estimate, on_wait=on_wait),
                        box)) as events:
                    async for event in events:
                        yield event
                reservation = box[0]
            self.reservation = reservation
            for event in self._waited(reservation.waits):
                yield event
        if limits.has_budget:
            prompt = governor.estimate_tokens(self.messages, model=model, max_output_tokens=0)
            pricing = getattr(agent.llm, "pricing", None)
            price = getattr(pricing, "price", None)
            dollars = None if price is None else price.cost(
                prompt, agent.config.max_output_tokens
            )
            self.spend = await governor.reserve_cost(
                dollars, task_spent=self.cost or 0.0, model=f"model {model!r}"
            )
            for event in self._waited(self.spend.waits):
                yield event

    def open_model_turn(self, iteration: int) -> AsyncIterator[StreamItem]:
        """Start one model turn: the model's stream of text, tool calls and usage.

        The caller reads it (`drive` does, yielding a ``token`` event per text delta,
        which is the hot path), hands everything but plain text to `take`, and always
        ends with `close_model_turn`.
        """
        agent = self.agent
        self.iterations = iteration
        self.parts = []
        self.calls = []
        self.usage = None
        self.results = {}
        self.batch = None
        self.planned = []
        self.deferred = []
        self.turn_start = agent.monitor.clock()
        if self.otel is not None:
            self.chat = self.otel.chat(self.messages, agent.config.max_output_tokens,
                                       agent._specs, turn=iteration)
        stream = agent.llm.stream(self.messages, agent._specs,
                                  max_tokens=agent.config.max_output_tokens)
        timeout = agent.config.model_timeout
        if timeout is not None:
            model = getattr(agent.llm, "model", type(agent.llm).__name__)
            stream = with_deadline(stream, total=timeout,
                                   what=f"The model call to {model!r} (model_timeout)")
        return stream

    def take(self, item: StreamItem) -> TokenEvent | None:
        """Keep a tool call (starting it now when it may start early) or the usage; a
        text delta of a `str` subclass is a token."""
        if isinstance(item, ToolCall):
            call_id = item.id
            if call_id is None:
                call_id = f"{self.task_id}-{self.iterations}-{len(self.calls)}"
                item = ToolCall(item.name, item.arguments, call_id)
            self.calls.append(item)
            planned = PlannedCall(call_id, item.name, item.arguments, self.iterations)
            self.planned.append(planned)
            if self.eager:
                tool = self.agent.tools.get(item.name)
                if tool is not None and tool.cacheable:
                    batch = self.batch
                    if batch is None:
                        batch = self.batch = self._new_batch()
                    batch.add(planned)
                    return None
            self.deferred.append(planned)
        elif isinstance(item, Usage):
            self.usage = item
        elif isinstance(item, str):
            self.parts.append(str(item))
            if self.agent.enable_streaming:
                return _events.token(self.task_id, str(item))
        return None

    async def close_model_turn(self, stream: AsyncIterator[StreamItem], ok: bool) -> None:
        """Close a model call left early, record its span, settle the token reservation."""
        failure = None if ok else sys.exc_info()[1]  # what ended the model call early
        agent = self.agent
        llm = agent.llm
        monitor = agent.monitor
        aclose = getattr(stream, "aclose", None)
        if not ok:
            if self.batch is not None:  # tools started early for a turn that failed
                await self.batch.cancel()
            if aclose is not None:
                await aclose()  # a consumer that stopped early closes the model call
        if self.usage is None:
            self.usage = Usage(0, 0)
        usage = self.usage
        monitor.record(
            "llm", getattr(llm, "model", type(llm).__name__), self.turn_start, monitor.clock(),
            status="ok" if ok else "error", task_id=self.task_id,
            attrs={"turn": self.iterations, "input_tokens": usage.input_tokens,
                   "output_tokens": usage.output_tokens,
                   "cached_input_tokens": usage.cached_input_tokens,
                   "cached_share": usage.cached_share,
                   "reasoning_tokens": usage.reasoning_tokens, "cost": usage.cost,
                   "tool_calls": len(self.calls),
                   "early_tools": 0 if self.batch is None else len(self.batch.started)},
        )
        governor = agent.governor
        if governor is not None:
            if self.reservation is not None:
                governor.settle_tokens(self.reservation, usage.total_tokens)
            if self.spend is not None:
                governor.settle_cost(self.spend, usage.cost if ok or usage.total_tokens
                                     else None)
        if self.chat is not None:
            self.chat.end("ok" if ok else "error", usage, self.calls, "".join(self.parts),
                          failure)
            self.chat = None

    def end_model_turn(self) -> list[Event]:
        """The turn's text, usage and tool calls, kept; its closing events."""
        task_id = self.task_id
        usage = self.usage or Usage(0, 0)
        events: list[Event] = []
        self.reply = reply = "".join(self.parts)
        if not self.agent.enable_streaming and reply:
            events.append(_events.token(task_id, reply))
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cached_tokens += usage.cached_input_tokens
        self.reasoning_tokens += usage.reasoning_tokens
        cost = usage.cost
        self.cost = None if cost is None or self.cost is None else self.cost + cost
        self.agent._count_call(usage)
        events.append(_events.usage(task_id, usage.input_tokens, usage.output_tokens,
                                    usage.cached_input_tokens, usage.reasoning_tokens, cost))
        return events

    def answer(self) -> None:
        """The turn had no tool call: its text is the answer."""
        self.output = self.reply
        self._remember(Message("assistant", self.reply))

    def open_tool_turn(self, iteration: int) -> AsyncGenerator[ToolEvent, None]:
        """Start the turn's tool calls (bounded, concurrent): the executor's event stream.

        The caller yields each event, hands each ``tool_result`` to ``results``, and ends
        with `end_tool_turn`.
        """
        batch = self.batch
        if batch is None:
            batch = self.batch = self._new_batch()
        for p in self.deferred:
            batch.add(p)
        batch.close()
        return batch.events()

    def _new_batch(self) -> ToolBatch:
        agent = self.agent
        bound = agent.config.max_concurrency if agent.enable_parallel_execution else 1
        return ToolBatch(agent._executor, bound=bound, task_id=self.task_id,
                         otel_run=self.otel)

    def early_events(self) -> list[ToolEvent]:
        """Events of tools started early that happened while the model was streaming;
        each ``tool_result`` is kept for the tool turn."""
        batch = self.batch
        if batch is None or not batch.ready:
            return []
        events = batch.drain()
        for e in events:
            if e["type"] == "tool_result":
                self.results[e["call_id"]] = e
        return events

    def end_tool_turn(self) -> None:
        """Remember the model's tool calls with their results, in the order asked.

        The call is stored with its results, after the tools end: a run cancelled
        mid-tools must not leave a tool call without results in the session.
        """
        results = self.results
        replies = []
        for p in self.planned:
            r = results[p.call_id]
            self.records.append(_record(r, p.arguments))
            replies.append(Message("tool", result_text(r), tool_call_id=p.call_id,
                                   name=p.tool_name))
        self._remember(Message("assistant", self.reply, tool_calls=tuple(self.calls)), *replies)

    def out_of_turns(self) -> PitstopError:
        """The error for a run that used every turn without an answer."""
        n = self.agent.config.max_iterations
        return PitstopError(
            f"The task did not finish within max_iterations={n} model turns (the model kept "
            "calling tools); raise AgentConfig.max_iterations or check the tools' results."
        )

    def fail(self, exc: BaseException) -> Event:
        """The run failed inside: keep the reason for the result; the ``error`` event."""
        self.status = "error"
        if self.otel is not None:
            self.otel.error = exc
        event = _events.error(self.task_id, exc)
        self.error = event["error"]
        self.traceback = _events.user_traceback(exc)
        return event

    def finish(self) -> None:
        """Release the task slot, record the task's span and add to the agent's totals."""
        agent = self.agent
        if self.holds_slot and agent.governor is not None:
            agent.governor.release_task()
            self.holds_slot = False
        monitor = agent.monitor
        self.end = monitor.clock()
        attrs: dict[str, object] = {"iterations": self.iterations,
                                    "tool_calls": len(self.records)}
        if self.traceback is not None:
            attrs["traceback"] = self.traceback  # shown folded by the notebook views
        monitor.record("task", self.task_id, self.start, self.end, status=self.status,
                       task_id=self.task_id, attrs=attrs)
        if self.otel is not None:
            self.otel.end(self.status, self.output, iterations=self.iterations,
                          tool_calls=len(self.records))
        agent._count(self)

    def result(self) -> ResultEvent:
        """The ``result`` event: what `execute_task` returns."""
        i, o = self.input_tokens, self.output_tokens
        return _events.result(self.task_id, {
            "task_id": self.task_id, "output": self.output, "success": self.status == "ok",
            "tool_calls": self.records, "iterations": self.iterations,
            "execution_time": self.end - self.start,
            "usage": {"input_tokens": i, "output_tokens": o, "total_tokens": i + o,
                      "cached_input_tokens": self.cached_tokens,
                      "reasoning_tokens": self.reasoning_tokens},
            "cost": self.cost if self.iterations else 0.0,
            "error": self.error,
        })

    # -- helpers -----------------------------------------------------------------------

    def _remember(self, *messages: Message) -> None:
        if self.engine is not None and self.session_id is not None:
            self.engine.append(self.session_id, *messages)
        else:
            self.history.extend(messages)

    async def _announced(
        self, acquire: Callable[[Any], Awaitable[Any]], box: list[Any]
    ) -> AsyncGenerator[Event, None]:
        """Await ``acquire(on_wait)``, yielding a wait's ``start`` event the moment it
        begins (not when it ends); the acquired value goes into `box`.

        Only used when the limit has no room at once, so a run that does not wait
        creates no task.
        """
        notices: list[Event] = []
        ready = asyncio.Event()

        def on_wait(limit: str, expected: float | None) -> None:
            notices.append(_events.rate_limit_wait_start(self.task_id, limit, expected))
            ready.set()

        task = asyncio.ensure_future(acquire(on_wait))
        try:
            while True:
                if not notices and not task.done():
                    flag = asyncio.ensure_future(ready.wait())
                    try:
                        await asyncio.wait((task, flag), return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        flag.cancel()
                ready.clear()
                while notices:
                    yield notices.pop(0)
                if task.done():
                    break
        finally:
            if not task.done():  # cancelled, or the consumer left: leave the queue
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        box.append(task.result())

    def _waited(self, waits: Sequence[Wait]) -> list[Event]:
        events: list[Event] = []
        report_waits(self.agent.monitor, waits, self.task_id, events.append,
                     self.otel.context if self.otel is not None else None)
        return events


async def drive(run: Run) -> AsyncGenerator[Event, None]:
    """Take `run` through its stages, yielding each event the moment it happens.

    Ends with ``result`` always; an ``error`` event comes before it when the run failed.
    Cancellation (or a consumer that stops reading) is recorded and goes on.
    """
    max_iterations = run.agent.config.max_iterations
    streaming = run.agent.enable_streaming
    task_id = run.task_id
    now = time.time
    monitor = run.agent.monitor
    run.start = monitor.clock()
    otel = monitor.otel  # OpenTelemetry: the one check per task while it is off
    if otel is not None:
        run.otel = otel.invoke_agent(run.agent, task_id, run.text, run.session_id)
    yield _events.started(run.task_id, run.text)
    try:
        # each stage is closed explicitly, so a consumer that leaves closes it at once
        async with aclosing(run.admit()) as events:
            async for event in events:
                yield event
        for iteration in range(1, max_iterations + 1):
            async with aclosing(run.prepare_memory()) as events:
                async for event in events:
                    yield event
            async with aclosing(run.reserve_tokens()) as events:
                async for event in events:
                    yield event
            # The model turn is read here, not in a stage of its own: one generator less
            # between the model and the caller on the per-token hot path.
            stream = run.open_model_turn(iteration)
            parts = run.parts
            ok = False
            try:
                async for item in stream:
                    if item.__class__ is str:
                        parts.append(item)
                        if streaming:
                            token: TokenEvent = {"type": "token", "timestamp": now(),
                                                 "task_id": task_id, "content": item}
                            yield token
                    else:
                        if (taken := run.take(item)) is not None:
                            yield taken
                        for early in run.early_events():
                            yield early
                ok = True
            finally:
                await run.close_model_turn(stream, ok)
            for event in run.end_model_turn():
                yield event
            if not run.calls:
                run.answer()
                break
            async with aclosing(run.open_tool_turn(iteration)) as tool_events:
                results = run.results
                async for tool_event in tool_events:
                    if tool_event["type"] == "tool_result":
                        results[tool_event["call_id"]] = tool_event
                    yield tool_event
            run.end_tool_turn()
        else:
            raise run.out_of_turns()
    except (asyncio.CancelledError, GeneratorExit):  # cancelled, or the consumer left
        run.status = "cancelled"
        raise
    except Exception as exc:
        yield run.fail(exc)
    finally:
        run.finish()
    yield run.result()


def _record(event: ToolResultEvent, parameters: object) -> ToolCallRecord:
    """A tool_result event as an entry of the result's ``tool_calls``."""
    record: ToolCallRecord = {
        "call_id": event["call_id"], "tool_name": event["tool_name"],
        "success": event["success"], "cached": event["cached"],
        "duration": event["duration"], "parameters": parameters,
    }
    if "result" in event:
        record["result"] = event["result"]
    if "error" in event:
        record["error"] = event["error"]
    return record
