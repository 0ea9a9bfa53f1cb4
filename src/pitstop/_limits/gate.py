"""Gates: first-come-first-served admission to one limit each.

A gate has a synchronous fast path (`Gate.take_now`: no queue and enough room, so take
at once, no task, no lock, no await) and a slow path (`Gate.wait`) where requests
queue in arrival order. Only the head of the queue tries to take; the others sleep until
they become the head, so a big request at the head is never overtaken by small ones
behind it. The head sleeps for the time its limit says, and is woken early ("kicked")
when room appears sooner: a slot released, tokens refunded, the head ahead of it gone.

Time comes from an injected ``clock`` and ``sleep``, so tests drive every wait with a
fake clock.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable

from pitstop._limits.bucket import TokenBucket

__all__ = ["BucketGate", "Clock", "Gate", "Meter", "Sleep", "SlotGate"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class _Refusal(Exception):
    """A gate gave up on a request (internal; the Governor raises `RateLimitExceeded`).

    ``reason`` is ``reject`` (at once), ``timeout`` or ``unavailable`` (shared store down).
    """

    def __init__(self, reason: str, *, waited: float, delay: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.waited = waited
        self.delay = delay
        """Seconds the limit said were still needed (inf: until something is released)."""


class Meter:
    """A running total of what was admitted, with a mark about every second, so the
    amount of the last minute can be read back (to within a second) at no cost per add.

    The hot path inlines `add`: ``if now >= m.next_mark: m.mark(now)`` then
    ``m.total += amount``.
    """

    __slots__ = ("_marks", "next_mark", "total")

    def __init__(self) -> None:
        self._marks: deque[tuple[float, float]] = deque(maxlen=62)
        self.next_mark = -math.inf
        self.total = 0.0
        """Everything admitted so far (net of refunds)."""

    def mark(self, now: float) -> None:
        """Remember the total as of `now` (before what is added at `now`)."""
        self._marks.append((now, self.total))
        self.next_mark = now + 1.0

    def add(self, amount: float, now: float) -> None:
        if now >= self.next_mark:
            self.mark(now)
        self.total += amount

    def last_minute(self, now: float) -> float:
        """The amount admitted in the minute up to `now` (to within a second)."""
        since = now - 60.0
        marks = self._marks
        before = 0.0
        for i, (t, total) in enumerate(marks):
            if t > since:
                break
            # What came after mark i came within a second of it (a later add makes the
            # next mark), so once that second is over it all lies before `since`.
            if t + 1.0 <= since:
                before = marks[i + 1][1] if i + 1 < len(marks) else self.total
            else:
                before = total
        return self.total - before


class _Waiter:
    __slots__ = ("fut", "kicked")

    def __init__(self) -> None:
        self.fut: asyncio.Future[None] | None = None
        self.kicked = False

    def kick(self) -> None:
        self.kicked = True
        fut = self.fut
        if fut is not None and not fut.done():
            fut.set_result(None)


class Gate:
    """First-come-first-served admission to one limit.

    Args:
        name: the `ResourceLimits` field this gate enforces.
        clock: seconds, monotonic.
        sleep: an awaitable sleep matching `clock`.
    """

    shared = False
    """True when the limit's state lives outside this process (Redis)."""

    def __init__(self, name: str, *, clock: Clock, sleep: Sleep) -> None:
        self.name = name
        self.clock = clock
        self.sleep = sleep
        self.queue: deque[_Waiter] = deque()
        self.blocked = False
        """True while the head of the queue is held back by the limit itself."""
        self.meter = Meter()
        self.waits = 0
        """Requests that had to wait."""
        self.wait_time = 0.0
        """Seconds requests spent waiting here, summed."""
        self.max_wait = 0.0
        self.rejections = 0
        self.timeouts = 0
        self.cancellations = 0

    # -- to be provided by each kind of gate -----------------------------------------

    def take_now(self, amount: float) -> bool:
        """Take `amount` at once if nobody is queued and there is room (never blocks)."""
        raise NotImplementedError

    async def attempt(self, amount: float) -> float:
        """Try to take `amount`: 0.0 if taken, else the seconds to wait (inf: until kicked)."""
        raise NotImplementedError

    def available(self) -> float:
        """How much could be taken now (as far as this process knows)."""
        raise NotImplementedError

    # -- the queue ---------------------------------------------------------------------

    def kick(self) -> None:
        """Wake the head of the queue to try again (room may have appeared)."""
        if self.queue:
            self.queue[0].kick()

    async def wait(
        self, amount: float, *, start: float, deadline: float, reject: bool,
        on_blocked: Callable[[float], None] | None = None,
    ) -> bool:
        """Queue for `amount` and take it in turn.

        Args:
            start: when the request began (its wait is measured from there).
            deadline: the clock time after which it gives up.
            reject: give up at once instead of waiting.
            on_blocked: called once, the first time the limit holds the request back
                (not when it is rejected), with the expected wait in seconds (inf when
                it depends on others, e.g. a slot being released).

        Returns:
            True if the limit held the request back, False if it got through on its
            first try (perhaps after the requests queued ahead of it, in reject mode or
            during their round trip to a shared bucket).

        Raises:
            _Refusal: rejected, or the deadline passed. Cancellation leaves the queue
                and the limit as they were, and hands the turn to the next waiter.
        """
        waiter = _Waiter()
        queue = self.queue
        queue.append(waiter)
        limited = False  # did the limit itself hold this request back?
        try:
            while True:
                if queue[0] is waiter:
                    delay = await self.attempt(amount)
                    if delay <= 0.0:
                        self.blocked = False
                        if limited:
                            self._record_wait(start)
                        return limited
                    if reject:
                        self.blocked = True
                        self.rejections += 1
                        raise _Refusal("reject", waited=self.clock() - start, delay=delay)
                    if not limited and on_blocked is not None:
                        on_blocked(delay)
                    self.blocked = limited = True
                else:
                    # Behind others: wait for our turn. (With a shared bucket the ones
                    # ahead may only be in their round trip; that is no limit wait.)
                    delay = math.inf
                    if self.blocked and not limited and not reject and on_blocked is not None:
                        on_blocked(delay)
                    limited = limited or self.blocked
                now = self.clock()
                if now >= deadline:
                    self.timeouts += 1
                    self._record_wait(start)
                    raise _Refusal("timeout", waited=now - start, delay=delay)
                await self._pause(waiter, min(delay, deadline - now))
        except asyncio.CancelledError:
            self.cancellations += 1
            raise
        finally:
            was_head = queue[0] is waiter
            queue.remove(waiter)
            if not queue:
                self.blocked = False
            elif was_head:
                queue[0].kick()

    def _record_wait(self, start: float) -> None:
        waited = self.clock() - start
        self.waits += 1
        self.wait_time += waited
        if waited > self.max_wait:
            self.max_wait = waited

    async def _pause(self, waiter: _Waiter, seconds: float) -> None:
        """Sleep `seconds` (inf: forever) or until kicked, whichever comes first."""
        if waiter.kicked:
            waiter.kicked = False
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter.fut = fut
        try:
            if seconds == math.inf:
                await fut
            else:
                sleeper = asyncio.ensure_future(self.sleep(seconds))
                try:
                    await asyncio.wait((fut, sleeper), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
        finally:
            waiter.fut = None
            waiter.kicked = False

    def stats(self) -> dict[str, float | int]:
        return {
            "waiting": len(self.queue),
            "waits": self.waits,
            "wait_time_s": self.wait_time,
            "max_wait_s": self.max_wait,
            "rejections": self.rejections,
            "timeouts": self.timeouts,
            "cancellations": self.cancellations,
        }


class SlotGate(Gate):
    """At most `limit` holders at once (a fair semaphore)."""

    def __init__(self, name: str, limit: int, *, clock: Clock, sleep: Sleep) -> None:
        super().__init__(name, clock=clock, sleep=sleep)
        self.limit = limit
        self.in_use = 0
        self.peak = 0

    def take_now(self, amount: float = 1) -> bool:
        if self.queue or self.in_use >= self.limit:
            return False
        self.in_use += 1
        if self.in_use > self.peak:
            self.peak = self.in_use
        self.meter.total += 1
        return True

    async def attempt(self, amount: float = 1) -> float:
        if self.in_use >= self.limit:
            return math.inf  # until a release kicks the head
        self.in_use += 1
        if self.in_use > self.peak:
            self.peak = self.in_use
        self.meter.total += 1
        return 0.0

    def available(self) -> float:
        return float(self.limit - self.in_use)

    def release(self) -> None:
        if self.in_use <= 0:
            raise RuntimeError(
                f"{self.name}: released more slots than were acquired; call each release "
                "once per successful acquire."
            )
        self.in_use -= 1
        if self.queue:
            self.queue[0].kick()

    def stats(self) -> dict[str, float | int]:
        return {
            "limit": self.limit,
            "in_use": self.in_use,
            "peak": self.peak,
            "utilisation": self.in_use / self.limit,
            "admitted": int(self.meter.total),
            **super().stats(),
        }


class BucketGate(Gate):
    """A per-minute limit kept in a local `TokenBucket`."""

    def __init__(
        self, name: str, *, per_minute: int, capacity: int, clock: Clock, sleep: Sleep
    ) -> None:
        super().__init__(name, clock=clock, sleep=sleep)
        self.per_minute = per_minute
        self.capacity = capacity
        self.bucket = TokenBucket(per_minute / 60.0, capacity, now=clock())
        self.in_flight = 0.0
        """Taken here but not yet charged by the provider: the bucket holds at most
        ``capacity - in_flight`` (the provider's own bucket cannot hold more)."""

    def _cap_in_flight(self, now: float) -> None:
        bucket = self.bucket
        bucket.clamp(bucket.capacity - self.in_flight, now)

    def take_now(self, amount: float) -> bool:
        if self.queue:
            return False
        now = self.clock()
        if self.in_flight:
            self._cap_in_flight(now)
        if self.bucket.try_take(amount, now):
            return False
        meter = self.meter  # Meter.add, inlined: this is the hot path
        if now >= meter.next_mark:
            meter.mark(now)
        meter.total += amount
        return True

    async def attempt(self, amount: float) -> float:
        now = self.clock()
        if self.in_flight:
            self._cap_in_flight(now)
            delay = self.bucket.try_take(amount, now)
            if delay:
                # The cap may take back what a short wait refills: never retry sooner
                # than 1 ms, so a head held down by tokens in flight cannot spin.
                return max(delay, 0.001)
        else:
            delay = self.bucket.try_take(amount, now)
        if not delay:
            self.meter.add(amount, now)
        return delay

    def adjust(self, delta: float) -> None:
        """Settle a reservation: `delta` > 0 takes more tokens, < 0 gives some back."""
        now = self.clock()
        if delta > 0:
            self.bucket.debit(delta, now)
        elif delta < 0:
            self.bucket.credit(-delta, now)
            self.kick()
        self.meter.add(delta, now)

    def clamp(self, remaining: float) -> None:
        self.bucket.clamp(remaining, self.clock())
        self.kick()  # the head re-computes its wait

    def pause(self, seconds: float) -> None:
        self.bucket.pause(seconds, self.clock())
        self.kick()

    def available(self) -> float:
        now = self.clock()
        if self.in_flight:
            self._cap_in_flight(now)
        return self.bucket.available(now)

    def paused_for(self) -> float:
        return max(0.0, self.bucket.paused_until - self.clock())

    def stats(self) -> dict[str, float | int]:
        now = self.clock()
        used = self.meter.last_minute(now)
        return {
            "limit": self.per_minute,
            "burst": self.capacity,
            "available": self.available(),
            "in_flight": self.in_flight,
            "used_last_minute": used,
            "utilisation": used / self.per_minute,
            "paused_for_s": self.paused_for(),
            "admitted": self.meter.total,
            **super().stats(),
        }
