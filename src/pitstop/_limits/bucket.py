"""`TokenBucket`: the arithmetic of a continuously refilling bucket, nothing else.

The bucket has no clock of its own: every operation takes ``now`` (seconds on any
monotonic clock), so tests drive it with plain numbers and one operation sees one
frozen "now". It never sleeps and never blocks; waiting is the `Governor`'s job.
"""

from __future__ import annotations

import math

__all__ = ["EPSILON", "TokenBucket"]

EPSILON = 1e-6
"""Tokens of floating-point slack: a bucket this close to the amount asked admits it,
so a waiter that slept exactly the computed time is not sent back for a nanosecond."""


class TokenBucket:
    """A bucket of `capacity` tokens that refills at `rate` tokens per second.

    Args:
        rate: tokens added per second (a per-minute limit ``L`` is ``L / 60``).
        capacity: the most the bucket holds: the largest burst and the largest request.
        now: the time the bucket is created; it starts full.

    The level may go below zero: `debit` records usage beyond what was reserved, and
    the debt delays the next admissions. `pause` stops admissions until a given time
    (a provider's 429 ``Retry-After``); refilling goes on meanwhile.
    """

    __slots__ = ("capacity", "level", "paused_until", "rate", "updated")

    def __init__(self, rate: float, capacity: float, *, now: float) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive finite number, got {rate!r}")
        if not (capacity >= 1 and math.isfinite(capacity)):
            raise ValueError(f"capacity must be a finite number >= 1, got {capacity!r}")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self.level = float(capacity)
        """Tokens in the bucket as of `updated` (negative: a debt)."""
        self.updated = now
        """The time `level` was computed at."""
        self.paused_until = -math.inf
        """No admission before this time."""

    def _refill(self, now: float) -> None:
        if now > self.updated:
            level = self.level + (now - self.updated) * self.rate
            self.level = level if level < self.capacity else self.capacity
            self.updated = now

    def try_take(self, amount: float, now: float) -> float:
        """Take `amount` tokens if the bucket has them.

        Returns:
            0.0 when the tokens were taken; otherwise the seconds until they could be
            (assuming nobody else takes any meanwhile), and nothing was taken.
        """
        if now > self.updated:  # _refill, inlined: this is the hot path
            level = self.level + (now - self.updated) * self.rate
            self.level = level if level < self.capacity else self.capacity
            self.updated = now
        if now >= self.paused_until and self.level + EPSILON >= amount:
            self.level -= amount
            return 0.0
        return self._delay(amount, now)

    def _delay(self, amount: float, now: float) -> float:
        """Seconds until `amount` is available (the bucket already refilled to `now`)."""
        pause = self.paused_until - now
        # Tokens accrue during a pause too, so the two waits overlap rather than add up.
        refill = (amount - self.level) / self.rate
        delay = max(pause, refill)
        return delay if delay > 0 else 1e-9

    def available(self, now: float) -> float:
        """Tokens in the bucket at `now` (negative while a debt remains)."""
        self._refill(now)
        return self.level

    def time_until(self, amount: float, now: float) -> float:
        """Seconds until `amount` tokens could be taken (0.0: now). Takes nothing."""
        self._refill(now)
        if now >= self.paused_until and self.level + EPSILON >= amount:
            return 0.0
        return self._delay(amount, now)

    def credit(self, amount: float, now: float) -> None:
        """Give back `amount` tokens (a reservation larger than the real usage)."""
        self._refill(now)
        self.level = min(self.capacity, self.level + amount)

    def debit(self, amount: float, now: float) -> None:
        """Take `amount` more tokens unconditionally; the level may go negative."""
        self._refill(now)
        self.level -= amount

    def clamp(self, remaining: float, now: float) -> None:
        """Hold no more than `remaining` tokens (what the provider says is left)."""
        self._refill(now)
        if remaining < self.level:
            self.level = remaining

    def pause(self, seconds: float, now: float) -> None:
        """Admit nothing for `seconds` from `now` and drop whatever the bucket holds.

        A 429 means the provider has nothing left for us, so the level drops to zero
        (a debt stays) and refills from there while paused.
        """
        self._refill(now)
        if self.level > 0:
            self.level = 0.0
        self.paused_until = max(self.paused_until, now + seconds)

    def __repr__(self) -> str:
        return (
            f"TokenBucket(rate={self.rate:g}/s, capacity={self.capacity:g}, "
            f"level={self.level:g} at {self.updated:g})"
        )
