"""The Governor counting like the provider, and learning its quota, on a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from pitstop import Message, RateLimitExceeded, ResourceLimits
from pitstop._limits import Governor
from pitstop.llm._base import RateLimitInfo, ToolSpec
from pitstop.testing import FakeClock


def gov(clock: FakeClock, *, provider: bool = True, **limits: object) -> Governor:
    return Governor(ResourceLimits(**limits), clock=clock, sleep=clock.sleep, provider=provider)


def available(g: Governor, name: str = "max_tokens_per_minute") -> float:
    return float(g.usage()["limits"][name]["available"])


async def test_provider_accounting_keeps_what_the_provider_keeps() -> None:
    """A shorter answer gives nothing back: the provider charged prompt + max_tokens."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=600)
    r = await g.reserve_tokens(60)
    g.settle_tokens(r, 10)
    assert available(g) == pytest.approx(540)
    assert r.amount == 60


async def test_provider_accounting_still_debits_an_undercount() -> None:
    """Usage above the reservation (a prompt counted short) is still taken."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=600)
    r = await g.reserve_tokens(60)
    g.settle_tokens(r, 75)
    assert available(g) == pytest.approx(525)


@pytest.mark.parametrize(("provider", "accounting", "left"), [
    (False, "auto", 590), (True, "usage", 590), (False, "provider", 540), (True, "auto", 540),
])
async def test_token_accounting_chooses_refunds(provider: bool, accounting: str,
                                                left: float) -> None:
    """"auto" refunds for a local model only; "usage" and "provider" force either way."""
    clock = FakeClock()
    g = gov(clock, provider=provider, max_tokens_per_minute=600, token_accounting=accounting)
    g.settle_tokens(await g.reserve_tokens(60), 10)
    assert available(g) == pytest.approx(left)


async def test_the_quota_is_learned_from_the_first_headers() -> None:
    """With no limit set, x-ratelimit-limit-tokens makes a bucket filled to `remaining`."""
    clock = FakeClock()
    g = gov(clock, max_concurrent_tasks=None)
    assert not g.limits_model_calls
    g.observe(RateLimitInfo(limit_tokens=600, remaining_tokens=100, reset_tokens_s=50.0))
    assert g.limits_model_calls and g.learned == {"max_tokens_per_minute": 600}
    assert available(g) == pytest.approx(100)
    done: list[float] = []

    async def ask() -> None:
        await g.reserve_tokens(150)
        done.append(clock.now)

    await clock.run(ask())
    assert done == [pytest.approx(5.0)]  # 50 more tokens at 10/s


async def test_a_learned_bucket_takes_the_providers_size() -> None:
    """remaining + reset x rate below the minute's figure is a smaller provider bucket."""
    clock = FakeClock()
    g = gov(clock, max_concurrent_tasks=None, reject_on_limit=True)
    g.observe(RateLimitInfo(limit_tokens=600, remaining_tokens=100, reset_tokens_s=10.0))
    assert g.usage()["limits"]["max_tokens_per_minute"]["burst"] == 200
    with pytest.raises(RateLimitExceeded, match="burst of at most 200"):
        await g.reserve_tokens(300)


async def test_learning_can_be_switched_off() -> None:
    """learn_from_provider=False leaves an unset limit unenforced."""
    g = gov(FakeClock(), max_concurrent_tasks=None, learn_from_provider=False)
    g.observe(RateLimitInfo(limit_tokens=600, remaining_tokens=0, limit_requests=5))
    assert not g.limits_model_calls and g.learned == {}


async def test_a_set_limit_is_not_replaced_by_the_learned_one() -> None:
    """The user's max_tokens_per_minute stays; only the unset request limit is learned."""
    g = gov(FakeClock(), max_tokens_per_minute=300)
    g.observe(RateLimitInfo(limit_tokens=600, remaining_tokens=600, limit_requests=60,
                            remaining_requests=60))
    usage = g.usage()["limits"]
    assert usage["max_tokens_per_minute"]["limit"] == 300
    assert usage["max_requests_per_minute"]["limit"] == 60
    assert g.learned == {"max_requests_per_minute": 60}


async def test_requests_per_minute_admit_one_request_per_model_call() -> None:
    """max_requests_per_minute=60: 60 calls at once, the 61st a second later."""
    clock = FakeClock()
    g = gov(clock, max_requests_per_minute=60, max_concurrent_tasks=None)
    for _ in range(60):
        await g.reserve_tokens(0)
    await clock.run(g.reserve_tokens(0))
    assert clock.now == pytest.approx(1.0)


@pytest.mark.parametrize(("remaining_requests", "paused"), [
    (0, "max_requests_per_minute"), (40, "max_tokens_per_minute"),
])
async def test_a_429_pauses_the_limit_it_was_about(remaining_requests: int, paused: str) -> None:
    """No requests left: the request bucket pauses; otherwise the token bucket does."""
    g = gov(FakeClock(), max_tokens_per_minute=600, max_requests_per_minute=60)
    g.observe(RateLimitInfo(retry_after_s=5.0, remaining_requests=remaining_requests))
    limits = g.usage()["limits"]
    assert limits[paused]["paused_for_s"] == pytest.approx(5.0)
    other = ({"max_requests_per_minute", "max_tokens_per_minute"} - {paused}).pop()
    assert limits[other]["paused_for_s"] == 0


async def test_the_estimate_is_what_the_model_says_its_provider_charges() -> None:
    """A model with request_tokens() is asked, with the tools and max_tokens."""
    seen: list[tuple[int, int, int | None]] = []

    class Priced:
        def request_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec], *,
                           max_tokens: int | None = None) -> int:
            seen.append((len(messages), len(tools), max_tokens))
            return 777

    g = gov(FakeClock(), max_tokens_per_minute=1000)
    spec = ToolSpec("t", "d", {"type": "object", "properties": {}})
    estimate = g.estimate_tokens([Message("user", "hi")], model="gpt-4o", max_output_tokens=64,
                                 tools=[spec], llm=Priced())
    assert estimate == 777 and seen == [(1, 1, 64)]


async def test_waiters_queued_before_learning_are_not_stranded() -> None:
    """Reservations made before any header go straight through; later ones wait."""
    clock = FakeClock()
    g = gov(clock, max_concurrent_tasks=None)
    assert (await g.reserve_tokens(500)).waits == ()  # nothing known yet
    g.observe(RateLimitInfo(limit_tokens=600, remaining_tokens=0, reset_tokens_s=60.0))
    waiter = asyncio.ensure_future(g.reserve_tokens(20))
    await clock.run(waiter)
    assert clock.now == pytest.approx(2.0)


async def test_tokens_in_flight_keep_the_bucket_below_the_providers() -> None:
    """Until the provider answers, reserved tokens cap the bucket below its size."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=600)  # 10 tokens/s, bucket 600
    r = await g.reserve_tokens(500)
    await clock.run_for(30)  # 300 tokens of refill, but 500 are still in flight
    assert available(g) == pytest.approx(100)  # ours: 100 + 300 capped at 600 - 500
    g.observe(RateLimitInfo(remaining_tokens=100))  # the answer: the provider charged it
    assert not r.in_flight
    await clock.run_for(1)
    assert available(g) == pytest.approx(110)


async def test_settling_lands_a_call_that_got_no_headers() -> None:
    """A call whose answer carried no rate-limit headers stops counting as in flight."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=600)
    a, b = await g.reserve_tokens(100), await g.reserve_tokens(100)
    g.settle_tokens(b, 50)
    assert a.in_flight and not b.in_flight
    g.settle_tokens(a, 50)
    assert not a.in_flight
    await clock.run_for(60)
    assert available(g) == pytest.approx(600)


async def test_a_refused_call_retries_in_turn_after_the_pause() -> None:
    """wait_to_retry: the 429's pause, then the retry queues for its tokens like any call."""
    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=600)  # 10 tokens/s
    await g.reserve_tokens(600)
    g.observe(RateLimitInfo(retry_after_s=3.0, remaining_tokens=0))
    done: list[tuple[str, float]] = []

    async def retry() -> None:
        await g.wait_to_retry(3.0, 50)
        done.append(("retry", clock.now))

    async def newcomer() -> None:
        await g.reserve_tokens(50)
        done.append(("new", clock.now))

    await clock.run(retry(), newcomer())
    assert done == [("retry", pytest.approx(5.0)), ("new", pytest.approx(10.0))]


async def test_waiting_to_retry_without_a_limit_just_sleeps() -> None:
    """Nothing learned yet: the provider's delay is slept, nothing is reserved."""
    clock = FakeClock()
    g = gov(clock, max_concurrent_tasks=None)
    await clock.run(g.wait_to_retry(2.5, 10_000))
    assert clock.now == pytest.approx(2.5)


async def test_a_call_never_answered_stops_holding_the_bucket_down() -> None:
    """An in-flight entry older than IN_FLIGHT_TTL_S is taken as charged."""
    from pitstop._limits.governor import IN_FLIGHT_TTL_S

    clock = FakeClock()
    g = gov(clock, max_tokens_per_minute=600)
    lost = await g.reserve_tokens(500)  # its call dies: no answer, never settled
    await clock.run_for(IN_FLIGHT_TTL_S + 1)
    await g.reserve_tokens(10)  # any later reservation sweeps the stale entry
    assert not lost.in_flight
    await clock.run_for(60)
    assert available(g) == pytest.approx(590)  # only the later call is still in flight
