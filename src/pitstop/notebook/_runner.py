"""Running the agent from a magic, whether or not an event loop is already running.

**The problem.** A magic is a plain function, but the agent is async. In a Jupyter
kernel the kernel's own asyncio loop is already running while a cell executes, so
``asyncio.run`` (and ``loop.run_until_complete``) fail with "cannot be called from a
running event loop". Running the agent on a second loop in a worker thread would
"work", but the agent's state (the Governor's waiters, a Redis connection, cache
flights) would then live on two loops, and mixing ``%%agent`` with ``await
agent.execute_task(...)`` in the same notebook would break with "bound to a different
event loop" errors.

**The choice: run on the kernel's own loop, with native ``await``.** IPython already
knows how to run a cell that contains a top-level ``await``: ipykernel awaits it on
its running loop, and on Kernel > Interrupt it cancels that coroutine (SIGINT becomes
`asyncio.CancelledError`, see ``ipykernel.ipkernel._cancel_on_sigint``). So
`agent_cell_transformer`, an IPython input transformer, rewrites a ``%%agent`` cell
into one ``await`` of the same coroutine the magic runs, when (and only when) a loop
is running and autoawait is on, exactly the case where a synchronous magic would
need a nested loop. No global monkey-patching, one loop for every agent, and a clean
cancellation path.

**Everywhere else `run_sync` drives the same coroutine.** With no loop running
(terminal IPython, a plain `InteractiveShell`, scripts) it runs on IPython's own
asyncio loop, the one autoawait uses, so ``await`` cells and ``%%agent`` still share
a loop. If a loop *is* running but the cell was not rewritten (``%autoawait off``,
or ``get_ipython().run_cell_magic("agent", ...)`` called from code), the run goes to
a private loop on a helper thread while the cell waits (`SyncRunner`, as
``agent.run_sync`` does), with the cell's context variables. It used to re-enter the
kernel's loop with nest-asyncio, which patches the loop *class*: ipykernel 7's own
threads (the shell channel, IOPub) run loops of that class, and a notebook that had
taken this path later hung with both the kernel and the client idle. A
KeyboardInterrupt cancels the run, waits for its tool calls to stop, and reports one
sentence.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from typing import Any, TypeVar

from IPython.core.error import UsageError

from pitstop._sync import SyncRunner

__all__ = ["agent_cell_transformer", "run_cell_async", "run_sync"]

T = TypeVar("T")

GRACE_SECONDS = 5.0
"""How long an interrupted run may take to stop its tool calls."""

_AGENT_CELL = re.compile(r"%%agent(?:[ \t]+(?P<line>.*?))?[ \t]*\r?\n?")


_HELPER = SyncRunner()
"""The private loop of runs started synchronously while the kernel's loop runs."""


class _Interrupted(Exception):
    """The run was cancelled (Kernel > Interrupt); the message says what was stopped."""


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _kernel_loop() -> asyncio.AbstractEventLoop:
    """The loop IPython runs top-level ``await`` on (when no loop is running)."""
    from IPython.core.async_helpers import get_asyncio_loop

    loop: asyncio.AbstractEventLoop = get_asyncio_loop()
    return loop


def run_sync(coro: Coroutine[Any, Any, T], *, grace: float = GRACE_SECONDS) -> T:
    """Run `coro` to the end from synchronous code; see the module docstring.

    Raises:
        UsageError: the run was interrupted (one readable sentence, no traceback).
    """
    if _running_loop() is not None:
        try:
            return _HELPER.run(coro)
        except KeyboardInterrupt:
            raise UsageError("Interrupted: the run was cancelled.") from None
        except _Interrupted as stopped:
            raise UsageError(f"Interrupted: {stopped}") from None
    loop = _kernel_loop()
    task = loop.create_task(coro)
    try:
        return loop.run_until_complete(task)
    except KeyboardInterrupt:
        task.cancel()
        loop.run_until_complete(asyncio.wait([task], timeout=grace))
        if not task.done():
            raise UsageError(
                f"Interrupted, but the run did not stop within {grace:g} s; a tool is "
                "ignoring cancellation."
            ) from None
        exc = None if task.cancelled() else task.exception()
        if isinstance(exc, _Interrupted):
            raise UsageError(f"Interrupted: {exc}") from None
        raise UsageError("Interrupted: the run was cancelled.") from None
    except _Interrupted as exc:
        raise UsageError(f"Interrupted: {exc}") from None


async def run_cell_async(shell: Any, line: str, cell: str) -> None:
    """What a rewritten ``%%agent`` cell awaits: the magic's coroutine, on the kernel loop."""
    magics = shell.magics_manager.registry.get("AgentMagics")
    if magics is None:
        raise UsageError("The pitstop extension is not loaded; run %load_ext pitstop first.")
    try:
        await magics.agent_async(line, cell)
    except _Interrupted as exc:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()  # the interrupt is handled: later awaits in this cell run normally
        raise UsageError(f"Interrupted: {exc}") from None


def _should_await(shell: Any) -> bool:
    from IPython.core.async_helpers import _asyncio_runner

    return (
        bool(getattr(shell, "autoawait", False))
        and getattr(shell, "loop_runner", None) is _asyncio_runner
        and _running_loop() is not None
    )


def agent_cell_transformer(lines: list[str]) -> list[str]:
    """Rewrite a ``%%agent`` cell into an ``await`` when a kernel loop is running.

    An IPython cleanup input transformer (``shell.input_transformers_cleanup``); any
    other cell, or the same cell with no running loop, passes through unchanged.
    """
    if not lines or not lines[0].startswith("%%agent"):
        return lines
    match = _AGENT_CELL.fullmatch(lines[0])
    if match is None:  # e.g. "%%agentx" or "%%agent?"
        return lines
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or not _should_await(shell):
        return lines
    line = match.group("line") or ""
    body = "".join(lines[1:])
    return [
        "await __import__('pitstop.notebook._runner', fromlist=['run_cell_async'])"
        f".run_cell_async(get_ipython(), {line!r}, {body!r})\n"
    ]
