"""`RayEngine`: a batch's tasks on Ray async actors, one agent per worker process.

The driver keeps up to ``concurrency_per_worker`` tasks running on each worker: it sends
them a few at a time (`CHUNK_SHARE`), round the workers, in streaming calls, and
delivers each result the moment it is ready. When a worker dies, the tasks that were
on it (and only those) go back in the queue at once, for the other workers, while Ray
restarts it (rebuilding the agent from its recipe). A task on a worker that died is a
suspect: from its second death on it runs as the only suspect on its worker, so a task
that kills its worker is found out and, at its third death, delivered as one failed
result while the tasks beside it finish. Each group of results brings what the worker's
cache counters gained meanwhile; the driver adds it to its agent's cache statistics
(`pitstop._batch.cache_counts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from pitstop._cache.counts import CacheCounts
from pitstop.errors import ConfigError, WorkerLostError

if TYPE_CHECKING:
    from pitstop._agent import HybridAgent
    from pitstop._batch.run import Deliver, Task
    from pitstop._batch.worker import Chunk
    from pitstop.events import TaskResult

__all__ = ["MAX_DEATHS", "RayEngine", "RunStats"]

MAX_DEATHS = 3
"""A task whose worker died this many times while running it fails."""

_READY_TIMEOUT = 180.0
"""Seconds to wait for the workers to start (a cluster without free CPUs never does)."""
_batch_counter = itertools.count(1)

CHUNK_SHARE = 8
"""Tasks go to a worker in streaming calls of ``concurrency_per_worker // CHUNK_SHARE``
(fewer calls, less overhead per task; at most 1/8 of a worker's capacity waits to fill
a call); they run concurrently there and each result streams back as it ends. A task
that runs again after a worker died is sent alone."""


@dataclass
class RunStats:
    """What the last batch on an engine did (for tests, benchmarks and curiosity)."""

    submitted: int = 0
    """Task runs sent to workers (re-runs included)."""
    rerun: int = 0
    """Tasks sent again because their worker died while they were on it."""
    failed_lost: int = 0
    """Tasks delivered as failed because their worker died `MAX_DEATHS` times."""
    worker_deaths: set[str] = field(default_factory=set)
    """Worker lanes that died during the batch."""
    cache: CacheCounts = field(default_factory=CacheCounts)
    """What the workers' cache counters gained (hits, misses, ... per tool), as added
    to the driver agent's cache statistics."""


@dataclass
class _Worker:
    actor: Any
    lane: str
    free: int
    """Tasks it may still take (of ``concurrency_per_worker``)."""
    pid: int
    """Its process, as last seen (a new pid after a failure means it died)."""
    suspect_busy: bool = False
    """A task that was running on a dead worker twice is running here."""
    restarting: bool = False
    """It died; Ray is restarting it (it takes no task meanwhile)."""


class RayEngine:
    """Run `execute_batch` on Ray: ``agent.execute_batch(tasks, engine=RayEngine())``.

    Each worker is a Ray async actor holding one agent, rebuilt from the agent's recipe
    (its constructor arguments; never a pickled live agent), that runs up to
    `concurrency_per_worker` tasks at once on its event loop. Results come back in task
    order; one progress bar covers every worker; the spans of every task are merged
    into the driver agent's Monitor with a ``worker`` attribute (a lane per worker in
    `pitstop.notebook.batch_timeline`), and the workers' tool calls into its cache
    statistics (``get_cache_stats()``: hits, misses, time and cost saved, per tool).

    Args:
        address: None: the Ray this process is connected to, or a new local one with
            every process on 127.0.0.1. ``"host:port"``, ``"ray://host:port"`` or
            ``"auto"``: an existing cluster (unreachable: a `ConfigError` naming it).
        workers: worker processes (actors), each needing one CPU of the cluster.
        concurrency_per_worker: tasks each worker runs at once.
        llm_factory: builds the model client in each worker, for clients that cannot be
            pickled (e.g. ``lambda: OpenAIClient("gpt-4o-mini")``); None sends the agent's.

    With more than one worker, per-minute limits and spend budgets must be shared:
    set ``ResourceLimits(redis_url=...)``, or each worker would enforce the whole quota
    (a `ConfigError` says so). ``CacheConfig(backend="redis")`` shares the cache.
    Concurrency limits (``max_concurrent_tasks``) stay per worker. The engine keeps its
    workers between batches of the same agent (a changed config, tool list or model
    client starts new ones; a model client changed in place does not: call `shutdown`);
    `shutdown` stops them.
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int = 4,
        concurrency_per_worker: int = 64,
        *,
        llm_factory: Callable[[], Any] | None = None,
    ) -> None:
        for name, value in (("workers", workers), ("concurrency_per_worker",
                                                   concurrency_per_worker)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"RayEngine: {name} must be an integer >= 1, got {value!r}.")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ConfigError(
                f"RayEngine: address must be None (a local Ray), 'host:port', "
                f"'ray://host:port' or 'auto', got {address!r}."
            )
        if address is not None:
            from pitstop._batch.ray_runtime import host_port

            host_port(address)  # a malformed address is an error now, not at the first batch
        if llm_factory is not None and not callable(llm_factory):
            raise ConfigError(f"RayEngine: llm_factory must be callable, got {llm_factory!r}.")
        self.address = address
        self.workers = workers
        self.concurrency_per_worker = concurrency_per_worker
        self.llm_factory = llm_factory
        self.stats = RunStats()
        self._actors: list[Any] = []
        self._lanes: list[str] = []
        self._pids: dict[str, int] = {}
        self._fingerprint: str | None = None
        self._ray: Any = None

    def __repr__(self) -> str:
        return (f"RayEngine(address={self.address!r}, workers={self.workers}, "
                f"concurrency_per_worker={self.concurrency_per_worker})")

    def describe(self) -> str:
        return f" on Ray ({self.workers} worker{'s' if self.workers != 1 else ''})"

    # -- checks before anything runs ------------------------------------------------

    def check(self, agent: HybridAgent) -> None:
        """Configuration errors that would make a multi-worker batch wrong."""
        limits = agent.resource_limits
        if self.workers > 1 and limits is not None and limits.redis_url is None:
            quotas = [name for name in ("max_tokens_per_minute", "max_tool_calls_per_minute",
                                        "max_cost_per_hour", "max_cost_total")
                      if getattr(limits, name, None) is not None]
            if quotas:
                shown = ", ".join(f"{q}={getattr(limits, q)}" for q in quotas)
                raise ConfigError(
                    f"RayEngine(workers={self.workers}) with {shown} but no redis_url: each "
                    f"worker would enforce the whole quota, {self.workers}x over it in total. "
                    "Set ResourceLimits(redis_url='redis://host:6379/0') so every worker "
                    "shares one, or use workers=1."
                )

    # -- workers ---------------------------------------------------------------------

    async def _ensure_workers(self, agent: HybridAgent) -> None:
        from pitstop._batch.ray_runtime import connect
        from pitstop._batch.recipe import AgentRecipe

        plan = AgentRecipe.of(agent, llm_factory=self.llm_factory)
        recipe = plan.dumps()
        # The model client counts its calls, so its bytes change with every local run:
        # it is compared by identity, the rest of the recipe by content.
        rest = dataclasses.replace(plan, llm=None).dumps()
        fingerprint = f"{hashlib.sha256(rest).hexdigest()}:{id(plan.llm)}"
        if self._actors and fingerprint == self._fingerprint:
            return
        await self.shutdown()
        # On this thread: ray.init sets its signal handlers only from the main thread.
        ray = self._ray = connect(self.address, num_cpus=self.workers)
        cpus = ray.cluster_resources().get("CPU", 0)
        if self.address is None and cpus < self.workers:  # a cluster given may autoscale
            raise ConfigError(
                f"RayEngine(workers={self.workers}) needs one CPU per worker, and the Ray "
                f"this process is connected to has {cpus:g}: use workers={int(cpus)} or "
                f"fewer, or call ray.shutdown() first so that RayEngine starts a local Ray "
                f"with {self.workers}."
            )
        from pitstop._batch.worker import BatchWorker

        actor_cls = ray.remote(BatchWorker).options(
            num_cpus=1,
            max_concurrency=self.concurrency_per_worker + 4,  # + room for info, in_flight
            max_restarts=-1,
            max_task_retries=0,
        )
        # The recipe goes inline (small), not by reference: a restart needs it again.
        actors = [actor_cls.remote(recipe, k + 1) for k in range(self.workers)]
        self._actors = actors
        self._fingerprint = fingerprint
        try:
            infos = await asyncio.wait_for(
                asyncio.gather(*(a.info.remote() for a in actors)), _READY_TIMEOUT)
        except TimeoutError:
            await self.shutdown()
            raise ConfigError(
                f"The {self.workers} Ray workers did not start within {_READY_TIMEOUT:.0f} s; "
                f"each needs one CPU: does the cluster have {self.workers} free? "
                f"(cluster resources: {ray.cluster_resources()})"
            ) from None
        except ray.exceptions.RayActorError as exc:
            await self.shutdown()
            raise ConfigError(_recipe_failure(exc)) from None
        self._lanes = [info["lane"] for info in infos]
        self._pids = {info["lane"]: info["pid"] for info in infos}

    async def shutdown(self) -> None:
        """Stop this engine's workers (the next batch starts new ones)."""
        actors, self._actors = self._actors, []
        self._fingerprint = None
        if actors and self._ray is not None:
            for a in actors:
                self._ray.kill(a, no_restart=True)

    async def worker_in_flight(self) -> list[int]:
        """Tasks running on each worker now."""
        return list(await asyncio.gather(*(a.in_flight.remote() for a in self._actors)))

    def worker_handles(self) -> list[Any]:
        """The Ray actor handles of the workers (for tests that kill one)."""
        return list(self._actors)

    # -- a batch ---------------------------------------------------------------------

    async def run(
        self,
        agent: HybridAgent,
        items: Sequence[tuple[int, Task]],
        context: Mapping[str, Any] | None,
        deliver: Deliver,
        *,
        batch_id: str | None,
    ) -> None:
        """Run `items` on the workers and hand every result to `deliver` once, in any
        order (the caller puts them in place).

        One `asyncio.TaskGroup` holds the batch: a dispatcher per worker, and the
        streaming calls the dispatchers start. It ends when every result is in; a
        failure, or cancelling the batch, cancels every call still running (each then
        cancels its remote tasks and waits, 2 s at most, until the worker has stopped
        them). A worker that died is watched until it answers again by a task of an
        outer group, which is cancelled once the batch is over: the batch does not wait
        for a restart it no longer needs.
        """
        self.check(agent)
        self.stats = stats = RunStats()
        if not items:
            return
        _check_sendable(items, context)
        await self._ensure_workers(agent)
        ray = self._ray
        lost_errors = (ray.exceptions.RayActorError,)
        monitor = agent.monitor
        d_wall, d_clock = time.time(), monitor.clock()
        ctx = dict(context) if context is not None else None
        tag = batch_id or f"ray-{next(_batch_counter)}"
        fresh: deque[tuple[int, Task, int]] = deque((i, t, 0) for i, t in items)
        retry: deque[tuple[int, Task, int]] = deque()
        remaining = len(items)
        cond = asyncio.Condition()
        cpw = self.concurrency_per_worker
        chunk = max(1, cpw // CHUNK_SHARE)
        workers = [_Worker(actor, lane, cpw, self._pids[lane])
                   for actor, lane in zip(self._actors, self._lanes, strict=True)]

        def take(w: _Worker) -> list[tuple[int, Task, int]]:
            if w.restarting:
                return []
            for k, item in enumerate(retry):  # a re-run goes alone: it may be the culprit
                if w.free and (item[2] < 2 or not w.suspect_busy):
                    del retry[k]
                    return [item]
            want = min(chunk, -(-len(fresh) // len(workers)))  # the tail is shared out
            if not fresh or w.free < want:
                return []
            return [fresh.popleft() for _ in range(want)]

        def count_cache(counts: CacheCounts | None) -> None:
            # Calls made on a worker count in the driver's cache statistics (each call
            # once, by the process that made it: no double count with a shared cache).
            if counts and agent.cache is not None:
                agent.cache.absorb(counts)
                stats.cache += counts

        def merge(result: dict[str, Any], spans: list[Any], shift: float) -> None:
            for kind, name, start, end, status, task_id, attrs in spans:
                if kind == "task":
                    attrs["batch"] = tag
                monitor.record(kind, name, start + shift, end + shift, status=status,
                               task_id=task_id, attrs=attrs)
            _absorb(agent, result, spans)

        async def stream(w: _Worker, taken: list[tuple[int, Task, int]]) -> None:
            nonlocal remaining
            isolated = taken[0][2] >= 2
            call = w.actor.run_stream.options(num_returns="streaming").remote(
                [task for _, task, _ in taken], ctx)
            delivered: set[int] = set()
            try:
                async for ref in call:
                    part: Chunk = await ref
                    w.pid = part.pid
                    count_cache(part.cache)
                    shift = (part.wall - part.clock) - (d_wall - d_clock)
                    for k, result, spans in part.finished:
                        merge(result, spans, shift)
                        deliver(taken[k][0], cast("TaskResult", result))
                        delivered.add(k)
                    remaining -= len(part.finished)
                    w.free += len(part.finished)
                    async with cond:
                        cond.notify_all()
            except asyncio.CancelledError:
                ray.cancel(call)
                await _drained(call, w.actor, count_cache)  # they have stopped (or 2 s)
                raise
            except lost_errors as exc:
                # The worker died with these tasks on it: they go back in the queue at
                # once, for the other workers, while Ray restarts this one (which takes
                # no task until it answers again).
                for k, (index, task, deaths) in enumerate(taken):
                    if k in delivered:
                        continue
                    w.free += 1
                    if deaths + 1 >= MAX_DEATHS:
                        stats.failed_lost += 1
                        deliver(index, _lost_result(agent, task, deaths + 1, exc))
                        remaining -= 1
                    else:
                        stats.rerun += 1
                        retry.append((index, task, deaths + 1))
                stats.worker_deaths.add(w.lane)
                if not w.restarting:
                    w.restarting = True
                    watchers.append(restarts.create_task(back_again(w)))
            except ray.exceptions.RayTaskError as exc:  # the worker's code raised
                raise _remote_error(exc, w.lane, w.pid) from None
            finally:
                if isolated:
                    w.suspect_busy = False
            async with cond:
                cond.notify_all()

        async def back_again(w: _Worker) -> None:
            """Let a restarted worker take tasks again once it answers."""
            w.pid = await _alive_pid(w.actor, lost_errors)
            w.restarting = False
            async with cond:
                cond.notify_all()

        async def dispatch(w: _Worker) -> None:
            while True:
                async with cond:
                    while not (taken := take(w)):
                        if remaining == 0:
                            return
                        await cond.wait()
                w.free -= len(taken)
                if taken[0][2] >= 2:
                    w.suspect_busy = True
                stats.submitted += len(taken)
                batch.create_task(stream(w, taken))
                await asyncio.sleep(0)  # the other workers' turn: tasks go round the workers

        watchers: list[asyncio.Task[None]] = []
        try:
            async with asyncio.TaskGroup() as restarts:
                try:
                    async with asyncio.TaskGroup() as batch:
                        for w in workers:
                            batch.create_task(dispatch(w))
                finally:
                    for watch in watchers:  # still restarting: the next batch waits for it
                        watch.cancel()
        except BaseExceptionGroup as failed:  # as gather did: the first error, not a group
            raise _first(failed) from None
        finally:
            self._pids.update({w.lane: w.pid for w in workers})


def _check_sendable(items: Sequence[tuple[int, Task]], context: Mapping[str, Any] | None) -> None:
    """A `ConfigError` naming the context or the task that cannot travel to a worker."""
    from ray import cloudpickle

    dumps: Callable[[object], bytes] = cloudpickle.dumps
    parts: list[tuple[str, object]] = [("The context", context)]
    parts += [(f"Task {i}", task) for i, task in items if not isinstance(task, str)]
    for what, value in parts:
        try:
            dumps(value)
        except Exception as exc:
            raise ConfigError(
                f"{what} cannot be sent to a Ray worker ({type(exc).__name__}: {exc}); "
                "pass plain data (strings, numbers, lists, dicts), or run the batch "
                "without an engine."
            ) from None


def _remote_error(exc: Any, lane: str, pid: int) -> BaseException:
    """The exception a worker raised, as the driver should raise it: the original type
    and message (a `ConfigError` stays one), with a note naming the worker and, for an
    unexpected error, the worker's traceback."""
    from pitstop.errors import PitstopError

    cause = getattr(exc, "cause", None)
    if not isinstance(cause, BaseException):
        cause = exc.as_instanceof_cause()
        return cast(BaseException, cause)
    note = f"Raised on the Ray worker {lane} (pid {pid})."
    if not isinstance(cause, PitstopError):
        note += f" Its traceback:\n{getattr(exc, 'traceback_str', '')}"
    cause.add_note(note)
    return cause


def _recipe_failure(exc: BaseException) -> str:
    """Why the workers could not build the agent, in one line, with the fix."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else type(exc).__name__
    if "creation task" not in text:  # killed, cancelled or lost, not our code failing
        return f"A Ray worker died before it was ready: {last}"
    message = f"A Ray worker could not build the agent from its recipe: {last}"
    if "ModuleNotFoundError" in last or "No module named" in last:
        message += (
            ". A tool or model client defined in a module travels by name, so the workers "
            "must import that module: run from the directory that holds it (Ray adds it "
            "to the workers' path), install it in the workers' environment, or define "
            "the function in the notebook or script itself."
        )
    return message


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a (nested) exception group: the one a caller should see."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


async def _drained(
    call: Any, worker: Any, count_cache: Callable[[CacheCounts | None], None],
    seconds: float = 2.0,
) -> None:
    """Wait until a cancelled streaming call has ended on its worker (bounded), then count
    the cache calls the worker made and did not send (those of the cancelled tasks)."""
    # Cancelled, timed out or failed: either way the call has ended.
    with contextlib.suppress(Exception, asyncio.CancelledError):
        async with asyncio.timeout(seconds):
            async for ref in call:
                count_cache((await ref).cache)
    with contextlib.suppress(Exception, asyncio.CancelledError):
        async with asyncio.timeout(seconds):
            count_cache(await worker.cache_counts.remote())


async def _alive_pid(worker: Any, lost_errors: tuple[type[BaseException], ...]) -> int:
    """The pid of a worker once it answers again (Ray restarts a dead one)."""
    for _ in range(600):
        try:
            info = await worker.info.remote()
            return int(info["pid"])
        except lost_errors:
            await asyncio.sleep(0.1)
    raise WorkerLostError("A Ray worker did not come back within 60 s of dying.")


def _lost_result(agent: HybridAgent, task: Task, deaths: int, exc: BaseException) -> TaskResult:
    err = WorkerLostError(
        f"The worker running this task died {deaths} times (the task likely kills its "
        f"process: a crash, os._exit or running out of memory); giving up on it. "
        f"Last: {type(exc).__name__}."
    )
    return {
        "output": "", "success": False, "tool_calls": [], "iterations": 0,
        "execution_time": 0.0,
        "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
                  "cached_input_tokens": 0, "reasoning_tokens": 0},
        "cost": None,
        "error": str(err),
        "task_id": f"{agent.agent_id}-lost",
    }


def _absorb(agent: HybridAgent, result: Mapping[str, Any], spans: list[Any]) -> None:
    """Count a remote task in the driver agent's totals, per model and per tool, as the
    agent counts a local one (from the task's result and its model-call spans)."""
    from types import SimpleNamespace

    from pitstop.llm._base import Usage

    for kind, _, _, _, _, _, attrs in spans:
        if kind == "llm":
            agent._count_call(Usage(
                input_tokens=int(attrs.get("input_tokens", 0)),
                output_tokens=int(attrs.get("output_tokens", 0)),
                cached_input_tokens=int(attrs.get("cached_input_tokens", 0)),
                reasoning_tokens=int(attrs.get("reasoning_tokens", 0)),
                cost=attrs.get("cost"),
            ))
    usage = result.get("usage") or {}
    run = SimpleNamespace(
        records=list(result.get("tool_calls") or []),
        status="ok" if result.get("success") else "error",
        input_tokens=int(usage.get("input_tokens", 0)),
        output_tokens=int(usage.get("output_tokens", 0)),
    )
    agent._count(cast(Any, run))
