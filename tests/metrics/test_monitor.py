"""Monitor: spans, operation timers and percentiles under a fake clock."""

from __future__ import annotations

import pytest

from pitstop import Monitor
from pitstop._metrics.monitor import percentile
from pitstop.testing import FakeClock


def test_percentiles_interpolate_linearly() -> None:
    """p50/p95/p99 of 1..100 are 50.5, 95.05 and 99.01."""
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([], 50) == 0.0 and percentile([7.0], 99) == 7.0


def test_track_times_with_the_injected_clock() -> None:
    """Operation durations come from the clock; errors are counted and re-raised."""
    clock = FakeClock(start=100.0)
    m = Monitor(clock=clock)
    for d in (1.0, 2.0, 3.0, 4.0):
        with m.track("step"):
            clock.now += d
    with pytest.raises(KeyError), m.track("step"):
        clock.advance(10)
        raise KeyError("x")
    metrics = m.operation_metrics("step")
    assert metrics["count"] == 5 and metrics["error_count"] == 1
    assert metrics["min_time"] == 1.0 and metrics["max_time"] == 10.0
    assert metrics["avg_time"] == pytest.approx(4.0) and metrics["p50_time"] == 3.0


async def test_async_with_and_unknown_operations() -> None:
    """async with works; an unknown operation gives zeros."""
    clock = FakeClock(start=100.0)
    m = Monitor(clock=clock)
    async with m.track("io") as timer:
        clock.advance(0.5)
    assert timer.duration == 0.5
    assert m.operation_metrics("nothing") == {
        "count": 0, "avg_time": 0.0, "p50_time": 0.0, "p95_time": 0.0, "p99_time": 0.0,
        "min_time": 0.0, "max_time": 0.0, "error_count": 0}


def test_spans_are_bounded_and_filterable() -> None:
    """The timeline keeps the newest spans; filters by task and kind."""
    m = Monitor(max_spans=3)
    for i in range(5):
        m.record("tool", "t", i, i + 1, task_id=f"task{i % 2}")
    assert [s.start for s in m.spans()] == [2, 3, 4]
    assert [s.start for s in m.spans(task_id="task0")] == [2, 4]
    assert m.operation_metrics("tool:t")["count"] == 5
    m.reset()
    assert m.spans() == [] and m.operation_names() == []
