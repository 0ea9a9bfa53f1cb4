"""`HybridAgent`: orchestration of model turns, tool calls, cache, limits and memory.

The agent holds the configuration and the parts (tools, executor, cache, governor,
memory, monitor) and answers the public API; the stages one task goes through are in
`pitstop._run` (see docs/architecture.md).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypedDict, cast

from pitstop._config import AgentConfig
from pitstop._metrics.monitor import Monitor, OperationMetrics, OperationTimer
from pitstop._run import Run, drive
from pitstop._tools.base import Tool, ToolRegistry, resolve_tools
from pitstop._tools.executor import PlannedCall, ToolExecutor
from pitstop.errors import ConfigError
from pitstop.events import Event, ResultEvent, TaskResult, ToolOutcome
from pitstop.llm._base import LLMClient, Usage

if TYPE_CHECKING:
    from pitstop._batch.run import Engine
    from pitstop._cache.cache import CacheStats, ToolCache
    from pitstop._cache.config import CacheConfig
    from pitstop._context.engine import ContextEngine
    from pitstop._limits.config import ResourceLimits
    from pitstop._limits.governor import Governor, ResourceUsage

__all__ = ["HybridAgent", "PerformanceMetrics"]

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


def _check_parts(
    *,
    context_engine: object,
    monitor: object,
    registry: object,
    enable_parallel_execution: object,
    enable_streaming: object,
    name: object,
) -> None:
    """Refuse arguments of the wrong kind at once, instead of failing every task later."""
    from pitstop._context.engine import ContextEngine

    for arg, value, kind, example in (
        ("context_engine", context_engine, ContextEngine, "ContextEngine()"),
        ("monitor", monitor, Monitor, "Monitor()"),
        ("registry", registry, ToolRegistry, "ToolRegistry()"),
    ):
        if value is not None and not isinstance(value, kind):
            raise ConfigError(
                f"HybridAgent {arg} must be a {kind.__name__} or None, got "
                f"{type(value).__name__} {value!r:.60}; pass {arg}={example} or leave it out."
            )
    for arg, value in (("enable_parallel_execution", enable_parallel_execution),
                       ("enable_streaming", enable_streaming)):
        if not isinstance(value, bool):
            raise ConfigError(f"HybridAgent {arg} must be True or False, got {value!r:.60}.")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"HybridAgent name must be a string or None, got {name!r:.60}.")


def _materialise(items: object, what: str, example: str) -> list[Any]:
    """`items` read once into a list (a generator is welcome); anything else refused."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ConfigError(
            f"{what} must be a list (or any iterable) of {example}, got "
            f"{type(items).__name__} {items!r:.60}; wrap a single one in a list."
        )
    return list(items)


class PerformanceMetrics(TypedDict):
    """What `HybridAgent.get_performance_metrics` returns."""

    avg_response_time: float
    """Mean seconds per task."""
    p50_response_time: float
    """Median seconds per task."""
    p95_response_time: float
    """95th percentile seconds per task."""
    p99_response_time: float
    """99th percentile seconds per task."""
    min_response_time: float
    """Fastest task, seconds."""
    max_response_time: float
    """Slowest task, seconds."""
    total_tasks: int
    """Tasks run (succeeded, failed or cancelled)."""
    success_rate: float
    """Share of tasks that ended with an answer."""
    total_input_tokens: int
    """Prompt tokens over every task."""
    total_output_tokens: int
    """Generated tokens over every task."""
    total_tokens: int
    """Their sum."""
    total_tool_calls: int
    """Tool calls over every task."""
    tool_errors: int
    """Tool calls that failed."""
    cached_tool_calls: int
    """Tool calls answered from the cache."""
    total_cached_input_tokens: int
    """Prompt tokens served from the provider's prompt cache, over every model call."""
    total_reasoning_tokens: int
    """Reasoning tokens over every model call."""
    total_cost: float
    """Dollars: `model_cost` plus `tool_cost`."""
    model_cost: float
    """Dollars of the model calls, at each model's price (calls of unknown price add 0)."""
    tool_cost: float
    """Dollars of the tool calls that ran, from each tool's declared ``cost``."""
    unpriced_model_calls: int
    """Model calls whose price was unknown (their cost is not in `model_cost`)."""
    prompt_cache_saved: float
    """Dollars the provider's prompt-cache discount saved on cached input tokens."""
    tool_cache_saved: float
    """Dollars of tool calls answered by the tool cache instead of running."""
    models: dict[str, dict[str, Any]]
    """Per model name: ``calls``, ``input_tokens``, ``output_tokens``,
    ``cached_input_tokens``, ``reasoning_tokens``, ``cost``, ``unpriced_calls``,
    ``prompt_cache_saved``."""
    tools: dict[str, dict[str, float]]
    """Per tool with a declared cost: ``calls``, ``cost`` (ran) and ``saved`` (cached)."""
    stuck_tool_threads: dict[str, int]
    """Per sync tool, calls given up (timed out or cancelled) whose thread still runs;
    only tools that have some."""
    operations: dict[str, OperationMetrics]
    """Every operation's timings, by name."""


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
            if not all(isinstance(k, str) for k in config):
                raise ConfigError(
                    f"config as a dict needs field names as keys, got {sorted(map(repr, config))};"
                    " for example config={'max_iterations': 5}."
                )
            config = AgentConfig(**config)
        elif not isinstance(config, AgentConfig):
            raise ConfigError(f"config must be an AgentConfig or a dict, got {config!r}.")
        _check_parts(context_engine=context_engine, monitor=monitor, registry=registry,
                     enable_parallel_execution=enable_parallel_execution,
                     enable_streaming=enable_streaming, name=name)
        self.agent_id = agent_id
        self.name = name or agent_id
        self.llm = llm_client
        self.config = config
        self.tools: dict[str, Tool] = resolve_tools(tools, registry)
        self._specs = [t.spec for t in self.tools.values()]
        self.monitor = monitor or Monitor()
        self.enable_parallel_execution = enable_parallel_execution
        self.enable_streaming = enable_streaming
        self._taps: list[Callable[[Event], None]] = []  # live views following the next run
        self.last_batch: list[TaskResult | None] = []
        """The results of the latest `execute_batch`, in task order; after an interrupt,
        None for each task that did not finish."""
        self.cache_config = cache_config
        self.cache: ToolCache | None = None
        if cache_config is not None:
            from pitstop._cache.cache import ToolCache

            self.cache = ToolCache(cache_config, tools=self.tools, namespace=agent_id)
        self.resource_limits = resource_limits
        self.governor: Governor | None = None
        # A model that reports its provider's rate-limit headers gets a Governor even
        # without limits: it learns the provider's quota from them (see Governor).
        observers = getattr(llm_client, "rate_limit_observers", None)
        reports = isinstance(observers, list)
        if resource_limits is not None or reports:
            from pitstop._limits.config import ResourceLimits
            from pitstop._limits.governor import Governor

            limits = resource_limits or ResourceLimits(
                max_concurrent_tasks=None, resource_wait_timeout_seconds=None
            )
            self.governor = Governor(limits, provider=reports)
            if reports:
                observers.append(self.governor.observe)  # type: ignore[union-attr]
                waiters = getattr(llm_client, "retry_waiters", None)
                if isinstance(waiters, list):
                    waiters.append(self.governor.wait_to_retry)
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
        self._models: dict[str, dict[str, Any]] = {}  # per model: calls, tokens, dollars
        self._tool_costs: dict[str, dict[str, float]] = {}  # per tool: spent, saved

    def __repr__(self) -> str:
        return (
            f"HybridAgent({self.agent_id!r}, llm={self.llm!r}, tools={list(self.tools)}, "
            f"cache={'on' if self.cache else 'off'}, limits={'on' if self.governor else 'off'})"
        )

    # -- running tasks ------------------------------------------------------------------

    async def execute_task(
        self, task: str | Mapping[str, Any], context: Mapping[str, Any] | None = None
    ) -> TaskResult:
        """Run a task to the end and return ``output``, ``success``, ``tool_calls``,
        ``iterations``, ``execution_time``, ``usage``, ``task_id`` (and ``error`` when it failed).

        A failure inside the run (a model error, a limit that rejects, too many iterations)
        gives ``success=False`` with the reason in ``error``; misuse (a bad task or context)
        raises `ConfigError` at once.
        """
        result: ResultEvent | None = None
        async for event in self.execute_task_streaming(task, context):
            if event["type"] == "result":
                result = event
        assert result is not None  # the stream always ends with a result
        out = dict(result)
        del out["type"], out["timestamp"]
        return cast(TaskResult, out)

    def run_sync(
        self, task: str | Mapping[str, Any], context: Mapping[str, Any] | None = None
    ) -> TaskResult:
        """`execute_task` from synchronous code: a script, or a notebook cell.

        Works whether or not an event loop is running, without patching it: the task
        runs on the agent's own private loop (`pitstop._sync`), on a helper thread
        when the calling thread already runs a loop. In async code prefer
        ``await agent.execute_task(...)``, which shares the caller's loop.
        """
        runner = self.__dict__.get("_sync_runner")
        if runner is None:
            from pitstop._sync import SyncRunner

            runner = self.__dict__["_sync_runner"] = SyncRunner()
        return runner.run(self.execute_task(task, context))

    def execute_task_streaming(
        self, task: str | Mapping[str, Any], context: Mapping[str, Any] | None = None
    ) -> AsyncGenerator[Event, None]:
        """Run a task, yielding each event the moment it happens (see `pitstop.events`).

        The stream is ``started``, then ``token``, ``tool_call``, ``tool_result``,
        ``rate_limit_wait``, ``compression`` and ``usage`` events as they happen, then
        ``error`` if the run failed, and always a final ``result``. The stages a task
        goes through are in `pitstop._run`.

        A bad task or context raises `ConfigError` here, before anything runs.
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
        events = drive(Run(self, f"{self.agent_id}-{next(_task_counter)}", text, session_id))
        return _tapped(events, self._taps) if self._taps else events

    def _count_call(self, usage: Usage) -> None:
        """Add one model call's usage and cost to the per-model totals."""
        llm = self.llm
        model = getattr(llm, "model", type(llm).__name__)
        m = self._models.get(model)
        if m is None:
            m = self._models[model] = {
                "calls": 0, "input_tokens": 0, "output_tokens": 0, "cached_input_tokens": 0,
                "reasoning_tokens": 0, "cost": 0.0, "unpriced_calls": 0,
                "prompt_cache_saved": 0.0}
        m["calls"] += 1
        m["input_tokens"] += usage.input_tokens
        m["output_tokens"] += usage.output_tokens
        m["cached_input_tokens"] += usage.cached_input_tokens
        m["reasoning_tokens"] += usage.reasoning_tokens
        if usage.cost is None:
            m["unpriced_calls"] += 1
        else:
            m["cost"] += usage.cost
            price = getattr(getattr(llm, "pricing", None), "price", None)
            if price is not None and usage.cached_input_tokens:
                m["prompt_cache_saved"] += price.cache_saving(usage.cached_input_tokens)

    def _count(self, run: Run) -> None:
        """Add a finished run to the agent's totals."""
        for r in run.records:
            tool = self.tools.get(r["tool_name"] or "")
            if tool is None or tool.cost is None:
                continue
            c = self._tool_costs.setdefault(tool.name, {"calls": 0, "cost": 0.0, "saved": 0.0})
            c["calls"] += 1
            c["saved" if r["cached"] else "cost"] += tool.cost
        totals = self._totals
        totals["tasks"] += 1
        totals["succeeded"] += run.status == "ok"
        totals["input_tokens"] += run.input_tokens
        totals["output_tokens"] += run.output_tokens
        totals["tool_calls"] += len(run.records)
        totals["tool_errors"] += sum(1 for r in run.records if not r["success"])
        totals["cached_tool_calls"] += sum(1 for r in run.records if r["cached"])

    # -- tools directly ---------------------------------------------------------------------

    async def execute_tools_parallel(
        self, tool_calls: Iterable[Mapping[str, Any]], max_concurrency: int = 10
    ) -> list[ToolOutcome]:
        """Run tool calls concurrently, through the cache and the limits.

        Args:
            tool_calls: items like ``{"tool_name": "search", "parameters": {"query": "x"}}``,
                in a list or any iterable (a generator is read once, before anything runs).
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
        tool_calls = _materialise(
            tool_calls, "tool_calls", "{'tool_name': ..., 'parameters': {...}} dicts"
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
        out: list[ToolOutcome] = []
        it = iter(ran)
        for i in range(len(tool_calls)):
            if i in bad:
                out.append({"tool_name": None, "success": False, "error": bad[i],
                            "cached": False, "duration": 0.0})
                continue
            r = next(it)
            outcome: ToolOutcome = {"tool_name": r["tool_name"], "success": r["success"],
                                    "cached": r["cached"], "duration": r["duration"]}
            if r["success"]:
                outcome["result"] = r["result"]
            else:
                outcome["error"] = r["error"]
            out.append(outcome)
        return out

    async def execute_batch(
        self,
        tasks: Iterable[str | Mapping[str, Any]],
        context: Mapping[str, Any] | None = None,
        *,
        max_concurrency: int = 10,
        progress: bool = True,
        engine: Engine | None = None,
        batch_id: str | None = None,
    ) -> list[TaskResult]:
        """Run many tasks and return one result per task, in order.

        `tasks` may be any iterable (a generator is read once, before anything runs).
        Shows one tqdm progress bar (a widget in Jupyter) unless ``progress=False``.
        Cancelling the batch (Kernel > Interrupt) cancels every task still running, local
        or remote; the results of the tasks that finished stay in `last_batch` (None for
        the others), and a notebook shows one line saying so instead of a traceback.

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
        In a notebook cell or other async code with a Redis cache, a Redis slower than a
        tenth of a second is not waited for (the removal finishes in the background before
        any later lookup, and this returns 0); `ainvalidate_cache` gives the exact count.
        """
        cache = self._cache_for_invalidation(tool_name, pattern)
        return 0 if cache is None else cache.invalidate(tool_name=tool_name, pattern=pattern)

    async def ainvalidate_cache(
        self, tool_name: str | None = None, pattern: str | None = None
    ) -> int:
        """`invalidate_cache` for async code: the exact count, without holding the loop."""
        cache = self._cache_for_invalidation(tool_name, pattern)
        if cache is None:
            return 0
        return await cache.ainvalidate(tool_name=tool_name, pattern=pattern)

    def _cache_for_invalidation(self, tool_name: object, pattern: object) -> ToolCache | None:
        """The cache, once the arguments are checked."""
        if tool_name is not None and not isinstance(tool_name, str):
            raise ConfigError(
                f"invalidate_cache(tool_name=...) takes one tool name, got {tool_name!r:.60}; "
                "call it once per tool."
            )
        if pattern is not None and not isinstance(pattern, str):
            raise ConfigError(
                f"invalidate_cache(pattern=...) takes a glob string such as 'query:Python*', "
                f"got {pattern!r:.60}."
            )
        if tool_name is not None and tool_name not in self.tools:
            from pitstop.errors import ToolNotFoundError

            raise ToolNotFoundError(tool_name, self.tools)
        return self.cache

    def get_cache_stats(self) -> CacheStats:
        """Hits, misses, hit rate, size, memory, evictions, time and cost saved, per tool too.

        With a Redis cache, in async code: if Redis has not answered within a tenth of a
        second, ``size`` and ``memory_mb`` are the last figures it gave, so the loop is not
        held; `aget_cache_stats` asks without holding it.
        """
        if self.cache is None:
            return self._no_cache_stats()
        return self.cache.stats()

    async def aget_cache_stats(self) -> CacheStats:
        """`get_cache_stats` for async code: never holds the event loop on Redis."""
        if self.cache is None:
            return self._no_cache_stats()
        return await self.cache.astats()

    @staticmethod
    def _no_cache_stats() -> CacheStats:
        return {"enabled": False, "hits": 0, "misses": 0, "hit_rate": 0.0, "size": 0,
                "memory_mb": 0.0, "evictions": 0, "expirations": 0, "time_saved_s": 0.0,
                "cost_saved": 0.0, "tool_stats": {}}

    # -- limits -----------------------------------------------------------------------------

    def get_resource_usage(self) -> ResourceUsage:
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

    def get_operation_metrics(self, name: str) -> OperationMetrics:
        """``count``, ``avg_time``, ``p50_time``, ``p95_time``, ``p99_time``, ``min_time``,
        ``max_time``, ``error_count`` of an operation (zeros if it never ran).

        Names: ``task``, ``llm_call``, ``tool:<name>`` (calls that ran the tool),
        ``cache_hit:<name>`` (calls served by the cache, kept apart so a 0.2 ms hit does
        not hide in a 400 ms tool's average), ``wait:<limit>``,
        ``compression:<strategy>`` and your own `track_operation_time` names."""
        return self.monitor.operation_metrics(name)

    def get_performance_metrics(self) -> PerformanceMetrics:
        """Task latencies (avg, p50, p95, p99, min, max), totals and every operation's metrics.

        Money, in dollars: ``total_cost`` (``model_cost`` at each model's price plus
        ``tool_cost`` from each tool's ``cost``), ``prompt_cache_saved`` (the provider's
        prompt-cache discount on cached input tokens), ``tool_cache_saved`` (tool calls
        answered by the cache), ``models`` (per model: calls, tokens, cached and reasoning
        tokens, cost) and ``tools`` (per priced tool: calls, cost, saved).
        ``unpriced_model_calls`` counts calls of a model without a known price, which add
        nothing to the costs."""
        task = self.monitor.operation_metrics("task")
        t = self._totals
        models = self._models
        model_cost = sum(m["cost"] for m in models.values())
        tool_cost = sum(c["cost"] for c in self._tool_costs.values())
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
            "total_cached_input_tokens": sum(m["cached_input_tokens"] for m in models.values()),
            "total_reasoning_tokens": sum(m["reasoning_tokens"] for m in models.values()),
            "total_cost": model_cost + tool_cost,
            "model_cost": model_cost,
            "tool_cost": tool_cost,
            "unpriced_model_calls": sum(m["unpriced_calls"] for m in models.values()),
            "prompt_cache_saved": sum(m["prompt_cache_saved"] for m in models.values()),
            "tool_cache_saved": sum(c["saved"] for c in self._tool_costs.values()),
            "models": {name: dict(m) for name, m in models.items()},
            "tools": {name: dict(c) for name, c in self._tool_costs.items()},
            "stuck_tool_threads": {
                name: tool.stuck_threads for name, tool in self.tools.items() if tool.stuck_threads
            },
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
        self._models.clear()
        self._tool_costs.clear()

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


def _interrupted_batch(done: Sequence[TaskResult | None]) -> str:
    finished = sum(r is not None for r in done)
    return (f"Interrupted: {finished} of {len(done)} tasks finished; their results are in "
            f"agent.last_batch (in task order, None for the {len(done) - finished} "
            "cut short).")


def _one_line_in_ipython(exc: BaseException, line: str) -> None:
    """Make IPython show `line` instead of the traceback of `exc` (which is re-raised
    unchanged, so asyncio's cancellation semantics hold)."""
    try:
        exc._render_traceback_ = lambda: [line]  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - an exception without a __dict__
        pass


async def _tapped(
    events: AsyncGenerator[Event, None], taps: list[Callable[[Event], None]]
) -> AsyncGenerator[Event, None]:
    """`events`, each also shown to the taps (a live timeline following the run)."""
    async with aclosing(events):
        async for event in events:
            for tap in list(taps):
                tap(event)
            yield event
