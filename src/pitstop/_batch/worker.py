"""The Ray worker: one agent per process, rebuilt from its recipe, many tasks on its loop.

`BatchWorker` is a plain class; the engine wraps it with ``ray.remote`` as an async
actor. Each task's spans are collected as they are recorded and sent back with its
result, with this process's wall and monotonic clocks so the driver can place them on
its own timeline, and what the agent's cache counters gained meanwhile (see
`pitstop._batch.cache_counts`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, NamedTuple

from pitstop._batch.cache_counts import CounterCursor
from pitstop._cache.counts import CacheCounts
from pitstop._metrics.monitor import Monitor, Span, SpanKind

__all__ = ["BatchWorker", "Chunk", "SpanCollector"]

WireSpan = tuple[str, str, float, float, str, "str | None", dict[str, Any]]
"""A span as it travels: kind, name, start, end, status, task id, attrs."""


class Chunk(NamedTuple):
    """What a worker's stream yields: the tasks that finished since its previous chunk."""

    finished: list[tuple[int, dict[str, Any], list[WireSpan]]]
    """Each task's position in the call, its result and its spans."""
    wall: float
    """This process's `time.time` now (with `clock`, aligns its spans on the driver's)."""
    clock: float
    """This process's Monitor clock now."""
    pid: int
    """This process (a new one after Ray restarted the worker)."""
    cache: CacheCounts | None
    """What the worker's cache counters gained since the previous chunk of any of its
    streams (None: nothing, or no cache)."""


class SpanCollector(Monitor):
    """A Monitor that also keeps each task's spans until the worker sends them."""

    def __init__(self) -> None:
        super().__init__(max_spans=1000)
        self.by_task: dict[str, list[WireSpan]] = {}

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
        span = super().record(kind, name, start, end, status=status, task_id=task_id,
                              attrs=attrs)
        if task_id is not None:
            self.by_task.setdefault(task_id, []).append(
                (kind, name, start, end, status, task_id, dict(attrs or {})))
        return span


class BatchWorker:
    """Runs tasks of batches with an agent built from a pickled `AgentRecipe`."""

    def __init__(self, recipe: bytes, index: int) -> None:
        import pickle

        self.index = index
        self.lane = f"w{index}"
        self.pid = os.getpid()
        self.monitor = SpanCollector()
        self.agent = pickle.loads(recipe).build(monitor=self.monitor)
        self.counters = CounterCursor(self.agent.cache)
        self.running = 0
        self._seq = 0

    def info(self) -> dict[str, Any]:
        """Who and where this worker is, and its clocks (to align spans)."""
        import socket

        return {"lane": self.lane, "pid": self.pid, "host": socket.gethostname(),
                "wall": time.time(), "clock": self.monitor.clock()}

    def in_flight(self) -> int:
        """Tasks running now (cancelled ones leave at once)."""
        return self.running

    def cache_counts(self) -> CacheCounts | None:
        """What the cache counters gained since the last chunk of any stream (the calls
        of tasks that were cancelled, which no chunk will carry)."""
        return self.counters.take()

    async def run_stream(
        self, tasks: list[Any], context: Mapping[str, Any] | None
    ) -> AsyncIterator[Chunk]:
        """Run tasks concurrently; yield a `Chunk` of the ones that finished since the
        last yield. Cancelling (or closing) the stream cancels the tasks still running."""
        # Not a TaskGroup: this is an async generator, and a generator must not yield
        # inside a TaskGroup (the group's cancellation would hit whoever iterates it).
        pending = {asyncio.ensure_future(self._run(t, context)): k for k, t in enumerate(tasks)}
        try:
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                finished = []
                for job in done:
                    result, spans = job.result()
                    finished.append((pending.pop(job), result, spans))
                yield Chunk(finished, time.time(), self.monitor.clock(), self.pid,
                            self.counters.take())
        finally:
            for job in pending:
                job.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def _run(
        self, task: Any, context: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], list[WireSpan]]:
        self.running += 1
        try:
            result: dict[str, Any] = dict(await self.agent.execute_task(task, context))
        finally:
            self.running -= 1
        local_id = result["task_id"]
        self._seq += 1
        # Task ids restart at 1 in every process: name the worker and process in them.
        task_id = f"{self.agent.agent_id}-{self.lane}-p{self.pid}-{self._seq}"
        result["task_id"] = task_id
        spans = self.monitor.by_task.pop(local_id, [])
        extra = {"worker": self.lane, "pid": self.pid}
        wire: list[WireSpan] = [
            (kind, task_id if kind == "task" else name, start, end, status, task_id,
             {**attrs, **extra})
            for kind, name, start, end, status, _, attrs in spans
        ]
        return result, wire

    async def close(self) -> None:
        await self.agent.aclose()
