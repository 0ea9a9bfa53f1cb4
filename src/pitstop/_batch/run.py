"""`execute_batch`: validation, resume from the journal, one progress bar, then an engine.

The local engine runs every task on this process's event loop, at most
`max_concurrency` at once; `RayEngine` (`pitstop.distributed`) runs them on Ray
actors. Both hand each finished result to `Delivery`, which puts it in its place,
moves the progress bar and journals it when the batch has an id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from pitstop.errors import ConfigError

if TYPE_CHECKING:
    from pitstop._agent import HybridAgent
    from pitstop._batch.journal import Journal
    from pitstop.events import TaskResult

__all__ = ["Delivery", "Engine", "run_batch", "run_local"]

Task = str | Mapping[str, Any]
Deliver = Callable[[int, "TaskResult"], None]

_FLUSH_EVERY = 0.5
"""Seconds between journal writes while a batch runs (and once at its end)."""


class Engine(Protocol):
    """Runs a batch's pending tasks and hands each result to `deliver` once."""

    async def run(
        self,
        agent: HybridAgent,
        items: Sequence[tuple[int, Task]],
        context: Mapping[str, Any] | None,
        deliver: Deliver,
        *,
        batch_id: str | None,
    ) -> None: ...


class Delivery:
    """Results in task order, the progress bar and the journal writes of one batch."""

    def __init__(
        self,
        results: list[TaskResult | None],
        texts: Sequence[str],
        keys: Sequence[str] | None,
        journal: Journal | None,
        bar: Any,
    ) -> None:
        self.results = results
        self._texts = texts
        self._keys = keys
        self._journal = journal
        self._bar = bar
        self._pending: list[tuple[str, int, str, Mapping[str, Any]]] = []
        self._last_flush = time.monotonic()
        self._flushing: asyncio.Task[None] | None = None
        self.delivered = 0

    def __call__(self, index: int, result: TaskResult) -> None:
        if self.results[index] is not None:  # an engine must deliver each task once
            raise RuntimeError(f"task {index} was delivered twice")
        self.results[index] = result
        self.delivered += 1
        if self._bar is not None:
            self._bar.update(1)
        if self._journal is not None and self._keys is not None and result.get("success"):
            self._pending.append((self._keys[index], index, self._texts[index], result))
            if time.monotonic() - self._last_flush >= _FLUSH_EVERY and self._flushing is None:
                self._flushing = asyncio.ensure_future(self._flush_in_thread())

    async def _flush_in_thread(self) -> None:
        rows, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        try:
            assert self._journal is not None
            await asyncio.to_thread(self._journal.record, rows)
        finally:
            self._flushing = None

    async def close(self) -> None:
        """Write what is left (also when the batch was cancelled)."""
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        if self._journal is not None:
            rows, self._pending = self._pending, []
            self._journal.record(rows)  # synchronous: this must happen even on cancel
            self._journal.close()
        if self._bar is not None:
            self._bar.close()


async def run_local(
    agent: HybridAgent,
    items: Sequence[tuple[int, Task]],
    context: Mapping[str, Any] | None,
    deliver: Deliver,
    *,
    max_concurrency: int,
) -> None:
    """Every task on this event loop, at most `max_concurrency` at once.

    Cancelling cancels every task that is still running or waiting.
    """
    sem = asyncio.Semaphore(max_concurrency)
    execute = agent.execute_task

    async def one(index: int, task: Task) -> None:
        async with sem:
            result = await execute(task, context)
        deliver(index, result)

    try:
        async with asyncio.TaskGroup() as group:  # a failure or a cancel stops the rest
            for i, t in items:
                group.create_task(one(i, t))
    except BaseExceptionGroup as failed:  # as gather did: the first error, not a group
        raise failed.exceptions[0] from None


def _check(tasks: Any, context: Any, max_concurrency: Any) -> tuple[list[Task], list[str]]:
    """The tasks as a list (a generator is read once) and their texts, or a ConfigError
    before anything runs."""
    from pitstop._agent import _materialise, _task_text

    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) \
            or max_concurrency < 1:
        raise ConfigError(f"max_concurrency must be an integer >= 1, got {max_concurrency!r}.")
    listed = _materialise(tasks, "tasks", "tasks (strings or dicts with 'description')")
    if context is not None and not isinstance(context, Mapping):
        raise ConfigError(f"context must be a dict or None, got {type(context).__name__}.")
    return listed, [_task_text(t) for t in listed]


async def run_batch(
    agent: HybridAgent,
    tasks: Iterable[Task],
    context: Mapping[str, Any] | None = None,
    *,
    max_concurrency: int = 10,
    progress: bool = True,
    engine: Engine | None = None,
    batch_id: str | None = None,
) -> list[TaskResult]:
    """What `HybridAgent.execute_batch` does; see its docstring."""
    listed, texts = _check(tasks, context, max_concurrency)
    if engine is not None and not callable(getattr(engine, "run", None)):
        raise ConfigError(
            f"engine must be None (this process) or a RayEngine from pitstop.distributed, "
            f"got {engine!r}."
        )
    check = getattr(engine, "check", None)
    if check is not None:
        check(agent)  # configuration errors before anything runs or is journalled
    results: list[TaskResult | None] = [None] * len(texts)
    journal = keys = None
    if batch_id is not None:
        from pitstop._batch.journal import Journal, task_keys

        journal = Journal(batch_id, store=agent)
        keys = task_keys(listed, context)
        done = await asyncio.to_thread(journal.load)
        for i, key in enumerate(keys):
            results[i] = cast("TaskResult | None", done.get(key))
    items = [(i, listed[i]) for i, r in enumerate(results) if r is None]
    bar = None
    if progress:
        from pitstop._batch.progress import batch_progress

        where = getattr(engine, "describe", lambda: "")()
        bar = batch_progress(total=len(texts), initial=len(texts) - len(items), unit="task",
                             desc=f"{agent.name} batch" + (f" {batch_id}" if batch_id else "")
                             + where)
    delivery = Delivery(results, texts, keys, journal, bar)
    agent.last_batch = results  # filled as results arrive: an interrupted batch keeps them
    try:
        if engine is None:
            await run_local(agent, items, context, delivery, max_concurrency=max_concurrency)
        else:
            await engine.run(agent, items, context, delivery, batch_id=batch_id)
    except (asyncio.CancelledError, KeyboardInterrupt) as exc:
        from pitstop._agent import _interrupted_batch, _one_line_in_ipython

        line = _interrupted_batch(results)
        if batch_id is not None:
            line += f" Run it again with batch_id={batch_id!r} to run only the rest."
        _one_line_in_ipython(exc, line)
        raise
    finally:
        await delivery.close()
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:  # pragma: no cover - an engine bug, never a user's mistake
        raise RuntimeError(f"the engine returned no result for tasks {missing[:10]}")
    return cast("list[TaskResult]", results)
