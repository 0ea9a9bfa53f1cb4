"""A per-minute limit whose token bucket lives in Redis, shared by many processes.

Every operation is one atomic Lua script (`BUCKET_SCRIPT`): refill from the time
elapsed, then take, adjust, clamp or pause. Time is the Redis server's ``TIME``, so
processes on different machines agree on it (tests may pass their own clock instead).

Fairness across processes: within a process, requests queue first come first served
(`Gate`). Across processes, the first process whose head request could not be served
leaves a *claim* of its size in the bucket; the others may then only take what is
above the claim, so a big request is not starved by a stream of small ones elsewhere.
The first other process refused while the claim stands is *next in line*: when the
holder is served, the claim passes to it, so a process whose queue never empties
cannot claim again and again ahead of the others (the processes take turns).
A claim, or a place in line, lapses on its own shortly after its holder would have been
served, so a dead process cannot block the others.

Every script call has its own timeout. When Redis fails, a request is refused
(``on_redis_outage='refuse'``), or served from a bucket of this process
(``'local'``, warned once per outage) until Redis answers again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from pitstop._limits.bucket import TokenBucket
from pitstop._limits.gate import Clock, Sleep
from pitstop._limits.shared import RETRY_S, RedisGate

__all__ = ["BUCKET_SCRIPT", "CLAIM_SLACK_S", "RETRY_S", "RedisBucketGate"]

CLAIM_SLACK_S = 2.0
"""Seconds a claim outlives the time its holder was told to wait."""

logger = logging.getLogger("pitstop._limits")

BUCKET_SCRIPT = """
local key = KEYS[1]
local op = ARGV[1]
local rate = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local amount = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
local owner = ARGV[6]
local slack = tonumber(ARGV[7])
if not now then
  if redis.replicate_commands then pcall(redis.replicate_commands) end
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local h = redis.call('HMGET', key, 'level', 'updated', 'paused', 'claim', 'claim_n',
  'claim_until', 'next', 'next_n', 'next_until')
local level = tonumber(h[1]) or capacity
local updated = tonumber(h[2]) or now
local paused = tonumber(h[3]) or 0
local claim = h[4] or ''
local claim_n = tonumber(h[5]) or 0
local claim_until = tonumber(h[6]) or 0
local nxt = h[7] or ''
local next_n = tonumber(h[8]) or 0
local next_until = tonumber(h[9]) or 0
if now > updated then
  level = math.min(capacity, level + (now - updated) * rate)
  updated = now
end
local function pass_claim()
  claim = nxt; claim_n = next_n; claim_until = next_until; nxt = ''
end
if nxt ~= '' and next_until <= now then nxt = '' end
if claim ~= '' and claim_until <= now then pass_claim() end
local result = 0
if op == 'take' then
  local reserve = 0
  if claim ~= '' and claim ~= owner then reserve = claim_n end
  if now >= paused and level - reserve + 1e-6 >= amount then
    level = level - amount
    if claim == owner then pass_claim() end
    if nxt == owner then nxt = '' end
  else
    result = math.max(paused - now, (amount + reserve - level) / rate, 1e-6)
    if owner ~= '' then
      if claim == '' or claim == owner then
        claim = owner
        claim_n = amount
        claim_until = now + result + slack
      elseif nxt == '' or nxt == owner then
        nxt = owner
        next_n = amount
        next_until = now + result + slack
      end
    end
  end
elseif op == 'adjust' then
  level = math.min(capacity, level - amount)
elseif op == 'clamp' then
  if amount < level then level = amount end
elseif op == 'pause' then
  if level > 0 then level = 0 end
  if now + amount > paused then paused = now + amount end
elseif op == 'unclaim' then
  if claim == owner then pass_claim() end
  if nxt == owner then nxt = '' end
end
if claim == '' then claim_n = 0; claim_until = 0 end
if nxt == '' then next_n = 0; next_until = 0 end
redis.call('HSET', key, 'level', string.format('%.17g', level),
  'updated', string.format('%.17g', updated), 'paused', string.format('%.17g', paused),
  'claim', claim, 'claim_n', string.format('%.17g', claim_n),
  'claim_until', string.format('%.17g', claim_until), 'next', nxt,
  'next_n', string.format('%.17g', next_n), 'next_until', string.format('%.17g', next_until))
local idle = (capacity - level) / rate
  + math.max(0, paused - now, claim_until - now, next_until - now) + 60
redis.call('PEXPIRE', key, math.ceil(idle * 1000))
return {string.format('%.17g', result), string.format('%.17g', level)}
"""
"""KEYS: the bucket's hash. ARGV: op (take, adjust, clamp, pause, unclaim, peek), rate
per second, capacity, amount, now ('' for the server's TIME), claim owner, claim slack."""


class RedisBucketGate(RedisGate[float, TokenBucket]):
    """A per-minute limit kept in a Redis hash, shared by every user of the same key.

    Args:
        name: the `ResourceLimits` field.
        client: a ``redis.asyncio.Redis``.
        key: the hash's key (``{namespace}:limits:{name}``).
        per_minute: the limit; the bucket refills at ``per_minute / 60`` a second.
        capacity: the bucket's size (the burst).
        clock, sleep: for waiting and deadlines.
        bucket_clock: the time the script computes with; None for the Redis server's.
        timeout: seconds one script call may take (a frozen Redis is down, not slow).
        fallback: while Redis is down, enforce the limit with a bucket of this process
            (``on_redis_outage='local'``) instead of refusing every request.
    """

    _log = logger

    def __init__(
        self,
        name: str,
        *,
        client: Any,
        key: str,
        url: str,
        per_minute: int,
        capacity: int,
        clock: Clock,
        sleep: Sleep,
        bucket_clock: Clock | None = None,
        timeout: float = 1.0,
        fallback: bool = False,
    ) -> None:
        super().__init__(name, clock=clock, sleep=sleep)
        self._setup_redis(client=client, script=BUCKET_SCRIPT, key=key, url=url,
                          bucket_clock=bucket_clock, timeout=timeout, fallback=fallback)
        self.per_minute = per_minute
        self.capacity = capacity
        self.rate = per_minute / 60.0
        self._owner = uuid.uuid4().hex
        self.level = float(capacity)
        """The bucket's level in the last reply from Redis."""

    async def _call(self, op: str, amount: float, owner: str = "") -> float:
        now = "" if self._bucket_clock is None else repr(self._bucket_clock())
        args = [
            op,
            repr(self.rate),
            repr(float(self.capacity)),
            repr(float(amount)),
            now,
            owner,
            repr(CLAIM_SLACK_S),
        ]
        result, level = await self._run_script(args)
        self.level = float(level)
        return float(result)

    def _take_call(self, amount: float) -> Coroutine[Any, Any, float]:
        return self._call("take", amount, self._owner)

    def _admit(self, result: float, amount: float) -> float:
        if result <= 0.0:
            self.meter.add(amount, self.clock())
        return result

    def _back_on_redis(self) -> None:
        logger.warning("The shared limit %s at %s answers again; the shared bucket is "
                       "used again.", self.name, self.url)

    def _make_local(self) -> TokenBucket:
        return TokenBucket(self.rate, self.capacity, now=self.clock())

    def _outage_message(self) -> str:
        return (
            f"The shared limit {self.name} lives in Redis at {self.url}, which failed "
            f"({self.last_error}); on_redis_outage='local': this process now enforces "
            f"{self.per_minute}/minute on its own, so N processes together may use up to N "
            f"times the quota, until Redis answers again (tried every {RETRY_S:g} s)."
        )

    def _take_local(self, amount: float) -> float:
        assert self._local is not None
        now = self.clock()
        delay = self._local.try_take(amount, now)
        if not delay:
            self.meter.add(amount, now)
        return delay

    def _undo_take(self, result: float, amount: float) -> None:
        if result <= 0.0:
            self._spawn(self._call("adjust", -amount))

    async def wait(
        self, amount: float, *, start: float, deadline: float, reject: bool,
        on_blocked: Callable[[float], None] | None = None,
    ) -> bool:
        try:
            return await super().wait(amount, start=start, deadline=deadline, reject=reject,
                                      on_blocked=on_blocked)
        except BaseException:
            self._release_claim()
            raise

    def _release_claim(self) -> None:
        if not self.queue:  # nobody here is still after the claim
            self._spawn(self._call("unclaim", 0, self._owner))

    def adjust(self, delta: float) -> None:
        """Settle a reservation in the shared bucket (in the background)."""
        if delta:
            local = self._local
            if local is None:
                self._spawn(self._call("adjust", delta), kick=delta < 0)
            elif delta > 0:
                local.debit(delta, self.clock())
            else:
                local.credit(-delta, self.clock())
                self.kick()
            self.meter.add(delta, self.clock())

    def clamp(self, remaining: float) -> None:
        if self._local is not None:
            self._local.clamp(remaining, self.clock())
            self.kick()
            return
        self._spawn(self._call("clamp", remaining), kick=True)

    def pause(self, seconds: float) -> None:
        if self._local is not None:
            self._local.pause(seconds, self.clock())
            self.kick()
            return
        self._spawn(self._call("pause", seconds), kick=True)

    def available(self) -> float:
        if self._local is not None:
            return self._local.available(self.clock())
        return self.level

    async def refresh(self) -> float:
        """Read the shared bucket's level now (takes nothing)."""
        await self._call("peek", 0)
        return self.level

    async def aclose(self) -> None:
        """Finish the background updates and drop this process's claim or place in line."""
        if self.queue:
            return
        self._spawn(self._call("unclaim", 0, self._owner))
        await self._drain()
        self._local = None

    def stats(self) -> dict[str, float | int]:
        now = self.clock()
        used = self.meter.last_minute(now)
        return {
            "limit": self.per_minute,
            "burst": self.capacity,
            "available": self.level,
            "used_last_minute": used,
            "utilisation": used / self.per_minute,
            "admitted": self.meter.total,
            **self._redis_stats(),
            **super().stats(),
        }
