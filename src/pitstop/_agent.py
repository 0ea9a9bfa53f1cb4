"""`HybridAgent`: orchestration of model turns, tool calls, cache, limits and memory.

A task travels (see DESIGN.md)::

    execute_task_streaming(task, context)         execute_task drains the same stream
      Governor.acquire_task()                     max_concurrent_tasks
      ContextEngine.prepare()                     session history, auto-compression
      loop, at most config.max_iterations:
        Governor.reserve_tokens(estimate)         tokens per minute
        LLMClient.stream(messages, tool_specs)    -> token events as they arrive
        Governor.settle_tokens(actual usage)
        no tool calls -> final answer
        ToolExecutor.stream(calls, bound)         -> tool_call / tool_result events
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from pitstop._config import AgentConfig
from pitstop.errors import ConfigError, PitstopError
from pitstop.llm._base import LLMClient, Message, ToolCall, Usage
from pitstop._metrics.monitor import Monitor, OperationTimer
from pitstop._tools.base import Tool, ToolRegistry, resolve_tools
from pitstop._tools.executor import PlannedCall, ToolExecutor, report_waits, result_text

if TYPE_CHECKING:
    from pitstop._batch.run import Engine
    from pitstop._cache.cache import ToolCache
    from pitstop._cache.config import CacheConfig
    from pitstop._context.engine import ContextEngine
    from pitstop._limits.config import ResourceLimits
    from pitstop._limits.governor import Governor

__all__ = ["HybridAgent"]

_task_counter = itertools.count(1)


def _task_text(task: Any) -> str:
    if isinstance(task, str):
        if not task.strip():
            raise ConfigError("The task is empty; pass the question or instruction as text.")
        return task
    if isinstance(task, Mapping):
        desc = task.get("description")
        if isinstance(desc, str) and desc.strip():
            return desc
        raise ConfigError(
            f"A task dict needs a non-empty 'description' string, got keys {sorted(task)}."
        )
    raise ConfigError(
        f"task must be a string or a dict with 'description', got {type(task).__name__}: "
        f"{task!r:.80}."
    )


def _record(event: dict[str, Any], parameters: Any) -> dict[str, Any]:
    """A tool_result event as an entry of the result's ``tool_calls``."""
    record = dict(event)
    del record["type"], record["timestamp"], record["task_id"]
    record["parameters"] = parameters
    return record


class HybridAgent:
    """An async LLM agent with tools, whose performance features are real and measured.

    Args:
        agent_id: a name for this agent, used in task ids and cache namespaces.
        llm_client: any `LLMClient` (`SimulatedLLM`, `FunctionLLM`, `OpenAIClient`, ...).
        tools: registered tool names, `Tool` objects or plain functions.
        config: an `AgentConfig` (or a dict of its fields).
        cache_config: a `CacheConfig` to cache tool results (None: no cache).
        resource_limits: a `ResourceLimits` to enforce (None: no limits).
        context_engine: a `ContextEngine` for conversation memory; tasks whose context
            has a ``session_id`` remember earlier turns.
        enable_parallel_execution: run the tool calls of one model turn concurrently
            (bounded by ``config.max_concurrency``); False runs them one after another.
        enable_streaming: emit each text delta as a ``token`` event as it arrives; False
            emits the whole text as one ``token`` event when the model has finished.
        name: a display name (defaults to `agent_id`).
        monitor: a `Monitor` to record spans into (one is made when None).
        registry: where tool names are looked up (the default registry when None).
    """

    def __init__(
        self,
        agent_id: str,
        llm_client: LLMClient,
        tools: Iterable[str | Tool | Callable[..., Any]] | None = None,
        config: AgentConfig | Mapping[str, Any] | None = None,
        *,
        cache_config: CacheConfig | None = None,
        resource_limits: ResourceLimits | None = None,
        context_engine: ContextEngine | None = None,
        enable_parallel_execution: bool = True,
        enable_streaming: bool = True,
        name: str | None = None,
        monitor: Monitor | None = None,
        registry: ToolRegistry | None = None,
    ) -> None:
        if not isinstance(agent_id, str) or not agent_id:
            raise ConfigError(f"agent_id must be a non-empty string, got {agent_id!r}.")
        if not callable(getattr(llm_client, "stream", None)):
            raise ConfigError(
                f"llm_client must have a stream(messages, tools) method (an LLMClient such as "
                f"SimulatedLLM() or OpenAIClient(...)), got {llm_client!r}."
            )
        if config is None:
            config = AgentConfig()
        elif isinstance(config, Mapping):
            config = AgentConfig(**config)
        elif not isinstance(config, AgentConfig):
            raise ConfigError(f"config must be an AgentConfig or a dict, got {config!r}.")
        self.agent_id = agent_id
        self.name = name or agent_id
        self.llm = llm_client
        self.config = config
        self.tools: dict[str, Tool] = resolve_tools(tools, registry)
        self._specs = [t.spec for t in self.tools.values()]
        self.monitor = monitor or Monitor()
        self.enable_parallel_execution = enable_parallel_execution
        self.enable_streaming = enable_streaming
        self.cache_config = cache_config
        self.cache: ToolCache | None = None
        if cache_config is not None:
            from pitstop._cache.cache import ToolCache

            self.cache = ToolCache(cache_config, tools=self.tools, namespace=agent_id)
        self.resource_limits = resource_limits
        self.governor: Governor | None = None
        if resource_limits is not None:
            from pitstop._limits.governor import Governor

            self.governor = Governor(resource_limits)
            observers = getattr(llm_client, "rate_limit_observers", None)
            if isinstance(observers, list):
                observers.append(self.governor.observe)
        self.context_engine = context_engine
        self._executor = ToolExecutor(
            self.tools,
            monitor=self.monitor,
            cache=self.cache,
            governor=self.governor,
            tool_timeout=config.tool_timeout,
        )
        self._totals = {"tasks": 0, "succeeded": 0, "input_tokens": 0, "output_tokens": 0,
                        "tool_calls": 0, "tool_errors": 0, "cached_tool_calls": 0}

    def __repr__(self) -> str:
        return (
            f"HybridAgent({self.agent_id!r}, llm={self.llm!r}, tools={list(self.tools)}, "
            f"cache={'on' if self.cache else 'off'}, limits={'on' if self.governor else 'off'})"
        )

    # -- running tasks ------------------------------------------------------------------

    async def execute_task(
        self, task: str | Mapping[str, Any], context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run a task to the end and return ``output``, ``success``, ``tool_calls``,
        ``iterations``, ``execution_time``, ``usage``, ``task_id`` (and ``error`` when it failed).

        A failure inside the run (a model error, a limit that rejects, too many iterations)
        gives ``success=False`` with the reason in ``error``; misuse (a bad task or context)
        raises `ConfigError` at once.
        """
        result: dict[str, Any] | None = None
        async for event in self.execute_task_streaming(task, context):
            if event["type"] == "result":
                result = event
        assert result is not None  # the stream always ends with a result
        out = dict(result)
        del out["type"], out["timestamp"]
        return out

    async def execute_task_streaming(
        self, task: str | Mapping[str, Any], context: Mapping[str, Any] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Run a task, yielding each event the moment it happens (see `pitstop.events`).

        The stream is ``started``, then ``token``, ``tool_call``, ``tool_result``,
        ``rate_limit_wait``, ``compression`` and ``usage`` events as they happen, then
        ``error`` if the run failed, and always a final ``result``.
        """
        text = _task_text(task)
        if context is not None and not isinstance(context, Mapping):
            raise ConfigError(f"context must be a dict or None, got {type(context).__name__}.")
        session_id: str | None = context.get("session_id") if context else None
        if session_id is not None and not isinstance(session_id, str):
            raise ConfigError(f"context['session_id'] must be a string, got {session_id!r}.")
        if session_id is not None and self.context_engine is None:
            raise ConfigError(
                f"context has session_id={session_id!r} but the agent has no context_engine; "
                "pass context_engine=ContextEngine() to HybridAgent to keep conversations."
            )
        task_id = f"{self.agent_id}-{next(_task_counter)}"
        now = time.time
        monitor = self.monitor
        clock = monitor.clock
        cfg = self.config
        governor = self.governor
        engine = self.context_engine if session_id is not None else None
        sid = session_id or ""
        start = clock()
        yield {"type": "started", "timestamp": now(), "task_id": task_id, "task": text}

        usage_in = usage_out = 0
        tool_records: list[tuple[dict[str, Any], Any]] = []
        iterations = 0
        output = ""
        error: str | None = None
        error_type: str | None = None
        status = "ok"
        holds_slot = False
        history: list[Message] = []
        user_message = Message("user", text)
        system = Message("system", cfg.system_prompt)
        try:
            if governor is not None:
                waits = await governor.acquire_task()
                holds_slot = True
                for event in self._wait_events(waits, task_id):
                    yield event
            if engine is not None:
                engine.append(sid, user_message)
            else:
                history.append(user_message)
            for iteration in range(1, cfg.max_iterations + 1):
                iterations = iteration
                if engine is not None:
                    compression = await engine.prepare(sid, llm=self.llm)
                    if compression is not None:
                        yield self._compression_event(compression, task_id)
                    messages = [system, *engine.messages(sid)]
                else:
                    messages = [system, *history]

                reservation = None
                if governor is not None and governor.limits.max_tokens_per_minute:
                    estimate = governor.estimate_tokens(
                        messages, model=getattr(self.llm, "model", None),
                        max_output_tokens=cfg.max_output_tokens,
                    )
                    reservation = await governor.reserve_tokens(estimate)
                    for event in self._wait_events(reservation.waits, task_id):
                        yield event

                parts: list[str] = []
                calls: list[ToolCall] = []
                usage: Usage | None = None
                llm_start = clock()
                llm_status = "error"
                streaming = self.enable_streaming
                model_stream = self.llm.stream(
                    messages, self._specs, max_tokens=cfg.max_output_tokens
                )
                try:
                    async for item in model_stream:
                        if item.__class__ is str:
                            parts.append(item)
                            if streaming:
                                yield {"type": "token", "content": item, "timestamp": now(),
                                       "task_id": task_id}
                        elif isinstance(item, ToolCall):
                            calls.append(item)
                        elif isinstance(item, Usage):
                            usage = item
                        elif isinstance(item, str):
                            parts.append(item)
                            if streaming:
                                yield {"type": "token", "content": str(item), "timestamp": now(),
                                       "task_id": task_id}
                    llm_status = "ok"
                finally:
                    aclose = getattr(model_stream, "aclose", None)
                    if aclose is not None and llm_status != "ok":
                        await aclose()  # a consumer that stopped early closes the model call
                    if usage is None:
                        usage = Usage(0, 0)
                    monitor.record(
                        "llm", getattr(self.llm, "model", type(self.llm).__name__), llm_start,
                        clock(), status=llm_status, task_id=task_id,
                        attrs={"turn": iteration, "input_tokens": usage.input_tokens,
                               "output_tokens": usage.output_tokens, "tool_calls": len(calls)},
                    )
                    if reservation is not None and governor is not None:
                        governor.settle_tokens(reservation, usage.total_tokens)
                reply = "".join(parts)
                if not streaming and reply:
                    yield {"type": "token", "content": reply, "timestamp": now(),
                           "task_id": task_id}
                usage_in += usage.input_tokens
                usage_out += usage.output_tokens
                yield {"type": "usage", "timestamp": now(), "task_id": task_id,
                       "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}

                if not calls:
                    output = reply
                    self._remember(engine, session_id, history, Message("assistant", reply))
                    break

                if any(c.id is None for c in calls):
                    calls = [c if c.id else ToolCall(c.name, c.arguments,
                                                     f"{task_id}-{iteration}-{k}")
                             for k, c in enumerate(calls)]
                # The call is stored with its results, after the tools end: a run cancelled
                # mid-tools must not leave a tool call without results in the session.
                assistant = Message("assistant", reply, tool_calls=tuple(calls))
                planned = [PlannedCall(c.id, c.name, c.arguments, iteration)  # type: ignore[arg-type]
                           for c in calls]
                bound = cfg.max_concurrency if self.enable_parallel_execution else 1
                results: dict[str, dict[str, Any]] = {}
                async with aclosing(  # type: ignore[type-var]
                    self._executor.stream(planned, bound=bound, task_id=task_id)
                ) as tool_events:
                    async for event in tool_events:
                        if event["type"] == "tool_result":
                            results[event["call_id"]] = event
                        yield event
                tool_messages = []
                for p in planned:
                    r = results[p.call_id]
                    tool_records.append((r, p.arguments))
                    tool_messages.append(Message("tool", result_text(r), tool_call_id=p.call_id,
                                                 name=p.tool_name))
                self._remember(engine, session_id, history, assistant, *tool_messages)
            else:
                raise PitstopError(
                    f"The task did not finish within max_iterations={cfg.max_iterations} model "
                    "turns (the model kept calling tools); raise AgentConfig.max_iterations or "
                    "check the tools' results."
                )
        except (asyncio.CancelledError, GeneratorExit):  # cancelled, or the consumer left
            status = "cancelled"
            raise
        except Exception as exc:
            status = "error"
            error = str(exc) or type(exc).__name__
            error_type = type(exc).__name__
            yield {"type": "error", "timestamp": now(), "task_id": task_id,
                   "error": error, "error_type": error_type}
        finally:
            if holds_slot and governor is not None:
                governor.release_task()
            end = clock()
            monitor.record("task", task_id, start, end, status=status, task_id=task_id,
                           attrs={"iterations": iterations, "tool_calls": len(tool_records)})
            totals = self._totals
            totals["tasks"] += 1
            totals["succeeded"] += status == "ok"
            totals["input_tokens"] += usage_in
            totals["output_tokens"] += usage_out
            totals["tool_calls"] += len(tool_records)
            totals["tool_errors"] += sum(1 for r, _ in tool_records if not r["success"])
            totals["cached_tool_calls"] += sum(1 for r, _ in tool_records if r["cached"])
        yield {
            "type": "result", "timestamp": now(), "task_id": task_id, "output": output,
            "success": status == "ok", "tool_calls": [_record(r, a) for r, a in tool_records],
            "iterations": iterations,
            "execution_time": end - start,
            "usage": {"input_tokens": usage_in, "output_tokens": usage_out,
                      "total_tokens": usage_in + usage_out},
            "error": error,
        }

    @staticmethod
    def _remember(
        engine: ContextEngine | None, session_id: str | None, history: list[Message],
        *messages: Message,
    ) -> None:
        if engine is not None and session_id is not None:
            engine.append(session_id, *messages)
        else:
            history.extend(messages)

    def _wait_events(self, waits: Sequence[Any], task_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        report_waits(self.monitor, waits, task_id, events.append)
        return events

    def _compression_event(self, c: Any, task_id: str) -> dict[str, Any]:
        end = self.monitor.clock()
        self.monitor.record(
            "compression", c.strategy, end - c.duration, end, task_id=task_id,
            attrs={"before": c.before, "after": c.after, "tokens_before": c.tokens_before,
                   "tokens_after": c.tokens_after},
        )
        return {"type": "compression", "timestamp": time.time(), "task_id": task_id,
                "strategy": c.strategy, "before": c.before, "after": c.after,
                "tokens_before": c.tokens_before, "tokens_after": c.tokens_after,
                "duration": c.duration}

    # -- tools directly ---------------------------------------------------------------------

    async def execute_tools_parallel(
        self, tool_calls: Sequence[Mapping[str, Any]], max_concurrency: int = 10
    ) -> list[dict[str, Any]]:
        """Run tool calls concurrently, through the cache and the limits.

        Args:
            tool_calls: items like ``{"tool_name": "search", "parameters": {"query": "x"}}``.
            max_concurrency: how many run at once (>= 1).

        Returns:
            One dict per input, in the same order: ``tool_name``, ``success``, ``result``
            or ``error``, ``cached``, ``duration``. A malformed item or unknown tool gives
            an error item in its place.
        """
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) \
                or max_concurrency < 1:
            raise ConfigError(
                f"max_concurrency must be an integer >= 1, got {max_concurrency!r}."
            )
        if isinstance(tool_calls, (str, Mapping)):
            raise ConfigError(
                "tool_calls must be a list of {'tool_name': ..., 'parameters': {...}} dicts, "
                f"got {type(tool_calls).__name__}."
            )
        planned: list[PlannedCall] = []
        bad: dict[int, str] = {}
        for i, item in enumerate(tool_calls):
            name = item.get("tool_name") if isinstance(item, Mapping) else None
            if not isinstance(name, str):
                bad[i] = (f"Item {i} is not a tool call: expected a dict with 'tool_name' and "
                          f"'parameters', got {item!r:.80}.")
                continue
            params = item.get("parameters", {})
            planned.append(PlannedCall(f"{self.agent_id}-direct-{i}", name, params))
        ran = await self._executor.run_all(planned, bound=max_concurrency)
        out: list[dict[str, Any]] = []
        it = iter(ran)
        for i in range(len(tool_calls)):
            if i in bad:
                out.append({"tool_name": None, "success": False, "error": bad[i],
                            "cached": False, "duration": 0.0})
                continue
            r = next(it)
            item = {"tool_name": r["tool_name"], "success": r["success"],
                    "cached": r["cached"], "duration": r["duration"]}
            if r["success"]:
                item["result"] = r["result"]
            else:
                item["error"] = r["error"]
            out.append(item)
        return out

    async def execute_batch(
        self,
        tasks: Sequence[str | Mapping[str, Any]],
        context: Mapping[str, Any] | None = None,
        *,
        max_concurrency: int = 10,
        progress: bool = True,
        engine: Engine | None = None,
        batch_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Run many tasks and return one result per task, in order.

        Shows one tqdm progress bar (a widget in Jupyter) unless ``progress=False``.
        Cancelling the batch cancels every task, local or remote.

        Args:
            tasks: task strings or dicts with ``"description"``.
            context: the context of every task.
            max_concurrency: tasks running at once on this process (the local engine).
            progress: show the progress bar.
            engine: None runs the batch on this event loop; ``RayEngine(...)`` from
                `pitstop.distributed` runs it on Ray workers (their own concurrency).
            batch_id: journal each finished result under this id, so running the same
                batch again runs only the unfinished or failed tasks (see
                `pitstop.distributed.journal`).
        """
        from pitstop._batch.run import run_batch

        return await run_batch(self, tasks, context, max_concurrency=max_concurrency,
                               progress=progress, engine=engine, batch_id=batch_id)

    # -- cache ------------------------------------------------------------------------------

    def invalidate_cache(self, tool_name: str | None = None, pattern: str | None = None) -> int:
        """Remove cached results of a tool and/or whose labels match a glob; return how many.

        Labels are the tool's name and ``param:value`` for each top-level parameter, so
        ``pattern="query:Python*"`` removes every result whose ``query`` starts with Python.
        """
        if tool_name is not None and tool_name not in self.tools:
            from pitstop.errors import ToolNotFoundError

            raise ToolNotFoundError(tool_name, self.tools)
        if self.cache is None:
            return 0
        return self.cache.invalidate(tool_name=tool_name, pattern=pattern)

    def get_cache_stats(self) -> dict[str, Any]:
        """Hits, misses, hit rate, size, memory, evictions, time and cost saved, per tool too."""
        if self.cache is None:
            return {"enabled": False, "hits": 0, "misses": 0, "hit_rate": 0.0, "size": 0,
                    "memory_mb": 0.0, "evictions": 0, "expirations": 0, "time_saved_s": 0.0,
                    "cost_saved": 0.0, "tool_stats": {}}
        return self.cache.stats()

    # -- limits -----------------------------------------------------------------------------

    def get_resource_usage(self) -> dict[str, Any]:
        """Current rates, utilisation and time spent waiting for each limit."""
        if self.governor is None:
            return {"limits": None}
        return self.governor.usage()

    # -- monitoring --------------------------------------------------------------------------

    def track_operation_time(self, name: str) -> OperationTimer:
        """Time a block as the operation `name` (``with`` or ``async with``)."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"An operation needs a non-empty name, got {name!r}.")
        return self.monitor.track(name)

    def get_operation_metrics(self, name: str) -> dict[str, Any]:
        """``count``, ``avg_time``, ``p50_time``, ``p95_time``, ``p99_time``, ``min_time``,
        ``max_time``, ``error_count`` of an operation (zeros if it never ran)."""
        return self.monitor.operation_metrics(name)

    def get_performance_metrics(self) -> dict[str, Any]:
        """Task latencies (avg, p50, p95, p99, min, max), totals and every operation's metrics."""
        task = self.monitor.operation_metrics("task")
        t = self._totals
        return {
            "avg_response_time": task["avg_time"],
            "p50_response_time": task["p50_time"],
            "p95_response_time": task["p95_time"],
            "p99_response_time": task["p99_time"],
            "min_response_time": task["min_time"],
            "max_response_time": task["max_time"],
            "total_tasks": t["tasks"],
            "success_rate": t["succeeded"] / t["tasks"] if t["tasks"] else 0.0,
            "total_input_tokens": t["input_tokens"],
            "total_output_tokens": t["output_tokens"],
            "total_tokens": t["input_tokens"] + t["output_tokens"],
            "total_tool_calls": t["tool_calls"],
            "tool_errors": t["tool_errors"],
            "cached_tool_calls": t["cached_tool_calls"],
            "operations": {
                name: self.monitor.operation_metrics(name)
                for name in self.monitor.operation_names()
            },
        }

    def reset_metrics(self) -> None:
        """Forget spans, operation timings and totals (not the cache)."""
        self.monitor.reset()
        for k in self._totals:
            self._totals[k] = 0

    # -- lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the cache and limiter backends (Redis connections, files)."""
        if self.cache is not None:
            await self.cache.aclose()
        if self.governor is not None:
            await self.governor.aclose()

    async def __aenter__(self) -> HybridAgent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
