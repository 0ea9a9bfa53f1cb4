"""Spend budgets in dollars: per task, per hour (refilling), in total, and shared via Redis."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pitstop import BudgetExceeded, ConfigError, RateLimitExceeded, ResourceLimits
from pitstop._limits import Governor
from pitstop.testing import FakeClock


def governor(clock: FakeClock, **limits: object) -> Governor:
    return Governor(ResourceLimits(**limits), clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]


async def test_per_task_budget_refuses_the_call_that_would_pass_it() -> None:
    """A task that spent $0.09 of $0.10 cannot start a call estimated at $0.02."""
    g = governor(FakeClock(), max_cost_per_task=0.10)
    await g.reserve_cost(0.02, task_spent=0.07, model="gpt-4o-mini")  # fits: 0.09
    with pytest.raises(BudgetExceeded) as info:
        await g.reserve_cost(0.02, task_spent=0.09, model="gpt-4o-mini")
    e = info.value
    assert isinstance(e, RateLimitExceeded)
    assert (e.limit, e.budget, e.spent, e.estimate) == ("max_cost_per_task", 0.10, 0.09, 0.02)
    assert "max_cost_per_task=$0.1" in str(e) and "$0.0900" in str(e) and "$0.0200" in str(e)
    assert g.usage()["budgets"]["task_refusals"] == 1


async def test_total_budget_settles_to_real_cost_and_then_refuses() -> None:
    """Reservations settle to the real cost (refunds count); a call past the total is refused."""
    g = governor(FakeClock(), max_cost_total=1.00)
    r = await g.reserve_cost(0.60)
    g.settle_cost(r, 0.25)  # the call cost less than its estimate: $0.35 comes back
    r2 = await g.reserve_cost(0.70)
    g.settle_cost(r2, 0.70)
    assert g.usage()["budgets"]["spent_total_usd"] == pytest.approx(0.95)
    with pytest.raises(BudgetExceeded) as info:
        await g.reserve_cost(0.06)
    assert info.value.limit == "max_cost_total" and info.value.spent == pytest.approx(0.95)
    assert "never refills" in str(info.value)


async def test_hour_budget_waits_for_the_refill_or_rejects() -> None:
    """$6/hour refills $0.10 a minute: a call that does not fit waits exactly that long."""
    clock = FakeClock()
    g = governor(clock, max_cost_per_hour=6.0)
    await g.reserve_cost(5.95)
    [r] = await clock.run(g.reserve_cost(0.15))  # needs $0.10 more: 60 s of refill
    assert clock.now == pytest.approx(60.0, abs=0.01)
    assert r.waits and r.waits[0].limit == "max_cost_per_hour"
    rejecting = governor(FakeClock(), max_cost_per_hour=6.0, reject_on_limit=True)
    await rejecting.reserve_cost(6.0)
    with pytest.raises(BudgetExceeded, match="reject_on_limit=True") as info:
        await rejecting.reserve_cost(0.01)
    assert info.value.limit == "max_cost_per_hour" and info.value.spent == pytest.approx(6.0)


async def test_a_budget_needs_a_price() -> None:
    """With a budget set, a model of unknown price is a ConfigError naming the fix."""
    g = governor(FakeClock(), max_cost_total=1.0)
    with pytest.raises(ConfigError, match="price="):
        await g.reserve_cost(None, model="model 'mystery'")


def test_budget_settings_must_be_positive_dollars() -> None:
    """Zero, negative or infinite budgets are rejected naming the field."""
    for bad in (0, -1.0, float("inf")):
        with pytest.raises(ConfigError, match="max_cost_per_hour"):
            ResourceLimits(max_cost_per_hour=bad)


_SPENDER = """
import asyncio, sys
from pitstop import ResourceLimits, BudgetExceeded
from pitstop._limits import Governor

async def main():
    # redis_timeout: a slow machine must not pass for a Redis outage, which also ends the loop
    g = Governor(ResourceLimits(max_cost_total=1.0, redis_url=sys.argv[1], namespace="spend",
                                redis_timeout=30))
    spent = 0
    try:
        while True:
            r = await g.reserve_cost(0.1)
            g.settle_cost(r, 0.1)
            spent += 1
    except BudgetExceeded:
        pass
    finally:
        await g.aclose()
    print(spent)

asyncio.run(main())
"""


@pytest.mark.redis
def test_two_processes_share_one_total_budget_in_redis(redis_url: str) -> None:
    """Two OS processes spending $0.10 at a time against a shared $1 total get 10 calls together."""
    procs = [subprocess.Popen([sys.executable, "-c", _SPENDER, redis_url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    counts = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        counts.append(int(out))
    assert sum(counts) == 10, counts


@pytest.mark.redis
async def test_redis_hour_budget_is_integer_micro_dollars(redis_url: str) -> None:
    """The shared hash holds integer micro-dollars, and settling refunds exactly."""
    import redis.asyncio as aioredis

    clock = FakeClock(1000.0)
    g = Governor(ResourceLimits(max_cost_per_hour=2.0, redis_url=redis_url, namespace="mu",
                                redis_timeout=30),
                 clock=clock, sleep=clock.sleep)
    r = await g.reserve_cost(0.123457)
    g.settle_cost(r, 0.1)
    await g.aclose()  # waits for the settlement sent in the background
    client = aioredis.from_url(redis_url)
    state = await client.hgetall("mu:limits:spend")
    await client.aclose()
    assert state[b"spent"] == b"100000"
    assert state[b"level"] == b"1900000"


@pytest.mark.redis
async def test_redis_hour_budget_waits_for_its_refill(redis_url: str) -> None:
    """$2/hour in Redis: a call $0.05 short waits the 90 s the shared bucket needs."""
    clock = FakeClock(5000.0)
    # Fake time for the budget, real time for Redis: generous real bounds (redis_timeout,
    # real_timeout) so a slow machine's round trip is not taken for an outage or a deadlock.
    g = Governor(ResourceLimits(max_cost_per_hour=2.0, redis_url=redis_url, namespace="wait",
                                resource_wait_timeout_seconds=300, redis_timeout=30),
                 clock=clock, sleep=clock.sleep)
    try:
        await g.reserve_cost(1.95)
        [r] = await clock.run(g.reserve_cost(0.10), real_timeout=60)
        assert clock.now - 5000.0 == pytest.approx(90.0, abs=0.01)
        assert r.waits and r.waits[0].limit == "max_cost_per_hour"
    finally:
        await g.aclose()


@pytest.mark.redis
async def test_a_shared_budget_follows_on_redis_outage() -> None:
    """Redis down: 'refuse' refuses with a sentence naming Redis; 'local' counts locally."""
    from tests.conftest import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    refuse = Governor(ResourceLimits(max_cost_total=1.0, redis_url=url, redis_timeout=0.5))
    with pytest.raises(BudgetExceeded, match="Redis") as info:
        await refuse.reserve_cost(0.1)
    assert "127.0.0.1" in str(info.value)
    local = Governor(ResourceLimits(max_cost_total=0.25, redis_url=url, redis_timeout=0.5,
                                    on_redis_outage="local"))
    with pytest.warns(RuntimeWarning, match="on_redis_outage='local'"):
        await local.reserve_cost(0.1)
    await local.reserve_cost(0.1)
    with pytest.raises(BudgetExceeded, match="max_cost_total"):
        await local.reserve_cost(0.1)  # the local count still holds the whole budget
    assert local.usage()["budgets"]["local_fallback"] is True
    await refuse.aclose()
    await local.aclose()
