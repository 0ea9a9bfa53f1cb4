"""`Deadline`: the total and idle deadlines of one model call, kept by one timer.

A model call may not run longer than ``total`` seconds, and once the answer has begun
the server may not stay silent longer than ``idle`` seconds between two chunks. The
wait for the first chunk is bounded by ``total`` only: a reasoning model may think for
minutes before it sends anything. Only time spent *waiting for the server* counts
against the idle deadline: while the caller holds a delta (the generator is suspended
at a ``yield``), the server's next bytes wait in the socket and no silence is measured.
The total deadline runs on wall time from the start.

The cost per chunk is two attribute writes and one ``loop.time()``: a single timer is
armed for the earliest deadline and, when it fires early (data came meanwhile), re-arms
itself for the new one, instead of rescheduling a timer for every chunk. When a deadline
passes while the call waits, the timer cancels the waiting task; `Deadline.expired`
turns that cancellation into `LLMTimeoutError` (an outside cancellation stays one).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

from pitstop.errors import LLMTimeoutError

__all__ = ["Deadline", "with_deadline"]

T = TypeVar("T")


class Deadline:
    """The deadlines of one model call; `start` it in the task that reads the stream.

    Args:
        total: seconds the whole call may take (None: no limit).
        idle: seconds the server may stay silent while the caller waits (None: no limit).
        what: how the call is named in the error, e.g. ``"http://host/v1 (model 'm')"``.
    """

    __slots__ = (
        "_handle", "_loop", "_task", "answering", "fired", "idle", "since", "total", "total_at",
        "waiting", "what",
    )

    def __init__(self, *, total: float | None, idle: float | None, what: str) -> None:
        self.total = total
        self.idle = idle
        self.what = what
        self.fired: str | None = None
        """``"total"`` or ``"idle"`` once a deadline ran out."""
        self.waiting = True
        """True while the call waits for the server (only then can the timer cancel)."""
        self.answering = False
        """True once the current attempt's first chunk came (the idle deadline applies)."""
        self.since = 0.0
        self.total_at = math.inf
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[object] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def active(self) -> bool:
        return self.total is not None or self.idle is not None

    def start(self) -> None:
        """Start the clock in the current task."""
        if not self.active:
            return
        loop = self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        now = self.since = loop.time()
        self.total_at = now + self.total if self.total is not None else math.inf
        self._arm(now)

    def _arm(self, now: float) -> None:
        assert self._loop is not None
        idle_at = self.since + self.idle if self.idle is not None else math.inf
        when = min(self.total_at, idle_at)
        if self.waiting is False and self.idle is not None:
            when = min(self.total_at, now + self.idle)
        self._handle = self._loop.call_at(when, self._check)

    def _check(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        if now >= self.total_at:
            kind = "total"
        elif (self.waiting and self.answering and self.idle is not None
              and now >= self.since + self.idle):
            kind = "idle"
        else:
            self._arm(now)
            return
        if not self.waiting:  # the caller holds the stream: fail when it asks for more
            self.fired = kind
            return
        self.fired = kind
        if self._task is not None:
            self._task.cancel()

    def touch(self) -> None:
        """A chunk came: the silence starts again."""
        self.answering = True
        if self._loop is not None:
            self.since = self._loop.time()

    def new_attempt(self) -> None:
        """A retry begins: its first chunk may take as long as the total deadline allows."""
        self.answering = False

    def pause(self) -> None:
        """The caller is about to get an item: stop measuring silence."""
        self.waiting = False

    def resume(self) -> None:
        """The caller asks for more (or a chunk came): silence is measured from now.

        Raises:
            LLMTimeoutError: the total deadline passed while the caller held the stream.
        """
        self.waiting = True
        if self._loop is not None:
            self.since = self._loop.time()
            if self.fired is not None:
                raise self.error()

    def stop(self) -> None:
        """Disarm the timer (the call ended, one way or another)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def expired(self) -> bool:
        """After catching ``CancelledError``: True if it was this deadline's doing.

        Takes the deadline's own cancellation back (``Task.uncancel``), so the caller
        can raise `error` instead; an outside cancellation also pending stays.
        """
        if self.fired is None or self._task is None:
            return False
        return self._task.uncancel() == 0

    def error(self) -> LLMTimeoutError:
        if self.fired == "idle":
            return LLMTimeoutError(
                f"{self.what} sent nothing for idle_timeout={self.idle:g} s (keep-alive "
                "comments do not count); the server may be stuck or overloaded. Raise "
                "idle_timeout or check the server.",
                deadline="idle",
                seconds=float(self.idle or 0.0),
            )
        return LLMTimeoutError(
            f"{self.what} did not finish within timeout={self.total:g} s (the total deadline "
            "of one model call, retries included). Raise timeout, lower max_output_tokens, or "
            "check the server.",
            deadline="total",
            seconds=float(self.total or 0.0),
        )


async def with_deadline(
    stream: AsyncIterator[T], *, total: float, what: str
) -> AsyncGenerator[T, None]:
    """`stream` under a total deadline counted while the caller waits for it.

    Raises:
        LLMTimeoutError: the deadline ran out (the inner stream is closed first).
    """
    deadline = Deadline(total=total, idle=None, what=what)
    deadline.start()
    try:
        async for item in stream:
            deadline.pause()
            yield item
            deadline.resume()
    except asyncio.CancelledError:
        if deadline.expired():
            raise deadline.error() from None
        raise
    finally:
        deadline.stop()
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
