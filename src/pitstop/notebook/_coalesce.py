"""`Coalescer`: turns a burst of changes into at most `rate` flushes a second.

A stream can produce thousands of tokens a second; a browser wants a few dozen
repaints. Each change *pokes* the coalescer; it flushes at once when the last flush
is at least ``1 / rate`` seconds old, and otherwise arms one timer for the moment it
will be, so the last change is never left unsent for longer than one interval.

Time and timers are injected (``clock`` and ``call_later``), so tests drive it with
a fake clock and no real sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["CallLater", "Coalescer", "loop_call_later"]


class _Timer(Protocol):
    def cancel(self) -> Any: ...


CallLater = Callable[[float, Callable[[], None]], _Timer | None]
"""Schedule a callback after a delay in seconds; returns something with ``cancel()``."""


def loop_call_later(delay: float, callback: Callable[[], None]) -> _Timer | None:
    """`CallLater` on the running asyncio loop; None when no loop runs (no timer armed)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop.call_later(delay, callback)


class Coalescer:
    """Calls ``flush`` at most `rate` times a second, however often it is poked.

    Args:
        flush: sends what changed since the previous flush.
        rate: the most flushes per second (> 0).
        clock: seconds, monotonic.
        call_later: arms the timer that sends the last changes of a burst. When it
            returns None (no event loop), pending changes wait for the next poke or
            for `close`.
    """

    def __init__(
        self,
        flush: Callable[[], None],
        *,
        rate: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        call_later: CallLater = loop_call_later,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0 updates per second, got {rate!r}.")
        self._flush = flush
        self.interval = 1.0 / rate
        self._clock = clock
        self._call_later = call_later
        self._last = float("-inf")
        self._timer: _Timer | None = None
        self._pending = False
        self.flushes = 0
        """How many times ``flush`` has been called."""

    def poke(self) -> None:
        """Note a change; flush now if allowed, else make sure a timer will."""
        self._pending = True
        now = self._clock()
        wait = self._last + self.interval - now
        if wait <= 0:
            self._run(now)
        elif self._timer is None:
            self._timer = self._call_later(wait, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._pending:
            self._run(self._clock())

    def _run(self, now: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending = False
        self._last = now
        self.flushes += 1
        self._flush()

    def close(self) -> None:
        """Send what is pending now (ignoring the rate) and disarm the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            self._run(self._clock())
