"""The Governor with a fake clock: waits, fairness, policies, settlement, adaptation."""

from __future__ import annotations

import asyncio

import pytest

from pitstop import Message, RateLimitExceeded, ResourceLimits
from pitstop._limits import Governor, Reservation, Wait
from pitstop.llm._base import RateLimitInfo
from pitstop.llm._tokens import count_message_tokens
from pitstop.testing import FakeClock


def gov(clock: FakeClock, **limits: object) -> Governor:
    return Governor(ResourceLimits(**limits), clock=clock, sleep=clock.sleep)


def completes_without_suspending(coro: object) -> object:
    """Drive a coroutine one step: it must finish at once (no await that suspends)."""
    try:
        coro.send(None)  # type: ignore[attr-defined]
    except StopIteration as done:
        return done.value
    coro.close()  # type: ignore[attr-defined]
    raise AssertionError("the acquire suspended")


async def test_an_acquire_with_room_never_suspends() -> None:
    """With room in every limit, acquires finish in one step and report no wait."""
    clock = FakeClock()
    g = gov(
        clock,
        max_concurrent_tasks=2,
        max_tokens_per_minute=600,
        max_tool_calls_per_minute=60,
        max_concurrent_tool_calls=2,
    )
    assert completes_without_suspending(g.acquire_task()) == ()
    assert completes_without_suspending(g.acquire_tool_call()) == ()
    r = completes_without_suspending(g.reserve_tokens(100))
    assert r == Reservation(100, ())


async def test_limits_left_at_none_are_not_enforced() -> None:
    """max_concurrent_tasks=None and no other limit: nothing is tracked or refused."""
    clock = FakeClock()
    g = gov(clock, max_concurrent_tasks=None)
    for _ in range(1000):
        assert await g.acquire_task() == ()
        assert await g.acquire_tool_call() == ()
    assert (await g.reserve_tokens(10**9)).amount == 10**9
    assert g.usage()["limits"] == {}


async def test_concurrent_tasks_beyond_the_limit_wait_for_a_release() -> None:
    """The third task waits until one of two running tasks releases its slot."""
    clock = FakeClock()
    g = gov(clock, max_concurrent_tasks=2)
    await g.acquire_task()
    await g.acquire_task()
    third = asyncio.ensure_future(g.acquire_task())
    await clock.run_for(3.0)
    assert not third.done()
    g.release_task()
    await clock.settle()
    assert third.result() == (Wait("max_concurrent_tasks", 3.0, 1),)
    assert g.usage()["limits"]["max_concurrent_tasks"]["in_use"] == 2


async def test_slots_are_granted_first_come_first_served() -> None:
    """Waiting tasks get freed slots in the order they asked."""
    clock = FakeClock()
    g = gov(clock, max_concurrent_tasks=1)
    await g.acquire_task()
    order: list[int] = []

    async def task(i: int) -> None:
        await g.acquire_task()
        order.append(i)

    waiters = [asyncio.ensure_future(task(i)) for i in range(5)]
    await clock.settle()
    for _ in range(5):
        g.release_task()
        await clock.settle()
    assert order == [0, 1, 2, 3, 4]
    await asyncio.gather(*waiters)


async def test_token_wait_is_exactly_the_refill_time() -> None:
    """600/min refills 10 tokens/s: 100 tokens after an empty bucket wait exactly 10 s."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=600)
    await g.reserve_tokens(600)
    r = (await clock.run(g.reserve_tokens(100)))[0]
    assert r.waits == (Wait("max_tokens_per_minute", 10.0, 100),)
    assert clock.now == pytest.approx(10.0)


async def test_300_requesters_are_admitted_at_the_rate() -> None:
    """300 requests against 100/s with burst 100: 100 at once, then exactly 100 a second."""
    clock = FakeClock()
    g = gov(clock, max_tool_calls_per_minute=6000, tool_call_burst_size=100)
    times: list[float] = []

    async def one() -> None:
        await g.acquire_tool_call()
        times.append(clock.now)

    await clock.run(*(one() for _ in range(300)))
    assert sum(t == 0 for t in times) == 100
    assert sum(0 < t <= 1.0 + 1e-9 for t in times) == 100
    assert max(times) == pytest.approx(2.0)
    for t in times:  # any 1-second window
        assert sum(t <= u < t + 1 for u in times) <= 100 + 100


async def test_a_big_request_at_the_head_is_not_starved_by_small_ones() -> None:
    """A 50-token request queued first is served before 1-token requests behind it."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=60, token_burst_size=60)  # 1 token/s
    await g.reserve_tokens(60)
    served: list[tuple[int, float]] = []

    async def ask(n: int) -> None:
        await g.reserve_tokens(n)
        served.append((n, clock.now))

    big = asyncio.ensure_future(ask(50))
    await clock.settle()
    smalls = []
    for _ in range(30):  # small requests keep arriving every second
        smalls.append(asyncio.ensure_future(ask(1)))
        await clock.run_for(1.0)
    await clock.run(big, *smalls)
    assert served[0] == (50, pytest.approx(50.0))
    assert all(t >= 50.0 for _, t in served[1:])


async def test_a_refund_wakes_the_head_at_once() -> None:
    """Settling a reservation below its estimate gives tokens back to the next waiter now."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=60)  # 1 token/s
    r = await g.reserve_tokens(60)
    waiter = asyncio.ensure_future(g.reserve_tokens(40))
    await clock.run_for(2.0)
    assert not waiter.done()
    g.settle_tokens(r, 10)  # used 10 of 60: 50 come back
    await clock.settle()
    assert waiter.result().waits == (Wait("max_tokens_per_minute", 2.0, 40),)


async def test_a_debit_delays_the_next_call() -> None:
    """Usage beyond the estimate is taken too, even below zero, and later calls wait for it."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=60)
    r = await g.reserve_tokens(50)
    g.settle_tokens(r, 80)  # 30 more than reserved: the bucket is at -20
    assert g.usage()["limits"]["max_tokens_per_minute"]["available"] == pytest.approx(-20)
    r2 = (await clock.run(g.reserve_tokens(10)))[0]
    assert r2.waits[0].waited == pytest.approx(30.0)


async def test_settling_twice_corrects_the_first_settlement() -> None:
    """A reservation holds the settled amount, so a second settle adjusts relative to it."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=100)
    r = await g.reserve_tokens(100)
    g.settle_tokens(r, 40)
    g.settle_tokens(r, 40)
    assert r.amount == 40
    assert g.usage()["limits"]["max_tokens_per_minute"]["available"] == pytest.approx(60)
    with pytest.raises(ValueError, match=">= 0"):
        g.settle_tokens(r, -1)


async def test_a_request_above_the_burst_is_an_error_not_a_hang() -> None:
    """Asking for more than the bucket can ever hold fails at once, naming the fix."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=60000, token_burst_size=120000)
    with pytest.raises(RateLimitExceeded) as info:
        await g.reserve_tokens(150000)
    assert str(info.value).startswith(
        "Asked for 150000 tokens but max_tokens_per_minute allows a burst of at most 120000 "
        "(token_burst_size); raise token_burst_size or lower max_tokens"
    )
    assert (info.value.limit, info.value.requested, info.value.waited) == (
        "max_tokens_per_minute",
        150000,
        0.0,
    )


async def test_reject_on_limit_refuses_at_once_with_a_clear_message() -> None:
    """With reject_on_limit=True a full limit raises immediately and counts a rejection."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=600, max_concurrent_tasks=1, reject_on_limit=True)
    await g.reserve_tokens(550)
    with pytest.raises(RateLimitExceeded) as info:
        await g.reserve_tokens(100)
    msg = str(info.value)
    assert "max_tokens_per_minute=600: asked for 100 tokens but 50 are available now" in msg
    assert "enough in 5.00 s" in msg and "reject_on_limit=False" in msg
    assert info.value.waited == 0
    await g.acquire_task()
    with pytest.raises(RateLimitExceeded, match="max_concurrent_tasks=1: all 1 slots are in use"):
        await g.acquire_task()
    usage = g.usage()
    assert usage["total_rejections"] == 2
    assert usage["limits"]["max_tokens_per_minute"]["available"] == pytest.approx(50)


async def test_a_wait_that_runs_out_raises_and_leaves_everything_as_it_was() -> None:
    """After resource_wait_timeout_seconds the waiter gives up; the queue empties."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=60, resource_wait_timeout_seconds=5)
    await g.reserve_tokens(60)
    [err] = await clock.run(g.reserve_tokens(30), return_exceptions=True)
    assert isinstance(err, RateLimitExceeded)
    assert clock.now == pytest.approx(5.0)
    assert err.waited == pytest.approx(5.0) and err.limit == "max_tokens_per_minute"
    assert "Waited 5.0 s for 30 tokens under max_tokens_per_minute=60" in str(err)
    assert "resource_wait_timeout_seconds=5" in str(err)
    stats = g.usage()["limits"]["max_tokens_per_minute"]
    assert stats["timeouts"] == 1 and stats["waiting"] == 0
    assert stats["available"] == pytest.approx(5.0)  # nothing was taken by the failed wait


async def test_a_slot_wait_that_runs_out_names_the_limit() -> None:
    """A task slot not freed in time gives a timeout naming max_concurrent_tasks."""
    clock = FakeClock()
    g = gov(clock, max_concurrent_tasks=1, resource_wait_timeout_seconds=2)
    await g.acquire_task()
    [err] = await clock.run(g.acquire_task(), return_exceptions=True)
    assert isinstance(err, RateLimitExceeded) and err.limit == "max_concurrent_tasks"
    assert "for a max_concurrent_tasks slot (all 1 slots are in use" in str(err)


async def test_cancelling_waiters_keeps_the_queue_and_the_bucket_consistent() -> None:
    """Cancelled waiters (head or not) take nothing; the others are served in order."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=60)  # 1 token/s
    await g.reserve_tokens(60)
    served: list[int] = []

    async def ask(i: int, n: int) -> None:
        await g.reserve_tokens(n)
        served.append(i)

    tasks = [asyncio.ensure_future(ask(i, 10)) for i in range(4)]
    await clock.run_for(5.0)
    tasks[0].cancel()  # the head, half-way through its wait
    tasks[2].cancel()  # one in the middle
    await clock.settle()
    assert g.usage()["limits"]["max_tokens_per_minute"]["waiting"] == 2
    await clock.run(tasks[1], tasks[3])
    assert served == [1, 3]
    assert clock.now == pytest.approx(20.0)  # 10 tokens each, from an empty bucket at t=0
    assert g.usage()["limits"]["max_tokens_per_minute"]["cancellations"] == 2


async def test_cancelling_a_slot_waiter_does_not_leak_a_slot() -> None:
    """A task cancelled while waiting for a slot holds none; the next waiter gets it."""
    clock = FakeClock()
    g = gov(clock, max_concurrent_tasks=1)
    await g.acquire_task()
    a = asyncio.ensure_future(g.acquire_task())
    b = asyncio.ensure_future(g.acquire_task())
    await clock.settle()
    a.cancel()
    await clock.settle()
    g.release_task()
    await clock.settle()
    assert b.done() and g.usage()["limits"]["max_concurrent_tasks"]["in_use"] == 1


async def test_tool_call_takes_a_rate_token_and_a_slot() -> None:
    """Tool calls are bounded by both their per-minute bucket and their concurrency."""
    clock = FakeClock()
    g = gov(
        clock, max_tool_calls_per_minute=60, tool_call_burst_size=2, max_concurrent_tool_calls=2
    )
    assert await g.acquire_tool_call() == ()
    assert await g.acquire_tool_call() == ()
    third = asyncio.ensure_future(g.acquire_tool_call())
    await clock.run_for(1.0)
    assert not third.done()  # both slots busy
    g.release_tool_call()
    await clock.settle()
    assert third.result() == (Wait("max_concurrent_tool_calls", 1.0, 1),)
    g.release_tool_call()
    fourth = asyncio.ensure_future(g.acquire_tool_call())  # a slot is free, no token is
    await clock.run(fourth)
    assert fourth.result() == (Wait("max_tool_calls_per_minute", 1.0, 1),)


async def test_a_refused_tool_call_gives_its_slot_back() -> None:
    """When the rate bucket refuses, the concurrency slot taken first is released."""
    clock = FakeClock()
    g = gov(
        clock,
        max_tool_calls_per_minute=60,
        tool_call_burst_size=1,
        max_concurrent_tool_calls=5,
        reject_on_limit=True,
    )
    await g.acquire_tool_call()
    with pytest.raises(RateLimitExceeded, match="max_tool_calls_per_minute=60: asked for 1 tool"):
        await g.acquire_tool_call()
    assert g.usage()["limits"]["max_concurrent_tool_calls"]["in_use"] == 1


async def test_releasing_more_than_acquired_is_an_error() -> None:
    """An unbalanced release is a bug in the caller and says so."""
    g = gov(FakeClock(), max_concurrent_tasks=1)
    with pytest.raises(RuntimeError, match="released more slots than were acquired"):
        g.release_task()


async def test_provider_remaining_tokens_cap_the_bucket() -> None:
    """The bucket never claims more than the provider says remains."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=600, reject_on_limit=True)
    g.observe(RateLimitInfo(remaining_tokens=30, reset_tokens_s=3.0))
    with pytest.raises(RateLimitExceeded, match="but 30 are available"):
        await g.reserve_tokens(40)
    assert g.usage()["provider"]["remaining_tokens"] == 30
    assert g.usage()["provider"]["reset_tokens_s"] == 3.0


async def test_a_429_pauses_every_waiter_for_retry_after() -> None:
    """retry_after_s holds all token requests back, then lets them through in order."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=6000)  # 100 tokens/s
    g.observe(RateLimitInfo(retry_after_s=7.0))
    times: list[float] = []

    async def ask() -> None:
        await g.reserve_tokens(10)
        times.append(clock.now)

    await clock.run(*(ask() for _ in range(5)))
    assert min(times) == pytest.approx(7.0)
    assert max(times) == pytest.approx(7.0)  # 700 tokens accrued during the pause
    assert g.usage()["provider"]["throttles"] == 1


async def test_a_429_arriving_mid_wait_extends_the_head_wait() -> None:
    """A pause observed while a request waits pushes it back to the pause's end."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=60)
    await g.reserve_tokens(60)
    waiter = asyncio.ensure_future(g.reserve_tokens(5))  # would be served at t=5
    await clock.run_for(1.0)
    g.observe(RateLimitInfo(retry_after_s=10.0))
    await clock.run(waiter)
    assert clock.now == pytest.approx(11.0)


async def test_observe_without_a_token_limit_only_records() -> None:
    """Without max_tokens_per_minute nothing is paused, but the facts are kept."""
    g = gov(FakeClock())
    g.observe(RateLimitInfo(remaining_tokens=0, retry_after_s=30))
    assert completes_without_suspending(g.reserve_tokens(100)) == Reservation(100)
    assert g.usage()["provider"]["retry_after_s"] == 30


async def test_usage_totals_waits_per_limit() -> None:
    """usage() reports rates, utilisation, wait counts and wait time per limit."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=60, max_concurrent_tasks=3)
    await g.reserve_tokens(60)
    await clock.run(g.reserve_tokens(6), g.reserve_tokens(6))
    await g.acquire_task()
    u = g.usage()
    tokens = u["limits"]["max_tokens_per_minute"]
    assert tokens["waits"] == 2
    assert tokens["wait_time_s"] == pytest.approx(6.0 + 12.0)
    assert tokens["max_wait_s"] == pytest.approx(12.0)
    assert tokens["used_last_minute"] == 72
    assert tokens["utilisation"] == pytest.approx(72 / 60)
    assert u["limits"]["max_concurrent_tasks"]["utilisation"] == pytest.approx(1 / 3)
    assert u["total_wait_time_s"] == pytest.approx(18.0)
    assert u["shared"] is None
    await clock.run_for(120)
    assert g.usage()["limits"]["max_tokens_per_minute"]["used_last_minute"] == 0


async def test_estimate_is_prompt_plus_priming_plus_max_output() -> None:
    """The estimate counts the prompt with tokens.py and adds the largest possible reply."""
    g = gov(FakeClock(), max_tokens_per_minute=1000)
    messages = [Message("system", "Be brief."), Message("user", "What is 2 + 2?" * 10)]
    expected = count_message_tokens(messages, "gpt-4o") + 3 + 256
    assert g.estimate_tokens(messages, model="gpt-4o", max_output_tokens=256) == expected


async def test_governor_needs_resource_limits() -> None:
    """A dict instead of ResourceLimits is a clear error."""
    from pitstop import ConfigError

    with pytest.raises(ConfigError, match="needs a ResourceLimits"):
        Governor({"max_concurrent_tasks": 2})  # type: ignore[arg-type]
