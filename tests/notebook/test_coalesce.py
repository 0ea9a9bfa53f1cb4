"""The coalescer caps flushes per second and never leaves the last change unsent."""

from __future__ import annotations

import itertools

import pytest

from pitstop.notebook._coalesce import Coalescer
from pitstop.testing import FakeClock


def make(rate: float = 30.0) -> tuple[Coalescer, FakeClock, list[float]]:
    fake = FakeClock()
    times: list[float] = []
    c = Coalescer(lambda: times.append(fake.now), rate=rate, clock=fake,
                  call_later=fake.call_later)
    return c, fake, times


def test_first_change_is_sent_at_once() -> None:
    """A change after a quiet period goes out immediately, with no timer."""
    c, fake, times = make()
    c.poke()
    assert times == [0.0]
    assert fake.pending == 0


def test_a_burst_is_capped_at_the_rate() -> None:
    """1,000 changes a second for 2 seconds give at most 30 flushes a second."""
    c, fake, times = make(rate=30)
    for i in range(2000):
        fake.advance_to(i / 1000)
        c.poke()
    fake.advance_to(2.0)
    assert 59 <= len(times) <= 61
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1 / 30 - 1e-9


def test_the_end_of_a_burst_is_sent_by_the_timer() -> None:
    """Changes inside the interval are flushed when it ends, once."""
    c, fake, times = make(rate=10)
    c.poke()
    fake.advance_to(0.01)
    c.poke()
    fake.advance_to(0.02)
    c.poke()
    assert times == [0.0] and fake.pending == 1
    fake.advance_to(0.5)
    assert times == [0.0, pytest.approx(0.1)]
    assert fake.pending == 0


def test_close_flushes_pending_and_disarms() -> None:
    """close() sends what is pending at once and cancels the timer."""
    c, fake, times = make(rate=10)
    c.poke()
    fake.advance_to(0.01)
    c.poke()
    c.close()
    assert times == [0.0, 0.01]
    fake.advance_to(1.0)
    assert len(times) == 2
    c.close()  # nothing pending: nothing sent
    assert len(times) == 2


def test_without_a_loop_pending_changes_wait_for_close() -> None:
    """With no timer available, the next poke after the interval or close() sends."""
    fake = FakeClock()
    times: list[float] = []
    c = Coalescer(lambda: times.append(fake.now), rate=10, clock=fake,
                  call_later=lambda delay, cb: None)
    c.poke()
    fake.advance_to(0.05)
    c.poke()
    assert times == [0.0]
    fake.advance_to(0.2)
    c.poke()
    assert times == [0.0, 0.2]


def test_rate_must_be_positive() -> None:
    """A zero rate is refused with a readable message."""
    with pytest.raises(ValueError, match="rate must be > 0"):
        Coalescer(lambda: None, rate=0)
