"""TokenBucket arithmetic, with plain numbers for time."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pitstop._limits import TokenBucket


def test_starts_full_and_takes_until_empty() -> None:
    """A new bucket holds its capacity; taking more than is left is refused with a delay."""
    b = TokenBucket(10, 100, now=0)
    assert b.try_take(60, 0) == 0.0
    assert b.try_take(40, 0) == 0.0
    assert b.try_take(1, 0) == pytest.approx(0.1)


def test_refills_continuously_not_in_windows() -> None:
    """Half a second at 10/s gives back exactly 5 tokens, not a whole window's worth."""
    b = TokenBucket(10, 100, now=0)
    b.try_take(100, 0)
    assert b.available(0.5) == pytest.approx(5)
    assert b.try_take(6, 0.5) == pytest.approx(0.1)
    assert b.try_take(5, 0.5) == 0.0


def test_never_holds_more_than_capacity() -> None:
    """An idle bucket stops filling at its capacity."""
    b = TokenBucket(10, 100, now=0)
    b.try_take(50, 0)
    assert b.available(1000) == 100


def test_delay_is_exact_and_waiting_it_admits() -> None:
    """The delay returned is exactly the time after which the same request succeeds."""
    b = TokenBucket(1000 / 60, 1000, now=0)
    b.try_take(1000, 0)
    delay = b.try_take(250, 3.0)
    assert delay == pytest.approx(12.0)
    assert b.try_take(250, 3.0 + delay) == 0.0


def test_debit_may_go_negative_and_delays_later_requests() -> None:
    """Usage above the reservation leaves a debt that the refill must pay first."""
    b = TokenBucket(10, 100, now=0)
    b.try_take(100, 0)
    b.debit(50, 0)
    assert b.available(0) == -50
    assert b.try_take(10, 0) == pytest.approx(6.0)


def test_credit_refunds_but_not_beyond_capacity() -> None:
    """A refund is added back, capped at the bucket's size."""
    b = TokenBucket(10, 100, now=0)
    b.try_take(80, 0)
    b.credit(30, 0)
    assert b.available(0) == 50
    b.credit(500, 0)
    assert b.available(0) == 100


def test_clamp_only_lowers() -> None:
    """The provider's remaining tokens cap the level; they never raise it."""
    b = TokenBucket(10, 100, now=0)
    b.clamp(30, 0)
    assert b.available(0) == 30
    b.clamp(90, 0)
    assert b.available(0) == 30


def test_pause_admits_nothing_until_it_ends_and_empties_the_bucket() -> None:
    """A 429 pause refuses even small requests until it ends; tokens accrue meanwhile."""
    b = TokenBucket(10, 100, now=0)
    b.pause(5, 0)
    assert b.try_take(1, 4.9) == pytest.approx(0.1)
    assert b.available(5) == pytest.approx(50)
    assert b.try_take(50, 5) == 0.0


def test_pause_and_refill_overlap_rather_than_add() -> None:
    """A request that needs more than the pause gives waits for its tokens, not both."""
    b = TokenBucket(10, 100, now=0)
    b.pause(2, 0)
    assert b.try_take(80, 0) == pytest.approx(8.0)


def test_time_going_backwards_does_not_refill() -> None:
    """An earlier 'now' than the last one changes nothing."""
    b = TokenBucket(10, 100, now=10)
    b.try_take(100, 10)
    assert b.available(5) == 0


def test_bad_parameters_are_refused() -> None:
    """Zero or infinite rates and capacities below one are errors."""
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0, 10, now=0)
    with pytest.raises(ValueError, match="capacity"):
        TokenBucket(1, 0.5, now=0)
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(math.inf, 10, now=0)


_events = st.lists(
    st.tuples(
        st.floats(0, 3, allow_nan=False),  # time since the previous event
        st.sampled_from(["take", "take", "take", "pause", "clamp", "credit"]),
        st.floats(0.1, 40, allow_nan=False),  # amount (tokens or seconds)
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(0.5, 50, allow_nan=False),
    capacity=st.floats(1, 60, allow_nan=False),
    events=_events,
)
def test_no_window_admits_more_than_rate_times_window_plus_burst(
    rate: float, capacity: float, events: list[tuple[float, str, float]]
) -> None:
    """Over any window [t1, t2], admitted tokens <= rate * (t2 - t1) + burst."""
    b = TokenBucket(rate, capacity, now=0)
    now = 0.0
    admitted: list[tuple[float, float]] = []
    taken: dict[float, float] = {}
    for gap, op, amount in events:
        now += gap
        if op == "take":
            amount = min(amount, capacity)
            if b.try_take(amount, now) == 0.0:
                admitted.append((now, amount))
                taken[now] = taken.get(now, 0) + amount
        elif op == "pause":
            b.pause(amount / 10, now)
        elif op == "clamp":
            b.clamp(amount, now)
        else:  # a refund of at most what is still outstanding
            refund = min(amount, sum(taken.values()))
            if refund:
                b.credit(refund, now)
                # the refunded tokens are no longer admitted: take them off the latest
                for t in sorted(taken, reverse=True):
                    cut = min(refund, taken[t])
                    taken[t] -= cut
                    refund -= cut
                    if not refund:
                        break
    times = sorted(taken)
    for i, t1 in enumerate(times):
        total = 0.0
        for t2 in times[i:]:
            total += taken[t2]
            assert total <= rate * (t2 - t1) + capacity + 1e-6 * (1 + total)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(1, 50, allow_nan=False),
    capacity=st.floats(5, 100, allow_nan=False),
    calls=st.lists(
        st.tuples(
            st.floats(0, 2, allow_nan=False),
            st.floats(0.5, 1, allow_nan=False),
            st.floats(0, 1.5, allow_nan=False),
        ),
        min_size=1,
        max_size=80,
    ),
)
def test_reserve_then_settle_keeps_committed_usage_within_the_bound(
    rate: float, capacity: float, calls: list[tuple[float, float, float]]
) -> None:
    """With reservations settled to the real usage (more or less than reserved), the usage
    committed when any call is admitted is at most burst + rate * elapsed."""
    b = TokenBucket(rate, capacity, now=0)
    now = 0.0
    committed = 0.0
    for gap, size, ratio in calls:
        now += gap
        reserve = size * capacity
        delay = b.try_take(reserve, now)
        if delay:
            now += delay
            assert b.try_take(reserve, now) == 0.0
        committed += reserve
        assert committed <= capacity + rate * now + 1e-6 * (1 + committed)
        actual = reserve * ratio
        if actual > reserve:
            b.debit(actual - reserve, now)
        else:
            b.credit(reserve - actual, now)
        committed += actual - reserve


@settings(max_examples=200, deadline=None)
@given(
    adds=st.lists(
        st.tuples(st.floats(0, 5, allow_nan=False), st.integers(1, 50)), min_size=1, max_size=200
    ),
    later=st.floats(0, 90, allow_nan=False),
)
def test_meter_reads_the_last_minute_to_within_a_second(
    adds: list[tuple[float, int]], later: float
) -> None:
    """Meter.last_minute lies between what came in the last 60 s and in the last 61 s."""
    from pitstop._limits.gate import Meter

    meter = Meter()
    now = 0.0
    seen: list[tuple[float, int]] = []
    for gap, amount in adds:
        now += gap
        meter.add(amount, now)
        seen.append((now, amount))
    now += later
    got = meter.last_minute(now)
    exact = sum(a for t, a in seen if t > now - 60)
    wider = sum(a for t, a in seen if t > now - 61)
    assert exact <= got <= wider
