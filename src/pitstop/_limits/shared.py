"""What the limits kept in Redis share: `RedisGate`, the base of `RedisBucketGate` (a
shared per-minute limit) and `RedisSpendGate` (a shared spend budget).

It owns the talking to Redis and the outage breaker, not what the scripts compute:

- one script call with ``timeout``, counting a failure in ``errors``/``last_error`` and
  turning it into an ``unavailable`` refusal (`_run_script`);
- the take (`attempt`): one script call (`_take_call`), shielded, so a cancelled caller
  gives back what the script took (`_undo_take`); after a failure no round trip for
  `RETRY_S` (``_retry_at``), and with ``fallback`` (``on_redis_outage='local'``) the
  state of this process instead (`_go_local`, warned once per outage; `_take_local`),
  until Redis answers again (logged by `_back_on_redis`);
- the background updates (`_spawn`, `_drain`) and the two stats keys of Redis.

A subclass says how it takes in Redis (`_take_call`) and reads the reply (`_admit`), what
its state of this process is (`_make_local`) and how it takes from it (`_take_local`),
how a cancelled take is given back (`_undo_take`), and what it logs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import warnings
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

from pitstop._limits.gate import Clock, Gate, _Refusal

__all__ = ["RETRY_S", "RedisGate"]

RETRY_S = 5.0
"""Seconds between tries of a Redis that failed; meanwhile requests are refused at once
(``on_redis_outage='refuse'``) or served locally (``'local'``), without a round trip."""

R = TypeVar("R")
"""What one take script call returns."""
L = TypeVar("L")
"""The state of this process used while Redis is down."""


class RedisGate(Gate, Generic[R, L]):
    """A gate whose state lives in Redis, with an outage breaker and a local fallback."""

    shared = True
    _log: logging.Logger
    """The logger of the subclass's module."""

    def _setup_redis(
        self, *, client: Any, script: str, key: str, url: str, bucket_clock: Clock | None,
        timeout: float, fallback: bool,
    ) -> None:
        self.key = key
        self.url = url
        self._script = client.register_script(script)
        self._bucket_clock = bucket_clock
        self._background: set[asyncio.Task[Any]] = set()
        self.errors = 0
        self.last_error: str | None = None
        self.timeout = timeout
        """Seconds one script call may take before Redis counts as down."""
        self.fallback = fallback
        """True: while Redis is down, enforce the limit with the state of this process."""
        self._local: L | None = None
        self._retry_at = 0.0

    # -- to be provided by each kind of shared gate ------------------------------------

    def _take_call(self, amount: float) -> Coroutine[Any, Any, R]:
        """The script call that takes `amount`."""
        raise NotImplementedError

    def _admit(self, result: R, amount: float) -> float:
        """Read the take's reply: 0.0 if taken, else the seconds to wait."""
        raise NotImplementedError

    def _make_local(self) -> L:
        """The state of this process to use from now until Redis answers again."""
        raise NotImplementedError

    def _outage_message(self) -> str:
        """The warning when this process starts enforcing on its own."""
        raise NotImplementedError

    def _back_on_redis(self) -> None:
        """Log that Redis answers again (``_local`` is already dropped)."""
        raise NotImplementedError

    def _take_local(self, amount: float) -> float:
        """Take `amount` from ``_local``: 0.0 if taken, else the seconds to wait."""
        raise NotImplementedError

    def _undo_take(self, result: R, amount: float) -> None:
        """The caller was cancelled and the take replied `result`: give back if it took."""
        raise NotImplementedError

    # -- Redis -------------------------------------------------------------------------

    async def _run_script(self, args: list[str]) -> Any:
        """One call of the script on ``key``; a failure or a timeout is a refusal."""
        from redis.exceptions import RedisError

        try:
            async with asyncio.timeout(self.timeout):
                return await self._script(keys=[self.key], args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else (
                f"{type(exc).__name__} after redis_timeout={self.timeout:g} s"
            )
            raise _Refusal("unavailable", waited=0.0, delay=math.inf) from exc

    def take_now(self, amount: float) -> bool:
        return False  # shared state always needs a round trip: see `attempt`

    async def attempt(self, amount: float) -> float:
        if self.clock() < self._retry_at:  # Redis failed lately: no round trip
            if self._local is not None:
                return self._take_local(amount)
            raise _Refusal("unavailable", waited=0.0, delay=math.inf)
        call = asyncio.ensure_future(self._take_call(amount))
        try:
            result = await asyncio.shield(call)
        except asyncio.CancelledError:
            # The script may still run; if it took, give it back.
            call.add_done_callback(lambda c: self._undo_done(c, amount))
            raise
        except _Refusal:
            self._retry_at = self.clock() + RETRY_S
            if not self.fallback:
                raise
            self._go_local()
            return self._take_local(amount)
        self._retry_at = 0.0
        if self._local is not None:
            self._local = None
            self._back_on_redis()
        return self._admit(result, amount)

    def _undo_done(self, call: asyncio.Future[R], amount: float) -> None:
        if not call.cancelled() and call.exception() is None:
            self._undo_take(call.result(), amount)

    def _go_local(self) -> None:
        """Redis failed and ``on_redis_outage='local'``: use (or keep) the state of this
        process until the next retry."""
        if self._local is not None:
            return
        self._local = self._make_local()
        message = self._outage_message()
        self._log.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)

    # -- background updates -----------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any], *, kick: bool = False) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no running loop: nothing can be waiting either
            coro.close()
            return
        self._background.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._background.discard(t)
            # a failed background update is counted in `errors`; nothing to raise to
            if not t.cancelled() and t.exception() is None and kick:
                self.kick()

        task.add_done_callback(done)

    async def _drain(self) -> None:
        """Wait for every background update to finish."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def _redis_stats(self) -> dict[str, float | int]:
        return {"redis_errors": self.errors, "local_fallback": self._local is not None}
