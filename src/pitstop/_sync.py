"""`SyncRunner`: run an agent's coroutine to the end from synchronous code.

``asyncio.run`` fails inside a running loop (a notebook cell), and patching that loop
with nest-asyncio changes the user's loop for everyone. Instead each agent owns one
private event loop for its synchronous calls:

* no loop running in this thread (a script, a terminal): the private loop runs here;
* a loop running (a notebook cell, an async framework): the private loop runs on a
  short-lived helper thread while this thread waits, with this thread's context
  variables (the cell's output, the current OpenTelemetry span), so the user's loop is
  never re-entered or patched.

Either way the same private loop runs every ``run_sync`` of the agent, so what the
agent binds to a loop on first use (locks, a Redis connection) stays valid from one
call to the next. Calls from several threads queue and run one at a time. Ctrl+C
(KeyboardInterrupt) cancels the run and waits for its tool calls to stop.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["SyncRunner"]

T = TypeVar("T")


class SyncRunner:
    """One private event loop, driven from whichever thread calls `run`."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the private loop and return its result (or raise its error)."""
        with self._lock:
            loop = self._loop
            if loop is None or loop.is_closed():
                loop = self._loop = asyncio.new_event_loop()
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return self._drive(loop, coro)
            box: dict[str, Any] = {}

            def worker() -> None:
                try:
                    box["value"] = self._drive(loop, coro)
                except BaseException as exc:  # handed to the calling thread
                    box["error"] = exc

            context = contextvars.copy_context()  # the caller's: IPython's output, OTel spans
            thread = threading.Thread(target=context.run, args=(worker,),
                                      name="pitstop-run-sync", daemon=True)
            thread.start()
            try:
                thread.join()
            except KeyboardInterrupt:
                loop.call_soon_threadsafe(_cancel_all, loop)
                thread.join()
                raise
            if "error" in box:
                raise box["error"]
            return box["value"]  # type: ignore[no-any-return]

    @staticmethod
    def _drive(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
        task = loop.create_task(coro)
        try:
            return loop.run_until_complete(task)
        except KeyboardInterrupt:
            task.cancel()
            loop.run_until_complete(asyncio.wait([task]))
            raise

    def close(self) -> None:
        """Close the private loop (a later `run` makes a new one)."""
        with self._lock:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.close()
            self._loop = None


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()
