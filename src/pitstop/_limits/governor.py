"""The `Governor`: enforces one agent's `ResourceLimits` for all its concurrent tasks.

The agent asks before it acts and says when it is done::

    waits = await governor.acquire_task()               # a max_concurrent_tasks slot
    try:
        estimate = governor.estimate_tokens(messages, model=m, max_output_tokens=1024,
                                            tools=specs, llm=llm)
        reservation = await governor.reserve_tokens(estimate)   # tokens and requests
        spend = await governor.reserve_cost(dollars, task_spent=s)  # budgets (budget.py)
        ... call the model ...
        governor.settle_tokens(reservation, usage.total_tokens)  # refund or debit
        governor.settle_cost(spend, usage.cost)
        waits = await governor.acquire_tool_call()      # per-minute token + a slot
        try: ... run the tool ...
        finally: governor.release_tool_call()
    finally:
        governor.release_task()

Every acquire returns the `Wait` records of the limits it waited for (empty when it got
through at once), so the agent can show a ``rate_limit_wait`` end event and a Monitor
span for each; `Governor.usage` sums them per limit. An ``on_wait(limit, expected)``
callback hears of a wait the moment it begins (for the ``start`` event), and the
``try_*`` methods take what is free without awaiting, so the agent needs no task to
listen for a wait that does not happen. An acquire that does not wait is a few
attribute reads and a bucket check: no task, no lock, no await that suspends.

**Counting like the provider.** A provider (OpenAI and those that copy it) charges a
request at admission: its prompt tokens plus its ``max_tokens``, and keeps them even
when the answer is shorter. With ``provider=True`` (the agent sets it for a model that
reports rate-limit headers, such as `OpenAIClient`) and ``token_accounting="auto"``,
the Governor does the same: `estimate_tokens` asks the model what the provider will
charge (`OpenAIClient.request_tokens`), `settle_tokens` never refunds, and `observe`
caps the bucket by every response's ``x-ratelimit-remaining-tokens``, so what this
process believes it may spend never exceeds what the provider says is left.

**Learning the quota.** A per-minute model limit left at None (``max_tokens_per_minute``,
``max_requests_per_minute``) is learned from the provider's ``x-ratelimit-limit-*``
headers the first time they arrive (with ``learn_from_provider=True``, the default):
a bucket of that rate, its size read off ``remaining + reset × rate``, filled to
``remaining``. From then on requests wait for it instead of drawing 429s.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from pitstop._limits.budget import (
    MICRO,
    LocalSpendGate,
    SpendReservation,
    budget_refusal,
    task_budget_refusal,
    to_micro,
)
from pitstop._limits.config import ResourceLimits
from pitstop._limits.gate import BucketGate, Gate, SlotGate, _Refusal
from pitstop._redact import redact_text, redact_url
from pitstop.errors import ConfigError, RateLimitExceeded
from pitstop.llm._base import Message, RateLimitInfo, ToolSpec
from pitstop.llm._tokens import count_message_tokens

__all__ = ["REPLY_PRIMING_TOKENS", "Governor", "Reservation", "ResourceUsage", "Wait"]

REPLY_PRIMING_TOKENS = 3
"""Tokens a chat model adds to every prompt to prime its reply."""
IN_FLIGHT_TTL_S = 5.0
"""Seconds after which a call still counted in flight is taken as charged."""


class ResourceUsage(TypedDict):
    """What `HybridAgent.get_resource_usage` returns."""

    limits: dict[str, dict[str, float | int]] | None
    """One dict per configured limit, keyed by its field name (None: no limits set):
    its ``limit``, current use, ``utilisation``, ``waiting``, ``waits``, ``wait_time_s``,
    ``max_wait_s``, ``rejections``, ``timeouts`` and ``cancellations``."""
    total_waits: NotRequired[int]
    """Waits over every limit."""
    total_wait_time_s: NotRequired[float]
    """Seconds waited over every limit."""
    total_rejections: NotRequired[int]
    """Requests refused over every limit."""
    total_timeouts: NotRequired[int]
    """Waits that ran past ``resource_wait_timeout_seconds``."""
    provider: NotRequired[dict[str, Any]]
    """The last rate-limit facts the provider reported."""
    shared: NotRequired[dict[str, str] | None]
    """The Redis URL (password hidden) and namespace, or None."""
    budgets: NotRequired[dict[str, Any] | None]
    """The spend budgets (None: none set): their settings in dollars, ``task_refusals``,
    and for the hourly/total budgets ``spent_total_usd``, ``spent_last_hour_usd``,
    ``remaining_total_usd`` and the waits and refusals."""


@dataclass(frozen=True, slots=True)
class Wait:
    """One wait for one limit."""

    limit: str
    """The `ResourceLimits` field waited for, e.g. ``"max_tokens_per_minute"``."""
    waited: float
    """Seconds."""
    requested: float
    """Tokens, calls or slots asked for."""


OnWait = Callable[[str, "float | None"], None]
"""``on_wait(limit, expected_seconds)``: a wait begins (expected None when unknown)."""


@dataclass(slots=True)
class Reservation:
    """Tokens reserved for one model call, to be settled with the real usage."""

    amount: int
    """Tokens currently held against the limit (the actual usage once settled)."""
    waits: tuple[Wait, ...] = ()
    """What reserving them waited for."""
    in_flight: bool = False
    """Reserved but not yet charged by the provider (provider accounting only)."""
    at: float = 0.0
    """When it was reserved (for the in-flight bookkeeping)."""


class Governor:
    """Enforces `ResourceLimits`: concurrency slots and continuously refilling buckets.

    Args:
        limits: the limits; read once, when the Governor is made.
        clock: seconds on a monotonic clock (injected so tests use a fake one).
        sleep: an awaitable sleep in the same seconds as `clock`.

    With ``limits.redis_url`` the per-minute buckets live in Redis and are shared with
    every process using the same URL and namespace; their time is the Redis server's
    unless a `clock` is injected, which then drives them too (for tests). An acquire
    against Redis costs one round trip even when it does not wait.

    One Governor serves all the tasks of one agent on one event loop; it is not
    thread-safe. A tool call takes its concurrency slot first, then its per-minute
    token; if the token is refused, the slot is given back.
    """

    def __init__(
        self,
        limits: ResourceLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        provider: bool = False,
    ) -> None:
        if not isinstance(limits, ResourceLimits):
            raise ConfigError(
                f"Governor needs a ResourceLimits, got {type(limits).__name__}; "
                "pass ResourceLimits(...)."
            )
        self.limits = limits
        self._clock = clock
        self._timeout = limits.resource_wait_timeout_seconds or math.inf
        self._reject = limits.reject_on_limit
        self._sleep = sleep
        self._client: Any = None
        accounting = limits.token_accounting
        self.provider_accounting = accounting == "provider" or (accounting == "auto" and provider)
        """True: tokens are charged as the provider charges them, and never refunded."""
        self.learned: dict[str, int] = {}
        """Limits learned from the provider's headers: field name -> per-minute figure."""
        custom_clock = clock is not time.monotonic  # a test's clock: buckets follow it
        self._tasks = self._slots("max_concurrent_tasks", limits.max_concurrent_tasks, sleep)
        self._tool_slots = self._slots(
            "max_concurrent_tool_calls", limits.max_concurrent_tool_calls, sleep
        )
        self._tokens = self._bucket(
            "max_tokens_per_minute",
            limits.max_tokens_per_minute,
            limits.token_capacity,
            sleep,
            custom_clock=custom_clock,
        )
        self._requests = self._bucket(
            "max_requests_per_minute",
            limits.max_requests_per_minute,
            limits.max_requests_per_minute,
            sleep,
            custom_clock=custom_clock,
        )
        self._tool_rate = self._bucket(
            "max_tool_calls_per_minute",
            limits.max_tool_calls_per_minute,
            limits.tool_call_capacity,
            sleep,
            custom_clock=custom_clock,
        )
        self._spend = self._spend_gate(sleep, custom_clock=custom_clock)
        self._task_budget_refusals = 0
        self._unacked: deque[Reservation] = deque()
        self._gates: tuple[Gate, ...] = ()
        self._collect_gates()
        self._provider: dict[str, Any] = {
            "remaining_tokens": None,
            "reset_tokens_s": None,
            "retry_after_s": None,
            "throttles": 0,
            "observed": 0,
        }

    # -- building ------------------------------------------------------------------------

    def _collect_gates(self) -> None:
        self._gates = tuple(
            g
            for g in (self._tasks, self._tokens, self._requests, self._tool_rate,
                      self._tool_slots, self._spend)
            if g
        )

    @property
    def limits_model_calls(self) -> bool:
        """True when model calls must reserve (a token or request limit, set or learned)."""
        return self._tokens is not None or self._requests is not None

    def _slots(self, name: str, limit: int | None, sleep: Any) -> SlotGate | None:
        return None if limit is None else SlotGate(name, limit, clock=self._clock, sleep=sleep)

    def _bucket(
        self,
        name: str,
        per_minute: int | None,
        capacity: int | None,
        sleep: Any,
        *,
        custom_clock: bool,
    ) -> Any:
        if per_minute is None or capacity is None:
            return None
        url = self.limits.redis_url
        if url is None:
            return BucketGate(
                name, per_minute=per_minute, capacity=capacity, clock=self._clock, sleep=sleep
            )
        from pitstop._limits.redis_bucket import RedisBucketGate

        return RedisBucketGate(
            name,
            client=self._redis(url),
            key=f"{self.limits.namespace}:limits:{name}",
            url=redact_url(url),
            per_minute=per_minute,
            capacity=capacity,
            clock=self._clock,
            sleep=sleep,
            bucket_clock=self._clock if custom_clock else None,
            timeout=self.limits.redis_timeout,
            fallback=self.limits.on_redis_outage == "local",
        )

    def _spend_gate(self, sleep: Any, *, custom_clock: bool) -> Any:
        limits = self.limits
        if limits.max_cost_per_hour is None and limits.max_cost_total is None:
            return None
        url = limits.redis_url
        if url is None:
            return LocalSpendGate(per_hour=limits.max_cost_per_hour, total=limits.max_cost_total,
                                  clock=self._clock, sleep=sleep)
        from pitstop._limits.budget import RedisSpendGate

        return RedisSpendGate(
            client=self._redis(url), key=f"{limits.namespace}:limits:spend", url=redact_url(url),
            per_hour=limits.max_cost_per_hour, total=limits.max_cost_total, clock=self._clock,
            sleep=sleep, bucket_clock=self._clock if custom_clock else None,
            timeout=limits.redis_timeout, fallback=limits.on_redis_outage == "local",
        )

    def _redis(self, url: str) -> Any:
        if self._client is None:
            try:
                import redis.asyncio as aioredis
            except ImportError:
                raise ConfigError(
                    "ResourceLimits.redis_url needs the redis package; install it with "
                    "`pip install pitstop[redis]` (or set redis_url=None)."
                ) from None
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import ConnectionError as RedisConnectionError

            timeout = self.limits.redis_timeout
            # explicit timeouts: redis-py before 8.0 has none, and a frozen Redis would
            # hang every task; one retry replaces a pooled connection a restart killed
            self._client = aioredis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 1, (RedisConnectionError,)),
            )
        return self._client

    # -- acquiring -----------------------------------------------------------------------

    def try_acquire_task(self) -> bool:
        """Take a `max_concurrent_tasks` slot if one is free now (no await)."""
        gate = self._tasks
        return gate is None or gate.take_now(1)

    async def acquire_task(self, *, on_wait: OnWait | None = None) -> tuple[Wait, ...]:
        """Take a `max_concurrent_tasks` slot; `release_task` gives it back.

        Raises:
            RateLimitExceeded: rejected (``reject_on_limit``) or the wait timed out.
        """
        gate = self._tasks
        if gate is None or gate.take_now(1):
            return ()
        return await self._wait(gate, 1, self._clock(), on_wait)

    def release_task(self) -> None:
        """Give back the slot of `acquire_task`."""
        if self._tasks is not None:
            self._tasks.release()

    def try_reserve_tokens(self, amount: int) -> Reservation | None:
        """Reserve `amount` tokens (and a request) if the buckets have them now (no
        await), else None and nothing taken."""
        gate, requests = self._tokens, self._requests
        if requests is not None and not requests.take_now(1):
            return None
        if gate is None or amount == 0:
            return Reservation(amount)
        if 0 < amount <= gate.capacity and gate.take_now(amount):
            return self._track(Reservation(amount), gate)
        if requests is not None:
            requests.adjust(-1)  # give the request back: the slow path takes it in turn
        return None

    async def reserve_tokens(self, amount: int, *, on_wait: OnWait | None = None) -> Reservation:
        """Reserve `amount` tokens of `max_tokens_per_minute`, and one request of
        `max_requests_per_minute`, before a model call.

        Raises:
            RateLimitExceeded: `amount` exceeds the burst size, the request was rejected
                (``reject_on_limit``), or the wait timed out.
        """
        waits: tuple[Wait, ...] = ()
        requests = self._requests
        if requests is not None and not requests.take_now(1):
            waits = await self._wait(requests, 1, self._clock(), on_wait)
        gate = self._tokens
        if gate is None or amount == 0:
            return Reservation(amount, waits)
        if amount < 0:
            raise ValueError(f"reserve_tokens needs a token count >= 0, got {amount}.")
        capacity = gate.capacity
        if amount > capacity:
            burst = "token_burst_size" if self.limits.token_burst_size else "the per-minute figure"
            raise RateLimitExceeded(
                f"Asked for {amount} tokens but max_tokens_per_minute allows a burst of at most "
                f"{capacity} ({burst}); raise token_burst_size or lower max_tokens "
                "(AgentConfig.max_output_tokens) or the prompt.",
                limit="max_tokens_per_minute",
                requested=amount,
                waited=0.0,
            )
        if gate.take_now(amount):
            reservation = Reservation(amount, waits)
        else:
            reservation = Reservation(
                amount, waits + await self._wait(gate, amount, self._clock(), on_wait)
            )
        return self._track(reservation, gate)

    def _track(self, reservation: Reservation, gate: Gate) -> Reservation:
        """Count `reservation` in flight until the provider's answer shows its charge."""
        if self.provider_accounting and isinstance(gate, BucketGate):
            # Until the provider's answer shows it charged them, these tokens may still be
            # in its full bucket, whose refill is lost meanwhile; ours must not outrun it.
            amount = reservation.amount
            now = self._clock()
            self._expire_in_flight(now)
            reservation.in_flight = True
            reservation.at = now
            gate.in_flight += amount
            self._unacked.append(reservation)
        return reservation

    def _expire_in_flight(self, now: float) -> None:
        """Land what has been in flight longer than `IN_FLIGHT_TTL_S`: an answer takes
        milliseconds to show its headers, so an older entry lost its acknowledgement (a
        call that died, answers out of order) and must not hold the bucket down."""
        unacked = self._unacked
        while unacked and now - unacked[0].at > IN_FLIGHT_TTL_S:
            self._landed(unacked.popleft())

    async def wait_to_retry(self, delay: float, amount: int) -> None:
        """Before retrying a call the provider refused (429): wait in the queue.

        `observe` has already paused the bucket for the provider's ``Retry-After``
        (`delay`); the retry then reserves its `amount` like any new call, first come
        first served, so refused calls do not all return at the same moment. Without a
        token limit (nothing set, nothing learned yet) it just sleeps `delay`.
        """
        if self._tokens is None:
            await self._sleep(delay)
            return
        # Not tracked in flight: nothing settles a retry's reservation if its call dies
        # without an answer, and the retry goes out at once anyway.
        self._forget(await self.reserve_tokens(amount))

    def _forget(self, reservation: Reservation) -> None:
        """Stop counting `reservation` as in flight (its call ended or is not tracked)."""
        if reservation.in_flight:
            self._landed(reservation)
            for i, pending in enumerate(self._unacked):
                if pending is reservation:  # by identity: equal reservations are distinct
                    del self._unacked[i]
                    break

    def _landed(self, reservation: Reservation) -> None:
        """The provider has answered the call of `reservation`: it is no longer in flight."""
        if reservation.in_flight:
            reservation.in_flight = False
            gate = self._tokens
            if isinstance(gate, BucketGate):
                gate.in_flight = max(0.0, gate.in_flight - reservation.amount)

    def settle_tokens(self, reservation: Reservation, actual: int) -> None:
        """Replace a reservation by the real usage: refund the rest, or debit the excess.

        A debit may leave the bucket below zero, delaying the calls after it. Settling
        again corrects the previous settlement. With provider accounting nothing is
        refunded: the provider keeps what it charged at admission.
        """
        if actual < 0:
            raise ValueError(f"settle_tokens needs the real token usage >= 0, got {actual}.")
        self._forget(reservation)
        if self.provider_accounting and actual < reservation.amount:
            return
        delta = actual - reservation.amount
        reservation.amount = actual
        gate = self._tokens
        if gate is not None and delta:
            gate.adjust(delta)

    # -- spend budgets (pitstop._limits.budget) ---------------------------------------------

    async def reserve_cost(
        self, estimate: float | None, *, task_spent: float = 0.0, model: str = "the model"
    ) -> SpendReservation:
        """Reserve a model call's estimated cost (dollars) under the spend budgets.

        Raises:
            BudgetExceeded: the call would pass ``max_cost_per_task`` or
                ``max_cost_total``, or ``max_cost_per_hour`` refused or timed out.
            ConfigError: a budget is set but the model's price is unknown (`estimate` None).
        """
        limits = self.limits
        if not limits.has_budget:
            return SpendReservation(0)
        if estimate is None:
            raise ConfigError(
                f"ResourceLimits sets a spend budget but {model} has no known price, so its "
                "calls cannot be counted in dollars; pass price={'input': ..., 'output': ...} "
                "(dollars per million tokens) to the client, or pitstop.set_price(model, ...)."
            )
        per_task = limits.max_cost_per_task
        if per_task is not None and task_spent + estimate > per_task:
            self._task_budget_refusals += 1
            raise task_budget_refusal(budget=per_task, spent=task_spent, estimate=estimate,
                                      model=model)
        gate = self._spend
        if gate is None:
            return SpendReservation(0)
        amount = to_micro(estimate)
        start = self._clock()
        try:
            if gate.take_now(amount):
                return SpendReservation(amount)
            limited = await gate.wait(
                amount, start=start, deadline=start + self._timeout, reject=self._reject
            )
        except _Refusal as refusal:
            raise budget_refusal(
                gate, refusal, estimate=amount, model=model, waited=self._clock() - start,
                timeout=self._timeout,
            ) from refusal.__cause__
        waits = (Wait(gate.name, self._clock() - start, amount / MICRO),) if limited else ()
        return SpendReservation(amount, waits)

    def settle_cost(self, reservation: SpendReservation, actual: float | None) -> None:
        """Replace a cost reservation by the call's real cost (None: keep the estimate)."""
        if actual is None or self._spend is None or not reservation.amount:
            return
        real = to_micro(actual)
        delta = real - reservation.amount
        reservation.amount = real
        if delta:
            self._spend.adjust(delta)

    async def acquire_tool_call(self, *, on_wait: OnWait | None = None) -> tuple[Wait, ...]:
        """Take a `max_tool_calls_per_minute` token and a `max_concurrent_tool_calls` slot.

        `release_tool_call` gives the slot back when the call ends (the token is spent).

        Raises:
            RateLimitExceeded: rejected (``reject_on_limit``) or the wait timed out.
        """
        slots, rate = self._tool_slots, self._tool_rate
        waits: tuple[Wait, ...] = ()
        start: float | None = None
        if slots is not None and not slots.take_now(1):
            start = self._clock()
            waits = await self._wait(slots, 1, start, on_wait)
        if rate is None or rate.take_now(1):
            return waits
        try:
            return waits + await self._wait(rate, 1, self._clock() if start is None else start,
                                            on_wait)
        except BaseException:
            if slots is not None:
                slots.release()
            raise

    def release_tool_call(self) -> None:
        """Give back the slot of `acquire_tool_call`."""
        if self._tool_slots is not None:
            self._tool_slots.release()

    async def _wait(
        self, gate: Gate, amount: float, start: float, on_wait: OnWait | None = None
    ) -> tuple[Wait, ...]:
        """The slow path: queue at `gate`; the deadline counts from `start`."""
        began = self._clock()
        blocked = None
        if on_wait is not None:
            def blocked(delay: float) -> None:
                on_wait(gate.name, delay if math.isfinite(delay) else None)
        try:
            waited = await gate.wait(
                amount, start=began, deadline=start + self._timeout, reject=self._reject,
                on_blocked=blocked,
            )
        except _Refusal as refusal:
            raise self._refused(gate, amount, refusal, self._clock() - start) from (
                refusal.__cause__
            )
        if not waited:
            return ()
        return (Wait(gate.name, self._clock() - began, amount),)

    # -- adapting ------------------------------------------------------------------------

    def observe(self, info: RateLimitInfo) -> None:
        """Adapt to what the provider reported about its rate limit.

        A per-minute limit left at None is learned from ``limit_tokens`` /
        ``limit_requests`` (see the module docstring). The buckets never hold more than
        the provider's ``remaining_tokens`` / ``remaining_requests``, and a 429's
        ``retry_after_s`` pauses them for that long (dropping what they held), so
        waiting tasks hold back instead of hammering the endpoint. Without a bucket to
        adapt, the info is only recorded.
        """
        provider = self._provider
        provider["observed"] += 1
        if info.remaining_tokens is not None:
            provider["remaining_tokens"] = info.remaining_tokens
        if info.reset_tokens_s is not None:
            provider["reset_tokens_s"] = info.reset_tokens_s
        if info.retry_after_s is not None:
            provider["retry_after_s"] = info.retry_after_s
            provider["throttles"] += 1
        if self.limits.learn_from_provider:
            if self._tokens is None and info.limit_tokens:
                self._tokens = self._learn("max_tokens_per_minute", info.limit_tokens,
                                           info.remaining_tokens, info.reset_tokens_s)
                self._collect_gates()
            if self._requests is None and info.limit_requests:
                self._requests = self._learn("max_requests_per_minute", info.limit_requests,
                                             info.remaining_requests, info.reset_requests_s)
                self._collect_gates()
        tokens, requests = self._tokens, self._requests
        if info.remaining_tokens is not None and self._unacked:
            # Each answer (a 429 too) lands the oldest call still in flight; answers come
            # back nearly in order, and what matters is the amount in flight.
            self._landed(self._unacked.popleft())
            self._expire_in_flight(self._clock())
        if tokens is not None and info.remaining_tokens is not None:
            tokens.clamp(max(0, info.remaining_tokens))
        if requests is not None and info.remaining_requests is not None:
            requests.clamp(max(0, info.remaining_requests))
        wait = info.retry_after_s
        if wait is not None and wait > 0:
            # Pause the limit the 429 was about: requests when none are left, else tokens.
            out_of_requests = info.remaining_requests is not None and info.remaining_requests < 1
            paused = requests if out_of_requests or tokens is None else tokens
            if paused is not None:
                paused.pause(wait)

    def _learn(
        self, name: str, per_minute: int, remaining: int | None, reset_s: float | None
    ) -> BucketGate:
        """A bucket for the provider's quota `per_minute`, sized and filled from its headers."""
        capacity = per_minute
        if remaining is not None and reset_s is not None:
            # The provider's bucket is full again after reset_s at per_minute/60 a second.
            size = round(remaining + reset_s * per_minute / 60.0)
            if size < 0.98 * per_minute:
                capacity = max(1, size)
        gate = BucketGate(name, per_minute=per_minute, capacity=capacity, clock=self._clock,
                          sleep=self._sleep)
        self.learned[name] = per_minute
        self._provider["learned"] = dict(self.learned)
        return gate

    # -- reporting -----------------------------------------------------------------------

    def estimate_tokens(
        self,
        messages: Sequence[Message],
        *,
        model: str | None,
        max_output_tokens: int,
        tools: Sequence[ToolSpec] = (),
        llm: object = None,
    ) -> int:
        """Tokens a model call is charged: its prompt plus its maximum output.

        A model that knows its provider's count (`OpenAIClient.request_tokens`) is asked;
        otherwise the prompt is counted with `pitstop.llm._tokens`.
        """
        count = getattr(llm, "request_tokens", None)
        if count is not None:
            return int(count(messages, tools, max_tokens=max_output_tokens))
        return count_message_tokens(messages, model) + REPLY_PRIMING_TOKENS + max_output_tokens

    def usage(self) -> ResourceUsage:
        """Current use of every configured limit, and the waits and refusals so far.

        Returns:
            ``limits``: one dict per configured limit (keyed by its field name) with
            its ``limit``, current use (``in_use`` and ``peak`` for slots;
            ``available``, ``used_last_minute`` and ``burst`` for per-minute buckets),
            ``utilisation`` (slots in use / limit; for buckets, the last minute's use /
            the per-minute limit, which passes 1 while a burst above it is spent),
            ``waiting``, ``waits``, ``wait_time_s``, ``max_wait_s``, ``rejections``,
            ``timeouts`` and ``cancellations``; then the totals ``total_waits``,
            ``total_wait_time_s``, ``total_rejections`` and ``total_timeouts``;
            ``provider``: the last rate-limit facts the provider reported; ``shared``:
            the Redis URL (password hidden) and namespace, or None. With Redis,
            ``used_last_minute`` counts this process only.
        """
        per_limit = {g.name: g.stats() for g in self._gates}
        return {
            "limits": per_limit,
            "total_waits": sum(g.waits for g in self._gates),
            "total_wait_time_s": sum(g.wait_time for g in self._gates),
            "total_rejections": sum(g.rejections for g in self._gates),
            "total_timeouts": sum(g.timeouts for g in self._gates),
            "provider": dict(self._provider),
            "budgets": None if not self.limits.has_budget else {
                "max_cost_per_task": self.limits.max_cost_per_task,
                "max_cost_per_hour": self.limits.max_cost_per_hour,
                "max_cost_total": self.limits.max_cost_total,
                "task_refusals": self._task_budget_refusals,
                **({} if self._spend is None else self._spend.stats()),
            },
            "shared": None
            if self.limits.redis_url is None
            else {
                "redis_url": redact_url(self.limits.redis_url),
                "namespace": self.limits.namespace,
            },
        }

    async def aclose(self) -> None:
        """Finish pending shared-bucket updates and close the Redis connection."""
        for gate in self._gates:
            close = getattr(gate, "aclose", None)
            if close is not None:
                await close()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def __repr__(self) -> str:
        names = ", ".join(g.name for g in self._gates) or "no limits"
        return f"Governor({names}{', shared via Redis' if self.limits.redis_url else ''})"

    # -- messages ------------------------------------------------------------------------

    def _refused(
        self, gate: Gate, amount: float, refusal: _Refusal, waited: float
    ) -> RateLimitExceeded:
        name = gate.name
        limit = getattr(gate, "limit", None) or getattr(gate, "per_minute", None)
        if refusal.reason == "unavailable":
            url = getattr(gate, "url", "Redis")
            error = redact_text(str(getattr(gate, "last_error", None)))
            text = (
                f"The shared limit {name} lives in Redis at {url}, which failed "
                f"({error}); start Redis there, set on_redis_outage='local' to fall back "
                "to per-process limits during an outage, or set redis_url=None to keep "
                "the limits in this process."
            )
        elif isinstance(gate, SlotGate):
            state = f"all {gate.limit} slots are in use, {len(gate.queue)} waiting"
            if refusal.reason == "reject":
                text = (
                    f"{name}={limit}: {state}, and reject_on_limit=True refuses instead of "
                    f"waiting; set reject_on_limit=False to wait, or raise {name}."
                )
            else:
                text = (
                    f"Waited {waited:.1f} s for a {name} slot ({state}) and gave up after "
                    f"resource_wait_timeout_seconds={self._timeout:g}; raise "
                    f"resource_wait_timeout_seconds or {name}, or run fewer at once."
                )
        else:
            unit = "tokens" if name == "max_tokens_per_minute" else "tool calls"
            paused = getattr(gate, "paused_for", lambda: 0.0)()
            why = f", paused {paused:.1f} s more after the provider's 429" if paused else ""
            if refusal.reason == "reject":
                text = (
                    f"{name}={limit}: asked for {amount:g} {unit} but {gate.available():.0f} "
                    f"are available now (enough in {refusal.delay:.2f} s{why}), and "
                    "reject_on_limit=True refuses instead of waiting; set "
                    f"reject_on_limit=False to wait, raise {name}, or lower the demand."
                )
            else:
                more = (
                    "it was still queued behind earlier requests"
                    if math.isinf(refusal.delay)
                    else f"about {refusal.delay:.1f} s more were needed"
                )
                text = (
                    f"Waited {waited:.1f} s for {amount:g} {unit} under {name}={limit} and "
                    f"gave up after resource_wait_timeout_seconds={self._timeout:g} ({more}"
                    f"{why}); raise resource_wait_timeout_seconds or {name}, or lower the "
                    "demand."
                )
        return RateLimitExceeded(text, limit=name, requested=amount, waited=waited)
