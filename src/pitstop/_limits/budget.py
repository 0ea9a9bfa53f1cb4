"""Spend budgets in dollars: ``max_cost_per_task``, ``max_cost_per_hour``, ``max_cost_total``.

A model call reserves its estimated cost before it starts (its prompt plus
``max_output_tokens`` at the model's price) and settles to the real cost after, like
the token limit. Amounts are integer micro-dollars, so sums never drift.

- ``max_cost_per_hour`` is a bucket of that many dollars refilled continuously (a
  budget of $6 an hour frees $0.10 a minute): a call that does not fit waits, first
  come first served, or is refused with ``reject_on_limit=True``.
- ``max_cost_total`` never refills: a call that does not fit is refused at once.
- ``max_cost_per_task`` is checked against what the task has spent so far: refused at once.

With ``redis_url`` the hour bucket and the total live in one Redis hash, changed by one
Lua script (`SPEND_SCRIPT`) in integer micro-dollars, so every process sharing the URL
and namespace shares the budget. Like the shared rate limits, every call has
``redis_timeout``; while Redis is down a call is refused (``on_redis_outage='refuse'``)
or counted against a budget of this process that starts from the last spend Redis
reported (``'local'``, warned once per outage). This module is the Governor's only
contact with money.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from pitstop._limits.bucket import TokenBucket
from pitstop._limits.gate import Clock, Gate, Sleep, _Refusal
from pitstop._limits.shared import RETRY_S, RedisGate
from pitstop.errors import BudgetExceeded

__all__ = [
    "MICRO",
    "SPEND_SCRIPT",
    "LocalSpendGate",
    "RedisSpendGate",
    "SpendReservation",
    "budget_refusal",
    "task_budget_refusal",
    "to_micro",
]

logger = logging.getLogger("pitstop.limits")

MICRO = 1_000_000
"""Micro-dollars per dollar."""
HOUR = 3600.0


def to_micro(dollars: float) -> int:
    """Dollars as integer micro-dollars, rounded up (a reservation never falls short)."""
    return math.ceil(dollars * MICRO - 1e-6)


def _usd(micro: float) -> str:
    return f"${micro / MICRO:,.4f}"


@dataclass(slots=True)
class SpendReservation:
    """Micro-dollars held for one model call, to be settled with its real cost."""

    amount: int
    """Micro-dollars currently held (the real cost once settled)."""
    waits: tuple[Any, ...] = ()
    """The `Wait` records of the budget wait, if any."""


class _Exhausted(_Refusal):
    """A budget that cannot admit the amount by waiting (the total, or more than an hour's)."""

    def __init__(self, limit: str, spent: float) -> None:
        super().__init__("exhausted", waited=0.0, delay=math.inf)
        self.limit = limit
        self.spent = spent


class _SpendGate(Gate):
    """The hour bucket and the total, admitted together or not at all."""

    def __init__(
        self, *, per_hour: float | None, total: float | None, clock: Clock, sleep: Sleep
    ) -> None:
        super().__init__(
            "max_cost_per_hour" if per_hour is not None else "max_cost_total",
            clock=clock, sleep=sleep,
        )
        self.per_hour = None if per_hour is None else to_micro(per_hour)
        self.total = None if total is None else to_micro(total)
        self.spent_total = 0
        """Micro-dollars spent or held under the total, as last known."""
        self.hour_level = float(self.per_hour or 0)
        """Micro-dollars left in the hour bucket, as last known."""

    def hour_spent(self) -> float:
        """Micro-dollars spent (or held) within the last hour, as last known."""
        return 0.0 if self.per_hour is None else max(0.0, self.per_hour - self.available())

    def stats(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {
            "limit": (self.per_hour if self.per_hour is not None else self.total or 0) / MICRO,
            "spent_total_usd": self.spent_total / MICRO,
            "admitted_usd": self.meter.total / MICRO,
        }
        if self.per_hour is not None:
            out["max_cost_per_hour"] = self.per_hour / MICRO
            out["spent_last_hour_usd"] = self.hour_spent() / MICRO
            out["utilisation"] = self.hour_spent() / self.per_hour
        if self.total is not None:
            out["max_cost_total"] = self.total / MICRO
            out["remaining_total_usd"] = max(0, self.total - self.spent_total) / MICRO
        return {**out, **super().stats()}


class LocalSpendGate(_SpendGate):
    """Budgets kept in this process."""

    def __init__(
        self, *, per_hour: float | None, total: float | None, clock: Clock, sleep: Sleep
    ) -> None:
        super().__init__(per_hour=per_hour, total=total, clock=clock, sleep=sleep)
        self.bucket = (
            None if self.per_hour is None
            else TokenBucket(self.per_hour / HOUR, self.per_hour, now=clock())
        )

    def _try(self, amount: float) -> float:
        if self.total is not None and self.spent_total + amount > self.total:
            raise _Exhausted("max_cost_total", self.spent_total)
        if self.bucket is not None:
            if amount > self.bucket.capacity:
                raise _Exhausted("max_cost_per_hour", self.hour_spent())
            delay = self.bucket.try_take(amount, self.clock())
            if delay:
                return delay
        self.spent_total += int(amount)
        self.meter.add(amount, self.clock())
        return 0.0

    def take_now(self, amount: float) -> bool:
        return not self.queue and self._try(amount) == 0.0

    async def attempt(self, amount: float) -> float:
        return self._try(amount)

    def adjust(self, delta: float) -> None:
        now = self.clock()
        if self.bucket is not None:
            if delta > 0:
                self.bucket.debit(delta, now)
            elif delta < 0:
                self.bucket.credit(-delta, now)
        self.spent_total += int(delta)
        self.meter.add(delta, now)
        if delta < 0:
            self.kick()

    def available(self) -> float:
        if self.bucket is None:
            return math.inf if self.total is None else float(self.total - self.spent_total)
        return self.bucket.available(self.clock())


SPEND_SCRIPT = """
local key = KEYS[1]
local op = ARGV[1]
local amount = tonumber(ARGV[2])
local per_hour = tonumber(ARGV[3])
local total = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
if not now then
  if redis.replicate_commands then pcall(redis.replicate_commands) end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local h = redis.call('HMGET', key, 'level', 'updated', 'spent')
local level = tonumber(h[1]) or per_hour
local updated = tonumber(h[2]) or now
local spent = tonumber(h[3]) or 0
if per_hour > 0 and now > updated then
  local gain = math.floor((now - updated) * per_hour / 3600000)
  if level + gain >= per_hour then
    level = per_hour
    updated = now
  elseif gain > 0 then
    level = level + gain
    updated = updated + math.floor(gain * 3600000 / per_hour)
  end
end
local status = 0
local delay = 0
if op == 'take' then
  if total > 0 and spent + amount > total then
    status = 2
  elseif per_hour > 0 and amount > per_hour then
    status = 3
  elseif per_hour > 0 and level < amount then
    status = 1
    delay = math.ceil((amount - level) * 3600000 / per_hour)
  else
    level = level - amount
    spent = spent + amount
  end
elseif op == 'adjust' then
  if per_hour > 0 then level = math.min(per_hour, level - amount) end
  spent = spent + amount
end
redis.call('HSET', key, 'level', level, 'updated', updated, 'spent', spent)
return {status, delay, level, spent}
"""
"""KEYS: the budget's hash. ARGV: op (take, adjust, peek), amount, per-hour budget and
total budget (0: none), all integer micro-dollars, and now in ms ('' for Redis TIME).
Returns status (0 taken, 1 wait, 2 total exhausted, 3 above an hour's budget), the wait
in ms, the hour bucket's level and the total spent."""


class RedisSpendGate(_SpendGate, RedisGate[tuple[int, float], LocalSpendGate]):
    """Budgets in one Redis hash, shared by every process with the same key."""

    _log = logger

    def __init__(
        self,
        *,
        client: Any,
        key: str,
        url: str,
        per_hour: float | None,
        total: float | None,
        clock: Clock,
        sleep: Sleep,
        bucket_clock: Clock | None = None,
        timeout: float = 1.0,
        fallback: bool = False,
    ) -> None:
        super().__init__(per_hour=per_hour, total=total, clock=clock, sleep=sleep)
        self._setup_redis(client=client, script=SPEND_SCRIPT, key=key, url=url,
                          bucket_clock=bucket_clock, timeout=timeout, fallback=fallback)

    async def _call(self, op: str, amount: int) -> tuple[int, float]:
        now = "" if self._bucket_clock is None else str(int(self._bucket_clock() * 1000))
        args = [op, str(int(amount)), str(self.per_hour or 0), str(self.total or 0), now]
        status, delay, level, spent = await self._run_script(args)
        self.hour_level = float(level)
        self.spent_total = int(spent)
        return int(status), int(delay) / 1000.0

    def _take_call(self, amount: float) -> Coroutine[Any, Any, tuple[int, float]]:
        return self._call("take", int(amount))

    def _admit(self, result: tuple[int, float], amount: float) -> float:
        status, delay = result
        if status == 2:
            raise _Exhausted("max_cost_total", self.spent_total)
        if status == 3:
            raise _Exhausted("max_cost_per_hour", self.hour_spent())
        if status == 1:
            return max(delay, 1e-3)
        self.meter.add(amount, self.clock())
        return 0.0

    def _back_on_redis(self) -> None:
        logger.warning("The shared spend budget at %s answers again; it is used again.",
                       self.url)

    def _make_local(self) -> LocalSpendGate:
        """Count against a budget of this process, starting from the last spend Redis
        reported."""
        local = LocalSpendGate(per_hour=None, total=None, clock=self.clock, sleep=self.sleep)
        local.per_hour, local.total = self.per_hour, self.total
        local.spent_total = self.spent_total
        if self.per_hour is not None:
            local.bucket = TokenBucket(self.per_hour / HOUR, self.per_hour, now=self.clock())
            local.bucket.level = self.hour_level
        return local

    def _outage_message(self) -> str:
        return (
            f"The shared spend budget lives in Redis at {self.url}, which failed "
            f"({self.last_error}); on_redis_outage='local': this process now counts its own "
            "spend against the whole budget, so N processes together may spend up to N times "
            f"it, until Redis answers again (tried every {RETRY_S:g} s)."
        )

    def _take_local(self, amount: float) -> float:
        assert self._local is not None
        delay = self._local._try(amount)
        self.spent_total = self._local.spent_total
        if self._local.bucket is not None:
            self.hour_level = self._local.bucket.available(self.clock())
        if not delay:
            self.meter.add(amount, self.clock())
        return delay

    def _undo_take(self, result: tuple[int, float], amount: float) -> None:
        if result[0] == 0:
            self._spawn(self._call("adjust", -int(amount)))

    def adjust(self, delta: float) -> None:
        if not delta:
            return
        if self._local is not None:
            self._local.adjust(delta)
            self.spent_total = self._local.spent_total
        else:
            self._spawn(self._call("adjust", int(delta)), kick=delta < 0)
        self.meter.add(delta, self.clock())

    def available(self) -> float:
        if self.per_hour is None:
            return math.inf if self.total is None else float(self.total - self.spent_total)
        return self.hour_level

    async def refresh(self) -> None:
        """Read the shared budget's state now (takes nothing)."""
        await self._call("peek", 0)

    async def aclose(self) -> None:
        await self._drain()

    def stats(self) -> dict[str, float | int]:
        return {**super().stats(), **self._redis_stats()}


def task_budget_refusal(
    *, budget: float, spent: float, estimate: float, model: str
) -> BudgetExceeded:
    """The error of a call that would take a task past ``max_cost_per_task``."""
    return BudgetExceeded(
        f"max_cost_per_task=${budget:g}: this task has spent ${spent:,.4f} and its next model "
        f"call ({model}) is estimated at up to ${estimate:,.4f} (prompt plus max_output_tokens at "
        "the model's price), which would pass the budget. Raise max_cost_per_task, lower "
        "AgentConfig.max_output_tokens or max_iterations, or compress the conversation.",
        limit="max_cost_per_task", budget=budget, spent=spent, estimate=estimate,
    )


def budget_refusal(
    gate: _SpendGate, refusal: _Refusal, *, estimate: int, model: str, waited: float,
    timeout: float,
) -> BudgetExceeded:
    """The error of a refused reservation, naming the budget, the spend and the fix."""
    cost = _usd(estimate)
    call = f"the next model call ({model}) is estimated at up to {cost}"
    if refusal.reason == "unavailable":
        limit = gate.name
        budget = (gate.per_hour if gate.per_hour is not None else gate.total or 0) / MICRO
        return BudgetExceeded(
            f"The shared spend budget {limit}=${budget:g} lives in Redis at "
            f"{getattr(gate, 'url', 'Redis')}, which failed ({getattr(gate, 'last_error', '')})"
            "; start Redis there, set on_redis_outage='local' to count spend per process "
            "meanwhile, or redis_url=None to keep budgets in this process.",
            limit=limit, budget=budget, spent=gate.spent_total / MICRO,
            estimate=estimate / MICRO, waited=waited,
        )
    if isinstance(refusal, _Exhausted) and refusal.limit == "max_cost_total":
        assert gate.total is not None
        return BudgetExceeded(
            f"max_cost_total={_usd(gate.total)}: {_usd(gate.spent_total)} is spent (or held by "
            f"calls in flight) and {call}; the total budget never refills. Raise "
            "max_cost_total, or lower AgentConfig.max_output_tokens.",
            limit="max_cost_total", budget=gate.total / MICRO, spent=gate.spent_total / MICRO,
            estimate=estimate / MICRO, waited=waited,
        )
    assert gate.per_hour is not None
    spent = gate.hour_spent()
    head = (
        f"max_cost_per_hour={_usd(gate.per_hour)}: {_usd(spent)} was spent in the last hour "
        f"(calls in flight included) and {call}"
    )
    if isinstance(refusal, _Exhausted):
        text = (f"{head}, more than a whole hour's budget; raise max_cost_per_hour or lower "
                "AgentConfig.max_output_tokens.")
    elif refusal.reason == "reject":
        text = (f"{head}; enough frees up in {refusal.delay:,.0f} s and reject_on_limit=True "
                "refuses instead of waiting. Set reject_on_limit=False to wait, or raise "
                "max_cost_per_hour.")
    else:
        text = (f"{head}; waited {waited:.1f} s and gave up after "
                f"resource_wait_timeout_seconds={timeout:g}. Raise max_cost_per_hour or "
                "resource_wait_timeout_seconds.")
    return BudgetExceeded(text, limit="max_cost_per_hour", budget=gate.per_hour / MICRO,
                          spent=spent / MICRO, estimate=estimate / MICRO, waited=waited)
