"""aiolimiter: ``AsyncLimiter``, the leaky-bucket rate limiter asyncio users reach for.

Only the rate-limit rows and the import rows apply; it has no agent loop.
``AsyncLimiter(max_rate, time_period)`` holds up to `max_rate` per `time_period`, so a
rate of R per second with a bucket of B is ``AsyncLimiter(B, B / R)``.
"""

from __future__ import annotations

from ._base import Limiter, Side

__all__ = ["AioLimiterSide"]


class AioLimiterSide(Side):
    def __init__(self) -> None:
        super().__init__(
            key="aiolimiter", label="aiolimiter", distributions=("aiolimiter",),
            notes={"limiter": "AsyncLimiter(max_rate=burst, time_period=burst/rate)"
                              ".acquire()"},
        )
        self.imports = (
            ("package", "import aiolimiter"),
            ("ready", "from aiolimiter import AsyncLimiter"),
        )
        import aiolimiter  # noqa: F401  (fails here when not installed)

    def limiter(self, per_second: float, burst: int) -> Limiter:
        from aiolimiter import AsyncLimiter

        limiter = AsyncLimiter(burst, burst / per_second)
        return Limiter(limiter.acquire, "AsyncLimiter.acquire()")
